//! The control channel `enumd ctl` talks to, as `rndc`, `knotc` and `nsd-control` do for their
//! servers: a unix socket (`control = "…"`, mode `control_mode`, 0600 by default) where each
//! connection sends one request and reads one answer, a JSON line each way.
//!
//! Who may: the socket's permission bits first, then its peer's credentials (SO_PEERCRED):
//! only the user enumd runs as, and root, are served, whatever the mode lets connect. Each
//! connection has a thread of its own, so a client that sends slowly or never reads holds up
//! no other; what changes zones goes to the owner as any change does, one at a time.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::Config;
use crate::owner::{Command, Handle, ReloadReport, ZoneStatus};
use crate::xfr::secondary::Secondaries;

/// One request: a command and the zone it is for, if any.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub command: String,
    #[serde(default)]
    pub zone: Option<String>,
}

/// One answer: whether it went well, what to print, and the same for scripts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub lines: Vec<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl Answer {
    fn failed(line: impl Into<String>) -> Self {
        Self {
            ok: false,
            lines: vec![line.into()],
            data: serde_json::Value::Null,
        }
    }
}

/// What the control thread needs of the server.
struct Server {
    owner: Handle,
    secondaries: Arc<Secondaries>,
    apexes: Vec<String>,
}

/// Binds the control socket, if one is configured, and serves it on a thread of its own.
pub fn start(config: &Config, owner: Handle, secondaries: Arc<Secondaries>) -> Result<(), String> {
    let Some(path) = config.control.clone() else {
        return Ok(());
    };
    let mode = config.control_mode_bits().unwrap_or(0o600);
    let listener = bind(&path, mode)?;
    let server = Server {
        owner,
        secondaries,
        apexes: config.zones.iter().map(|z| z.apex.clone()).collect(),
    };
    info!(socket = %path.display(), mode = format!("{mode:04o}"), "control socket ready");
    let server = Arc::new(server);
    std::thread::Builder::new()
        .name("enumd-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => {
                        let server = server.clone();
                        let spawned = std::thread::Builder::new()
                            .name("enumd-ctl-conn".into())
                            .spawn(move || server.serve(stream));
                        if let Err(e) = spawned {
                            warn!("control connection dropped: {e}");
                        }
                    }
                    Err(e) => warn!("control socket: {e}"),
                }
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the control thread: {e}"))
}

/// Binds `path` with permission bits `mode` from the start: bound under a temporary name,
/// set to `mode`, then renamed into place, so there is no moment it has the umask's looser
/// bits. A socket left by an earlier run is replaced (one that still answers is not).
fn bind(path: &Path, mode: u32) -> Result<UnixListener, String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(format!(
                "control: {shown} exists and is not a socket; not replaced (is the path right?)"
            ));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("control: {}: {e}", dir.display()))?;
    }
    if UnixStream::connect(path).is_ok() {
        return Err(format!(
            "control: {shown}: another server answers on it; not replaced"
        ));
    }
    let tmp: PathBuf = {
        let mut t = path.as_os_str().to_owned();
        t.push(format!(".{}.tmp", std::process::id()));
        t.into()
    };
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)
        .map_err(|e| format!("control: {}: cannot bind: {e}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("control: {shown}: {e}")
        })?;
    Ok(listener)
}

impl Server {
    fn serve(&self, stream: UnixStream) {
        // Who first: a refused client gets its answer without a byte of its read. Then the
        // request, one line of at most 64 KiB within 10 s in all.
        let answer = match self.peer_allowed(&stream) {
            Err(why) => {
                warn!("control connection refused: {why}");
                Answer::failed(format!("refused: {why}"))
            }
            Ok(()) => match read_request(&stream, Duration::from_secs(10)) {
                Ok(r) => self.answer(&r),
                Err(why) => Answer::failed(why),
            },
        };
        let stop = answer.ok && answer.data.get("stopping").is_some();
        let mut out = serde_json::to_string(&answer).unwrap_or_default();
        out.push('\n');
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let mut stream = stream;
        let _ = stream
            .write_all(out.as_bytes())
            .and_then(|()| stream.flush());
        if stop {
            // Only once the client has its answer: the process may end right after.
            info!("enumd ctl stop: shutting down");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// The same user as this process, or root.
    fn peer_allowed(&self, stream: &UnixStream) -> Result<(), String> {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        let creds = getsockopt(stream, PeerCredentials).map_err(|e| format!("SO_PEERCRED: {e}"))?;
        let me = nix::unistd::geteuid().as_raw();
        if creds.uid() == me || creds.uid() == 0 {
            Ok(())
        } else {
            Err(format!(
                "the client runs as uid {}, enumd as uid {me}",
                creds.uid()
            ))
        }
    }

    fn zone_index(&self, zone: Option<&str>) -> Result<Option<usize>, Answer> {
        let Some(z) = zone else {
            return Ok(None);
        };
        let want = z.trim_end_matches('.').to_ascii_lowercase();
        self.apexes
            .iter()
            .position(|a| a.trim_end_matches('.').to_ascii_lowercase() == want)
            .map(Some)
            .ok_or_else(|| Answer::failed(format!("{z}: no such zone here")))
    }

    fn answer(&self, r: &Request) -> Answer {
        let zone = match self.zone_index(r.zone.as_deref()) {
            Ok(z) => z,
            Err(a) => return a,
        };
        match r.command.as_str() {
            "status" => self.status(),
            "zone-status" => self.zone_status(zone),
            "reload" => self.reload(zone),
            "flush" => self.flush(zone),
            "notify" => match zone {
                Some(i) => self.notify(i),
                None => Answer::failed("notify: name the zone"),
            },
            "retransfer" => match zone {
                Some(i) => self.retransfer(i),
                None => Answer::failed("retransfer: name the zone"),
            },
            "stats" => {
                let sums = super::metrics::global().sums();
                Answer {
                    ok: true,
                    lines: sums.to_lines(),
                    data: sums.to_json(),
                }
            }
            "stop" => {
                // Carried out once the answer is written (see `serve`).
                Answer {
                    ok: true,
                    lines: vec!["stopping".into()],
                    data: serde_json::json!({ "stopping": true }),
                }
            }
            other => Answer::failed(format!(
                "{other}: not a command (status, zone-status, reload, flush, notify, retransfer, stats, stop)"
            )),
        }
    }

    fn zones(&self) -> Result<Vec<ZoneStatus>, Answer> {
        let (reply, rx) = channel();
        if !self.owner.send(Command::Status { reply }) {
            return Err(Answer::failed("the zone owner has ended"));
        }
        rx.recv()
            .map_err(|_| Answer::failed("the zone owner has ended"))
    }

    fn status(&self) -> Answer {
        let zones = match self.zones() {
            Ok(z) => z,
            Err(a) => return a,
        };
        let serving = zones.iter().filter(|z| z.serving).count();
        let uptime = super::metrics::global().uptime().as_secs();
        let version = env!("CARGO_PKG_VERSION");
        Answer {
            ok: true,
            lines: vec![
                format!("enumd {version}, pid {}, up {uptime} s", std::process::id()),
                format!("serving {serving} of {} zone(s)", zones.len()),
            ],
            data: serde_json::json!({
                "version": version,
                "pid": std::process::id(),
                "uptime_seconds": uptime,
                "zones": zones.len(),
                "zones_serving": serving,
            }),
        }
    }

    fn zone_status(&self, only: Option<usize>) -> Answer {
        let zones: Vec<ZoneStatus> = match self.zones() {
            Ok(z) => z
                .into_iter()
                .enumerate()
                .filter(|(i, _)| only.is_none_or(|o| o == *i))
                .map(|(_, z)| z)
                .collect(),
            Err(a) => return a,
        };
        let mut lines = Vec::new();
        for z in &zones {
            let state = if z.serving { "serving" } else { "SERVFAIL" };
            let serial = z.serial.map_or_else(|| "none".into(), |s| s.to_string());
            lines.push(format!(
                "{}: {} ({state}), serial {serial}, {} names, {} records, {} numbers, {} bytes",
                z.zone, z.kind, z.names, z.records, z.numbers, z.memory_bytes
            ));
            let mut more = vec![format!("file {}", z.file)];
            if let Some(j) = z.journal_bytes {
                more.push(format!("journal {j} bytes"));
                more.push(format!(
                    "{} change(s) not yet in the file",
                    z.unflushed_changes
                ));
            }
            lines.push(format!("  {}", more.join(", ")));
        }
        Answer {
            ok: true,
            lines,
            data: serde_json::to_value(&zones).unwrap_or_default(),
        }
    }

    fn reload(&self, only: Option<usize>) -> Answer {
        let (done, finished) = tokio::sync::oneshot::channel();
        info!("enumd ctl reload");
        super::systemd::reloading();
        if !self.owner.send(Command::Reload {
            all: true,
            only,
            done,
        }) {
            return Answer::failed("the zone owner has ended");
        }
        let Ok(report): Result<ReloadReport, _> = finished.blocking_recv() else {
            return Answer::failed("the zone owner has ended");
        };
        super::systemd::ready(&report.summary);
        let mut lines = Vec::new();
        for z in &report.zones {
            let serial = z.serial.map_or_else(|| "none".into(), |s| s.to_string());
            let what = match z.result {
                "failed" if z.serial.is_some() => {
                    format!("failed; serial {serial} keeps serving")
                }
                "failed" => "failed; not loaded (answered SERVFAIL)".to_string(),
                other => format!("{other}, serial {serial}"),
            };
            lines.push(format!("{}: {what}", z.zone));
            lines.extend(z.detail.iter().map(|d| format!("  {d}")));
        }
        lines.push(report.summary.clone());
        Answer {
            ok: report.zones.iter().all(|z| z.result != "failed"),
            lines,
            data: serde_json::to_value(&report).unwrap_or_default(),
        }
    }

    fn flush(&self, only: Option<usize>) -> Answer {
        let (reply, rx) = channel();
        if !self.owner.send(Command::FlushNow { only, reply }) {
            return Answer::failed("the zone owner has ended");
        }
        let Ok(started) = rx.recv() else {
            return Answer::failed("the zone owner has ended");
        };
        let lines = if started.is_empty() {
            vec!["no zone has changes not yet in its file".to_string()]
        } else {
            started
                .iter()
                .map(|(z, already)| match already {
                    None => format!("{z}: writing its zone file"),
                    Some(serial) => format!(
                        "{z}: already writing its zone file (serial {serial}); later changes wait for the next flush"
                    ),
                })
                .collect()
        };
        let (now, already): (Vec<_>, Vec<_>) = started.into_iter().partition(|(_, a)| a.is_none());
        Answer {
            ok: true,
            lines,
            data: serde_json::json!({
                "writing": now.into_iter().map(|(z, _)| z).collect::<Vec<_>>(),
                "already_writing": already.into_iter().map(|(z, _)| z).collect::<Vec<_>>(),
            }),
        }
    }

    fn notify(&self, zone: usize) -> Answer {
        let (reply, rx) = channel();
        if !self.owner.send(Command::Renotify { zone, reply }) {
            return Answer::failed("the zone owner has ended");
        }
        match rx.recv() {
            Ok(Ok(serial)) => Answer {
                ok: true,
                lines: vec![format!(
                    "{}: NOTIFY for serial {serial} sent to its secondaries",
                    self.apexes[zone]
                )],
                data: serde_json::json!({ "zone": self.apexes[zone], "notified": true, "serial": serial }),
            },
            Ok(Err(why)) => Answer::failed(format!("{}: {why}", self.apexes[zone])),
            Err(_) => Answer::failed("the zone owner has ended"),
        }
    }

    fn retransfer(&self, zone: usize) -> Answer {
        if self.secondaries.retransfer(zone) {
            Answer {
                ok: true,
                lines: vec![format!(
                    "{}: transferring the whole zone again (AXFR)",
                    self.apexes[zone]
                )],
                data: serde_json::json!({ "zone": self.apexes[zone], "retransfer": true }),
            }
        } else {
            Answer::failed(format!("{}: not a secondary zone", self.apexes[zone]))
        }
    }
}

/// Reads one request line: at most 64 KiB, all of it within `limit`.
fn read_request(stream: &UnixStream, limit: Duration) -> Result<Request, String> {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    let mut reader = stream;
    while !line.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || line.len() > 64 << 10 {
            return Err("no whole request within 10 s and 64 KiB".into());
        }
        let _ = stream.set_read_timeout(Some(left));
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the request: {e}")),
        }
    }
    serde_json::from_slice(&line).map_err(|e| format!("not a request: {e}"))
}

/// Why `enumd ctl` got no answer.
#[derive(Debug)]
pub enum AskError {
    /// Nothing listens there (exit 2).
    Unreachable(String),
    /// It took the request and did not answer in time, or answered nonsense (exit 1): the
    /// command may still be running.
    NoAnswer(String),
}

/// The client side: sends `request` to the socket at `path`; the answer, or why there is none.
pub fn ask(path: &Path, request: &Request, timeout: Duration) -> Result<Answer, AskError> {
    let shown = path.display();
    let mut stream =
        UnixStream::connect(path).map_err(|e| AskError::Unreachable(format!("{shown}: {e}")))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let mut line = serde_json::to_string(request).map_err(|e| AskError::NoAnswer(e.to_string()))?;
    line.push('\n');
    // A refused client is answered without its request being read: the write may fail, and
    // the answer is there to read all the same.
    let _ = stream.write_all(line.as_bytes());
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                AskError::NoAnswer(format!(
                    "{shown}: no answer within {} s (--timeout); the command may still be running",
                    timeout.as_secs()
                ))
            }
            _ => AskError::NoAnswer(format!("{shown}: {e}")),
        })?;
    serde_json::from_str(&answer)
        .map_err(|e| AskError::NoAnswer(format!("{shown}: not an answer: {e}")))
}
