//! Diagnostics from the bundle. Lines are not part of the run's record: loom keeps the last
//! few of each call and shows them in the message of a fault in that call (a panic's message
//! is written here by the SDK's panic hook, so it reaches loom's output).
//!
//! Outside a wasm guest the lines go to the installed test view
//! ([`crate::testing::View::logs`]), or nowhere.

use crate::bindings::log::Level;

fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::log::write(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::double::log(level, message);
}

pub fn debug(message: &str) {
    write(Level::Debug, message);
}

pub fn info(message: &str) {
    write(Level::Info, message);
}

pub fn warn(message: &str) {
    write(Level::Warn, message);
}

pub fn error(message: &str) {
    write(Level::Error, message);
}

/// Writes a panic's message and location to `log` before the guest traps, so loom's message
/// says why instead of only "it executed `unreachable`". Installed by the export glue at the
/// start of every call (each call runs in a fresh instance); natively the test harness's own
/// panic output is left alone.
pub(crate) fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // A custom hook also keeps std's default one from reading RUST_BACKTRACE (a WASI
            // call loom does not grant) before the abort.
            std::panic::set_hook(Box::new(|info| error(&info.to_string())));
        });
    }
}
