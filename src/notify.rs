//! NOTIFY out (RFC 1996): after a zone's new version is published, its `notify` targets are
//! told over UDP, and told again with backoff until each answers. Only the newest serial per
//! target is pending: a version published while an older one is still being announced takes
//! its place, as one NOTIFY for the newest says all a secondary needs to know.
//!
//! With `notify_ns`, the zone's NS hosts are told too, as BIND's `notify yes` does: every NS
//! but the SOA MNAME (RFC 1996 §3.3, the primary master needs no word of its own change), at
//! the addresses the zone itself gives them, or else the system resolver's, port 53. The NS
//! set is read from each version, so an UPDATE that adds a secondary announces to it too.
//!
//! One thread, one UDP socket per address family: a handful of datagrams a second at most,
//! nothing the query path shares.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::config::{Config, Key};
use crate::name;
use crate::rdata::rtype;
use crate::xfr::message::{CLASS_IN, Message, random_id};
use crate::xfr::tsig;
use crate::zone::Zone;

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
/// How long an out-of-zone NS host's resolved addresses are used before asking again.
const RESOLVED_FOR: Duration = Duration::from_secs(300);

/// An NS host to tell, from the version announced: its name, and its addresses when the zone
/// holds them (empty: ask the system resolver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsHost {
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

/// A zone's new version, for its targets.
struct Announce {
    zone: usize,
    serial: u32,
    soa_ttl: u32,
    soa: Vec<u8>,
    hosts: Vec<NsHost>,
}

/// The owner's end: [`Notifier::announce`] returns at once.
pub struct Notifier {
    tx: Sender<Announce>,
    /// Per zone, whether its NS hosts are told too.
    notify_ns: Vec<bool>,
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
        let notify_ns: Vec<bool> = config.zones.iter().map(|z| z.notify_ns).collect();
        if zones.iter().all(|z| z.addrs.is_empty()) && !notify_ns.contains(&true) {
            return None;
        }
        let (tx, rx) = channel();
        let own = config.listen.clone();
        let spawned = std::thread::Builder::new()
            .name("enumd-notify".into())
            .spawn(move || run(&zones, &own, &rx));
        match spawned {
            Ok(_) => Some(Self { tx, notify_ns }),
            Err(e) => {
                warn!(
                    "cannot start the NOTIFY thread: {e}; secondaries learn of changes by their refresh timer only"
                );
                None
            }
        }
    }

    /// Tells zone `zone`'s targets about `version` (its SOA goes in the answer section, RFC
    /// 1996 §3.7).
    pub fn announce(&self, zone: usize, version: &Zone) {
        let soa = version.soa();
        let hosts = if self.notify_ns.get(zone) == Some(&true) {
            ns_hosts(version)
        } else {
            Vec::new()
        };
        let _ = self.tx.send(Announce {
            zone,
            serial: version.serial,
            soa_ttl: version.rrset_info(soa).ttl,
            soa: version.rdatas(soa).next().unwrap_or_default().to_vec(),
            hosts,
        });
    }
}

/// The apex NS hosts of `zone` but its SOA MNAME, each with the A and AAAA records the zone
/// has for it (glue included).
pub fn ns_hosts(zone: &Zone) -> Vec<NsHost> {
    let apex = zone.apex_node();
    let soa = zone.soa();
    let mname = zone
        .rdatas(soa)
        .next()
        .map(|r| name::to_lowercase(&r[..name::wire_len(r)]));
    let Some(ns) = zone.rrset(apex, rtype::NS) else {
        return Vec::new();
    };
    let mut hosts = Vec::new();
    for rdata in zone.rdatas(ns) {
        let target = name::to_lowercase(&rdata[..name::wire_len(rdata)]);
        if mname.as_ref() == Some(&target) {
            continue;
        }
        let mut addrs = Vec::new();
        for (rtype, _, rdatas) in zone.served_sets(&target) {
            for r in rdatas {
                match rtype {
                    rtype::A => addrs.extend(<[u8; 4]>::try_from(&r[..]).ok().map(IpAddr::from)),
                    rtype::AAAA => {
                        addrs.extend(<[u8; 16]>::try_from(&r[..]).ok().map(IpAddr::from));
                    }
                    _ => {}
                }
            }
        }
        hosts.push(NsHost {
            name: name::to_text(&target),
            addrs,
        });
    }
    hosts
}

/// Whether a NOTIFY to `target` would come back to this server (BIND skips its own addresses
/// too): one of the listen addresses, or a wildcard listen's port on a loopback address.
fn is_own(target: SocketAddr, listen: &[SocketAddr]) -> bool {
    listen.iter().any(|l| {
        *l == target
            || (l.ip().is_unspecified()
                && l.port() == target.port()
                && l.is_ipv4() == target.is_ipv4()
                && target.ip().is_loopback())
    })
}

/// A host name's addresses as the system resolver gives them (`/etc/hosts`, DNS). Called on a
/// thread of its own: a resolver that does not answer must not hold up other NOTIFYs.
fn resolve(host: &str) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = (host.trim_end_matches('.'), 53)
        .to_socket_addrs()
        .map(|a| a.map(|a| a.ip()).collect())
        .unwrap_or_default();
    addrs.dedup();
    addrs
}

/// The notify thread's state: what waits for an answer, and what is known of NS hosts.
struct State {
    pending: HashMap<(usize, SocketAddr), Pending>,
    /// When each target was first sent its latest NOTIFY, for [`SPACING`].
    first_sent: HashMap<(usize, SocketAddr), Instant>,
    /// Per zone, its latest version announced.
    latest: HashMap<usize, Announce>,
    /// Out-of-zone NS hosts' addresses and when they were resolved.
    resolved: HashMap<String, (Instant, Vec<IpAddr>)>,
    /// Names being resolved, and where their answers come back.
    resolving: Vec<String>,
    answers_tx: Sender<(String, Vec<IpAddr>)>,
    answers: Receiver<(String, Vec<IpAddr>)>,
}

impl State {
    /// Queues zone `zone`'s latest version for `addr`, unless that target already has it.
    fn queue(&mut self, zones: &[Targets], zone: usize, addr: SocketAddr) {
        let Some(a) = self.latest.get(&zone) else {
            return;
        };
        if self
            .pending
            .get(&(zone, addr))
            .is_some_and(|p| p.serial == a.serial)
        {
            return;
        }
        let t = &zones[zone];
        let id = random_id();
        let (message, mac) = notify_message(id, &t.apex, a, t.key.as_ref());
        let spaced = self.first_sent.get(&(zone, addr)).map(|&at| at + SPACING);
        let next = spaced.map_or_else(Instant::now, |s| s.max(Instant::now()));
        self.pending.insert(
            (zone, addr),
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

    /// A new version: its `notify` targets and the NS hosts whose addresses are known now;
    /// the others are resolved first.
    fn version(&mut self, zones: &[Targets], own: &[SocketAddr], a: Announce) {
        let zone = a.zone;
        let mut targets = zones[zone].addrs.clone();
        let mut unresolved = Vec::new();
        for host in &a.hosts {
            if !host.addrs.is_empty() {
                targets.extend(ns_targets(&host.name, &host.addrs, own));
                continue;
            }
            match self.resolved.get(&host.name) {
                Some((at, addrs)) if at.elapsed() < RESOLVED_FOR => {
                    targets.extend(ns_targets(&host.name, addrs, own));
                }
                _ => unresolved.push(host.name.clone()),
            }
        }
        self.latest.insert(zone, a);
        for addr in targets {
            self.queue(zones, zone, addr);
        }
        for host in unresolved {
            if self.resolving.contains(&host) {
                continue;
            }
            let tx = self.answers_tx.clone();
            let name = host.clone();
            let spawned = std::thread::Builder::new()
                .name("enumd-resolve".into())
                .spawn(move || {
                    let addrs = resolve(&name);
                    let _ = tx.send((name, addrs));
                });
            match spawned {
                Ok(_) => self.resolving.push(host),
                Err(e) => warn!(host = %host, "cannot resolve the NS host: {e}; not notified"),
            }
        }
    }

    /// A resolution came back: every zone whose latest version names the host is sent to it.
    fn resolved(
        &mut self,
        zones: &[Targets],
        own: &[SocketAddr],
        host: String,
        addrs: Vec<IpAddr>,
    ) {
        self.resolving.retain(|h| *h != host);
        if addrs.is_empty() {
            warn!(host = %host, "NS host has no address in the zone or from the system resolver; not notified");
        }
        let targets = ns_targets(&host, &addrs, own);
        let waiting: Vec<usize> = self
            .latest
            .iter()
            .filter(|(_, a)| a.hosts.iter().any(|h| h.name == host && h.addrs.is_empty()))
            .map(|(&zone, _)| zone)
            .collect();
        self.resolved.insert(host, (Instant::now(), addrs));
        for zone in waiting {
            for &addr in &targets {
                self.queue(zones, zone, addr);
            }
        }
    }
}

/// An NS host's addresses at port 53, without this server's own.
fn ns_targets(host: &str, addrs: &[IpAddr], own: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .map(|&ip| SocketAddr::new(ip, 53))
        .filter(|&target| {
            let mine = is_own(target, own);
            if mine {
                debug!(host = %host, %target, "NS host is this server; not notified");
            }
            !mine
        })
        .collect()
}

fn run(zones: &[Targets], own: &[SocketAddr], rx: &Receiver<Announce>) {
    let bind = |addr: &str| {
        UdpSocket::bind(addr)
            .and_then(|s| s.set_read_timeout(Some(TICK)).map(|()| s))
            .map_err(|e| debug!("NOTIFY socket {addr}: {e}"))
            .ok()
    };
    let v4 = bind("0.0.0.0:0");
    let v6 = bind("[::]:0");
    let (answers_tx, answers) = channel();
    let mut st = State {
        pending: HashMap::new(),
        first_sent: HashMap::new(),
        latest: HashMap::new(),
        resolved: HashMap::new(),
        resolving: Vec::new(),
        answers_tx,
        answers,
    };
    let mut buf = [0u8; 4096];
    loop {
        // New versions; block only when nothing waits for an answer or a resolver.
        loop {
            let next = if st.pending.is_empty() && st.resolving.is_empty() {
                rx.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                rx.try_recv()
            };
            match next {
                Ok(a) => st.version(zones, own, a),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        while let Ok((host, addrs)) = st.answers.try_recv() {
            st.resolved(zones, own, host, addrs);
        }
        if v4.is_none() && v6.is_none() {
            std::thread::sleep(TICK);
        }
        let State {
            pending,
            first_sent,
            ..
        } = &mut st;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses_are_left_out() {
        let listen: Vec<SocketAddr> = vec![
            "127.0.0.1:5300".parse().unwrap(),
            "[::]:53".parse().unwrap(),
        ];
        assert!(is_own("127.0.0.1:5300".parse().unwrap(), &listen));
        assert!(!is_own("127.0.0.1:53".parse().unwrap(), &listen));
        assert!(
            is_own("[::1]:53".parse().unwrap(), &listen),
            "a wildcard listen answers on loopback"
        );
        assert!(!is_own("[2001:db8::1]:53".parse().unwrap(), &listen));
        let targets = ns_targets(
            "ns.",
            &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            &listen,
        );
        assert_eq!(targets, vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn out_of_zone_hosts_are_resolved_by_the_system() {
        // `localhost` is in every /etc/hosts.
        let addrs = resolve("localhost.");
        assert!(addrs.iter().any(IpAddr::is_loopback), "{addrs:?}");
        assert!(resolve("no-such-host.invalid.").is_empty());
    }
}
