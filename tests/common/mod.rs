//! Test harness: a real enumd on 127.0.0.1 (port 0), queried with hickory-proto over real
//! UDP and TCP sockets.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, Record, RecordType};

pub mod child;
pub mod wire;

use enumd::config::Config;
use enumd::owner::Owner;
use enumd::server::{Listeners, Serving};

/// A running server; it stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Every address it listens on (`addr` is the first).
    pub addrs: Vec<SocketAddr>,
    pub dir: PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "enumd-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl TestServer {
    /// Serves the given zones (apex, master-file text) with default settings.
    pub fn start(zones: &[(&str, &str)]) -> Self {
        Self::start_with("", zones)
    }

    /// Serves the given zones with extra top-level config lines.
    pub fn start_with(extra_config: &str, zones: &[(&str, &str)]) -> Self {
        Self::start_at("127.0.0.1:0", extra_config, zones)
    }

    /// Serves a config file's zones (the shipped lab, say) on 127.0.0.1, port 0.
    pub fn start_config(path: &str) -> Self {
        Self::start_config_on(path, &["127.0.0.1:0"])
    }

    /// The same on the given addresses (each port 0 picks its own port).
    pub fn start_config_on(path: &str, listen: &[&str]) -> Self {
        let mut config = Config::load(std::path::Path::new(path)).expect("config");
        config.listen = listen.iter().map(|a| a.parse().unwrap()).collect();
        Self::run(config, temp_dir("cfg"))
    }

    /// Serves the given zones on `listen` (e.g. another loopback address).
    pub fn start_at(listen: &str, extra_config: &str, zones: &[(&str, &str)]) -> Self {
        let dir = temp_dir("srv");
        let mut config = format!("listen = [\"{listen}\"]\n{extra_config}\n");
        for (i, (apex, text)) in zones.iter().enumerate() {
            let file = format!("zone{i}.zone");
            std::fs::write(dir.join(&file), text).expect("write zone");
            config.push_str(&format!("[[zone]]\napex = \"{apex}\"\nfile = \"{file}\"\n"));
        }
        let config = Config::parse(&config, &dir).expect("config");
        Self::run(config, dir)
    }

    fn run(config: Config, dir: PathBuf) -> Self {
        let owner = Owner::open(&config);
        let store = owner.store();
        let owner = owner.spawn().expect("owner thread");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listeners = runtime
            .block_on(Listeners::bind(&config.listen))
            .expect("bind");
        let addrs = listeners.local_addrs();
        let addr = addrs[0];
        let serving = Serving::new(&config, store, owner).expect("serving");
        let stop = serving.stop.clone();
        runtime.spawn(listeners.serve(serving));
        Self {
            addr,
            addrs,
            dir,
            stop,
            runtime: Some(runtime),
        }
    }

    /// Sends raw bytes over UDP; the reply, or None after a second of silence.
    pub fn udp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        sock.send_to(bytes, self.addr).expect("send");
        let mut buf = vec![0; 65_535];
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// Sends one framed message over a new TCP connection; the reply.
    pub fn tcp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(bytes);
        s.write_all(&framed).ok()?;
        let mut len = [0; 2];
        s.read_exact(&mut len).ok()?;
        let mut buf = vec![0; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    pub fn udp(&self, q: &Message) -> Message {
        let reply = self.udp_raw(&q.to_vec().unwrap()).expect("no UDP reply");
        check_reply(q, reply)
    }

    pub fn tcp(&self, q: &Message) -> Message {
        let reply = self.tcp_raw(&q.to_vec().unwrap()).expect("no TCP reply");
        check_reply(q, reply)
    }

    /// The common case: UDP, EDNS with a 1232-byte payload, RD clear.
    pub fn ask(&self, name: &str, rtype: RecordType) -> Message {
        self.udp(&query(name, rtype, Some(1232)))
    }
}

fn check_reply(q: &Message, reply: Vec<u8>) -> Message {
    let m = Message::from_vec(&reply).expect("reply decodes");
    assert_eq!(m.metadata.id, q.metadata.id, "reply ID matches");
    m
}

/// A query; `edns` is the advertised UDP payload, None for no OPT record.
pub fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if let Some(payload) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        m.set_edns(e);
    }
    m
}

/// Records of a section as `owner TTL TYPE RDATA` lines, sorted, owners as spelled on the wire.
pub fn lines(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name.to_ascii(),
                r.ttl,
                r.record_type(),
                r.data
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs a script with Debian's Python (where dnspython is installed); its printed lines.
pub fn python_lines(script: &str) -> Vec<String> {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .output()
        .expect("python3 (apt-get install python3-dnspython)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
