//! `ackor`: a guided demo of the framework, and (later) standalone nodes.

mod demo;

use clap::{Parser, Subcommand};

/// The ackor command line.
#[derive(Parser)]
#[command(
    name = "ackor",
    version,
    about = "ackor: actors whose messages do not get lost"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A guided tour in the terminal: needs no setup, runs everything in this process.
    Demo {
        /// Run only the chapter with this name (see --list).
        #[arg(long)]
        chapter: Option<String>,
        /// List the chapters and exit.
        #[arg(long)]
        list: bool,
    },
    /// Runs a standalone node with the `echo` and `relay` services, until Ctrl-C or
    /// until its standard input closes. Prints `listening <node name>` once ready.
    Node {
        /// The node name, `name@host:port` (port 0 picks a free port).
        #[arg(long)]
        name: String,
        /// The shared cookie nodes prove to each other.
        #[arg(long, env = "ACKOR_COOKIE")]
        cookie: String,
    },
}

/// Runs `ackor node` until Ctrl-C or end of standard input.
async fn run_node(name: String, cookie: String) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let node = ackor::Node::builder()
        .name(&name)
        .cookie(cookie)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    ackor_cli::services::start(&node).map_err(|e| e.to_string())?;
    println!("listening {}", node.name());
    let stdin_closed = async {
        let mut sink = [0u8; 256];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = stdin_closed => {}
    }
    node.shutdown().await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo provokes failures on purpose and narrates them; a node logs warnings.
    let default_filter = match cli.command {
        Command::Demo { .. } => "error",
        Command::Node { .. } => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ackor: cannot start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Node { name, cookie } => runtime.block_on(run_node(name, cookie)),
        Command::Demo { chapter, list } => {
            // Some chapters crash actors on purpose: one line per panic, not a backtrace.
            std::panic::set_hook(Box::new(|info| eprintln!("   (an actor panicked: {info})")));
            if list {
                demo::list();
                Ok(())
            } else {
                runtime.block_on(demo::run(chapter.as_deref()))
            }
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ackor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
