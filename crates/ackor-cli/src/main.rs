//! `ackor`: a guided demo of the framework, standalone nodes, and commands that talk to
//! running nodes.

mod client;
mod config;
mod demo;
mod exit;
mod node_cmd;
mod observe;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use client::ClientArgs;
use exit::Failure;

/// The ackor command line.
#[derive(Parser)]
#[command(
    name = "ackor",
    version,
    about = "ackor: actors whose messages do not get lost",
    after_help = exit::HELP
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
        /// After the tour, keep three nodes running with traffic flowing and serve the
        /// web observer for one of them at ADDR (default 127.0.0.1:0: a free port; the
        /// `observing <url>` line tells which), until Ctrl-C.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
        observe: Option<std::net::SocketAddr>,
    },
    /// Runs a standalone node with the services `echo`, `relay`, `sink` and
    /// `ackor.members` until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully. Prints
    /// `listening <node name>` once ready and `stopped <node name>` at the end. With
    /// `--cluster` it joins a cluster: it also prints `gossip <addr>` once ready and
    /// `member up|left|down <node>` as members come and go, and leaves the cluster
    /// before it stops.
    #[command(after_help = exit::HELP)]
    Node(node_cmd::NodeArgs),
    /// Calls `echo` on a running node and prints the round-trip time.
    #[command(after_help = exit::HELP)]
    Ping {
        /// The node, `name@host:port`.
        node: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Calls the process registered as NAME on a node with a text (`echo` and `sink`
    /// answer it) and prints the reply.
    #[command(after_help = exit::HELP)]
    Call {
        /// The node, `name@host:port`.
        node: String,
        /// The registered name (e.g. `echo`).
        name: String,
        /// The text to send.
        text: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lists a node's processes: pid, name, type, mailbox, state, messages handled,
    /// requests in flight.
    #[command(after_help = exit::HELP)]
    Ps {
        /// The node, `name@host:port`.
        node: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Shows a node (its peers with links, round-trip times, bytes and unacknowledged
    /// important sends; its important-delivery outcomes) or, with a pid, one of its
    /// processes in detail (links, monitors, last failure, and the trace ids of the
    /// messages it handled since it was last inspected: asking follows it for a minute).
    #[command(after_help = exit::HELP)]
    Inspect {
        /// The node, `name@host:port`.
        node: String,
        /// A process of the node, as `ackor ps` shows it: `<node.id.creation>`.
        pid: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lists the cluster members a node sees: node, creation, gossip address.
    #[command(after_help = exit::HELP)]
    Members {
        /// The node, `name@host:port`.
        node: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Sends a text to the process registered as NAME as an important message: prints
    /// `acknowledged` once it is in the mailbox, or why not.
    #[command(after_help = exit::HELP)]
    SendImportant {
        /// The node, `name@host:port`.
        node: String,
        /// The registered name (e.g. `echo`, or `sink` to see a full mailbox).
        name: String,
        /// The text to send.
        text: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Serves a web page that shows a node and its peers live: nodes and links,
    /// processes with mailbox depths and message rates, important-delivery outcomes,
    /// requests in flight and stashes; click a process to follow its messages' trace
    /// ids. Prints `observing <url>` once serving; runs until SIGINT (Ctrl-C) or SIGTERM.
    #[command(after_help = exit::HELP)]
    Observe(observe::ObserveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo provokes failures on purpose and narrates them; a node logs its life;
    // a client command prints its outcome and logs only errors.
    let default_filter = match cli.command {
        Command::Node { .. } => "info",
        Command::Observe(_) => "warn",
        _ => "error",
    };
    let log_filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter);
    // `ackor node --otlp URL`: ackor's spans (DEBUG) go to the collector whatever the log
    // level; the guard sends what is left at the end.
    let otlp_url = match &cli.command {
        Command::Node(args) => args.otlp.clone().map(|url| (url, node_cmd::service_name(args))),
        _ => None,
    };
    let (otlp, otlp_guard) = match otlp_url {
        None => (None, None),
        Some((url, service)) => match ackor::telemetry::otlp::layer(&url, &service) {
            Ok((layer, guard)) => {
                let spans = Targets::new().with_target("ackor", tracing::Level::DEBUG);
                (Some(layer.with_filter(spans)), Some(guard))
            }
            Err(e) => {
                eprintln!("ackor: --otlp: {e}");
                return ExitCode::from(exit::USAGE);
            }
        },
    };
    let exporting = otlp.is_some();
    tracing_subscriber::registry().with(log).with(otlp).init();
    if exporting && let Command::Node(args) = &cli.command {
        tracing::info!(
            url = args.otlp.as_deref().unwrap_or_default(),
            "exporting traces over OTLP"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ackor: cannot start the tokio runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let outcome = match cli.command {
        Command::Node(args) => runtime.block_on(node_cmd::run(args)),
        Command::Ping { node, client } => runtime.block_on(client::ping(client, node)),
        Command::Call {
            node,
            name,
            text,
            client,
        } => runtime.block_on(client::call(client, node, name, text)),
        Command::Ps { node, json, client } => runtime.block_on(client::ps(client, node, json)),
        Command::Members { node, client } => runtime.block_on(client::members(client, node)),
        Command::Inspect {
            node,
            pid,
            json,
            client,
        } => runtime.block_on(client::inspect(client, node, pid, json)),
        Command::Observe(args) => runtime.block_on(observe::run(args)),
        Command::SendImportant {
            node,
            name,
            text,
            client,
        } => runtime.block_on(client::send_important(client, node, name, text)),
        Command::Demo {
            chapter,
            list,
            observe,
        } => {
            // Some chapters crash actors on purpose: one line per panic, not a backtrace.
            std::panic::set_hook(Box::new(|info| eprintln!("   (an actor panicked: {info})")));
            if list {
                demo::list();
                Ok(())
            } else {
                runtime
                    .block_on(async {
                        demo::run(chapter.as_deref()).await?;
                        match observe {
                            Some(addr) => demo::observatory::run(addr).await,
                            None => Ok(()),
                        }
                    })
                    .map_err(Failure::runtime)
            }
        }
    };
    // Nothing left behind keeps the process alive: tasks still running (a blocking
    // read of standard input, say) get a short grace, then the process exits.
    runtime.shutdown_timeout(Duration::from_secs(1));
    // `exit` runs no destructor: the spans still queued are sent now.
    drop(otlp_guard);
    let code = match outcome {
        Ok(()) => exit::OK,
        Err(failure) => {
            eprintln!("ackor: {}", failure.message);
            failure.code
        }
    };
    std::process::exit(i32::from(code))
}
