//! Time to detect a killed member.
//!
//! One cluster of two survivors (on the caller's runtime) and, per round, one fresh
//! victim on a tokio runtime of its own, on a thread of its own (the pattern of
//! `mortal_node` in ackor's tests). A round: the victim joins through the first
//! survivor; once both survivors list it, it gossips for the warm-up (so the survivors'
//! phi-accrual detectors have measured its heartbeat interval, as for a member that has
//! been up a while); then it is killed: its `Node` and `Cluster` are forgotten (no
//! destructor, no leave) and its runtime is dropped, which ends every task and closes
//! its gossip socket. The sample is, per survivor, the instant a task subscribed to that
//! survivor's [`Cluster::events`] received `Down(victim)` − the instant the kill was
//! signalled. The runtime drop itself takes well under a millisecond (reported).
//!
//! Every `Down` received during the run is recorded: a `Down` of a survivor, or of a
//! victim before its kill, is a false detection and is counted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ackor::NodeName;
use ackor_cluster::{Cluster, MemberEvent};
use tokio::sync::oneshot;

use super::{COOKIE, config, start_node, unique_name, wait_for_members};
use crate::BenchError;

/// Failure-detector settings of every member.
#[derive(Debug, Clone, Copy)]
pub struct Detector {
    /// Gossip interval.
    pub gossip: Duration,
    /// Phi threshold.
    pub phi: f64,
    /// Heartbeat interval assumed before any is measured.
    pub initial: Duration,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct DetectReport {
    /// Kill → `Down` received, one per survivor and round.
    pub samples: Vec<Duration>,
    /// Kill signalled → the victim's runtime dropped and its thread joined, per round.
    pub drop_times: Vec<Duration>,
    /// `Down` events of members that were not dead (a survivor, or a victim before its
    /// kill).
    pub false_downs: Vec<String>,
}

type DownLog = Arc<Mutex<Vec<(NodeName, Instant)>>>;

/// Runs `rounds` rounds with `settings`, each victim gossiping for `warm_up` once both
/// survivors list it. Runs on the caller's (multi-thread) runtime.
pub async fn run(settings: Detector, rounds: usize, warm_up: Duration) -> Result<DetectReport, BenchError> {
    let id = format!("detect-{}", unique_name("c"));
    let cfg = |seeds: Vec<String>| {
        config(&id, settings.gossip)
            .failure_detection(settings.phi, settings.initial)
            .seeds(seeds)
    };
    let a = start_node("surv").await?;
    let b = start_node("surv").await?;
    let ca = Cluster::join(&a, cfg(Vec::new())).await?;
    let seed = ca.gossip_addr().to_string();
    let cb = Cluster::join(&b, cfg(vec![seed.clone()])).await?;
    let survivors = [ca, cb];
    wait_for_members(&survivors, 2, Duration::from_secs(30)).await?;

    // One log of every Down per survivor, filled from the start.
    let logs: Vec<DownLog> = survivors.iter().map(|_| DownLog::default()).collect();
    let mut listeners = Vec::new();
    for (c, log) in survivors.iter().zip(&logs) {
        let mut events = c.events();
        let log = log.clone();
        listeners.push(tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(MemberEvent::Down(m)) => {
                        let at = Instant::now();
                        super::lock(&log).push((m.node, at));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }));
    }

    let mut report = DetectReport::default();
    let mut killed: Vec<(NodeName, Instant)> = Vec::new();
    for round in 0..rounds {
        let mut victim = Victim::start(cfg(vec![seed.clone()]))?;
        let name = victim.ready().await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !survivors
            .iter()
            .all(|c| c.members().iter().any(|m| m.node == name))
        {
            if Instant::now() > deadline {
                return Err(format!("round {round}: the survivors never listed {name}").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(warm_up).await;

        let kill = Instant::now();
        let dropped = victim.kill().await?;
        report.drop_times.push(dropped.duration_since(kill));
        killed.push((name.clone(), kill));

        for log in &logs {
            let deadline = Instant::now() + Duration::from_secs(120);
            let at = loop {
                let found = super::lock(log)
                    .iter()
                    .find(|(n, at)| *n == name && *at >= kill)
                    .map(|(_, at)| *at);
                if let Some(at) = found {
                    break at;
                }
                if Instant::now() > deadline {
                    return Err(format!("round {round}: no Down for {name} within 120 s").into());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            report.samples.push(at.duration_since(kill));
        }
    }

    for l in &listeners {
        l.abort();
    }
    for log in &logs {
        for (node, at) in super::lock(log).iter() {
            let real = killed.iter().any(|(n, kill)| n == node && at >= kill);
            if !real {
                report.false_downs.push(node.to_string());
            }
        }
    }
    for c in &survivors {
        c.leave().await;
    }
    a.shutdown().await;
    b.shutdown().await;
    Ok(report)
}

/// A member on a runtime and thread of its own.
struct Victim {
    ready: oneshot::Receiver<Result<NodeName, String>>,
    die: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Victim {
    fn start(cfg: ackor_cluster::ClusterConfig) -> Result<Victim, BenchError> {
        let (ready_tx, ready) = oneshot::channel();
        let (die, die_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cluster-victim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let joined = async {
                        let node = ackor::Node::builder()
                            .name(unique_name("victim"))
                            .cookie(COOKIE)
                            .start()
                            .await
                            .map_err(|e| e.to_string())?;
                        let cluster = Cluster::join(&node, cfg).await.map_err(|e| e.to_string())?;
                        Ok::<_, String>((node, cluster))
                    }
                    .await;
                    match joined {
                        Ok((node, cluster)) => {
                            let _ = ready_tx.send(Ok(node.name().clone()));
                            let _ = die_rx.await;
                            // As a SIGKILL: no destructor, no leave; the runtime's drop
                            // below ends the tasks and closes the sockets.
                            std::mem::forget(cluster);
                            std::mem::forget(node);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                drop(rt);
            })?;
        Ok(Victim { ready, die, thread })
    }

    /// Waits until the victim is a member; its node name.
    async fn ready(&mut self) -> Result<NodeName, BenchError> {
        Ok((&mut self.ready).await??)
    }

    /// Kills the victim; the instant its runtime is gone.
    async fn kill(self) -> Result<Instant, BenchError> {
        let _ = self.die.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| "the victim's thread panicked")?;
        Ok(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_rounds_count_right() {
        let rt = crate::runtime().unwrap_or_else(|e| panic!("{e}"));
        let fast = Detector {
            gossip: Duration::from_millis(50),
            phi: 6.0,
            initial: Duration::from_millis(50),
        };
        let r = crate::run_on_worker(&rt, run(fast, 2, Duration::from_millis(500)))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        // Two survivors, two rounds: one sample per survivor and round.
        assert_eq!(r.samples.len(), 4);
        assert_eq!(r.drop_times.len(), 2);
        assert!(r.false_downs.is_empty(), "{:?}", r.false_downs);
        // Detection needs at least a few silent gossip intervals.
        assert!(r.samples.iter().all(|s| *s >= fast.gossip), "{:?}", r.samples);
    }
}
