//! Secondary zones: copies of a primary's, kept current by its NOTIFY and by the SOA timers
//! (RFC 1034 §4.3.5). Every `refresh` seconds, or at once on NOTIFY from a primary, the
//! primary's serial is asked for; when it is above ours the difference is taken by IXFR (or
//! the whole zone by AXFR: at first, and when IXFR is refused, fails or does not apply); after
//! a failure, again every `retry` seconds; and when nothing succeeded for `expire` seconds the
//! zone answers SERVFAIL until a primary answers again, as BIND, Knot and NSD do.
//!
//! One thread keeps every secondary zone's timers and hands each refresh that is due to a
//! thread of its own, at most [`MAX_REFRESHING`] at once, so that a primary that does not
//! answer holds up only its own zones; what a transfer brings is handed whole to the zone owner, which journals, applies and publishes it as one change (or
//! refuses it, changing nothing). When the last refresh succeeded is kept in `state_dir`, so
//! that a restarted server expires a copy at the same moment it would have running.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::{Config, Key};
use crate::name;
use crate::naptr::RegexCache;
use crate::ops::throttle::Throttle;
use crate::owner::{Command, Handle, Incoming};
use crate::rdata::rtype;
use crate::validate;
use crate::wire::Expiry;
use crate::xfr::inbound::{self, Ask, Primary, Received};
use crate::xfr::message::Message;
use crate::xfr::tsig::{self, Verdict, unix_now};
use crate::xfr::update::{rcode, serial_gt};
use crate::zone::Zone;
use crate::zone::change::{Rr, difference};
use crate::zone::journal::{self, Journal};

/// The least wait between two refreshes of a zone, whatever its SOA says: a primary cannot
/// make its secondaries poll it in a loop (Knot's `refresh-min-interval` is 2 s).
const MIN_INTERVAL: u32 = 1;
/// Refreshes under way at once, each on a thread of its own (BIND's `transfers-in` is 10):
/// a few, since a whole-zone transfer builds a copy of the zone in memory.
const MAX_REFRESHING: usize = 4;
/// When a whole-zone transfer changed more than this share of the records, its difference is
/// not journaled: the journal starts again from the new copy (written to disk at once).
const WHOLE_CHANGE_SHARE: usize = 2;

/// The serving side's end: NOTIFY in, and which zones are secondary.
pub struct Secondaries {
    zones: Vec<NotifyPolicy>,
    keys: Vec<Key>,
    tx: Option<Sender<Event>>,
    /// When each secondary zone expires, for EDNS EXPIRE answers (kept by the thread).
    pub expiry: Arc<Expiry>,
}

/// Who may NOTIFY a zone: its primaries' addresses and key.
struct NotifyPolicy {
    apex: Vec<u8>,
    primaries: Vec<IpAddr>,
    key: Option<Vec<u8>>,
}

/// What the timer thread hears of: a NOTIFY for zone `i`, a whole new copy asked for
/// (`enumd ctl retransfer`), or a refresh that finished.
enum Event {
    Notify(usize),
    Retransfer(usize),
    Done(Box<State>),
}

/// One secondary zone's timers.
struct State {
    index: usize,
    apex: Vec<u8>,
    apex_text: String,
    primaries: Vec<Primary>,
    strict: bool,
    /// When to ask the primaries next.
    next: Instant,
    /// When the copy expires without a successful refresh; None until one exists.
    expires: Option<Instant>,
    expired: bool,
    /// Asked to take the whole zone at the next transfer (the last IXFR did not apply).
    force_axfr: bool,
    /// Asked to take the whole zone now, whatever the serials say (`enumd ctl retransfer`).
    retransfer: bool,
    /// Where the time of the last successful refresh is kept.
    stamp: PathBuf,
    /// Its entry in the shared [`Expiry`].
    clock: usize,
}

impl Secondaries {
    /// Starts the refresh thread if any zone is secondary; NOTIFY is judged either way.
    pub fn start(config: &Config, owner: &Handle) -> Self {
        let keys = config.keys().unwrap_or_default();
        let zones = config
            .zones
            .iter()
            .map(|z| NotifyPolicy {
                apex: z.apex_wire(),
                primaries: z.primary_addrs.iter().map(SocketAddr::ip).collect(),
                key: z.primary_key.as_deref().map(key_name),
            })
            .collect();
        let mut states = Vec::new();
        let mut expiry = Expiry::default();
        for (index, z) in config.zones.iter().enumerate() {
            if !z.is_secondary() {
                continue;
            }
            expiry.zones.push((z.apex_wire(), AtomicU64::new(0)));
            let key = z.primary_key.as_deref().and_then(|k| {
                let wire = key_name(k);
                keys.iter().find(|key| key.name == wire).cloned()
            });
            states.push(State {
                index,
                apex: z.apex_wire(),
                apex_text: z.apex.clone(),
                primaries: z
                    .primary_addrs
                    .iter()
                    .map(|&addr| Primary {
                        addr,
                        key: key.clone(),
                    })
                    .collect(),
                strict: z.strict,
                next: Instant::now(),
                expires: None,
                expired: false,
                force_axfr: false,
                retransfer: false,
                stamp: Journal::path_for(&config.state_dir, &z.apex).with_extension("refreshed"),
                clock: expiry.zones.len() - 1,
            });
        }
        let expiry = Arc::new(expiry);
        let mut this = Self {
            zones,
            keys,
            tx: None,
            expiry: expiry.clone(),
        };
        if states.is_empty() {
            return this;
        }
        let (tx, rx) = channel();
        let owner = owner.clone();
        let done = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("enumd-secondary".into())
            .spawn(move || run(states, &owner, &rx, &done, &expiry));
        match spawned {
            Ok(_) => this.tx = Some(tx),
            Err(e) => {
                warn!("cannot start the secondary thread: {e}; secondary zones are not refreshed")
            }
        }
        this
    }

    /// Answers a NOTIFY (RFC 1996 §3.7, §4.7): NOERROR from a zone's primaries (by address,
    /// or signed with its `primary_key`), which starts a refresh; REFUSED from anyone else
    /// and for zones that are not secondary here; NOTAUTH for zones not served at all.
    pub fn notify(&self, raw: &[u8], peer: SocketAddr, now: u64) -> Vec<u8> {
        let out = self.answer_notify(raw, peer, now);
        let code = out.get(3).map_or(rcode::SERVFAIL, |b| b & 0x0f);
        crate::ops::metrics::global().tally(
            "enumd_notifies_received",
            &[("rcode", crate::lookup::rcode_name(u16::from(code)))],
        );
        out
    }

    fn answer_notify(&self, raw: &[u8], peer: SocketAddr, now: u64) -> Vec<u8> {
        let Ok(msg) = Message::parse(raw) else {
            return reply(raw, None, rcode::FORMERR, None, now);
        };
        let signer = match tsig::verify(raw, &msg, &self.keys, now) {
            Verdict::Unsigned => None,
            Verdict::Signed(s) => Some(s),
            Verdict::Failed { error, .. } => {
                static LOGGED: Throttle = Throttle::new();
                if let Some(held_back) = LOGGED.admit() {
                    warn!(%peer, held_back, "NOTIFY refused: TSIG {}", tsig::error_text(error));
                }
                return reply(raw, msg.question.first(), rcode::NOTAUTH, None, now);
            }
        };
        let Some(q) = msg.question.first() else {
            return reply(raw, None, rcode::FORMERR, signer.as_ref(), now);
        };
        let lower = name::to_lowercase(&q.0);
        let Some(i) = self.zones.iter().position(|z| z.apex == lower) else {
            static LOGGED: Throttle = Throttle::new();
            if let Some(held_back) = LOGGED.admit() {
                info!(%peer, zone = %name::to_text(&lower), held_back, "NOTIFY for a zone not served here: NOTAUTH");
            }
            return reply(raw, Some(q), rcode::NOTAUTH, signer.as_ref(), now);
        };
        let z = &self.zones[i];
        let by_key = signer
            .as_ref()
            .is_some_and(|s| z.key.as_deref() == Some(s.key.name.as_slice()));
        let by_address = z.primaries.contains(&peer.ip());
        if z.primaries.is_empty() || !(by_address || by_key) {
            let why = if z.primaries.is_empty() {
                "the zone is not a secondary here"
            } else {
                "not from a primary of the zone"
            };
            static LOGGED: Throttle = Throttle::new();
            if let Some(held_back) = LOGGED.admit() {
                warn!(%peer, zone = %name::to_text(&lower), held_back, "NOTIFY refused: {why}");
            }
            return reply(raw, Some(q), rcode::REFUSED, signer.as_ref(), now);
        }
        info!(%peer, zone = %name::to_text(&lower), "NOTIFY received: refreshing");
        if let Some(tx) = &self.tx {
            let _ = tx.send(Event::Notify(i));
        }
        reply(raw, Some(q), rcode::NOERROR, signer.as_ref(), now)
    }
}

impl Secondaries {
    /// Takes secondary zone `i` whole again by AXFR, now (`enumd ctl retransfer`, BIND's
    /// `rndc retransfer`): false when it is not a secondary here.
    pub fn retransfer(&self, i: usize) -> bool {
        let secondary = self.zones.get(i).is_some_and(|z| !z.primaries.is_empty());
        secondary
            && self
                .tx
                .as_ref()
                .is_some_and(|tx| tx.send(Event::Retransfer(i)).is_ok())
    }
}

fn key_name(text: &str) -> Vec<u8> {
    name::to_lowercase(&name::parse(text.as_bytes(), name::ROOT).unwrap_or_default())
}

/// A NOTIFY answer: the request's ID and opcode, QR and AA, the question echoed.
fn reply(
    raw: &[u8],
    q: Option<&(Vec<u8>, u16, u16)>,
    code: u8,
    signer: Option<&tsig::Signer>,
    now: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(raw.get(..2).unwrap_or(&[0, 0]));
    out.push(0x80 | (4 << 3) | 0x04);
    out.push(code);
    out.extend_from_slice(&u16::from(q.is_some()).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    if let Some((qname, qtype, qclass)) = q {
        out.extend_from_slice(qname);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&qclass.to_be_bytes());
    }
    if let Some(s) = signer {
        tsig::sign_response(&mut out, s, 0, now);
    }
    out
}

/// A secondary zone's place in the timer thread: its state, or None while a refresh thread
/// has it, and whether a NOTIFY or a retransfer came meanwhile: then it is refreshed again at
/// once (a retransfer by AXFR).
struct Slot {
    zone: usize,
    state: Option<State>,
    notified: bool,
    retransfer: bool,
}

fn run(
    states: Vec<State>,
    owner: &Handle,
    rx: &Receiver<Event>,
    done: &Sender<Event>,
    expiry: &Arc<Expiry>,
) {
    let mut slots: Vec<Slot> = states
        .into_iter()
        .map(|mut s| {
            // The stored copy, if there is one, expires as it would have without the restart.
            if let Some(zone) = current(owner, s.index) {
                let timers = Timers::of(&zone);
                let refreshed = std::fs::read_to_string(&s.stamp)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok());
                let age = refreshed.map_or(0, |t| unix_now().saturating_sub(t));
                let left = u64::from(timers.expire).saturating_sub(age);
                s.expires = Some(Instant::now() + Duration::from_secs(left));
                expiry.zones[s.clock]
                    .1
                    .store(unix_now() + left, Ordering::Relaxed);
            }
            Slot {
                zone: s.index,
                state: Some(s),
                notified: false,
                retransfer: false,
            }
        })
        .collect();
    loop {
        let now = Instant::now();
        // A zone being refreshed is judged when its refresh is over: expiring a copy while
        // its primary is sending the next one would be wrong.
        for s in slots.iter_mut().filter_map(|s| s.state.as_mut()) {
            if !s.expired && s.expires.is_some_and(|e| e <= now) {
                s.expired = true;
                expiry.zones[s.clock].1.store(0, Ordering::Relaxed);
                warn!(zone = %s.apex_text, "expired: no primary answered for the SOA expire time; the zone is answered SERVFAIL until one does");
                owner.send(Command::SetExpired {
                    zone: s.index,
                    expired: true,
                });
            }
        }
        let mut refreshing = slots.iter().filter(|s| s.state.is_none()).count();
        for slot in &mut slots {
            if refreshing == MAX_REFRESHING {
                break;
            }
            if slot.state.as_ref().is_some_and(|s| s.next <= now)
                && let Some(state) = slot.state.take()
            {
                slot.state = start_refresh(state, owner, done, expiry);
                refreshing += usize::from(slot.state.is_none());
            }
        }
        let wake = slots
            .iter()
            .filter_map(|s| s.state.as_ref())
            .flat_map(|s| [Some(s.next), s.expires.filter(|_| !s.expired)])
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Event::Notify(i)) => {
                if let Some(slot) = slots.iter_mut().find(|s| s.zone == i) {
                    match &mut slot.state {
                        Some(s) => s.next = Instant::now(),
                        None => slot.notified = true,
                    }
                }
            }
            Ok(Event::Retransfer(i)) => {
                if let Some(slot) = slots.iter_mut().find(|s| s.zone == i) {
                    match &mut slot.state {
                        Some(s) => {
                            s.retransfer = true;
                            s.next = Instant::now();
                        }
                        None => slot.retransfer = true,
                    }
                }
            }
            Ok(Event::Done(s)) => {
                if let Some(slot) = slots.iter_mut().find(|slot| slot.zone == s.index) {
                    let mut s = *s;
                    if std::mem::take(&mut slot.notified) {
                        s.next = Instant::now();
                    }
                    if std::mem::take(&mut slot.retransfer) {
                        s.retransfer = true;
                        s.next = Instant::now();
                    }
                    slot.state = Some(s);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Refreshes the zone on a thread of its own, which hands the state back through `done`
/// (None here); if no thread can be started, here and now (the state back at once).
fn start_refresh(
    state: State,
    owner: &Handle,
    done: &Sender<Event>,
    expiry: &Arc<Expiry>,
) -> Option<State> {
    // The state goes over only once the thread runs, so that a failed start keeps it.
    let (give, take) = channel::<State>();
    let (owner_, done_, expiry_) = (owner.clone(), done.clone(), expiry.clone());
    let spawned = std::thread::Builder::new()
        .name("enumd-refresh".into())
        .spawn(move || {
            if let Ok(mut s) = take.recv() {
                refresh(&mut s, &owner_, &expiry_);
                let _ = done_.send(Event::Done(Box::new(s)));
            }
        });
    match spawned {
        Ok(_) => {
            let _ = give.send(state);
            None
        }
        Err(e) => {
            let mut state = state;
            warn!(zone = %state.apex_text, "cannot start a refresh thread: {e}; refreshing on the timer thread");
            refresh(&mut state, owner, expiry);
            Some(state)
        }
    }
}

/// The SOA's timers, in seconds.
struct Timers {
    refresh: u32,
    retry: u32,
    expire: u32,
}

impl Timers {
    fn of(zone: &Zone) -> Self {
        let rdata = zone.rdatas(zone.soa()).next().unwrap_or_default();
        let fixed = rdata.len().saturating_sub(20);
        let word = |at: usize| {
            u32::from_be_bytes(
                rdata
                    .get(fixed + at..fixed + at + 4)
                    .and_then(|w| w.try_into().ok())
                    .unwrap_or([0; 4]),
            )
        };
        Self {
            refresh: word(4).max(MIN_INTERVAL),
            retry: word(8).max(MIN_INTERVAL),
            expire: word(12).max(MIN_INTERVAL),
        }
    }
}

/// The version the owner serves of zone `i` (expired or not).
fn current(owner: &Handle, i: usize) -> Option<Arc<Zone>> {
    let (tx, rx) = channel();
    if !owner.send(Command::Current { zone: i, reply: tx }) {
        return None;
    }
    rx.recv().ok().flatten()
}

/// Asks the primaries in turn; sets the zone's next refresh from what came of it.
fn refresh(s: &mut State, owner: &Handle, expiry: &Expiry) {
    let started = Instant::now();
    let ours = current(owner, s.index);
    for p in s.primaries.clone() {
        match refresh_from(s, &p, ours.as_ref(), owner) {
            Ok((version, their_expire)) => {
                let timers = Timers::of(&version);
                let now = Instant::now();
                s.next = now + Duration::from_secs(u64::from(timers.refresh));
                // RFC 7314 §4: a primary that is itself a secondary says how long its copy
                // lasts; ours lasts no longer.
                let lasts = their_expire.map_or(timers.expire, |e| e.min(timers.expire));
                s.expires = Some(now + Duration::from_secs(u64::from(lasts)));
                expiry.zones[s.clock]
                    .1
                    .store(unix_now() + u64::from(lasts), Ordering::Relaxed);
                // Replaced whole and synced: a crash must not leave a copy that looks fresher
                // (or older) than it is, nor a stamp cut short.
                let tmp = s.stamp.with_extension("refreshed.tmp");
                let stamp = format!("{}\n", unix_now());
                if let Err(e) = journal::write_durably(&tmp, stamp.as_bytes(), &s.stamp) {
                    warn!(zone = %s.apex_text, "the refresh time is not kept: {e}; a restart counts the copy's expiry from then");
                }
                crate::ops::metrics::global().tally(
                    "enumd_refreshes",
                    &[("zone", &s.apex_text), ("result", "ok")],
                );
                if s.expired {
                    s.expired = false;
                    info!(zone = %s.apex_text, serial = version.serial, "a primary answered: served again");
                    owner.send(Command::SetExpired {
                        zone: s.index,
                        expired: false,
                    });
                }
                return;
            }
            Err(e) => warn!(zone = %s.apex_text, primary = %p.addr, "refresh failed: {e}"),
        }
    }
    crate::ops::metrics::global().tally(
        "enumd_refreshes",
        &[("zone", &s.apex_text), ("result", "failed")],
    );
    let retry = ours.as_deref().map_or(10, |z| Timers::of(z).retry);
    s.next = Instant::now() + Duration::from_secs(u64::from(retry));
    info!(
        zone = %s.apex_text,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "no primary could be refreshed from; trying again in {retry} s"
    );
}

/// One primary: its serial, then IXFR or AXFR as needed. The version serving afterwards, and
/// the primary's EDNS EXPIRE.
fn refresh_from(
    s: &mut State,
    p: &Primary,
    ours: Option<&Arc<Zone>>,
    owner: &Handle,
) -> Result<(Arc<Zone>, Option<u32>), String> {
    let answer = inbound::query_serial(p, &s.apex)?;
    let theirs = answer.serial;
    if let Some(z) = ours
        && !s.retransfer
        && !serial_gt(theirs, z.serial)
    {
        if theirs != z.serial {
            // As BIND: not a refresh (the next primary is asked, and the copy expires if none
            // has the zone), since a primary that went back may have lost its data.
            return Err(format!(
                "the primary's serial {theirs} is below ours, {} (RFC 1982): keeping ours",
                z.serial
            ));
        }
        return Ok((z.clone(), answer.expire));
    }
    let ask = match ours {
        Some(z) if !s.force_axfr && !s.retransfer => Ask::Ixfr {
            serial: z.serial,
            soa: soa_rr(z),
        },
        _ => Ask::Axfr,
    };
    let first = take(s, p, &ask, ours, owner);
    match first {
        Ok(v) => {
            s.force_axfr = false;
            s.retransfer = false;
            Ok((v, answer.expire))
        }
        Err((why, true)) if matches!(ask, Ask::Ixfr { .. }) => {
            warn!(zone = %s.apex_text, primary = %p.addr, "IXFR failed ({why}); trying AXFR");
            let v = take(s, p, &Ask::Axfr, ours, owner).map_err(|(why, _)| why)?;
            s.force_axfr = false;
            Ok((v, answer.expire))
        }
        Err((why, _)) => Err(why),
    }
}

/// One transfer and its hand-over to the owner; on failure, whether AXFR is worth a try.
fn take(
    s: &State,
    p: &Primary,
    ask: &Ask,
    ours: Option<&Arc<Zone>>,
    owner: &Handle,
) -> Result<Arc<Zone>, (String, bool)> {
    let started = Instant::now();
    // A retransfer reads the whole answer even at our own serial.
    let held = ours.map(|z| z.serial).filter(|_| !s.retransfer);
    let (received, messages, records) =
        inbound::transfer(p, &s.apex, ask, held, s.strict).map_err(|f| (f.reason, f.try_axfr))?;
    let kind = match (&received, ask) {
        (Received::Diffs(_), _) => "IXFR",
        (Received::Whole(_), Ask::Ixfr { .. }) => "IXFR as AXFR",
        (Received::Whole(_), Ask::Axfr) => "AXFR",
        (Received::Current(_), _) => "none",
    };
    let (incoming, findings) = match received {
        Received::Current(_) => {
            return ours.cloned().ok_or_else(|| {
                (
                    "the primary has nothing newer, and we have no copy".into(),
                    false,
                )
            });
        }
        Received::Diffs(entries) => {
            let findings = check_added(s, &entries);
            if s.strict && findings > 0 {
                return Err((
                    format!(
                        "{findings} ENUM finding(s) in the records added, and the zone is strict: not taken"
                    ),
                    false,
                ));
            }
            (Incoming::Diffs(entries), findings)
        }
        Received::Whole(zone) => {
            for w in zone.warnings.iter().take(10) {
                warn!(zone = %s.apex_text, "{w}");
            }
            let findings = zone.warnings.len() + zone.unlisted_warnings;
            let zone: Arc<Zone> = Arc::from(zone);
            // A difference is journaled only as a step up in serial: a retransfer (at our own
            // serial, or below) starts the journal again from the copy, as BIND's does.
            let change = ours
                .filter(|cur| serial_gt(zone.serial, cur.serial))
                .and_then(|cur| {
                    let change = difference(cur, &zone);
                    let records = zone.stats.records.max(1);
                    let size = change.removed.len() + change.added.len();
                    (size <= records / WHOLE_CHANGE_SHARE).then_some((cur.serial, change))
                });
            (Incoming::Whole { zone, change }, findings)
        }
    };
    let (tx, rx) = channel();
    if !owner.send(Command::Transferred {
        zone: s.index,
        incoming,
        reply: tx,
    }) {
        return Err(("the zone owner has stopped".into(), false));
    }
    let applied = rx
        .recv()
        .map_err(|_| ("the zone owner has stopped".to_string(), false))?;
    // A change set that does not apply to our copy: the whole zone is taken instead.
    let version = applied.map_err(|why| (format!("not applied: {why}"), true))?;
    info!(
        zone = %s.apex_text,
        primary = %p.addr,
        kind,
        serial = version.serial,
        messages,
        records,
        findings,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "transfer in"
    );
    Ok(version)
}

/// ENUM validation of the NAPTRs an IXFR adds: logged (the first few) and counted.
fn check_added(s: &State, entries: &[journal::Entry]) -> usize {
    let mut cache = RegexCache::default();
    let mut count = 0;
    for rr in entries.iter().flat_map(|e| &e.change.added) {
        if rr.rtype != rtype::NAPTR {
            continue;
        }
        for f in validate::check_naptr(&rr.owner, &rr.rdata, &mut cache) {
            count += 1;
            if count <= 10 {
                warn!(zone = %s.apex_text, "IXFR adds {rr}: {f}");
            }
        }
    }
    count
}

/// Our SOA record, for IXFR's authority section.
fn soa_rr(zone: &Zone) -> Rr {
    let soa = zone.soa();
    Rr {
        owner: zone.apex.clone(),
        rtype: rtype::SOA,
        ttl: zone.rrset_info(soa).ttl,
        rdata: zone.rdatas(soa).next().unwrap_or_default().to_vec(),
    }
}
