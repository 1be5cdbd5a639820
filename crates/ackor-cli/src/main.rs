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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
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
