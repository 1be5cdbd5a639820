//! `ackor demo`: a sequence of named chapters, each a small story that checks what it
//! claims and fails the demo if the framework does not behave as told.

mod cluster;
mod grains;
mod important;
mod local;
mod nodes;
pub mod observatory;
mod reentrancy;
mod streams;
mod supervision;

use std::future::Future;
use std::pin::Pin;

/// What a chapter returns: `Err` with an explanation when something did not happen as
/// the chapter says it should.
pub type Outcome = Result<(), String>;

type ChapterFn = fn() -> Pin<Box<dyn Future<Output = Outcome>>>;

/// One chapter of the tour.
struct Chapter {
    name: &'static str,
    title: &'static str,
    run: ChapterFn,
}

/// Every chapter, in the order the tour runs them.
fn chapters() -> Vec<Chapter> {
    vec![
        Chapter {
            name: "spawn",
            title: "Spawning an actor, sending and calling",
            run: || Box::pin(local::spawn_send_call()),
        },
        Chapter {
            name: "mailbox",
            title: "A bounded mailbox says no at once",
            run: || Box::pin(local::mailbox_full()),
        },
        Chapter {
            name: "deferred",
            title: "A deferred reply",
            run: || Box::pin(local::deferred_reply()),
        },
        Chapter {
            name: "monitor",
            title: "A monitor sees a crash; the node lives on",
            run: || Box::pin(local::monitor_sees_crash()),
        },
        Chapter {
            name: "names",
            title: "Registered names",
            run: || Box::pin(local::names()),
        },
        Chapter {
            name: "supervision",
            title: "Supervision: restart in place, one-for-all, intensity, backoff",
            run: || Box::pin(supervision::supervision()),
        },
        Chapter {
            name: "nodes",
            title: "Three nodes over TCP: calls, names, monitors, a node going away",
            run: || Box::pin(nodes::three_nodes()),
        },
        Chapter {
            name: "cluster",
            title: "A cluster: gossip membership, names, groups, placement, a member dying",
            run: || Box::pin(cluster::three_members()),
        },
        Chapter {
            name: "grains",
            title: "Grains: virtual actors activated on demand, passivated when idle, one at a time",
            run: || Box::pin(grains::grains()),
        },
        Chapter {
            name: "important",
            title: "Important delivery: every error for its real cause",
            run: || Box::pin(important::every_error_for_its_cause()),
        },
        Chapter {
            name: "streams",
            title: "Delivery that survives a crash: acknowledged after handling, a stream across restarts",
            run: || Box::pin(streams::handled_not_queued()),
        },
        Chapter {
            name: "reentrancy",
            title: "Reentrancy: Off, AllowAll and StashNonReentrant side by side",
            run: || Box::pin(reentrancy::three_modes()),
        },
    ]
}

/// Prints the chapter list.
pub fn list() {
    for c in chapters() {
        println!("{:<12} {}", c.name, c.title);
    }
}

/// Runs every chapter, or only `only`.
pub async fn run(only: Option<&str>) -> Result<(), String> {
    let all = chapters();
    if let Some(name) = only
        && !all.iter().any(|c| c.name == name)
    {
        let names: Vec<_> = all.iter().map(|c| c.name).collect();
        return Err(format!("no chapter {name:?}; chapters: {}", names.join(", ")));
    }
    let selected: Vec<_> = all
        .into_iter()
        .filter(|c| only.is_none_or(|n| n == c.name))
        .collect();
    let total = selected.len();
    for (i, chapter) in selected.iter().enumerate() {
        println!();
        println!("── {}/{} {} ({})", i + 1, total, chapter.title, chapter.name);
        (chapter.run)()
            .await
            .map_err(|e| format!("chapter {:?} failed: {e}", chapter.name))?;
    }
    println!();
    println!("All {total} chapters ran as described.");
    Ok(())
}

/// Prints one step of a story.
pub fn say(text: impl std::fmt::Display) {
    println!("   {text}");
}

/// Fails the chapter unless `cond` holds.
pub fn check(cond: bool, what: &str) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(format!("expected: {what}"))
    }
}
