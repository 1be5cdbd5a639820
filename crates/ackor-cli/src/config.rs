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
//! [cluster]                      # ackor node only; joins a cluster when `id` is set
//! id = "shop"                    # the cluster id
//! gossip = "127.0.0.1:7946"      # the UDP address to gossip on (port 0: any free port)
//! seeds = ["10.0.0.1:7946"]      # gossip addresses of members to join through
//! gossip_interval_ms = 500
//! phi_threshold = 8.0            # failure detector: higher is slower and surer
//! initial_interval_ms = 1000     # heartbeat interval assumed before one is measured
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
    /// Cluster membership (`ackor node` only).
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Where `ackor node` serves its metrics, `host:port` (see `--metrics`).
    pub metrics: Option<String>,
    /// Where `ackor node` serves the web observer for itself, `host:port` (see
    /// `--observe`).
    pub observe: Option<String>,
}

/// `[cluster]`: what `ackor_cluster::ClusterConfig` takes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// The cluster id; no cluster without one.
    pub id: Option<String>,
    /// The gossip address, `host:port`.
    pub gossip: Option<String>,
    /// Gossip addresses of members to join through.
    pub seeds: Option<Vec<String>>,
    /// How often to gossip, in milliseconds.
    pub gossip_interval_ms: Option<u64>,
    /// The failure detector's phi threshold.
    pub phi_threshold: Option<f64>,
    /// The heartbeat interval assumed before one is measured, in milliseconds.
    pub initial_interval_ms: Option<u64>,
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
    /// The config file's `[cluster]` section (see [`cluster`] for the flags over it).
    pub cluster_file: ClusterSection,
    /// The config file's `metrics` address (the `--metrics` flag goes over it).
    pub metrics_file: Option<String>,
    /// The config file's `observe` address (the `--observe` flag goes over it).
    pub observe_file: Option<String>,
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
        cluster_file: file.cluster,
        metrics_file: file.metrics,
        observe_file: file.observe,
    })
}

/// The cluster flags of `ackor node`, with their environment variables (clap takes a
/// flag over its variable; both over the config file's `[cluster]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Join the cluster with this id (needs a gossip address).
    #[arg(long = "cluster", env = "ACKOR_CLUSTER", value_name = "ID")]
    pub id: Option<String>,
    /// The UDP address to gossip on, `host:port` (port 0 picks a free port; the
    /// `gossip` line printed once ready carries the real one).
    #[arg(long, env = "ACKOR_GOSSIP", value_name = "HOST:PORT")]
    pub gossip: Option<String>,
    /// The gossip address of a member to join through (repeatable; ACKOR_SEEDS takes
    /// a comma-separated list).
    #[arg(
        long = "seed",
        env = "ACKOR_SEEDS",
        value_name = "HOST:PORT",
        value_delimiter = ','
    )]
    pub seeds: Vec<String>,
    /// How often to gossip (e.g. 500ms).
    #[arg(long, env = "ACKOR_GOSSIP_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub gossip_interval: Option<Duration>,
    /// The failure detector's phi threshold (higher: slower and surer; default 8).
    #[arg(long, env = "ACKOR_PHI_THRESHOLD", value_name = "PHI")]
    pub phi_threshold: Option<f64>,
    /// The heartbeat interval the failure detector assumes before it measured one
    /// (e.g. 1s).
    #[arg(long, env = "ACKOR_INITIAL_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub initial_interval: Option<Duration>,
}

/// The cluster a node joins: `args` over `file`. `None` when neither names a cluster.
pub fn cluster(
    args: &ClusterArgs,
    file: &ClusterSection,
) -> Result<Option<ackor_cluster::ClusterConfig>, String> {
    let file = file.clone();
    let gossip = args.gossip.clone().or(file.gossip);
    let Some(id) = args.id.clone().or(file.id) else {
        if gossip.is_some() || !args.seeds.is_empty() || file.seeds.is_some_and(|s| !s.is_empty()) {
            return Err("a gossip address or seeds without a cluster id: give --cluster, ACKOR_CLUSTER or `id` in [cluster]".into());
        }
        return Ok(None);
    };
    if id.trim().is_empty() {
        return Err("the cluster id is empty".into());
    }
    let gossip = gossip.ok_or(
        "a cluster member needs a gossip address: give --gossip, ACKOR_GOSSIP or `gossip` in [cluster]",
    )?;
    let gossip_addr = socket_addr(&gossip).map_err(|e| format!("gossip address: {e}"))?;
    let seeds = if args.seeds.is_empty() {
        file.seeds.unwrap_or_default()
    } else {
        args.seeds.clone()
    };
    let seeds: Vec<String> = seeds
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for seed in &seeds {
        host_port(seed).map_err(|e| format!("seed: {e}"))?;
    }
    let mut config = ackor_cluster::ClusterConfig::new(id, gossip_addr).seeds(seeds);
    if let Some(interval) = args.gossip_interval.or(ms(file.gossip_interval_ms)) {
        if interval.is_zero() {
            return Err("the gossip interval must be more than 0".into());
        }
        config = config.gossip_interval(interval);
    }
    let phi = args.phi_threshold.or(file.phi_threshold);
    let initial = args.initial_interval.or(ms(file.initial_interval_ms));
    if phi.is_some() || initial.is_some() {
        let phi = phi.unwrap_or(8.0);
        if !(phi.is_finite() && phi > 0.0) {
            return Err(format!("the phi threshold must be a positive number, not {phi}"));
        }
        let initial = initial.unwrap_or(Duration::from_secs(1));
        if initial.is_zero() {
            return Err("the initial heartbeat interval must be more than 0".into());
        }
        config = config.failure_detection(phi, initial);
    }
    Ok(Some(config))
}

/// `host:port`, split; the port a number.
fn host_port(text: &str) -> Result<(&str, u16), String> {
    let bad = || format!("`{text}` is not host:port");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// A socket address from `host:port`, the host an IP address or a name to look up.
fn socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let (host, port) = host_port(text)?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{text}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
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

    #[test]
    fn cluster_flags_override_the_file_and_bad_addresses_are_refused() {
        let file: FileConfig = toml::from_str(
            "[cluster]\nid = \"shop\"\ngossip = \"127.0.0.1:0\"\nseeds = [\"127.0.0.1:7946\"]\ngossip_interval_ms = 100\nphi_threshold = 6.0\n",
        )
        .unwrap_or_default();
        let none = ClusterArgs::default();
        let from_file = cluster(&none, &file.cluster);
        assert!(
            matches!(&from_file, Ok(Some(c)) if c.cluster_id() == "shop"),
            "{from_file:?}"
        );
        let flags = ClusterArgs {
            id: Some("other".into()),
            ..ClusterArgs::default()
        };
        let over = cluster(&flags, &file.cluster);
        assert!(
            matches!(&over, Ok(Some(c)) if c.cluster_id() == "other"),
            "{over:?}"
        );
        assert!(matches!(cluster(&none, &ClusterSection::default()), Ok(None)));
        let bad_gossip = ClusterArgs {
            id: Some("x".into()),
            gossip: Some("not-an-address".into()),
            ..ClusterArgs::default()
        };
        assert!(cluster(&bad_gossip, &ClusterSection::default()).is_err());
        let bad_seed = ClusterArgs {
            id: Some("x".into()),
            gossip: Some("127.0.0.1:0".into()),
            seeds: vec!["127.0.0.1".into()],
            ..ClusterArgs::default()
        };
        assert!(cluster(&bad_seed, &ClusterSection::default()).is_err());
        let no_id = ClusterArgs {
            gossip: Some("127.0.0.1:0".into()),
            ..ClusterArgs::default()
        };
        assert!(cluster(&no_id, &ClusterSection::default()).is_err());
        let no_gossip = ClusterArgs {
            id: Some("x".into()),
            ..ClusterArgs::default()
        };
        assert!(cluster(&no_gossip, &ClusterSection::default()).is_err());
    }
}
