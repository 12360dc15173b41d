//! What the server counts, and `/metrics` in Prometheus text format (`metrics = "addr:port"`).
//!
//! Answering threads count into a [`Shard`] of their own, which only they write (a plain load
//! and store, no locked instruction, no allocation); a scrape sums every shard. Rare events
//! (TCP connections, UPDATEs, transfers, refreshes, dropped log frames) go to [`Metrics`]
//! directly. Zone gauges come from the owner at scrape time, as `enumd ctl zone-status` gets
//! them. The exposition is written by `prometheus-client` from a [`Collector`] built per scrape.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tracing::{debug, warn};

use crate::lookup::{Kind, Rcode};
use crate::owner::{Command, Handle, ZoneStatus};
use crate::rdata::rtype;
use crate::wire::{Outcome, Transport};

/// Query types counted by name; the rest are `other`, and a question that could not be read is
/// `none`.
const QTYPES: [(u16, &str); 17] = [
    (rtype::A, "A"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::SOA, "SOA"),
    (rtype::PTR, "PTR"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::NAPTR, "NAPTR"),
    (rtype::DS, "DS"),
    (rtype::DNSKEY, "DNSKEY"),
    (65, "HTTPS"),
    (rtype::CAA, "CAA"),
    (rtype::IXFR, "IXFR"),
    (rtype::AXFR, "AXFR"),
    (rtype::ANY, "ANY"),
];
const QTYPE_OTHER: usize = QTYPES.len();
const QTYPE_NONE: usize = QTYPES.len() + 1;
const QTYPE_SLOTS: usize = QTYPES.len() + 2;

const RCODES: [Rcode; 8] = [
    Rcode::NoError,
    Rcode::FormErr,
    Rcode::ServFail,
    Rcode::NxDomain,
    Rcode::NotImp,
    Rcode::Refused,
    Rcode::NotAuth,
    Rcode::BadVers,
];
const RCODE_SLOTS: usize = RCODES.len();

/// Upper bounds of the response size histogram, in octets: the classic limits a response
/// meets (512 without EDNS, 1232 the DNS flag day's, 1452 an Ethernet MTU's, 65535 TCP's).
const SIZE_BUCKETS: [u32; 9] = [64, 128, 256, 512, 1232, 1452, 4096, 16384, 65535];

fn qtype_slot(qtype: Option<u16>) -> usize {
    let Some(t) = qtype else {
        return QTYPE_NONE;
    };
    QTYPES
        .iter()
        .position(|&(q, _)| q == t)
        .unwrap_or(QTYPE_OTHER)
}

fn rcode_slot(rcode: Rcode) -> usize {
    RCODES.iter().position(|&r| r == rcode).unwrap_or(0)
}

fn kind_slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// One answering thread's counters (or the TCP tasks', which share one).
#[derive(Debug)]
pub struct Shard {
    transport: Transport,
    /// Written by more than one thread: counted with `fetch_add`.
    shared: bool,
    queries: [AtomicU64; QTYPE_SLOTS * RCODE_SLOTS],
    kinds: [AtomicU64; Kind::ALL.len()],
    truncated: AtomicU64,
    malformed: AtomicU64,
    /// Too short to answer; a response (QR set).
    dropped: [AtomicU64; 2],
    /// Responses rate limited (RRL): dropped, sent truncated.
    rate_limited: [AtomicU64; 2],
    sizes: [AtomicU64; SIZE_BUCKETS.len()],
    size_sum: AtomicU64,
}

impl Shard {
    fn new(transport: Transport, shared: bool) -> Self {
        Self {
            transport,
            shared,
            queries: std::array::from_fn(|_| AtomicU64::new(0)),
            kinds: std::array::from_fn(|_| AtomicU64::new(0)),
            truncated: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            dropped: std::array::from_fn(|_| AtomicU64::new(0)),
            rate_limited: std::array::from_fn(|_| AtomicU64::new(0)),
            sizes: std::array::from_fn(|_| AtomicU64::new(0)),
            size_sum: AtomicU64::new(0),
        }
    }

    fn add(&self, counter: &AtomicU64, n: u64) {
        if self.shared {
            counter.fetch_add(n, Ordering::Relaxed);
        } else {
            // The one writer: a plain read and write, which a reader may see a moment late.
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// Counts a response rate limiting held back: dropped, or sent truncated (`slipped`).
    pub fn count_rate_limited(&self, slipped: bool) {
        self.add(&self.rate_limited[usize::from(slipped)], 1);
    }

    /// Counts what `respond` did with one request, and the size of what was sent.
    pub fn count(&self, outcome: &Outcome, response_len: usize) {
        match outcome {
            Outcome::Dropped { response } => self.add(&self.dropped[usize::from(*response)], 1),
            Outcome::Answered(s) => {
                let q = qtype_slot(s.qtype) * RCODE_SLOTS + rcode_slot(s.rcode);
                self.add(&self.queries[q], 1);
                self.add(&self.kinds[kind_slot(s.kind)], 1);
                if s.truncated {
                    self.add(&self.truncated, 1);
                }
                if s.malformed {
                    self.add(&self.malformed, 1);
                }
                let len = u32::try_from(response_len).unwrap_or(u32::MAX);
                let bucket = SIZE_BUCKETS
                    .iter()
                    .position(|&b| len <= b)
                    .unwrap_or(SIZE_BUCKETS.len() - 1);
                self.add(&self.sizes[bucket], 1);
                self.add(&self.size_sum, u64::from(len));
            }
        }
    }
}

/// A rare event counted with labels: an UPDATE answered, a transfer, a refresh.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tally {
    metric: &'static str,
    labels: Vec<(&'static str, String)>,
}

/// The labelled event counters, with their help.
const TALLIES: [(&str, &str); 5] = [
    (
        "enumd_updates",
        "RFC 2136 UPDATE messages answered, by zone (empty if none was named) and rcode",
    ),
    (
        "enumd_transfers_out",
        "zone transfers requested of this server, by type (axfr, ixfr) and result (sent, refused, failed)",
    ),
    (
        "enumd_refreshes",
        "secondary zone refreshes from a primary, by zone and result (ok, failed)",
    ),
    (
        "enumd_notifies_received",
        "NOTIFY messages received, by the rcode answered (NOERROR starts a refresh)",
    ),
    (
        "enumd_tcp_closed",
        "TCP connections enumd closed early, by reason (client_limit: the address already had tcp_max_connections_per_client open; write_timeout: the client read no answer for tcp_idle_timeout)",
    ),
];

/// Everything counted, for the whole process.
#[derive(Debug)]
pub struct Metrics {
    shards: Mutex<Vec<Arc<Shard>>>,
    tcp: Arc<Shard>,
    pub tcp_open: AtomicI64,
    pub tcp_accepted: AtomicU64,
    /// Times a connection found `tcp_max_connections` open and was left in the accept queue.
    pub tcp_cap_reached: AtomicU64,
    pub tcp_idle_closed: AtomicU64,
    /// dnstap frames and query log lines written, and those dropped because a queue was full.
    pub log_written: AtomicU64,
    pub log_dropped: AtomicU64,
    tallies: Mutex<BTreeMap<Tally, u64>>,
    /// When the process started: the wall clock for `process_start_time_seconds`, the
    /// monotonic one for uptime, which a clock step must not move.
    started: SystemTime,
    started_at: Instant,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let tcp = Arc::new(Shard::new(Transport::Tcp, true));
    Metrics {
        shards: Mutex::new(vec![tcp.clone()]),
        tcp,
        tcp_open: AtomicI64::new(0),
        tcp_accepted: AtomicU64::new(0),
        tcp_cap_reached: AtomicU64::new(0),
        tcp_idle_closed: AtomicU64::new(0),
        log_written: AtomicU64::new(0),
        log_dropped: AtomicU64::new(0),
        tallies: Mutex::new(BTreeMap::new()),
        started: SystemTime::now(),
        started_at: Instant::now(),
    }
});

/// The process's counters.
pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// Time since the process started serving (since [`global`] was first called, at start).
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// A shard of its own for one UDP thread.
    pub fn udp_shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::new(Transport::Udp, false));
        lock(&self.shards).push(shard.clone());
        shard
    }

    /// The shard every TCP connection counts into.
    pub fn tcp_shard(&self) -> Arc<Shard> {
        self.tcp.clone()
    }

    /// Counts one event of `metric` (one of [`TALLIES`]) with `labels`.
    pub fn tally(&self, metric: &'static str, labels: &[(&'static str, &str)]) {
        debug_assert!(TALLIES.iter().any(|(m, _)| *m == metric));
        let key = Tally {
            metric,
            labels: labels.iter().map(|&(k, v)| (k, v.to_string())).collect(),
        };
        *lock(&self.tallies).entry(key).or_insert(0) += 1;
    }

    /// Every shard summed.
    pub fn sums(&self) -> Sums {
        let mut s = Sums::default();
        for shard in lock(&self.shards).iter() {
            let t = usize::from(shard.transport == Transport::Tcp);
            let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
            for (i, c) in shard.queries.iter().enumerate() {
                s.queries[t][i] += get(c);
            }
            for (i, c) in shard.kinds.iter().enumerate() {
                s.kinds[i] += get(c);
            }
            s.truncated[t] += get(&shard.truncated);
            s.malformed[t] += get(&shard.malformed);
            for (i, c) in shard.rate_limited.iter().enumerate() {
                s.rate_limited[i] += get(c);
            }
            for (i, c) in shard.dropped.iter().enumerate() {
                s.dropped[t][i] += get(c);
            }
            for (i, c) in shard.sizes.iter().enumerate() {
                s.sizes[t][i] += get(c);
            }
            s.size_sum[t] += get(&shard.size_sum);
        }
        s.tcp_open = self.tcp_open.load(Ordering::Relaxed);
        s.tcp_accepted = self.tcp_accepted.load(Ordering::Relaxed);
        s.tcp_cap_reached = self.tcp_cap_reached.load(Ordering::Relaxed);
        s.tcp_idle_closed = self.tcp_idle_closed.load(Ordering::Relaxed);
        s.log_written = self.log_written.load(Ordering::Relaxed);
        s.log_dropped = self.log_dropped.load(Ordering::Relaxed);
        s
    }

    fn tallies(&self) -> Vec<(Tally, u64)> {
        lock(&self.tallies)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The counters summed over every thread (index 0 UDP, 1 TCP where split by transport).
#[derive(Debug, Clone)]
pub struct Sums {
    queries: [[u64; QTYPE_SLOTS * RCODE_SLOTS]; 2],
    kinds: [u64; Kind::ALL.len()],
    truncated: [u64; 2],
    malformed: [u64; 2],
    dropped: [[u64; 2]; 2],
    rate_limited: [u64; 2],
    sizes: [[u64; SIZE_BUCKETS.len()]; 2],
    size_sum: [u64; 2],
    tcp_open: i64,
    tcp_accepted: u64,
    tcp_cap_reached: u64,
    tcp_idle_closed: u64,
    log_written: u64,
    log_dropped: u64,
}

impl Default for Sums {
    fn default() -> Self {
        Self {
            queries: [[0; QTYPE_SLOTS * RCODE_SLOTS]; 2],
            kinds: [0; Kind::ALL.len()],
            truncated: [0; 2],
            malformed: [0; 2],
            dropped: [[0; 2]; 2],
            rate_limited: [0; 2],
            sizes: [[0; SIZE_BUCKETS.len()]; 2],
            size_sum: [0; 2],
            tcp_open: 0,
            tcp_accepted: 0,
            tcp_cap_reached: 0,
            tcp_idle_closed: 0,
            log_written: 0,
            log_dropped: 0,
        }
    }
}

const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
const DROP_REASONS: [&str; 2] = ["short", "response"];

fn qtype_name(slot: usize) -> &'static str {
    match slot {
        QTYPE_OTHER => "other",
        QTYPE_NONE => "none",
        s => QTYPES[s].1,
    }
}

impl Sums {
    /// Queries answered, by transport.
    pub fn answered(&self) -> [u64; 2] {
        [self.queries[0].iter().sum(), self.queries[1].iter().sum()]
    }

    /// Answered queries by rcode name, both transports, nonzero only.
    pub fn by_rcode(&self) -> Vec<(&'static str, u64)> {
        let mut out = vec![0u64; RCODE_SLOTS];
        for t in &self.queries {
            for (i, n) in t.iter().enumerate() {
                out[i % RCODE_SLOTS] += n;
            }
        }
        RCODES
            .iter()
            .zip(out)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name(), n))
            .collect()
    }

    /// Answered queries by kind of answer, all of them.
    pub fn by_kind(&self) -> Vec<(&'static str, u64)> {
        Kind::ALL
            .iter()
            .zip(self.kinds)
            .map(|(k, n)| (k.as_str(), n))
            .collect()
    }

    /// Answered queries by query type, both transports, nonzero only.
    pub fn by_qtype(&self) -> Vec<(&'static str, u64)> {
        let mut out = vec![0u64; QTYPE_SLOTS];
        for t in &self.queries {
            for (i, n) in t.iter().enumerate() {
                out[i / RCODE_SLOTS] += n;
            }
        }
        out.into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (qtype_name(i), n))
            .collect()
    }

    /// The JSON `enumd ctl stats --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let pairs = |v: Vec<(&str, u64)>| -> serde_json::Map<String, serde_json::Value> {
            v.into_iter()
                .map(|(k, n)| (k.to_string(), n.into()))
                .collect()
        };
        let [udp, tcp] = self.answered();
        serde_json::json!({
            "queries": { "udp": udp, "tcp": tcp },
            "rcodes": pairs(self.by_rcode()),
            "kinds": pairs(self.by_kind()),
            "qtypes": pairs(self.by_qtype()),
            "truncated": self.truncated[0] + self.truncated[1],
            "malformed": self.malformed[0] + self.malformed[1],
            "dropped": self.dropped.iter().flatten().sum::<u64>(),
            "tcp": {
                "open": self.tcp_open,
                "accepted": self.tcp_accepted,
                "cap_reached": self.tcp_cap_reached,
                "idle_closed": self.tcp_idle_closed,
            },
            "query_log": { "written": self.log_written, "dropped": self.log_dropped },
            "rate_limited": { "dropped": self.rate_limited[0], "slipped": self.rate_limited[1] },
        })
    }

    /// The lines `enumd ctl stats` prints.
    pub fn to_lines(&self) -> Vec<String> {
        let join = |v: Vec<(&str, u64)>| {
            v.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let [udp, tcp] = self.answered();
        vec![
            format!("queries: {} ({udp} UDP, {tcp} TCP)", udp + tcp),
            format!("rcodes: {}", join(self.by_rcode())),
            format!("answers: {}", join(self.by_kind())),
            format!("qtypes: {}", join(self.by_qtype())),
            format!(
                "truncated {}, malformed {}, dropped {}",
                self.truncated[0] + self.truncated[1],
                self.malformed[0] + self.malformed[1],
                self.dropped.iter().flatten().sum::<u64>()
            ),
            format!(
                "tcp: {} open, {} accepted, cap reached {} times, {} closed idle",
                self.tcp_open, self.tcp_accepted, self.tcp_cap_reached, self.tcp_idle_closed
            ),
            format!(
                "query log: {} written, {} dropped",
                self.log_written, self.log_dropped
            ),
            format!(
                "rate limited: {} dropped, {} sent truncated",
                self.rate_limited[0], self.rate_limited[1]
            ),
        ]
    }
}

/// Read from `/proc` and `getrusage` at scrape time, under the names Prometheus's own client
/// libraries use.
#[derive(Debug, Default)]
struct Process {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: u64,
    start_time: f64,
}

impl Process {
    fn now(started: SystemTime) -> Self {
        use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage};
        let mut p = Self {
            start_time: started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            ..Self::default()
        };
        if let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) {
            let secs = |t: nix::sys::time::TimeVal| {
                f64::from(u32::try_from(t.tv_sec()).unwrap_or(u32::MAX))
                    + f64::from(u32::try_from(t.tv_usec()).unwrap_or(0)) / 1e6
            };
            p.cpu_seconds = secs(u.user_time()) + secs(u.system_time());
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kb = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .map_or(0, |k| k * 1024)
            };
            p.resident_bytes = kb("VmRSS:");
            p.virtual_bytes = kb("VmSize:");
        }
        p.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        p.max_fds = getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft);
        p
    }
}

/// One scrape: everything read once, then encoded.
#[derive(Debug)]
struct Scrape {
    sums: Sums,
    tallies: Vec<(Tally, u64)>,
    zones: Vec<ZoneStatus>,
    process: Process,
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, String)>, u64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge<N: prometheus_client::encoding::EncodeGaugeValue + Copy + fmt::Debug>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, String)>, N)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn one<N: Copy>(v: N) -> Vec<(Vec<(&'static str, String)>, N)> {
    vec![(Vec::new(), v)]
}

fn by_transport(v: [u64; 2]) -> Vec<(Vec<(&'static str, String)>, u64)> {
    TRANSPORTS
        .iter()
        .zip(v)
        .map(|(t, n)| (vec![("transport", (*t).to_string())], n))
        .collect()
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.sums;
        let mut queries = Vec::new();
        for (t, per) in s.queries.iter().enumerate() {
            for (i, &n) in per.iter().enumerate().filter(|(_, n)| **n > 0) {
                let labels = vec![
                    ("transport", TRANSPORTS[t].to_string()),
                    ("qtype", qtype_name(i / RCODE_SLOTS).to_string()),
                    ("rcode", RCODES[i % RCODE_SLOTS].name().to_string()),
                ];
                queries.push((labels, n));
            }
        }
        counter(
            &mut enc,
            "enumd_queries",
            "requests answered, by transport, query type and response code",
            &queries,
        )?;
        let kinds: Vec<_> = s
            .by_kind()
            .into_iter()
            .map(|(k, n)| (vec![("kind", k.to_string())], n))
            .collect();
        counter(
            &mut enc,
            "enumd_answers",
            "requests answered, by kind of answer: hit, wildcard, nodata, nxdomain, referral, refused, error",
            &kinds,
        )?;
        counter(
            &mut enc,
            "enumd_truncated_responses",
            "responses sent with TC set because they did not fit",
            &by_transport(s.truncated),
        )?;
        counter(
            &mut enc,
            "enumd_malformed_requests",
            "requests that could not be read, answered FORMERR (or NOTIMP for an unknown opcode)",
            &by_transport(s.malformed),
        )?;
        let mut dropped = Vec::new();
        for (transport, counts) in TRANSPORTS.iter().zip(s.dropped) {
            for (reason, n) in DROP_REASONS.iter().zip(counts) {
                let labels = vec![
                    ("transport", (*transport).to_string()),
                    ("reason", (*reason).to_string()),
                ];
                dropped.push((labels, n));
            }
        }
        counter(
            &mut enc,
            "enumd_rate_limited_responses",
            "UDP responses held back by response rate limiting: dropped, or sent truncated (slipped)",
            &[
                (vec![("action", "dropped".to_string())], s.rate_limited[0]),
                (vec![("action", "slipped".to_string())], s.rate_limited[1]),
            ],
        )?;
        counter(
            &mut enc,
            "enumd_dropped_requests",
            "requests not answered: too short for a header (short) or themselves responses (response)",
            &dropped,
        )?;
        {
            let mut m = enc.encode_descriptor(
                "enumd_response_size_bytes",
                "size of the responses sent, by transport",
                None,
                MetricType::Histogram,
            )?;
            for ((transport, sizes), sum) in TRANSPORTS.iter().zip(s.sizes).zip(s.size_sum) {
                // Prometheus needs the +Inf bucket; no DNS message is longer than 65535
                // octets, so nothing is past the last bound and +Inf adds nothing to it.
                let buckets: Vec<(f64, u64)> = SIZE_BUCKETS
                    .iter()
                    .zip(sizes)
                    .map(|(&b, n)| (f64::from(b), n))
                    .chain(std::iter::once((f64::INFINITY, 0)))
                    .collect();
                let count = sizes.iter().sum();
                let labels = [("transport", *transport)];
                // Octet sums stay far below 2^53 in any real run.
                #[allow(clippy::cast_precision_loss)]
                let sum = sum as f64;
                m.encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        gauge(
            &mut enc,
            "enumd_tcp_connections_open",
            "TCP connections open now",
            &one(s.tcp_open),
        )?;
        counter(
            &mut enc,
            "enumd_tcp_connections_accepted",
            "TCP connections accepted",
            &one(s.tcp_accepted),
        )?;
        counter(
            &mut enc,
            "enumd_tcp_cap_reached",
            "times tcp_max_connections were open and further connections were left in the kernel's accept queue",
            &one(s.tcp_cap_reached),
        )?;
        counter(
            &mut enc,
            "enumd_tcp_connections_idle_closed",
            "TCP connections closed after tcp_idle_timeout without a request",
            &one(s.tcp_idle_closed),
        )?;
        counter(
            &mut enc,
            "enumd_query_log_written",
            "queries written to dnstap (a query and a response message each) or the query log",
            &one(s.log_written),
        )?;
        counter(
            &mut enc,
            "enumd_query_log_dropped",
            "queries not logged: a queue was full (the writer fell behind) or the dnstap reader was away",
            &one(s.log_dropped),
        )?;
        for (metric, help) in TALLIES {
            let series: Vec<_> = self
                .tallies
                .iter()
                .filter(|(t, _)| t.metric == metric)
                .map(|(t, n)| {
                    let labels = t.labels.iter().map(|(k, v)| (*k, v.clone())).collect();
                    (labels, *n)
                })
                .collect();
            counter(&mut enc, metric, help, &series)?;
        }
        self.encode_zones(&mut enc)?;
        let p = &self.process;
        counter_f64(
            &mut enc,
            "process_cpu_seconds",
            "user and system CPU time spent, in seconds",
            p.cpu_seconds,
        )?;
        gauge(
            &mut enc,
            "process_resident_memory_bytes",
            "resident memory size in bytes",
            &one(p.resident_bytes),
        )?;
        gauge(
            &mut enc,
            "process_virtual_memory_bytes",
            "virtual memory size in bytes",
            &one(p.virtual_bytes),
        )?;
        gauge(
            &mut enc,
            "process_open_fds",
            "open file descriptors",
            &one(p.open_fds),
        )?;
        gauge(
            &mut enc,
            "process_max_fds",
            "the limit on open file descriptors",
            &one(p.max_fds),
        )?;
        gauge(
            &mut enc,
            "process_start_time_seconds",
            "start time of the process since the Unix epoch, in seconds",
            &one(p.start_time),
        )?;
        Ok(())
    }
}

fn counter_f64(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m.encode_family(&Vec::<(&str, String)>::new())?)
}

/// Reads one gauge's value off a zone's status; none leaves the zone out of it.
type ZoneCount<'a> = dyn Fn(&ZoneStatus) -> Option<u64> + 'a;
type ZoneTime<'a> = dyn Fn(&ZoneStatus) -> Option<f64> + 'a;

impl Scrape {
    fn encode_zones(&self, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let zone = |z: &ZoneStatus| vec![("zone", z.zone.clone())];
        fn of<N>(
            zones: &[ZoneStatus],
            f: &dyn Fn(&ZoneStatus) -> Option<N>,
        ) -> Vec<(Vec<(&'static str, String)>, N)> {
            zones
                .iter()
                .filter_map(|z| f(z).map(|v| (vec![("zone", z.zone.clone())], v)))
                .collect()
        }
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        let serving: Vec<_> = self
            .zones
            .iter()
            .map(|z| {
                let mut labels = zone(z);
                labels.push(("kind", z.kind.to_string()));
                (labels, u64::from(z.serving))
            })
            .collect();
        gauge(
            enc,
            "enumd_zone_serving",
            "1 if the zone is answered from data, 0 if SERVFAIL (never loaded, or a secondary's copy expired); kind is primary, secondary or catalog",
            &serving,
        )?;
        let counts: [(&str, &str, &ZoneCount<'_>); 10] = [
            (
                "enumd_zone_serial",
                "the serving version's SOA serial",
                &|z| z.serial.map(u64::from),
            ),
            ("enumd_zone_names", "names in the serving version", &|z| {
                Some(n(z.names))
            }),
            (
                "enumd_zone_records",
                "records in the serving version",
                &|z| Some(n(z.records)),
            ),
            (
                "enumd_zone_numbers",
                "E.164 numbers (names with NAPTR records) in the serving version",
                &|z| Some(n(z.numbers)),
            ),
            (
                "enumd_zone_memory_bytes",
                "bytes of the serving version's trie nodes, RDATA and RRsets",
                &|z| Some(n(z.memory_bytes)),
            ),
            (
                "enumd_zone_journal_bytes",
                "size of the zone's journal",
                &|z| z.journal_bytes,
            ),
            (
                "enumd_zone_unflushed_changes",
                "changes journalled but not yet written to the zone file",
                &|z| z.journal_bytes.map(|_| n(z.unflushed_changes)),
            ),
            (
                "enumd_zone_last_load_success",
                "1 if the last read of the zone file was loaded, 0 if it failed (the previous version, if any, serves)",
                &|z| z.last_load.as_ref().map(|l| u64::from(l.ok)),
            ),
            (
                "enumd_zone_last_load_errors",
                "errors found by the last read of the zone file",
                &|z| z.last_load.as_ref().map(|l| n(l.errors)),
            ),
            (
                "enumd_zone_last_load_warnings",
                "warnings found by the last read of the zone file",
                &|z| z.last_load.as_ref().map(|l| n(l.warnings)),
            ),
        ];
        for (name, help, f) in counts {
            gauge(enc, name, help, &of(&self.zones, f))?;
        }
        let times: [(&str, &str, &ZoneTime<'_>); 2] = [
            (
                "enumd_zone_last_load_timestamp_seconds",
                "when the zone file was last read, since the Unix epoch",
                &|z| z.last_load.as_ref().map(|l| l.at),
            ),
            (
                "enumd_zone_last_load_duration_seconds",
                "how long the last read of the zone file took",
                &|z| z.last_load.as_ref().map(|l| l.seconds),
            ),
        ];
        for (name, help, f) in times {
            gauge(enc, name, help, &of(&self.zones, f))?;
        }
        let failures: Vec<_> = self
            .zones
            .iter()
            .filter_map(|z| z.last_load.as_ref().map(|l| (zone(z), l.failures)))
            .collect();
        counter(
            enc,
            "enumd_zone_load_failures",
            "reads of the zone file that failed",
            &failures,
        )
    }
}

/// The last zone status the owner gave, for a scrape while it is busy (a long reload).
static LAST_ZONES: Mutex<Vec<ZoneStatus>> = Mutex::new(Vec::new());

/// How long a scrape waits for the owner before it shows the zones as last seen.
const OWNER_WAIT: Duration = Duration::from_secs(2);

/// The exposition text of everything, now.
pub fn render(owner: &Handle) -> String {
    let (reply, rx) = channel();
    let zones = if owner.send(Command::Status { reply }) {
        rx.recv_timeout(OWNER_WAIT).ok()
    } else {
        None
    };
    let zones = match zones {
        Some(z) => {
            lock(&LAST_ZONES).clone_from(&z);
            z
        }
        None => {
            debug!("metrics: the zone owner is busy; zone gauges as last seen");
            lock(&LAST_ZONES).clone()
        }
    };
    let m = global();
    let scrape = Scrape {
        sums: m.sums(),
        tallies: m.tallies(),
        zones,
        process: Process::now(m.started),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        warn!("metrics: cannot encode: {e}");
    }
    out
}

/// Serves `/metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, owner: Handle) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let owner = owner.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let owner = owner.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&req, owner).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                debug!("metrics connection: {e}");
            }
        });
    }
}

type Body = http_body_util::Full<hyper::body::Bytes>;

async fn answer(
    req: &hyper::Request<hyper::body::Incoming>,
    owner: Handle,
) -> hyper::Response<Body> {
    use hyper::{Method, Response, StatusCode, header};
    let plain = |status: StatusCode, text: &str| {
        let mut r = Response::new(Body::from(text.to_string()));
        *r.status_mut() = status;
        r
    };
    if req.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "enumd serves /metrics only\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
    }
    let Ok(text) = tokio::task::spawn_blocking(move || render(&owner)).await else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "metrics failed\n");
    };
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Served;

    fn served(qtype: u16, rcode: Rcode, kind: Kind) -> Outcome {
        Outcome::Answered(Served {
            qtype: Some(qtype),
            rcode,
            kind,
            truncated: false,
            malformed: false,
        })
    }

    #[test]
    fn a_shard_counts_each_outcome_in_its_own_slot() {
        let shard = Shard::new(Transport::Udp, false);
        shard.count(&served(rtype::NAPTR, Rcode::NoError, Kind::Hit), 100);
        shard.count(&served(rtype::NAPTR, Rcode::NxDomain, Kind::NxDomain), 600);
        shard.count(&served(4242, Rcode::NoError, Kind::NoData), 70_000);
        shard.count(&Outcome::Dropped { response: true }, 0);
        let q = |t, r| {
            shard.queries[qtype_slot(Some(t)) * RCODE_SLOTS + rcode_slot(r)].load(Ordering::Relaxed)
        };
        assert_eq!(q(rtype::NAPTR, Rcode::NoError), 1);
        assert_eq!(q(rtype::NAPTR, Rcode::NxDomain), 1);
        assert_eq!(q(4242, Rcode::NoError), 1);
        assert_eq!(qtype_slot(Some(4242)), QTYPE_OTHER);
        assert_eq!(shard.dropped[1].load(Ordering::Relaxed), 1);
        let sizes: Vec<u64> = shard
            .sizes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        // 100 ≤ 128, 600 ≤ 1232, and a size past the last bound lands in the last bucket.
        assert_eq!(sizes, [0, 1, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(shard.size_sum.load(Ordering::Relaxed), 70_700);
    }
}
