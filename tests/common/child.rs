//! The real `enumd serve` as a child process: its log read line by line, SIGHUP sent with the
//! shell's `kill`, queries over UDP. Killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};

use super::query;

pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildServer {
    /// Starts `enumd serve --config config` and waits for its UDP address in the log.
    pub fn start(config: &Path) -> Self {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_enumd")), config)
    }

    /// The same with more variables in its environment.
    pub fn start_with_env(config: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_enumd"));
        command.envs(env.iter().copied());
        Self::spawn(command, config)
    }

    /// The same under `ulimit -v` (KiB of address space): an allocation past it fails, and
    /// the process aborts rather than swell.
    pub fn start_limited(config: &Path, address_space_kib: u64) -> Self {
        let mut sh = Command::new("sh");
        // glibc reserves 64 MiB of address space per malloc arena, an arena per thread and
        // core: two keep the limit's headroom the same on any machine.
        sh.env("MALLOC_ARENA_MAX", "2");
        sh.args([
            "-c",
            &format!("ulimit -v {address_space_kib} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_enumd"),
        ]);
        Self::spawn(sh, config)
    }

    fn spawn(mut command: Command, config: &Path) -> Self {
        let mut child = command
            .args(["serve", "--config"])
            .arg(config)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start enumd");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("udp=") {
                    let addr: String = line[at + 4..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = addr_tx.send(addr);
                }
                log2.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no listening line; log: {:?}", log.lock().unwrap()))
            .parse()
            .expect("address");
        Self { child, addr, log }
    }

    pub fn hangup(&self) {
        // The shell's own `kill`: no procps needed.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -HUP {}", self.child.id())])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    }

    /// The serial of `apex`'s SOA as served now.
    pub fn serial(&self, apex: &str) -> Option<u32> {
        let m = ask(self.addr, apex, RecordType::SOA)?;
        match &m.answers.first()?.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        }
    }

    /// Log lines so far containing `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// Waits up to `limit` for `done`; fails the test with the log if it does not come.
    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; log: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// One UDP query with EDNS; None after two seconds of silence.
pub fn ask(addr: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let q = query(name, rtype, Some(1232));
    sock.send_to(&q.to_vec().ok()?, addr).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    (m.metadata.id == q.metadata.id).then_some(m)
}
