//! The commands that talk to a running `ackor node`: each starts a short-lived node of
//! its own (`ackor-cli-<pid>@<bind>:0`), asks, prints the answer, and leaves.

use std::time::{Duration, Instant};

use ackor::inspect::{NodeInfo, ProcessDetail};
use ackor::{Node, NodeName, Pid, ProcessId, ProcessInfo};
use ackor_cli::services::{Echo, ListMembers, MEMBERS, MemberInfo, Members, Ping};

use crate::config::{self, Common};
use crate::exit::Failure;
use crate::output::say;

/// What every client command takes.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub common: Common,
    /// How long to wait for the node's answer (e.g. 500ms, 2s).
    #[arg(long, default_value = "5s", value_parser = config::parse_duration)]
    pub timeout: Duration,
    /// The address this command's own node listens on (the target node dials it to
    /// answer): one the target can reach.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind: String,
}

/// A client node, stopped (saying goodbye) when the command is done.
struct Client {
    node: Node,
    target: NodeName,
}

impl Client {
    async fn start(args: &ClientArgs, target: &str) -> Result<Client, Failure> {
        if !target.contains('@') {
            return Err(Failure::usage(format!(
                "`{target}` is not a node name (name@host:port)"
            )));
        }
        let mut settings = config::resolve(None, &args.common).map_err(Failure::usage)?;
        settings.remote = settings.remote.important_timeout(args.timeout);
        settings.call_timeout = Some(args.timeout);
        let name = format!("ackor-cli-{}@{}:0", std::process::id(), args.bind);
        let node = settings
            .builder(&name)
            .start()
            .await
            .map_err(|e| Failure::runtime(e.to_string()))?;
        Ok(Client {
            node,
            target: NodeName::new(target),
        })
    }

    fn id(&self, name: &str) -> ProcessId {
        ProcessId::new(name, self.target.clone())
    }

    fn fail(&self, e: &ackor::Error) -> Failure {
        Failure::from_remote(self.target.as_str(), e)
    }

    /// Runs `ask`, bounded by twice the timeout (the connection and the call), then
    /// stops the client node whatever happened.
    async fn run<T>(
        self,
        timeout: Duration,
        ask: impl AsyncFnOnce(&Client) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let outcome = match tokio::time::timeout(timeout * 2, ask(&self)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(self.fail(&ackor::Error::Timeout)),
        };
        self.node.shutdown().await;
        outcome
    }
}

/// `ackor ping NODE`: calls its `echo`, prints the round trip.
pub async fn ping(args: ClientArgs, target: String) -> Result<(), Failure> {
    let client = Client::start(&args, &target).await?;
    client
        .run(args.timeout, async |c| {
            // Addressed by name, resolved on the node when the message arrives. The first
            // call also makes the connection; the second one is the round trip.
            let echo = c.id("echo");
            c.node
                .call_name::<Echo, _>(&echo, Ping("hello".into()))
                .await
                .map_err(|e| c.fail(&e))?;
            let started = Instant::now();
            let reply = c
                .node
                .call_name::<Echo, _>(&echo, Ping("ping".into()))
                .await
                .map_err(|e| c.fail(&e))?;
            let rtt = started.elapsed();
            say(&format!("{reply}: time={:.3} ms", rtt.as_secs_f64() * 1000.0));
            Ok(())
        })
        .await
}

/// `ackor call NODE NAME TEXT`: calls the process registered as NAME with a `Ping`.
pub async fn call(args: ClientArgs, target: String, name: String, text: String) -> Result<(), Failure> {
    let client = Client::start(&args, &target).await?;
    client
        .run(args.timeout, async |c| {
            // Any process that takes a `Ping` will do: the receiving node decodes the
            // message by the tag, as the process's own type registered it.
            let reply = c
                .node
                .call_name::<Echo, _>(&c.id(&name), Ping(text))
                .await
                .map_err(|e| c.fail(&e))?;
            say(&reply);
            Ok(())
        })
        .await
}

/// `ackor send-important NODE NAME TEXT`: an important send of a `Ping` to NAME;
/// prints `acknowledged` once the node confirms it is in the mailbox.
pub async fn send_important(
    args: ClientArgs,
    target: String,
    name: String,
    text: String,
) -> Result<(), Failure> {
    let client = Client::start(&args, &target).await?;
    client
        .run(args.timeout, async |c| {
            // Resolved on the node when it arrives: an unknown name is the send's own
            // `ProcessUnknown`, not a lookup's.
            c.node
                .send_important_name::<Echo, _>(&c.id(&name), Ping(text))
                .await
                .map_err(|e| c.fail(&e))?;
            say("acknowledged");
            Ok(())
        })
        .await
}

/// `ackor ps NODE`: the node's processes, as a table or JSON.
pub async fn ps(args: ClientArgs, target: String, json: bool) -> Result<(), Failure> {
    let client = Client::start(&args, &target).await?;
    let list = client
        .run(args.timeout, async |c| {
            c.node
                .inspect(&c.target)
                .processes()
                .await
                .map_err(|e| c.fail(&e))
        })
        .await?;
    if json {
        let text = serde_json::to_string_pretty(&list).map_err(|e| Failure::runtime(e.to_string()))?;
        say(&text);
    } else {
        say(table(&list).trim_end());
    }
    Ok(())
}

/// `ackor members NODE`: the cluster members the node sees, as a table. A node in no
/// cluster is a remote error (exit 4).
pub async fn members(args: ClientArgs, target: String) -> Result<(), Failure> {
    let client = Client::start(&args, &target).await?;
    let list = client
        .run(args.timeout, async |c| {
            c.node
                .call_name::<Members, _>(&c.id(MEMBERS), ListMembers)
                .await
                .map_err(|e| c.fail(&e))
        })
        .await?;
    let list =
        list.ok_or_else(|| Failure::new(crate::exit::REMOTE_ERROR, format!("{target}: not in a cluster")))?;
    say(members_table(&list).trim_end());
    Ok(())
}

/// `ackor inspect NODE [PID]`: the node (its peers and important-delivery outcomes),
/// or one of its processes in detail; as text or JSON.
pub async fn inspect(
    args: ClientArgs,
    target: String,
    pid: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let pid: Option<Pid> = match pid {
        Some(text) => Some(
            text.parse()
                .map_err(|e: ackor::Error| Failure::usage(e.to_string()))?,
        ),
        None => None,
    };
    let client = Client::start(&args, &target).await?;
    let text = client
        .run(args.timeout, async |c| {
            let inspector = c.node.inspect(&c.target);
            match &pid {
                None => {
                    let info = inspector.node().await.map_err(|e| c.fail(&e))?;
                    if json {
                        to_json(&info)
                    } else {
                        Ok(node_text(&info))
                    }
                }
                Some(pid) => {
                    let detail = inspector.process(pid).await.map_err(|e| c.fail(&e))?;
                    let detail = detail.ok_or_else(|| {
                        Failure::new(crate::exit::REMOTE_ERROR, format!("{target}: no process {pid}"))
                    })?;
                    if json {
                        to_json(&detail)
                    } else {
                        Ok(process_text(&detail))
                    }
                }
            }
        })
        .await?;
    say(text.trim_end());
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value).map_err(|e| Failure::runtime(e.to_string()))
}

/// A node's info as text: a few lines about the node, its important-delivery
/// outcomes, then its peers as a table.
pub fn node_text(info: &NodeInfo) -> String {
    let i = &info.important;
    let nacked: Vec<String> = i.nacked.iter().map(|(r, n)| format!("{r}={n}")).collect();
    let mut out = format!(
        "node       {} (creation {}, up {} s, listening on {})\n\
         processes  {} ({} requests in flight)\n\
         important  sent {}, acked {}, nacked {}, resent {}, deduplicated {}, responses ignored {}\n\n",
        info.name,
        info.creation,
        info.uptime_ms / 1000,
        info.listen_addr.as_deref().unwrap_or("-"),
        info.process_count,
        info.requests_in_flight,
        i.sent,
        i.acked,
        if nacked.is_empty() {
            "0".to_string()
        } else {
            nacked.join(" ")
        },
        i.resent,
        i.deduplicated,
        i.responses_ignored,
    );
    let rows: Vec<[String; 7]> = info
        .peers
        .iter()
        .map(|p| {
            [
                p.node.clone(),
                p.status.clone(),
                p.links.to_string(),
                p.rtt_us.map_or_else(|| "-".into(), |us| format!("{us} µs")),
                format!("{}/{}", p.bytes_sent, p.bytes_received),
                p.unacked_important.to_string(),
                p.creation.map_or_else(|| "-".into(), |c| c.to_string()),
            ]
        })
        .collect();
    out.push_str(&columns(
        [
            "PEER",
            "STATUS",
            "LINKS",
            "RTT",
            "BYTES OUT/IN",
            "UNACKED",
            "CREATION",
        ],
        &rows,
    ));
    out
}

/// A process in detail as text.
pub fn process_text(d: &ProcessDetail) -> String {
    let p = &d.info;
    let pids = |list: &[Pid]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.iter().map(Pid::to_string).collect::<Vec<_>>().join(" ")
        }
    };
    let mut out = format!(
        "pid           {}\n\
         name          {}\n\
         type          {}\n\
         state         {}\n\
         mailbox       {}/{} (system {})\n\
         handled       {}\n\
         requests      {} in flight, {} stashed\n\
         last failure  {}\n\
         links         {}\n\
         monitors      {}\n\
         monitored by  {}\n",
        p.pid,
        p.name.as_deref().unwrap_or("-"),
        p.actor_type,
        p.state,
        p.mailbox_len,
        p.mailbox_capacity,
        p.system_len,
        p.handled,
        p.requests_in_flight,
        p.stashed,
        p.last_failure.as_deref().unwrap_or("-"),
        pids(&d.links),
        pids(&d.monitors),
        pids(&d.monitored_by),
    );
    if d.recent.is_empty() {
        out.push_str(
            "recent        - (followed for a minute from now: ask again to see its messages)
",
        );
    } else {
        out.push('\n');
        let rows: Vec<[String; 3]> = d
            .recent
            .iter()
            .map(|m| [m.at_unix_ms.to_string(), m.message.clone(), m.trace_id.clone()])
            .collect();
        out.push_str(&columns(["AT (UNIX MS)", "MESSAGE", "TRACE ID"], &rows));
    }
    out
}

/// The member list as a table: node, creation, gossip address.
pub fn members_table(list: &[MemberInfo]) -> String {
    let rows: Vec<[String; 3]> = list
        .iter()
        .map(|m| [m.node.clone(), m.creation.to_string(), m.gossip_addr.clone()])
        .collect();
    columns(["NODE", "CREATION", "GOSSIP"], &rows)
}

/// The process list as a table: pid, name, type, mailbox (queued/capacity), system
/// lane, state, messages handled, requests in flight.
pub fn table(list: &[ProcessInfo]) -> String {
    let rows: Vec<[String; 8]> = list
        .iter()
        .map(|p| {
            [
                p.pid.to_string(),
                p.name.clone().unwrap_or_else(|| "-".into()),
                p.actor_type.clone(),
                format!("{}/{}", p.mailbox_len, p.mailbox_capacity),
                p.system_len.to_string(),
                p.state.to_string(),
                p.handled.to_string(),
                p.requests_in_flight.to_string(),
            ]
        })
        .collect();
    columns(
        [
            "PID", "NAME", "TYPE", "MAILBOX", "SYS", "STATE", "HANDLED", "REQS",
        ],
        &rows,
    )
}

/// `header` and `rows` as left-aligned columns two spaces apart, one line each.
fn columns<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
