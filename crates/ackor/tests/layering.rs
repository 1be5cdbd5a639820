//! Layering: imports between the library's top-level modules point down.
//!
//! Each top-level module of `src/` (a folder `src/<name>/` with every file under it, or a
//! file `src/<name>.rs`) has a rank in `LAYERS`. A module may use modules of its own rank
//! or lower, never higher. The table mirrors the layer diagram at the top of `src/lib.rs`:
//! change both together.
//!
//! | rank | modules |
//! |------|---------|
//! | 10 | the crate root `lib.rs` and `testing.rs` (the api surface) |
//! | 9 | `stream/`: producers and consumers, on top of everything below |
//! | 8 | `route/`: ActorRef and its remote half, spawn/lookup, the Context verbs that address other actors; `supervision/`: the Supervisor |
//! | 7 | `actor/` and `reentrancy/` (one layer: they may use each other) |
//! | 6 | `node/`: the Node handle, process table and names, frames from peers to processes |
//! | 5 | `reliable/`: important delivery |
//! | 4 | `remote/`: links, handshake, framing, wire, peers |
//! | 3 | `monitor/`: exit signals, monitors and links as data |
//! | 2 | `mailbox/`: the three lanes |
//! | 1 | leaves: `identity.rs`, `error.rs`, `fasthash.rs`, `telemetry/` (the metrics table, OTLP export), `trace.rs` (trace context) |
//!
//! A use is any `crate::<name>` in code: `use` lines, grouped `use crate::{a::X, b::Y}`
//! (one use per item) and inline paths such as `crate::remote::table::<A>()`. Comments
//! (doc links included), strings and char literals are blanked out first. A root name
//! such as `crate::Error` counts as a use of the module lib.rs takes it from
//! (`pub use error::{BoxError, Error};`); an item lib.rs defines itself counts as the
//! root (rank 10). A module missing from the table, or a root name that cannot be traced
//! to a module, fails the test: every new module gets a rank on purpose.
//! Not seen: `super::` paths that climb out of a top-level module (write `crate::`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The rank of each top-level module (`lib` is `src/lib.rs`), highest first.
#[rustfmt::skip]
const LAYERS: &[(&str, u32)] = &[
    ("lib", 10), ("testing", 10),
    ("stream", 9),
    ("route", 8), ("supervision", 8),
    ("actor", 7), ("reentrancy", 7),
    ("node", 6),
    ("reliable", 5),
    ("remote", 4),
    ("monitor", 3),
    ("mailbox", 2),
    ("identity", 1), ("error", 1), ("fasthash", 1), ("telemetry", 1), ("trace", 1),
];

/// Ends the message for a `crate::<name>` that is no module and no root name.
const UNKNOWN_NAME: &str = "is neither a module in the layer table nor a root name lib.rs defines \
                            or re-exports from a module (`pub use <module>::...`)";
/// Ends the message for a module without a rank.
const ADD_IT: &str =
    "is not in the layer table; add it to LAYERS in tests/layering.rs and to the diagram in lib.rs";

fn rank(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, r)| r)
}

/// The top-level module of a file, from its path relative to `src/`.
fn module_of(path: &str) -> &str {
    let first = path.split(['/', '\\']).next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn not_ident(c: char) -> bool {
    !c.is_alphanumeric() && c != '_'
}

/// Where `pat` next starts in `b` at or after `i` (the end of `b` if nowhere).
fn find(b: &[u8], i: usize, pat: &[u8]) -> usize {
    (i..b.len()).find(|&k| b[k..].starts_with(pat)).unwrap_or(b.len())
}

/// `text` with comments, strings and char literals turned into spaces; newlines stay,
/// so offsets and line numbers still match the original.
fn blank(text: &str) -> String {
    let (b, mut out, mut i) = (text.as_bytes(), text.as_bytes().to_vec(), 0);
    while i < b.len() {
        let start = i;
        let raw = i == 0 || !is_ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !is_ident(b[i - 2])));
        let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
        let char_len = text
            .get(i + 1..)
            .and_then(|t| t.char_indices().nth(1))
            .map(|(k, _)| k);
        if b[i..].starts_with(b"//") {
            i = find(b, i, b"\n");
        } else if b[i..].starts_with(b"/*") {
            i = find(b, i + 2, b"*/") + 2; // not nested
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i] == b'r' && raw && b.get(i + 1 + hashes) == Some(&b'"') {
            let close = [b"\"".to_vec(), vec![b'#'; hashes]].concat();
            i = find(b, i + 2 + hashes, &close) + close.len();
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i = find(b, i + 3, b"'") + 1; // '\n', '\'', '\u{..}'
        } else if b[i] == b'\'' && char_len.is_some_and(|k| b[i + 1 + k] == b'\'') {
            i += 2 + char_len.unwrap_or(0); // 'x', while 'a (no closing quote) is a lifetime
        } else {
            i += 1;
            continue;
        }
        for c in &mut out[start..i.min(b.len())] {
            *c = if *c == b'\n' { b'\n' } else { b' ' };
        }
    }
    String::from_utf8(out).expect("only whole characters are blanked")
}

/// The items of a `{...}` group, `s` starting just after the `{`: (offset in `s`, item).
fn group_items(s: &str) -> Vec<(usize, &str)> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (k, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => {
                items.push((start, &s[start..k]));
                start = k + 1;
                if c == '}' {
                    break;
                }
            }
            _ => {}
        }
    }
    items
}

/// The identifier at `code[at..]` (after whitespace), with its offset.
fn ident_at(code: &str, at: usize) -> Option<(usize, &str)> {
    let start = at + (code[at..].len() - code[at..].trim_start().len());
    let len = code[start..].bytes().take_while(|&c| is_ident(c)).count();
    (len > 0).then(|| (start, &code[start..start + len]))
}

/// Every `crate::<name>` in blanked code, as (offset, name); a group gives one per item.
fn crate_refs(code: &str) -> Vec<(usize, &str)> {
    let mut refs = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let after = at + "crate::".len();
        let open = after + (code[after..].len() - code[after..].trim_start().len());
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue; // `mycrate::`
        } else if code[open..].starts_with('{') {
            let items = group_items(&code[open + 1..]);
            refs.extend(items.iter().filter_map(|(k, _)| ident_at(code, open + 1 + k)));
        } else {
            refs.extend(ident_at(code, after));
        }
    }
    refs.retain(|&(_, name)| name != "self");
    refs
}

/// A `use` tree flattened into paths: `a::{b, c::{d as e}}` gives `a::b`, `a::c::d as e`.
fn flatten(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            for (_, item) in group_items(&tree[open + 1..]) {
                flatten(&format!("{prefix}{}", &tree[..open]), item, out);
            }
        }
    }
}

/// Root names to the module they come from, from the `use` statements of lib.rs
/// (`pub use error::{BoxError, Error};` maps both to `error`); items lib.rs defines map
/// to `lib`. Names from other crates map to that crate, which is no module here.
fn root_names(lib_rs: &str) -> HashMap<String, String> {
    let code = blank(lib_rs);
    let mut names = HashMap::new();
    let words: Vec<&str> = code.split(not_ident).filter(|w| !w.is_empty()).collect();
    let items = ["fn", "const", "static", "struct", "enum", "type", "trait"];
    for w in words.windows(2) {
        if items.contains(&w[0]) && !items.contains(&w[1]) {
            names.insert(w[1].to_string(), "lib".to_string());
        }
    }
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("use ") {
        let stmt = &code[at + 4..];
        if at == 0 || !is_ident(code.as_bytes()[at - 1]) {
            flatten("", &stmt[..find(stmt.as_bytes(), 0, b";")], &mut paths);
        }
    }
    for path in &paths {
        let path = path.trim_start_matches("crate::").trim_start_matches("self::");
        let module = &path[..find(path.as_bytes(), 0, b"::")];
        let name = path.rsplit(not_ident).next().unwrap_or("");
        if !["", "self", module].contains(&name) {
            names.insert(name.to_string(), module.to_string());
        }
    }
    names
}

/// Every layering problem in `files` ((path relative to `src/`, text) pairs), given the
/// text of lib.rs: upward imports, modules missing from the table, untraceable root names.
fn check(files: &[(&str, &str)], lib_rs: &str) -> Vec<String> {
    let roots = root_names(lib_rs);
    let mut modules: BTreeSet<&str> = LAYERS.iter().map(|l| l.0).collect();
    modules.extend(files.iter().map(|(p, _)| module_of(p)));
    let mut problems = Vec::new();
    let mut unranked = BTreeSet::new();
    for &(path, text) in files {
        let from = module_of(path);
        let Some(r) = rank(from) else {
            if unranked.insert(from) {
                problems.push(format!("src/{path}: module `{from}` {ADD_IT}"));
            }
            continue;
        };
        let code = blank(text);
        for (at, name) in crate_refs(&code) {
            let n = code[..at].matches('\n').count() + 1;
            let line = format!("src/{path}:{n}: {}", text.lines().nth(n - 1).unwrap_or("").trim());
            let to = if modules.contains(name) {
                name
            } else if let Some(module) = roots.get(name) {
                module.as_str()
            } else {
                problems.push(format!("{line}\n    `crate::{name}` {UNKNOWN_NAME}"));
                continue;
            };
            match rank(to) {
                _ if to == from || !modules.contains(to) => {} // same module, or another crate
                None => problems.push(format!("{line}\n    module `{to}` {ADD_IT}")),
                Some(s) if s > r => problems.push(format!(
                    "{line}\n    {from} (layer {r}) must not import {to} (layer {s})"
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

fn read_tree(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read a folder of src") {
        let path = entry.expect("read a folder entry").path();
        if path.is_dir() {
            read_tree(&path, src, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).unwrap().display().to_string();
            out.push((rel, std::fs::read_to_string(&path).expect("read a source file")));
        }
    }
}

#[test]
fn library_imports_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    files.sort();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("read src/lib.rs");
    let problems = check(&files, &lib_rs);
    assert!(
        problems.is_empty(),
        "{} layering problem(s); the layers are in tests/layering.rs (and the diagram in lib.rs):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A lib.rs for the synthetic tests: re-exports (one spread over lines, one renamed) and
/// a constant of its own.
const LIB: &str = "mod actor;\npub use actor::{Actor, ActorRef};\npub use error::{BoxError, Error};\n\
                   pub use node::{\n    Node,\n    SpawnOptions as Options,\n};\npub const VERSION: u32 = 1;\n";

/// Checks `files` against `LIB`: exactly one problem per `expected` text, in order, containing it.
fn assert_problems(files: &[(&str, &str)], expected: &[&str]) {
    let problems = check(files, LIB);
    let ok = problems.len() == expected.len() && problems.iter().zip(expected).all(|(p, e)| p.contains(e));
    assert!(
        ok,
        "expected problems containing {expected:#?},\ngot {problems:#?}"
    );
}

#[test]
fn an_upward_import_is_reported() {
    let mailbox = "use crate::error::Error;\nuse crate::node::Node;\n";
    let problem =
        "src/mailbox/mod.rs:2: use crate::node::Node;\n    mailbox (layer 2) must not import node (layer 6)";
    assert_problems(&[("mailbox/mod.rs", mailbox)], &[problem]);
}

#[test]
fn a_root_reexport_counts_as_its_module() {
    let monitor = "fn f(_: &dyn crate::Actor, _: crate::Options, _: crate::Error) -> u32 { crate::VERSION }";
    let problems = [
        "monitor (layer 3) must not import actor (layer 7)",
        "monitor (layer 3) must not import node (layer 6)",
        "monitor (layer 3) must not import lib (layer 10)",
    ];
    assert_problems(&[("monitor/mod.rs", monitor)], &problems);
}

#[test]
fn a_root_name_that_cannot_be_traced_fails() {
    let problem = "`crate::Mystery` is neither a module in the layer table nor a root name";
    assert_problems(&[("mailbox/mod.rs", "fn f(_: crate::Mystery) {}\n")], &[problem]);
}

#[test]
fn imports_inside_comments_and_doc_links_are_ignored() {
    let mailbox = r###"//! Used by [`Node`](crate::Node), see [`Actor::on_down`](crate::Actor::on_down).
/// Like [`ActorRef::send`](crate::ActorRef::send).
fn f<'a>(e: &'a crate::error::Error) -> char { // crate::node::Node
    /* crate::route::x() crate::actor::Actor */
    let _ = ("crate::node::Node", "\"crate::route", r#"crate::actor "quoted""#, b"crate::node");
    if e.to_string().is_empty() { '"' } else { '\'' } // a quote in a char starts no string
}
"###;
    assert_problems(&[("mailbox/mod.rs", mailbox)], &[]);
}

#[test]
fn grouped_and_inline_paths_are_seen() {
    let remote = "use crate::{error::Error, node::Node};\nuse crate::{\n    identity::Pid,\n    \
                  monitor::{self, ExitReason},\n    reentrancy::Guard,\n};\nfn f() { crate::route::x::<u8>(); }\n";
    let problems = [
        "src/remote/mod.rs:1: use crate::{error::Error, node::Node};\n    remote (layer 4) must not import node",
        "src/remote/mod.rs:5: reentrancy::Guard,\n    remote (layer 4) must not import reentrancy (layer 7)",
        "src/remote/mod.rs:7: fn f() { crate::route::x::<u8>(); }\n    remote (layer 4) must not import route",
    ];
    assert_problems(&[("remote/mod.rs", remote)], &problems);
}

#[test]
fn same_layer_and_downward_imports_pass() {
    let actor = "use crate::reentrancy::Guard;\nuse crate::{mailbox::Mailbox, Error};";
    let reentrancy = "use crate::actor::Envelope;\nuse crate::{Actor, Error};";
    let route = "use crate::mailbox::Mailbox;\nuse crate::{Actor, Node};";
    let testing = "pub fn f() { crate::route::x(); crate::Node::builder(); }";
    let error = "use crate::fasthash::FastMap;";
    let files = [
        ("actor/mod.rs", actor),
        ("reentrancy/table.rs", reentrancy),
        ("route/mod.rs", route),
        ("testing.rs", testing),
        ("error.rs", error),
        ("lib.rs", LIB),
    ];
    assert_problems(&files, &[]);
}

#[test]
fn a_module_missing_from_the_table_fails() {
    let files = [
        ("scheduler/mod.rs", "use crate::error::Error;"),
        ("scheduler/tick.rs", ""),
        ("cache.rs", ""),
        ("mailbox/mod.rs", "use crate::scheduler::Tick;"),
    ];
    let problems = [
        "src/scheduler/mod.rs: module `scheduler` is not in the layer table; add it to LAYERS",
        "src/cache.rs: module `cache` is not in the layer table; add it",
        "src/mailbox/mod.rs:1: use crate::scheduler::Tick;\n    module `scheduler` is not in the layer table",
    ];
    assert_problems(&files, &problems);
}
