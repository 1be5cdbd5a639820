//! Settings of `ackor node` and of the client commands: a TOML file (`--config FILE` or
//! `ACKOR_CONFIG`), overridden by environment variables, overridden by flags.
//!
//! ```toml
//! name = "a@127.0.0.1:4370"      # ackor node only
//! cookie = "secret"
//! mailbox_capacity = 1024
//! call_timeout_ms = 5000
//! shutdown_timeout_ms = 10000
//!
//! [remote]                       # every key optional; defaults as in RemoteConfig::new
//! max_frame_size = 8388608
//! heartbeat_interval_ms = 1000
//! heartbeat_timeout_ms = 5000
//! handshake_timeout_ms = 5000
//! reconnect_backoff_ms = 100
//! max_reconnect_backoff_ms = 5000
//! links_per_peer = 2
//! important_timeout_ms = 5000
//! important_window = 65536
//! link_buffer = 1048576
//!
//! [tls]                          # all three paths, or no [tls] at all
//! cert = "node.pem"              # this node's certificate chain (PEM)
//! key = "node.key"               # its private key (PEM)
//! ca = "ca.pem"                  # the CA peers' certificates chain to (PEM)
//! mutual = true                  # peers must present a certificate too (default)
//! ```
//!
//! Relative paths in `[tls]` are relative to the config file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// What the config file may hold; unknown keys are an error (a typo would otherwise be
/// silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The node name (`ackor node` only).
    pub name: Option<String>,
    /// The shared cookie.
    pub cookie: Option<String>,
    /// Default capacity of each actor's user lane.
    pub mailbox_capacity: Option<usize>,
    /// Default call timeout, in milliseconds.
    pub call_timeout_ms: Option<u64>,
    /// How long shutdown lets actors run `on_stop`, in milliseconds.
    pub shutdown_timeout_ms: Option<u64>,
    /// The network settings.
    #[serde(default)]
    pub remote: RemoteSection,
    /// TLS for every link.
    pub tls: Option<TlsSection>,
}

/// `[remote]`: what `ackor::RemoteConfig` exposes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSection {
    /// The largest frame accepted or sent, in bytes.
    pub max_frame_size: Option<usize>,
    /// How often an idle link sends a heartbeat.
    pub heartbeat_interval_ms: Option<u64>,
    /// Silence after which a link is dead.
    pub heartbeat_timeout_ms: Option<u64>,
    /// How long a handshake may take.
    pub handshake_timeout_ms: Option<u64>,
    /// The first wait before redialing a lost peer.
    pub reconnect_backoff_ms: Option<u64>,
    /// The ceiling of that wait.
    pub max_reconnect_backoff_ms: Option<u64>,
    /// TCP connections per peer.
    pub links_per_peer: Option<usize>,
    /// How long an important send waits for its acknowledgement.
    pub important_timeout_ms: Option<u64>,
    /// Unacknowledged important sends per peer.
    pub important_window: Option<usize>,
    /// Bytes a link may hold before plain sends on it are refused.
    pub link_buffer: Option<usize>,
}

/// `[tls]`: PEM files, as `ackor::TlsConfig::from_pem` takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA certificate(s) peers' certificates must chain to.
    pub ca: PathBuf,
    /// Whether peers must present a certificate too.
    #[serde(default = "yes")]
    pub mutual: bool,
}

fn yes() -> bool {
    true
}

/// The options every command that starts a node shares (flags, with their environment
/// variables: clap takes a flag over its variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// A TOML config file (see the README for its keys).
    #[arg(long, env = "ACKOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The shared cookie nodes prove to each other.
    #[arg(long, env = "ACKOR_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// TLS: this node's certificate chain (PEM); with --tls-key and --tls-ca.
    #[arg(long, env = "ACKOR_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: this node's private key (PEM).
    #[arg(long, env = "ACKOR_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// TLS: the CA certificate(s) peers must chain to (PEM).
    #[arg(long, env = "ACKOR_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

/// Settings resolved from flags, environment and file, ready to build a node.
#[derive(Debug)]
pub struct Settings {
    /// The node name, if any source gave one.
    pub name: Option<String>,
    /// The network settings (cookie, TLS, limits).
    pub remote: ackor::RemoteConfig,
    /// Default mailbox capacity, if set.
    pub mailbox_capacity: Option<usize>,
    /// Default call timeout, if set.
    pub call_timeout: Option<Duration>,
    /// Shutdown timeout, if set.
    pub shutdown_timeout: Option<Duration>,
}

impl Settings {
    /// A node builder with these settings and `name`.
    pub fn builder(&self, name: &str) -> ackor::NodeBuilder {
        let mut b = ackor::Node::builder().name(name).remote(self.remote.clone());
        if let Some(c) = self.mailbox_capacity {
            b = b.mailbox_capacity(c);
        }
        if let Some(t) = self.call_timeout {
            b = b.call_timeout(t);
        }
        if let Some(t) = self.shutdown_timeout {
            b = b.shutdown_timeout(t);
        }
        b
    }
}

fn ms(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_millis)
}

/// Reads and parses a config file.
pub fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

/// Resolves the settings: `name` (a flag or `ACKOR_NAME`, already taken by clap) and
/// `common` over the file named by `--config`/`ACKOR_CONFIG`.
pub fn resolve(name: Option<String>, common: &Common) -> Result<Settings, String> {
    let file = match &common.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };
    let base = common
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cookie = common
        .cookie
        .clone()
        .or(file.cookie)
        .ok_or("no cookie: give --cookie, ACKOR_COOKIE or `cookie` in the config file")?;
    let r = &file.remote;
    let mut remote = ackor::RemoteConfig::new(cookie);
    if let Some(v) = r.max_frame_size {
        remote = remote.max_frame_size(v);
    }
    if let Some(v) = ms(r.heartbeat_interval_ms) {
        remote = remote.heartbeat_interval(v);
    }
    if let Some(v) = ms(r.heartbeat_timeout_ms) {
        remote = remote.heartbeat_timeout(v);
    }
    if let Some(v) = ms(r.handshake_timeout_ms) {
        remote = remote.handshake_timeout(v);
    }
    if let Some(v) = ms(r.reconnect_backoff_ms) {
        remote = remote.reconnect_backoff(v);
    }
    if let Some(v) = ms(r.max_reconnect_backoff_ms) {
        remote.max_reconnect_backoff = v;
    }
    if let Some(v) = r.links_per_peer {
        remote = remote.links_per_peer(v);
    }
    if let Some(v) = ms(r.important_timeout_ms) {
        remote = remote.important_timeout(v);
    }
    if let Some(v) = r.important_window {
        remote = remote.important_window(v);
    }
    if let Some(v) = r.link_buffer {
        remote = remote.link_buffer(v);
    }
    if let Some(tls) = tls(common, file.tls, &base)? {
        remote = remote.tls(tls);
    }
    Ok(Settings {
        name: name.or(file.name),
        remote,
        mailbox_capacity: file.mailbox_capacity,
        call_timeout: ms(file.call_timeout_ms),
        shutdown_timeout: ms(file.shutdown_timeout_ms),
    })
}

/// TLS from the flags (all three, each over the file's), or the file's `[tls]`.
fn tls(common: &Common, file: Option<TlsSection>, base: &Path) -> Result<Option<ackor::TlsConfig>, String> {
    let from_file = file.map(|t| {
        (
            Some(base.join(t.cert)),
            Some(base.join(t.key)),
            Some(base.join(t.ca)),
            t.mutual,
        )
    });
    let (f_cert, f_key, f_ca, mutual) = from_file.unwrap_or((None, None, None, true));
    let cert = common.tls_cert.clone().or(f_cert);
    let key = common.tls_key.clone().or(f_key);
    let ca = common.tls_ca.clone().or(f_ca);
    match (cert, key, ca) {
        (None, None, None) => Ok(None),
        (Some(cert), Some(key), Some(ca)) => {
            let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
            ackor::TlsConfig::from_pem(&read(&cert)?, &read(&key)?, &read(&ca)?, mutual)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        _ => Err("TLS needs a certificate, a key and a CA (--tls-cert, --tls-key, --tls-ca or [tls])".into()),
    }
}

/// Parses a duration: `500ms`, `2s`, `1.5s`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 2s)"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 2s)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn the_file_format_parses_and_refuses_typos() {
        let file: FileConfig = toml::from_str(
            "name = \"a@127.0.0.1:0\"\ncookie = \"c\"\ncall_timeout_ms = 200\n[remote]\nlinks_per_peer = 1\n",
        )
        .unwrap_or_default();
        assert_eq!(file.name.as_deref(), Some("a@127.0.0.1:0"));
        assert_eq!(file.remote.links_per_peer, Some(1));
        assert!(toml::from_str::<FileConfig>("cokie = \"c\"").is_err());
    }
}
