//! NOTIFY out (RFC 1996): after a zone's new version is published, its `notify` targets are
//! told over UDP, and told again with backoff until each answers. Only the newest serial per
//! target is pending: a version published while an older one is still being announced takes
//! its place, as one NOTIFY for the newest says all a secondary needs to know.
//!
//! One thread, one UDP socket per address family: a handful of datagrams a second at most,
//! nothing the query path shares.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::config::{Config, Key};
use crate::name;
use crate::rdata::rtype;
use crate::xfr::message::{CLASS_IN, Message};
use crate::xfr::tsig;

/// Waits between the sends of one NOTIFY: RFC 1996 §3.6 asks for retransmission with
/// backoff; after the last, enumd gives up on that version and says so.
const BACKOFF: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
    Duration::from_secs(32),
    Duration::from_secs(60),
    Duration::from_secs(60),
];
/// The least time between the first sends of two versions' NOTIFYs to one target: a burst
/// of updates becomes one NOTIFY a second, the newest serial, rather than one per update
/// (BIND waits `notify-delay`, 5 s by default; a quiet zone's change still goes at once). A
/// secondary told many times in a row transfers many times in a row: NSD 4.6 then loses track
/// of which serial its reload applied and starts over with AXFR.
const SPACING: Duration = Duration::from_secs(1);
/// How long the thread waits on its socket before looking for new versions.
const TICK: Duration = Duration::from_millis(50);

/// A zone's new version, for its targets.
struct Announce {
    zone: usize,
    serial: u32,
    soa_ttl: u32,
    soa: Vec<u8>,
}

/// The owner's end: [`Notifier::announce`] returns at once.
pub struct Notifier {
    tx: Sender<Announce>,
}

/// Per zone: its apex, where to send, and the key to sign with.
struct Targets {
    apex: Vec<u8>,
    addrs: Vec<SocketAddr>,
    key: Option<Key>,
}

/// One NOTIFY waiting for its answer.
struct Pending {
    serial: u32,
    message: Vec<u8>,
    /// The request's MAC, which a signed answer's covers.
    mac: Vec<u8>,
    id: u16,
    sent: usize,
    next: Instant,
}

impl Notifier {
    /// Starts the thread, if any zone has targets.
    pub fn start(config: &Config) -> Option<Self> {
        let keys = config.keys().unwrap_or_default();
        let zones: Vec<Targets> = config
            .zones
            .iter()
            .map(|z| Targets {
                apex: z.apex_wire(),
                addrs: z.notify_addrs.clone(),
                key: z.notify_key.as_ref().and_then(|k| {
                    let wire = name::to_lowercase(&name::parse(k.as_bytes(), name::ROOT).ok()?);
                    keys.iter().find(|key| key.name == wire).cloned()
                }),
            })
            .collect();
        if zones.iter().all(|z| z.addrs.is_empty()) {
            return None;
        }
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("enumd-notify".into())
            .spawn(move || run(&zones, &rx));
        match spawned {
            Ok(_) => Some(Self { tx }),
            Err(e) => {
                warn!(
                    "cannot start the NOTIFY thread: {e}; secondaries learn of changes by their refresh timer only"
                );
                None
            }
        }
    }

    /// Tells zone `zone`'s targets about its version `serial` (SOA TTL and RDATA given, for
    /// the answer section, RFC 1996 §3.7).
    pub fn announce(&self, zone: usize, serial: u32, soa_ttl: u32, soa: Vec<u8>) {
        let _ = self.tx.send(Announce {
            zone,
            serial,
            soa_ttl,
            soa,
        });
    }
}

fn run(zones: &[Targets], rx: &Receiver<Announce>) {
    let bind = |addr: &str| {
        UdpSocket::bind(addr)
            .and_then(|s| s.set_read_timeout(Some(TICK)).map(|()| s))
            .map_err(|e| debug!("NOTIFY socket {addr}: {e}"))
            .ok()
    };
    let v4 = bind("0.0.0.0:0");
    let v6 = bind("[::]:0");
    let mut pending: HashMap<(usize, SocketAddr), Pending> = HashMap::new();
    let mut first_sent: HashMap<(usize, SocketAddr), Instant> = HashMap::new();
    let mut buf = [0u8; 4096];
    loop {
        // New versions; block only when nothing waits for an answer.
        loop {
            let next = if pending.is_empty() {
                rx.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                rx.try_recv()
            };
            match next {
                Ok(a) => {
                    let t = &zones[a.zone];
                    for &addr in &t.addrs {
                        let id = random_id();
                        let (message, mac) = notify_message(id, &t.apex, &a, t.key.as_ref());
                        let spaced = first_sent.get(&(a.zone, addr)).map(|&at| at + SPACING);
                        let next = spaced.map_or_else(Instant::now, |s| s.max(Instant::now()));
                        pending.insert(
                            (a.zone, addr),
                            Pending {
                                serial: a.serial,
                                message,
                                mac,
                                id,
                                sent: 0,
                                next,
                            },
                        );
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        pending.retain(|&(zone, addr), p| {
            if p.next > now {
                return true;
            }
            let apex = name::to_text(&zones[zone].apex);
            if p.sent == BACKOFF.len() {
                warn!(zone = %apex, target = %addr, serial = p.serial, "NOTIFY not answered after {} sends; giving up on this version", p.sent);
                return false;
            }
            let socket = if addr.is_ipv4() { &v4 } else { &v6 };
            if let Some(s) = socket
                && let Err(e) = s.send_to(&p.message, addr)
            {
                debug!(zone = %apex, target = %addr, "NOTIFY send: {e}");
            }
            if p.sent == 0 {
                first_sent.insert((zone, addr), now);
            }
            p.next = now + BACKOFF[p.sent];
            p.sent += 1;
            true
        });
        for socket in [&v4, &v6].into_iter().flatten() {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let reply = &buf[..n];
            if n < 12 || reply[2] & 0x80 == 0 || (reply[2] >> 3) & 0x0f != 4 {
                continue; // not a NOTIFY response
            }
            let id = u16::from_be_bytes([reply[0], reply[1]]);
            let rcode = reply[3] & 0x0f;
            let found = pending
                .iter()
                .find(|((_, addr), p)| *addr == from && p.id == id)
                .map(|(k, _)| *k);
            let Some(key) = found else {
                continue;
            };
            if let (Some(k), Some(p)) = (&zones[key.0].key, pending.get(&key))
                && let Err(why) = verify_answer(reply, k, &p.mac)
            {
                // Not the target's answer, or not one it signed: keep sending.
                warn!(zone = %name::to_text(&zones[key.0].apex), target = %from, "NOTIFY answer ignored: {why}");
                continue;
            }
            if let Some(p) = pending.remove(&key) {
                let apex = name::to_text(&zones[key.0].apex);
                if rcode == 0 {
                    info!(zone = %apex, target = %from, serial = p.serial, "NOTIFY acknowledged");
                } else {
                    warn!(zone = %apex, target = %from, serial = p.serial, rcode, "NOTIFY answered with an error; not sent again");
                }
            }
        }
    }
}

/// Checks that the answer to a NOTIFY signed with `key` (whose MAC was `mac`) is signed with it
/// too (RFC 8945 §5.3: an answer to a signed request is signed).
fn verify_answer(reply: &[u8], key: &Key, mac: &[u8]) -> Result<(), String> {
    let msg = Message::parse(reply).map_err(|e| format!("malformed: {}", e.0))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut v = tsig::ResponseVerifier::new(key, mac);
    v.message(reply, &msg, now)?;
    v.finish()
}

/// A NOTIFY request (RFC 1996 §3.7): opcode 4, AA, the zone's SOA as question and answer,
/// signed with `key` if given; and its MAC (empty when unsigned).
fn notify_message(id: u16, apex: &[u8], a: &Announce, key: Option<&Key>) -> (Vec<u8>, Vec<u8>) {
    let mut m = Vec::with_capacity(128 + a.soa.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[4 << 3 | 0x04, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(apex);
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m.extend_from_slice(&[0xc0, 12]); // the question's name
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m.extend_from_slice(&a.soa_ttl.to_be_bytes());
    let len = u16::try_from(a.soa.len()).unwrap_or(0);
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&a.soa);
    let mut mac = Vec::new();
    if let Some(k) = key {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        mac = tsig::sign_request(&mut m, k, now, 300);
    }
    (m, mac)
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}
