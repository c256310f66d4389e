//! The tick token: the only place the kernel reads the wall clock.
//!
//! Everything a tick writes that needs a time or an id takes it from its token; replay passes
//! the recorded token instead of minting one, which is what makes a replay identical.

use crate::model::TickToken;

impl TickToken {
    /// Mints the token for tick `seq` of `run`, reading the clock once.
    pub fn mint(run: u64, seq: u64) -> TickToken {
        let unix_ms = std::time::SystemTime::now() // tick-token mint
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        TickToken { run, seq, unix_ms }
    }
}
