//! Gossip traffic of a quiet cluster.
//!
//! `nodes` members on the caller's runtime, joined through the first; once every member
//! lists all, the run waits `settle` and then counts for `window`:
//!
//! - **capture**: `tcpdump -i lo -U -s 96 -w <file>` with a filter on the members'
//!   gossip ports (`udp and (port a or port b ...)`), so the file holds exactly the
//!   gossip datagrams of this cluster. The file is parsed here: per datagram, the
//!   source and destination ports and the UDP length (payload + 8) from its headers.
//!   Bytes are reported as UDP payload (what chitchat plus the signature send) and as
//!   IP bytes (payload + 28, IPv4 + UDP headers). tcpdump's own "dropped by kernel"
//!   count is reported.
//! - **`/proc/net/snmp`**, `Udp: InDatagrams OutDatagrams`, before and after the
//!   window: system-wide (every process, every interface), so an upper bound that
//!   matches the capture only when nothing else used UDP meanwhile.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ackor_cluster::Cluster;

use super::{form_cluster, unique_name, wait_for_members};
use crate::BenchError;

/// What a run counted.
#[derive(Debug, Default)]
pub struct TrafficReport {
    /// Members.
    pub nodes: usize,
    /// Counting window (measured).
    pub window: Duration,
    /// Per member (gossip port): datagrams and UDP payload bytes it sent in the window.
    pub sent: BTreeMap<u16, (u64, u64)>,
    /// Datagrams in the capture whose ports were not both members' (should be 0).
    pub foreign: u64,
    /// tcpdump's stderr summary (packets captured, received by filter, dropped).
    pub tcpdump_summary: String,
    /// System-wide `Udp: OutDatagrams` and `InDatagrams` deltas over the window.
    pub snmp_out_in: Option<(u64, u64)>,
}

/// Runs the count; `pcap` is where the capture is written (kept for inspection).
pub async fn run(
    nodes: usize,
    gossip: Duration,
    settle: Duration,
    window: Duration,
    pcap: String,
) -> Result<TrafficReport, BenchError> {
    let id = format!("traffic-{}", unique_name("c"));
    let (members, clusters) = form_cluster(nodes, "traffic", &id, gossip).await?;
    wait_for_members(&clusters, nodes, Duration::from_secs(120)).await?;
    tokio::time::sleep(settle).await;

    let ports: Vec<u16> = clusters.iter().map(|c| c.gossip_addr().port()).collect();
    let filter = format!(
        "udp and ({})",
        ports
            .iter()
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    );
    let mut tcpdump = Command::new("tcpdump")
        .args(["-i", "lo", "-n", "-U", "-s", "96", "-w", &pcap, &filter])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tcpdump (install it: apt-get install tcpdump): {e}"))?;
    let stderr = tcpdump.stderr.take().ok_or("no tcpdump stderr")?;
    let (listening_tx, listening_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = listening_tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    tokio::task::spawn_blocking(move || listening_rx.recv_timeout(Duration::from_secs(10)))
        .await?
        .map_err(|_| "tcpdump did not start listening")?;

    let snmp_before = snmp_udp();
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let snmp_after = snmp_udp();
    let measured = start.elapsed();
    // SIGINT: tcpdump flushes and prints its counts.
    Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status()?;
    tokio::task::spawn_blocking(move || tcpdump.wait()).await??;
    let summary = reader.join().map_err(|_| "tcpdump reader panicked")?;

    let mut report = TrafficReport {
        nodes,
        window: measured,
        tcpdump_summary: summary
            .iter()
            .filter(|l| l.contains("packets"))
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
        snmp_out_in: match (snmp_before, snmp_after) {
            (Some((o0, i0)), Some((o1, i1))) => Some((o1 - o0, i1 - i0)),
            _ => None,
        },
        ..TrafficReport::default()
    };
    for p in &ports {
        report.sent.insert(*p, (0, 0));
    }
    for d in parse_pcap(&std::fs::read(&pcap)?)? {
        match (report.sent.contains_key(&d.src), ports.contains(&d.dst)) {
            (true, true) => {
                if let Some(e) = report.sent.get_mut(&d.src) {
                    e.0 += 1;
                    e.1 += u64::from(d.payload);
                }
            }
            _ => report.foreign += 1,
        }
    }

    futures_util::future::join_all(clusters.iter().map(Cluster::leave)).await;
    drop(clusters);
    for node in &members {
        node.shutdown().await;
    }
    Ok(report)
}

/// `Udp: OutDatagrams` and `InDatagrams` of `/proc/net/snmp`.
fn snmp_udp() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let get = |name: &str| -> Option<u64> {
        let i = names.iter().position(|n| *n == name)?;
        values.get(i)?.parse().ok()
    };
    Some((get("OutDatagrams")?, get("InDatagrams")?))
}

/// One captured UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Source port.
    pub src: u16,
    /// Destination port.
    pub dst: u16,
    /// UDP payload bytes (the UDP length field − 8).
    pub payload: u32,
}

/// The IPv4/UDP datagrams of a classic pcap file of link type Ethernet (what tcpdump
/// writes for `lo`). Other packets are skipped.
pub fn parse_pcap(bytes: &[u8]) -> Result<Vec<Datagram>, BenchError> {
    let u32_at = |b: &[u8], at: usize, le: bool| -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let be16 = |b: &[u8], at: usize| -> Option<u16> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(u16::from_be_bytes(a))
    };
    let magic = u32_at(bytes, 0, true).ok_or("pcap: too short")?;
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => return Err(format!("pcap: bad magic {other:#x}").into()),
    };
    let link = u32_at(bytes, 20, le).ok_or("pcap: too short")?;
    if link != 1 {
        return Err(format!("pcap: link type {link}, expected 1 (Ethernet)").into());
    }
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32_at(bytes, at + 8, le).ok_or("pcap: truncated record")? as usize;
        let frame = bytes
            .get(at + 16..at + 16 + incl)
            .ok_or("pcap: truncated packet")?;
        at += 16 + incl;
        // Ethernet: type IPv4 at 12; IPv4: header length, protocol 17 (UDP).
        if be16(frame, 12) != Some(0x0800) {
            continue;
        }
        let Some(&vihl) = frame.get(14) else { continue };
        if frame.get(23) != Some(&17) {
            continue;
        }
        let udp = 14 + usize::from(vihl & 0x0f) * 4;
        let (Some(src), Some(dst), Some(len)) =
            (be16(frame, udp), be16(frame, udp + 2), be16(frame, udp + 4))
        else {
            continue;
        };
        out.push(Datagram {
            src,
            dst,
            payload: u32::from(len.saturating_sub(8)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcap (little-endian, Ethernet) with one IPv4/UDP datagram of `payload` bytes
    /// from `src` to `dst`, captured with a 96-byte snap length.
    fn pcap(packets: &[(u16, u16, u16)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&96u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for &(src, dst, payload) in packets {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let mut ip = vec![
                0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
            ];
            ip[2..4].copy_from_slice(&(payload + 28).to_be_bytes());
            f.extend_from_slice(&ip);
            f.extend_from_slice(&src.to_be_bytes());
            f.extend_from_slice(&dst.to_be_bytes());
            f.extend_from_slice(&(payload + 8).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            f.resize(f.len() + usize::from(payload), 0xab);
            let orig = f.len() as u32;
            f.truncate(96);
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&(f.len() as u32).to_le_bytes());
            b.extend_from_slice(&orig.to_le_bytes());
            b.extend_from_slice(&f);
        }
        b
    }

    #[test]
    fn pcap_parser_counts_right() {
        let file = pcap(&[(1000, 2000, 500), (2000, 1000, 10), (1000, 3000, 0)]);
        let got = parse_pcap(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            vec![
                Datagram {
                    src: 1000,
                    dst: 2000,
                    payload: 500
                },
                Datagram {
                    src: 2000,
                    dst: 1000,
                    payload: 10
                },
                Datagram {
                    src: 1000,
                    dst: 3000,
                    payload: 0
                },
            ]
        );
        assert!(parse_pcap(&[0; 10]).is_err());
    }
}
