//! `loom serve`: the HTTP transport in front of this project's engine, for as long as it
//! runs. It holds the driver lock for its whole life (the CLI beside it forwards its
//! driving commands to it, see `forward.rs`), writes `.loom/serve.json` so the CLI can find
//! it, and stops cleanly on Ctrl-C or SIGTERM: the engine thread finishes the tick it is in,
//! and an effect still in flight is left exactly as a kill leaves it (resumed or held for a
//! human by the next driver).

use crate::exit;
use anyhow::{Context, Result};
use loom_http::{users, Options, ServeFile};
use std::net::SocketAddr;
use std::path::Path;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where to listen (a non-loopback address needs --public)
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: SocketAddr,
    /// Listen on a non-loopback address (every request still needs a user's token)
    #[arg(long)]
    public: bool,
    /// Add a user, print their token once, and exit (the server need not be stopped)
    #[arg(long, value_name = "NAME")]
    add_user: Option<String>,
    #[command(flatten)]
    pub at: crate::args::At,
}

pub fn run(args: ServeArgs, root: &Path) -> Result<u8> {
    if let Some(name) = &args.add_user {
        let token = users::add_user(root, name)?;
        outln!("user {name} added. Their token (shown only now; loom keeps only its hash):");
        outln!("{token}");
        errln!("use it as `Authorization: Bearer TOKEN`");
        return Ok(exit::OK);
    }
    if !args.addr.ip().is_loopback() && !args.public {
        return Err(loom_engine::EngineError::Usage(format!(
            "{} is not a loopback address: anyone who can reach it could try tokens. Pass \
             --public to listen there anyway, or use 127.0.0.1",
            args.addr
        ))
        .into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args, root))
}

async fn serve(args: ServeArgs, root: &Path) -> Result<u8> {
    // Takes the driver lock (exit 6 naming the holder if another process drives).
    let service = loom_service::Service::start(root, "http").map_err(service_error)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    if args.public {
        errln!(
            "warning: listening on {addr}, reachable from other machines; every request needs \
             a token, but traffic is plain HTTP: put TLS in front of it"
        );
    }
    let local_token = users::new_token()?;
    let file = ServeFile {
        addr: addr.to_string(),
        pid: std::process::id(),
        token: local_token.clone(),
    };
    file.write(root).with_context(|| {
        format!(
            "cannot write {}",
            loom_http::serve_file::serve_path(root).display()
        )
    })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_rx_bot = stop_rx.clone();
    let login_code = users::new_token()?;
    let router = loom_http::router(
        service.handle(),
        &Options {
            addr,
            public: args.public,
            local_token,
            stop: stop_rx,
            web_user: crate::who(None),
            login_code: login_code.clone(),
            timeouts: loom_http::Timeouts::default(),
        },
    );
    outln!("loom serving {} at http://{addr}/api/v1/", root.display());
    outln!("  events: http://{addr}/api/v1/events (add users with `loom serve --add-user NAME`)");
    outln!("  dashboard (this link logs in once): http://{addr}/login?code={login_code}");
    start_telegram(service.handle(), stop_rx_bot);
    let shutdown = async move {
        stop_signal().await;
        // End the event streams, or the graceful shutdown would wait for them forever.
        let _ = stop_tx.send(true);
    };
    let served = loom_http::serve(listener, router, loom_http::Timeouts::default(), shutdown).await;
    ServeFile::remove_own(root);
    // The engine thread ends after the tick it is in; the lock goes with it.
    service.shutdown();
    served.context("the server failed")?;
    outln!("loom serve stopped");
    Ok(exit::OK)
}

/// The Telegram bot beside the server when `[telegram]` is configured, on the same engine and
/// stop signal. It never stops the server: a bot that cannot start or that stops says why.
fn start_telegram(handle: loom_service::EngineHandle, stop: tokio::sync::watch::Receiver<bool>) {
    match loom_telegram::setup(handle) {
        loom_telegram::Setup::NotConfigured => {}
        loom_telegram::Setup::Unusable(e) => errln!("telegram: not started: {e}"),
        loom_telegram::Setup::Ready(bot) => {
            outln!("  telegram: {}", bot.describe());
            tokio::spawn(async move {
                if let Err(e) = bot.run(stop).await {
                    errln!("telegram: {e}");
                }
            });
        }
    }
}

/// Ctrl-C or SIGTERM. If a handler cannot be installed, that signal keeps its default
/// action (the process ends, as after a kill, which loom recovers from).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// A service error carries the engine's kind; the CLI's exit codes come from it.
pub fn service_error(e: loom_service::ServiceError) -> anyhow::Error {
    anyhow::Error::new(CliKindError(e))
}

#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct CliKindError(pub loom_service::ServiceError);
