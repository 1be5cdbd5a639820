//! `ackor node`: a node as a well-behaved long-running process. It stops gracefully on
//! SIGINT or SIGTERM (actors run `on_stop`, peers are told the node leaves) and never
//! reads standard input unless asked to (`--stop-on-stdin-eof`).

use tokio::signal::unix::{SignalKind, signal};

use crate::config::{self, Common};
use crate::exit::Failure;
use crate::output::say;

/// The options of `ackor node`.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// The node name, `name@host:port` (port 0 picks a free port; the name printed on
    /// the `listening` line carries the real one).
    #[arg(long, env = "ACKOR_NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: Common,
    /// Also stop (gracefully) when standard input reaches its end, for a parent
    /// process that holds a pipe to the node. Off by default: the node never reads
    /// standard input.
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

/// Runs the node until a signal (or, if asked, the end of standard input).
pub async fn run(args: NodeArgs) -> Result<(), Failure> {
    let settings = config::resolve(args.name, &args.common).map_err(Failure::usage)?;
    let name = settings.name.clone().ok_or_else(|| {
        Failure::usage("no node name: give --name, ACKOR_NAME or `name` in the config file")
    })?;
    // Listen for signals before anything else: one sent while starting is not lost.
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::runtime(format!("signals: {e}")))?;
    let node = settings.builder(&name).start().await.map_err(|e| match e {
        ackor::Error::Config(m) if m.starts_with("cannot listen") => Failure::runtime(m),
        other => Failure::usage(other.to_string()),
    })?;
    ackor_cli::services::start(&node).map_err(|e| Failure::runtime(e.to_string()))?;
    // Whoever started the node may have stopped reading its output: not a reason to
    // fail (`println!` would panic on a closed pipe).
    say(&format!("listening {}", node.name()));

    let stdin_closed = async {
        if args.stop_on_stdin_eof {
            use tokio::io::AsyncReadExt;
            let mut sink = [0u8; 256];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = stdin_closed => "end of standard input",
    };
    tracing::info!(node = %node.name(), "{why}: stopping");
    tokio::select! {
        _ = node.shutdown() => {}
        _ = term.recv() => return Err(Failure::runtime("second signal: stopped without waiting for actors")),
        _ = int.recv() => return Err(Failure::runtime("second signal: stopped without waiting for actors")),
    }
    say(&format!("stopped {}", node.name()));
    Ok(())
}
