//! Query logs: dnstap (`[dnstap]`) and plain lines (`query_log`), written by one thread of their
//! own so that answering never waits for a disk or a reader.
//!
//! Each answering thread owns a [`Recorder`]: a bounded queue to the writer and a queue of
//! emptied events coming back, so a logged query costs two copies and no allocation once
//! warm. A full queue drops the event and counts it (`enumd_query_log_dropped_total`): a
//! stalled dnstap reader costs frames, never answers.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::dnstap;
use super::metrics;
use crate::config::Config;
use crate::name;
use crate::request;
use crate::wire::{Served, Transport};

/// Events waiting per answering thread before new ones are dropped.
const QUEUE: usize = 4096;
/// How long the writer sleeps when every queue is empty.
const IDLE: Duration = Duration::from_millis(20);
/// How often a dnstap socket that is not connected is tried again.
const RECONNECT: Duration = Duration::from_secs(2);
/// How long a write to a dnstap reader may block before the reader is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Capacity an event's message buffers keep between uses.
const KEEP_BYTES: usize = 4096;

/// One answered query, as the writer gets it.
pub struct Event {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
    pub served: Option<Served>,
    /// Seconds and nanoseconds since the Unix epoch.
    pub query_time: (u64, u32),
    pub response_time: (u64, u32),
    pub query: Vec<u8>,
    pub response: Vec<u8>,
    /// Which sinks want it (dnstap samples).
    tap: bool,
    log: bool,
}

impl Event {
    fn empty() -> Box<Self> {
        Box::new(Self {
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            server: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: Transport::Udp,
            served: None,
            query_time: (0, 0),
            response_time: (0, 0),
            query: Vec::with_capacity(512),
            response: Vec::with_capacity(1024),
            tap: false,
            log: false,
        })
    }
}

/// The real-time clock now, as dnstap carries it.
pub fn now() -> (u64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

/// One answering thread's end of the queues.
pub struct Recorder {
    filled: SyncSender<Box<Event>>,
    emptied: Receiver<Box<Event>>,
    spare: Option<Box<Event>>,
    seen: u64,
    sample: u64,
    log: bool,
}

impl Recorder {
    /// Whether the next query is to be recorded (call once per query).
    pub fn wants(&mut self) -> bool {
        self.seen = self.seen.wrapping_add(1);
        self.log || self.seen.is_multiple_of(self.sample)
    }

    /// Hands one event to the writer; `fill` writes it. Never waits: a full queue drops it.
    pub fn record(&mut self, fill: impl FnOnce(&mut Event)) {
        let mut event = self
            .spare
            .take()
            .or_else(|| self.emptied.try_recv().ok())
            .unwrap_or_else(Event::empty);
        event.tap = self.sample > 0 && self.seen.is_multiple_of(self.sample);
        event.log = self.log;
        fill(&mut event);
        match self.filled.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(e) | TrySendError::Disconnected(e)) => {
                metrics::global()
                    .log_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.spare = Some(e);
            }
        }
    }
}

/// The writer's end of one recorder.
struct Queue {
    filled: Receiver<Box<Event>>,
    emptied: SyncSender<Box<Event>>,
}

/// The query logs: recorders for answering threads, and the thread that writes.
pub struct Tap {
    new_queues: Mutex<Vec<Queue>>,
    /// 0 when dnstap is off.
    sample: u64,
    log: bool,
    stop: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The TCP tasks' recorder, shared (TCP is a small share of queries).
    tcp: Mutex<Option<Recorder>>,
}

impl Tap {
    /// Opens what `config` asks for and starts the writer; none if no log is configured.
    pub fn start(config: &Config) -> Result<Option<Arc<Self>>, String> {
        if config.dnstap.is_none() && config.query_log.is_none() {
            return Ok(None);
        }
        let lines = match &config.query_log {
            None => None,
            Some(p) if p.as_os_str() == "-" => Some(Lines::new(Box::new(io::stdout()))),
            Some(p) => {
                let f = File::options()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("query_log: {}: {e}", p.display()))?;
                Some(Lines::new(Box::new(f)))
            }
        };
        let dnstap = match &config.dnstap {
            None => None,
            Some(d) => {
                let identity = d.identity.clone().unwrap_or_else(|| {
                    nix::unistd::gethostname()
                        .ok()
                        .and_then(|h| h.into_string().ok())
                        .unwrap_or_else(|| "enumd".into())
                });
                let out = match (&d.socket, &d.file) {
                    (Some(s), _) => Output::Socket {
                        path: s.clone(),
                        stream: None,
                        tried: None,
                    },
                    (None, Some(f)) => Output::File(open_dnstap_file(f)?),
                    (None, None) => return Err("dnstap: give socket or file".into()),
                };
                Some(Dnstap {
                    out,
                    identity: identity.into_bytes(),
                    version: format!("enumd {}", env!("CARGO_PKG_VERSION")).into_bytes(),
                    buf: Vec::with_capacity(64 << 10),
                    scratch: Vec::with_capacity(4096),
                })
            }
        };
        let tap = Arc::new(Self {
            new_queues: Mutex::new(Vec::new()),
            sample: config.dnstap.as_ref().map_or(0, |d| u64::from(d.sample)),
            log: lines.is_some(),
            stop: AtomicBool::new(false),
            writer: Mutex::new(None),
            tcp: Mutex::new(None),
        });
        *lock(&tap.tcp) = Some(tap.recorder());
        let writer = Writer {
            tap: tap.clone(),
            queues: Vec::new(),
            dnstap,
            lines,
        };
        let handle = std::thread::Builder::new()
            .name("enumd-querylog".into())
            .spawn(move || writer.run())
            .map_err(|e| format!("cannot start the query log thread: {e}"))?;
        *lock(&tap.writer) = Some(handle);
        Ok(Some(tap))
    }

    /// A recorder for one answering thread.
    pub fn recorder(&self) -> Recorder {
        let (filled_tx, filled_rx) = sync_channel(QUEUE);
        let (emptied_tx, emptied_rx) = sync_channel(QUEUE);
        lock(&self.new_queues).push(Queue {
            filled: filled_rx,
            emptied: emptied_tx,
        });
        Recorder {
            filled: filled_tx,
            emptied: emptied_rx,
            spare: None,
            seen: 0,
            sample: self.sample,
            log: self.log,
        }
    }

    /// Records from a TCP task: the shared recorder if it is free this instant, else the event
    /// is dropped and counted (never waited for).
    pub fn record_tcp(&self, fill: impl FnOnce(&mut Event)) {
        let Ok(mut guard) = self.tcp.try_lock() else {
            metrics::global()
                .log_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(r) = guard.as_mut()
            && r.wants()
        {
            r.record(fill);
        }
    }

    /// Writes what is queued, closes the streams (dnstap's STOP), and waits up to `limit`.
    /// Queries answered after the writer's last pass are not logged.
    pub fn finish(&self, limit: Duration) {
        self.stop.store(true, Ordering::Release);
        let Some(handle) = lock(&self.writer).take() else {
            return;
        };
        handle.thread().unpark();
        let deadline = Instant::now() + limit;
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            warn!("the query log writer did not finish in time (a stalled dnstap reader?)");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A dnstap file of a previous run is kept as `<file>.1`: one file holds one stream.
fn open_dnstap_file(path: &Path) -> Result<BufWriter<File>, String> {
    if path.exists() {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        std::fs::rename(path, &old).map_err(|e| format!("dnstap: {}: {e}", path.display()))?;
    }
    let mut f = File::create(path).map_err(|e| format!("dnstap: {}: {e}", path.display()))?;
    f.write_all(&dnstap::start_frame())
        .map_err(|e| format!("dnstap: {}: {e}", path.display()))?;
    Ok(BufWriter::with_capacity(256 << 10, f))
}

enum Output {
    File(BufWriter<File>),
    Socket {
        path: PathBuf,
        stream: Option<BufWriter<UnixStream>>,
        tried: Option<Instant>,
    },
}

struct Dnstap {
    out: Output,
    identity: Vec<u8>,
    version: Vec<u8>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Dnstap {
    /// Encodes both messages of `e` and writes them; false if they could not be written.
    fn write(&mut self, e: &Event) -> bool {
        let x = dnstap::Exchange {
            client: e.client,
            server: e.server,
            transport: e.transport,
            query_time: e.query_time,
            response_time: e.response_time,
            query: &e.query,
            response: &e.response,
        };
        self.buf.clear();
        for kind in [dnstap::AUTH_QUERY, dnstap::AUTH_RESPONSE] {
            dnstap::frame(
                &mut self.buf,
                &mut self.scratch,
                &self.identity,
                &self.version,
                kind,
                &x,
            );
        }
        if let Output::File(f) = &mut self.out {
            return f.write_all(&self.buf).is_ok();
        }
        self.connect_if_due();
        let Output::Socket { path, stream, .. } = &mut self.out else {
            return false;
        };
        let Some(s) = stream else {
            return false;
        };
        if let Err(e) = s.write_all(&self.buf) {
            warn!(socket = %path.display(), "dnstap: the reader went away: {e}");
            *stream = None;
            return false;
        }
        true
    }

    /// Connects to the reader's socket when not connected and the last try is long enough ago.
    fn connect_if_due(&mut self) {
        let Output::Socket {
            path,
            stream,
            tried,
        } = &mut self.out
        else {
            return;
        };
        if stream.is_some() || tried.is_some_and(|t| t.elapsed() < RECONNECT) {
            return;
        }
        *tried = Some(Instant::now());
        match connect(path) {
            Ok(s) => {
                info!(socket = %path.display(), "dnstap: connected");
                *stream = Some(BufWriter::with_capacity(64 << 10, s));
            }
            Err(e) => {
                warn!(socket = %path.display(), "dnstap: cannot connect: {e}; frames are dropped until it can");
            }
        }
    }

    fn flush(&mut self) {
        match &mut self.out {
            Output::File(f) => {
                let _ = f.flush();
            }
            Output::Socket { stream, path, .. } => {
                if let Some(s) = stream
                    && let Err(e) = s.flush()
                {
                    warn!(socket = %path.display(), "dnstap: the reader went away: {e}");
                    *stream = None;
                }
            }
        }
    }

    fn close(&mut self) {
        self.flush();
        match &mut self.out {
            Output::File(f) => {
                let _ = f.write_all(&dnstap::stop_frame());
                let _ = f.flush();
            }
            Output::Socket { stream, .. } => {
                if let Some(s) = stream.take()
                    && let Ok(mut s) = s.into_inner()
                {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let _ = dnstap::finish(&mut s);
                }
            }
        }
    }
}

fn connect(path: &Path) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    dnstap::handshake(&mut s)?;
    s.set_read_timeout(None)?;
    // A reader that stops reading is let go (and tried again later) rather than holding the
    // writer, and shutdown, forever.
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(s)
}

/// The plain query log: one line per query.
struct Lines {
    out: BufWriter<Box<dyn Write + Send>>,
    line: String,
}

impl Lines {
    fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 << 10, out),
            line: String::with_capacity(256),
        }
    }

    fn write(&mut self, e: &Event) -> bool {
        self.line.clear();
        format_line(&mut self.line, e);
        self.out.write_all(self.line.as_bytes()).is_ok()
    }
}

/// `e`, emptied for its next use. A long TCP exchange leaves its buffers large; those are not
/// kept for the thousands of events that follow. (Emptied first: `shrink_to` keeps what is in
/// use.)
fn recycled(mut e: Box<Event>) -> Box<Event> {
    e.query.clear();
    e.query.shrink_to(KEEP_BYTES);
    e.response.clear();
    e.response.shrink_to(KEEP_BYTES);
    e
}

/// `2026-12-07T08:15:42.123456Z 127.0.0.1#53124 UDP 3.2.1.e164.arpa. NAPTR NOERROR hit 142b 31us`:
/// time received, client, transport, name and type asked, rcode, kind of answer, response
/// size and time taken.
pub fn format_line(line: &mut String, e: &Event) {
    use std::fmt::Write as _;
    let (qname, qtype) = match request::parse(&e.query) {
        Ok(r) if !r.qname().is_empty() => (name::to_text(r.qname()), r.qtype),
        _ => ("-".to_string(), 0),
    };
    let qtype = hickory_proto::rr::RecordType::from(qtype);
    let (rcode, kind) = e
        .served
        .map_or(("-", "-"), |s| (s.rcode.name(), s.kind.as_str()));
    let transport = match e.transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    };
    let took = {
        let q = u128::from(e.query_time.0) * 1_000_000_000 + u128::from(e.query_time.1);
        let r = u128::from(e.response_time.0) * 1_000_000_000 + u128::from(e.response_time.1);
        r.saturating_sub(q) / 1000
    };
    write_rfc3339(line, e.query_time);
    let _ = writeln!(
        line,
        " {}#{} {transport} {qname} {qtype} {rcode} {kind} {}b {took}us",
        e.client.ip(),
        e.client.port(),
        e.response.len(),
    );
}

/// Appends UTC time as RFC 3339 with microseconds (civil date from days: H. Hinnant's
/// algorithm).
fn write_rfc3339(out: &mut String, (secs, nanos): (u64, u32)) {
    use std::fmt::Write as _;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        nanos / 1000
    );
}

struct Writer {
    tap: Arc<Tap>,
    queues: Vec<Queue>,
    dnstap: Option<Dnstap>,
    lines: Option<Lines>,
}

impl Writer {
    /// Not inlined, so that profiles name the query log thread's work.
    #[inline(never)]
    fn run(mut self) {
        let counts = metrics::global();
        if let Some(d) = &mut self.dnstap {
            d.connect_if_due();
        }
        loop {
            // Read before the pass: once set, this pass takes what was queued until then and
            // is the last, however busy the answering threads still are.
            let stopping = self.tap.stop.load(Ordering::Acquire);
            self.queues.append(&mut lock(&self.tap.new_queues));
            let mut got = 0usize;
            for q in &self.queues {
                while let Ok(e) = q.filled.try_recv() {
                    got += 1;
                    let mut written = true;
                    if e.tap
                        && let Some(d) = &mut self.dnstap
                    {
                        written &= d.write(&e);
                    }
                    if e.log
                        && let Some(l) = &mut self.lines
                    {
                        written &= l.write(&e);
                    }
                    let counter = if written {
                        &counts.log_written
                    } else {
                        &counts.log_dropped
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let _ = q.emptied.try_send(recycled(e));
                }
            }
            if got == 0 || stopping {
                if let Some(d) = &mut self.dnstap {
                    d.flush();
                }
                if let Some(l) = &mut self.lines {
                    let _ = l.out.flush();
                }
                if stopping {
                    break;
                }
                std::thread::park_timeout(IDLE);
            }
        }
        if let Some(d) = &mut self.dnstap {
            d.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(t: (u64, u32)) -> String {
        let mut s = String::new();
        write_rfc3339(&mut s, t);
        s
    }

    #[test]
    fn recycled_events_give_back_large_buffers_and_keep_small_ones() {
        let mut e = Event::empty();
        e.response.extend_from_slice(&[0; 65_535]);
        e.query.extend_from_slice(&[0; 100]);
        let e = recycled(e);
        assert!(e.response.is_empty() && e.query.is_empty());
        assert!(
            e.response.capacity() <= KEEP_BYTES,
            "{}",
            e.response.capacity()
        );
        assert_eq!(e.query.capacity(), 512, "a small buffer is kept as it was");
    }

    #[test]
    fn rfc3339_dates_match_known_instants() {
        assert_eq!(rfc3339((0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339((951_782_400, 5_000)), "2000-02-29T00:00:00.000005Z");
        assert_eq!(rfc3339((1_796_630_142, 0)), "2026-12-07T07:55:42.000000Z");
    }
}
