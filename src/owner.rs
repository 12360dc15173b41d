//! The zone owner: the one thread that changes zones. Every change takes one path: a change
//! set (from an UPDATE, or a changed zone file) is written to the zone's journal and made
//! durable, then applied, then published with one atomic store, and only then answered.
//!
//! Updates waiting at the same moment are committed as a group: each is checked and applied in
//! order on the version the one before it left, then one journal write and one `fdatasync`
//! per zone covers them all, then one publish, then every answer goes out. Old versions are
//! dropped here, once no reader holds them, never on a serving thread.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing::{error, info, warn};

use crate::config::{Config, Key};
use crate::lookup::Snapshot;
use crate::name;
use crate::naptr::RegexCache;
use crate::notify::Notifier;
use crate::ops::metrics;
use crate::ops::throttle::Throttle;
use crate::reload::{self, ZoneSet};
use crate::xfr::message::{CLASS_IN, Message};
use crate::xfr::tsig::{self, Verdict, unix_now};
use crate::xfr::update::{self, rcode, serial_gt};
use crate::zone::Zone;
use crate::zone::change::{ChangeSet, difference};
use crate::zone::diff::{self, Outcome};
use crate::zone::journal::{Entry, Journal, write_durably_with};
use crate::zonefile;

/// What the owner is asked to do.
pub enum Command {
    /// Reload zones whose files changed (`all`: every zone, SIGHUP; `only`: that zone), then
    /// say what came of each.
    Reload {
        all: bool,
        only: Option<usize>,
        done: tokio::sync::oneshot::Sender<ReloadReport>,
    },
    Update(UpdateRequest),
    /// Write every zone with changes not yet in its file (SIGUSR1).
    Flush,
    /// The same for `enumd ctl flush` (`only`: that zone): each zone with changes, and the
    /// serial of a write already under way (`None`: its writing started now).
    FlushNow {
        only: Option<usize>,
        reply: std::sync::mpsc::Sender<Vec<(String, Option<u32>)>>,
    },
    /// Each zone's state, for `enumd ctl zone-status`.
    Status {
        reply: std::sync::mpsc::Sender<Vec<ZoneStatus>>,
    },
    /// NOTIFY zone `zone`'s secondaries again (`enumd ctl notify`): the serial announced, or
    /// why there was none.
    Renotify {
        zone: usize,
        reply: std::sync::mpsc::Sender<Result<u32, &'static str>>,
    },
    /// Zone `zone`'s file has been written (by its writer thread), with so many records.
    Flushed {
        zone: usize,
        written: Result<usize, String>,
    },
    /// The version of zone `zone` held now (expired or not), for its secondary timers.
    Current {
        zone: usize,
        reply: std::sync::mpsc::Sender<Option<Arc<Zone>>>,
    },
    /// A transfer into secondary zone `zone`: applied and published as one change, or not at
    /// all; the reply is the version then serving, or why not.
    Transferred {
        zone: usize,
        incoming: Incoming,
        reply: std::sync::mpsc::Sender<Result<Arc<Zone>, String>>,
    },
    /// Secondary zone `zone` expired (answered SERVFAIL), or is refreshed again.
    SetExpired {
        zone: usize,
        expired: bool,
    },
}

/// What a transfer in brought, checked but not applied.
pub enum Incoming {
    /// IXFR's change sets, oldest first.
    Diffs(Vec<Entry>),
    /// A whole zone, and its difference from the version it was compared with (that
    /// version's serial), when small enough to journal.
    Whole {
        zone: Arc<Zone>,
        change: Option<(u32, ChangeSet)>,
    },
}

/// An UPDATE message and where its answer goes.
pub struct UpdateRequest {
    pub message: Vec<u8>,
    pub peer: SocketAddr,
    pub reply: Reply,
}

pub enum Reply {
    Udp(Arc<UdpSocket>),
    Tcp(tokio::sync::oneshot::Sender<Vec<u8>>),
}

/// What a reload did: per zone, and in one line of what serves now ([`Owner::summary`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    pub summary: String,
    pub zones: Vec<ZoneReload>,
}

/// One zone as the owner holds it, for `enumd ctl zone-status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ZoneStatus {
    pub zone: String,
    /// `primary` (read from its file), `secondary` or `catalog`.
    pub kind: &'static str,
    /// Answered from data (not SERVFAIL: never loaded, or a secondary's copy expired).
    pub serving: bool,
    pub serial: Option<u32>,
    pub names: usize,
    pub records: usize,
    pub numbers: usize,
    /// Bytes of the version's nodes, RDATA and RRsets.
    pub memory_bytes: usize,
    pub file: String,
    /// The journal's size, for a zone that keeps one.
    pub journal_bytes: Option<u64>,
    /// Changes not yet written to the zone file.
    pub unflushed_changes: usize,
    /// What came of the last read of the zone's file (none for a secondary or a catalog).
    pub last_load: Option<reload::LoadRecord>,
}

/// What a reload did to one zone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ZoneReload {
    pub zone: String,
    /// `reloaded`, `unchanged`, `failed` (the previous version, if any, keeps serving) or
    /// `skipped` (a secondary, a catalog, a file being written).
    pub result: &'static str,
    /// The serial serving afterwards.
    pub serial: Option<u32>,
    /// Why it failed or was skipped: each problem as `file:line: reason`.
    pub detail: Vec<String>,
}

/// How serving code reaches the owner.
#[derive(Clone)]
pub struct Handle(SyncSender<Command>);

/// Commands waiting for the owner at most: past it an UPDATE is dropped (over UDP the client
/// retries; over TCP the connection is closed), so a flood of them cannot grow memory.
const QUEUE: usize = 4096;

impl Handle {
    /// Waits for room; false once the owner has stopped.
    pub fn send(&self, c: Command) -> bool {
        self.0.send(c).is_ok()
    }

    /// False if the owner is stopped or QUEUE commands already wait.
    pub fn try_send(&self, c: Command) -> bool {
        self.0.try_send(c).is_ok()
    }
}

/// A zone that accepts updates: its journal and what is not yet in its file.
struct Live {
    journal: Journal,
    /// Changes applied since the zone file was last written, and since when.
    unflushed: usize,
    dirty_since: Option<Instant>,
    /// The zone file being written, if it is.
    flushing: Option<Flushing>,
}

/// A zone file being written on a thread of its own, so that updates go on meanwhile (ten
/// million numbers took 14 to 30 s to write here): the serial it will hold, and how many of the
/// unflushed changes that is.
struct Flushing {
    serial: u32,
    changes: usize,
    started: Instant,
}

/// Most updates committed as one group.
const MAX_GROUP: usize = 1024;

pub struct Owner {
    zones: ZoneSet,
    live: Vec<Option<Live>>,
    keys: Vec<Key>,
    config: Config,
    store: Arc<ArcSwap<Snapshot>>,
    /// Published snapshots replaced, kept until no reader holds them.
    retired: Vec<Arc<Snapshot>>,
    cache: RegexCache,
    /// The owner's own queue, for the threads that write zone files to report back on.
    tx: Option<SyncSender<Command>>,
    /// Sends NOTIFY for each new version (None: no zone has `notify` targets).
    notifier: Option<Notifier>,
    /// Per zone, the serial last announced.
    announced: Vec<Option<u32>>,
}

impl Owner {
    /// Loads every zone, opens the journals of those that accept updates and replays them.
    pub fn open(config: &Config) -> Self {
        let mut zones = ZoneSet::load(config);
        let keys = config.keys().unwrap_or_default();
        let mut live = Vec::new();
        for i in 0..config.zones.len() {
            live.push(open_live(config, &mut zones, i));
        }
        let store = Arc::new(ArcSwap::from_pointee(zones.snapshot()));
        Self {
            zones,
            live,
            keys,
            config: config.clone(),
            store,
            retired: Vec::new(),
            cache: RegexCache::default(),
            tx: None,
            notifier: None,
            announced: vec![None; config.zones.len()],
        }
    }

    /// One line on what serves, for systemd's `STATUS=`: `serving 2 zones`, or how many of
    /// them do not (not loaded, or a secondary's copy expired or not yet taken).
    pub fn summary(&self) -> String {
        let total = self.config.zones.len();
        let serving = (0..total)
            .filter(|&i| self.zones.zone(i).is_some() && !self.zones.is_expired(i))
            .count();
        if serving == total {
            format!("serving {total} zone(s)")
        } else {
            format!(
                "serving {serving} of {total} zone(s); {} answer SERVFAIL (see the log)",
                total - serving
            )
        }
    }

    /// Each zone's state now.
    fn status(&self) -> Vec<ZoneStatus> {
        self.config
            .zones
            .iter()
            .enumerate()
            .map(|(i, zc)| {
                let zone = self.zones.zone(i);
                let live = self.live[i].as_ref();
                ZoneStatus {
                    zone: zc.apex.clone(),
                    kind: if zc.catalog {
                        "catalog"
                    } else if zc.is_secondary() {
                        "secondary"
                    } else {
                        "primary"
                    },
                    serving: zone.is_some() && !self.zones.is_expired(i),
                    serial: zone.map(|z| z.serial),
                    names: zone.map_or(0, |z| z.stats.names),
                    records: zone.map_or(0, |z| z.stats.records),
                    numbers: zone.map_or(0, |z| z.stats.numbers),
                    memory_bytes: zone.map_or(0, |z| {
                        let (nodes, rdata, rrsets) = z.memory();
                        nodes + rdata + rrsets
                    }),
                    file: zc.file.display().to_string(),
                    journal_bytes: live.map(|l| l.journal.len()),
                    unflushed_changes: live.map_or(0, |l| l.unflushed),
                    last_load: self.zones.last_load(i).cloned(),
                }
            })
            .collect()
    }

    /// What serving threads read.
    pub fn store(&self) -> Arc<ArcSwap<Snapshot>> {
        self.store.clone()
    }

    /// Starts the owner's thread.
    pub fn spawn(mut self) -> std::io::Result<Handle> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        self.tx = Some(tx.clone());
        self.notifier = Notifier::start(&self.config);
        // Secondaries hear of the versions loaded at start too, as BIND and Knot tell them.
        self.announce();
        std::thread::Builder::new()
            .name("enumd-owner".into())
            .spawn(move || self.run(&rx))?;
        Ok(Handle(tx))
    }

    fn run(mut self, rx: &Receiver<Command>) {
        // At normal priority: an update waits for nothing but its journal sync. What is long
        // (loading a zone file, writing one) runs at nice 19 (`at_low_priority`).
        let mut deferred: VecDeque<Command> = VecDeque::new();
        // Loading freed far more than it kept (the file's text, the sort buffers): handed back
        // here, off the serving threads, once they already answer.
        crate::os::release_free_memory();
        loop {
            self.reap();
            let command = match deferred.pop_front() {
                Some(c) => c,
                None => match rx.recv_timeout(self.until_next_flush()) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        self.flush_due(false);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            };
            match command {
                Command::Update(first) => {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(Command::Update(u)) => group.push(u),
                            Ok(other) => {
                                deferred.push_back(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_group(group);
                }
                Command::Reload { all, only, done } => {
                    let zones = self.reload(all, only);
                    if zones.iter().any(|z| z.result == "reloaded") {
                        self.publish();
                        crate::os::release_free_memory();
                    }
                    let _ = done.send(ReloadReport {
                        summary: self.summary(),
                        zones,
                    });
                }
                Command::Flush => self.flush_due(true),
                Command::FlushNow { only, reply } => {
                    let mut started = Vec::new();
                    for i in 0..self.live.len() {
                        let dirty = self.live[i]
                            .as_ref()
                            .is_some_and(|l| l.dirty_since.is_some());
                        if only.is_none_or(|o| o == i) && dirty {
                            let already = self.live[i]
                                .as_ref()
                                .and_then(|l| l.flushing.as_ref())
                                .map(|job| job.serial);
                            self.flush(i);
                            started.push((self.config.zones[i].apex.clone(), already));
                        }
                    }
                    let _ = reply.send(started);
                }
                Command::Status { reply } => {
                    let _ = reply.send(self.status());
                }
                Command::Renotify { zone, reply } => {
                    let targets = self.notifier.is_some()
                        && self
                            .config
                            .zones
                            .get(zone)
                            .is_some_and(|z| !z.notify_addrs.is_empty() || z.notify_ns);
                    let announced = if !targets {
                        Err("no NOTIFY targets (notify, notify_ns)")
                    } else if let Some(serial) = self.zones.zone(zone).map(|z| z.serial) {
                        self.announced[zone] = None;
                        self.announce();
                        Ok(serial)
                    } else {
                        Err("not loaded: no version to announce")
                    };
                    let _ = reply.send(announced);
                }
                Command::Flushed { zone, written } => self.flushed(zone, written),
                Command::Current { zone, reply } => {
                    let _ = reply.send(self.zones.zone(zone).cloned());
                }
                Command::Transferred {
                    zone,
                    incoming,
                    reply,
                } => {
                    let taken = self.take_transfer(zone, incoming);
                    if taken.is_ok() {
                        self.publish();
                    }
                    let _ = reply.send(taken);
                }
                Command::SetExpired { zone, expired } => {
                    self.zones.set_expired(zone, expired);
                    self.publish();
                }
            }
            self.flush_due(false);
        }
    }

    /// Publishes the zones as they are now; the snapshot replaced waits for its readers here.
    fn publish(&mut self) {
        let old = self.store.swap(Arc::new(self.zones.snapshot()));
        self.retired.push(old);
        self.announce();
    }

    /// Hands each zone whose serial changed since it was last announced to the notifier.
    fn announce(&mut self) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        for (i, announced) in self.announced.iter_mut().enumerate() {
            let Some(zone) = self.zones.zone(i) else {
                continue;
            };
            if *announced == Some(zone.serial) {
                continue;
            }
            *announced = Some(zone.serial);
            notifier.announce(i, zone);
        }
    }

    /// Drops replaced snapshots no reader holds any more: the cost of freeing a version lands
    /// on this thread, not on the query that happened to hold it last.
    fn reap(&mut self) {
        self.retired.retain(|s| Arc::strong_count(s) > 1);
    }

    fn until_next_flush(&self) -> Duration {
        // Wake at least every second while old snapshots wait to be dropped.
        let mut wait = Duration::from_secs(if self.retired.is_empty() { 3600 } else { 1 });
        for (i, l) in self.live.iter().enumerate() {
            let interval = self.config.zones[i].flush_interval;
            if let Some(since) = l
                .as_ref()
                .filter(|l| l.flushing.is_none())
                .and_then(|l| l.dirty_since)
                && interval > 0
            {
                let due = since + Duration::from_secs(interval);
                wait = wait.min(due.saturating_duration_since(Instant::now()));
            }
        }
        wait.max(Duration::from_millis(10))
    }

    /// Reloads changed zone files (or all, SIGHUP). A zone already serving takes the file's
    /// difference from the serving version as a change, journaled like an update; one that
    /// never loaded is loaded whole.
    /// Reloads the zones whose files changed (`all`: every zone; `only`: just that one), and
    /// says what came of each looked at.
    fn reload(&mut self, all: bool, only: Option<usize>) -> Vec<ZoneReload> {
        let mut out = Vec::new();
        for i in 0..self.config.zones.len() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let zc = &self.config.zones[i];
            let outcome = |result, detail: &[&str], serial| ZoneReload {
                zone: zc.apex.clone(),
                result,
                serial,
                detail: detail.iter().map(ToString::to_string).collect(),
            };
            let serial = self.zones.zone(i).map(|z| z.serial);
            if zc.is_secondary() || zc.catalog {
                // A secondary's file is enumd's own copy of the primary's zone; a catalog is
                // built from the configuration.
                if all {
                    let why = if zc.catalog {
                        "a catalog: built from the configuration at start"
                    } else {
                        "a secondary: copied from its primaries, not read from a file"
                    };
                    out.push(outcome("skipped", &[why], serial));
                }
                continue;
            }
            if !all && !self.zones.is_stale(i) {
                continue;
            }
            if self.live[i].as_ref().is_some_and(|l| l.flushing.is_some()) {
                // enumd is writing this file: it is looked at again once written.
                info!(zone = %zc.apex, "the zone file is being written; not reloaded now");
                out.push(outcome(
                    "skipped",
                    &["the zone file is being written; not reloaded now"],
                    serial,
                ));
                continue;
            }
            if !all {
                info!(zone = %zc.apex, "zone file changed, reloading");
            }
            let result = if self.zones.zone(i).is_some() {
                self.reload_by_difference(i)
            } else {
                let zones = &mut self.zones;
                let loaded = at_low_priority(|| zones.reload_zone(i));
                if self.zones.zone(i).is_some() {
                    // Loaded at last: its journal is opened (and replayed onto it) now.
                    self.live[i] = None;
                    self.live[i] = open_live(&self.config, &mut self.zones, i);
                }
                match self.zones.take_failure(i) {
                    Some(why) => Err(why),
                    None => Ok(loaded),
                }
            };
            let serial = self.zones.zone(i).map(|z| z.serial);
            let zc = &self.config.zones[i];
            out.push(ZoneReload {
                zone: zc.apex.clone(),
                result: match &result {
                    Ok(true) => "reloaded",
                    Ok(false) => "unchanged",
                    Err(_) => "failed",
                },
                serial,
                detail: result.err().unwrap_or_default(),
            });
        }
        out
    }

    /// BIND's `ixfr-from-differences`: the changed file's difference from the serving version
    /// (see [`diff`]), applied as one change set that shares everything else. Refused, with
    /// the old version serving, when updates are not yet written to the file (the file is
    /// enumd's while it takes updates) or the serial did not rise.
    fn reload_by_difference(&mut self, i: usize) -> Result<bool, Vec<String>> {
        let zc = self.config.zones[i].clone();
        let file = zc.file.clone();
        let Some(current) = self.zones.zone(i).cloned() else {
            return Ok(false);
        };
        let unflushed = self.live[i].as_ref().map_or(0, |l| l.unflushed);
        if unflushed > 0 {
            let why = format!(
                "{}: changed while {unflushed} update(s) are not yet written to it; not reloaded, the journal's version keeps serving. enumd owns this file while the zone takes updates: send SIGUSR1 to write it, edit that (raising the serial), then reload; or send the change as an UPDATE",
                file.display()
            );
            error!(zone = %zc.apex, "{why}");
            self.zones.restamp(i, &[file]);
            return Err(vec![why]);
        }
        let started = Instant::now();
        let zones = &mut self.zones;
        let found = at_low_priority(|| zones.read_zone(i, |zc| file_difference(&current, zc)));
        let Some((change, next, names)) = found else {
            return Err(self.zones.take_failure(i).unwrap_or_default());
        };
        if change == ChangeSet::default() {
            return Ok(false);
        }
        if !serial_gt(next.serial, current.serial) {
            let why = format!(
                "{}: serial {} is not above the serving {} (RFC 1982): not reloaded, the old version keeps serving; raise the serial",
                file.display(),
                next.serial,
                current.serial
            );
            error!(zone = %zc.apex, "{why}");
            return Err(vec![why]);
        }
        let entry = Entry {
            from: current.serial,
            to: next.serial,
            change,
        };
        if let Some(live) = self.live[i].as_mut() {
            // The change, and that the file holds its result.
            let written = [entry.clone(), Entry::flushed(next.serial)];
            if let Err(e) = live.journal.append(&written) {
                let why = format!("{e}; not reloaded, the old version keeps serving");
                error!(zone = %zc.apex, "{why}");
                return Err(vec![why]);
            }
            if live.journal.len() > zc.journal_max_bytes {
                compact(&mut live.journal, zc.journal_max_bytes, &zc.apex);
            }
        }
        info!(
            zone = %zc.apex,
            serial = next.serial,
            names,
            removed = entry.change.removed.len(),
            added = entry.change.added.len(),
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "zone reloaded by difference"
        );
        self.zones.set_zone(i, next);
        Ok(true)
    }

    /// A transfer into secondary zone `i`, as one change: IXFR's change sets applied in turn
    /// on the version serving, or a whole zone (its difference journaled when given, else the
    /// journal starts again from it and the file is written at once). Journaled before it
    /// serves; on any failure nothing changes.
    fn take_transfer(&mut self, i: usize, incoming: Incoming) -> Result<Arc<Zone>, String> {
        let zc = &self.config.zones[i];
        let Some(live) = self.live[i].as_mut() else {
            return Err("the zone's journal is not open".into());
        };
        let current = self.zones.zone(i).cloned();
        let (next, entries) = match incoming {
            Incoming::Diffs(entries) => {
                let Some(base) = current else {
                    return Err("an IXFR, but no copy to apply it to".into());
                };
                let mut zone: Option<Zone> = None;
                for e in &entries {
                    let on = zone.as_ref().unwrap_or(&base);
                    if e.from != on.serial {
                        return Err(format!(
                            "a change from serial {}, where ours is {}",
                            e.from, on.serial
                        ));
                    }
                    let next = on
                        .apply(&e.change)
                        .map_err(|err| format!("the change to serial {}: {err}", e.to))?;
                    if next.serial != e.to {
                        return Err(format!(
                            "the change to serial {} leaves serial {}",
                            e.to, next.serial
                        ));
                    }
                    zone = Some(next);
                }
                let Some(zone) = zone else {
                    return Ok(base);
                };
                if zc.strict
                    && let Some(why) = update::refused_chain(&zone, true)
                {
                    return Err(why);
                }
                (Arc::new(zone), entries)
            }
            Incoming::Whole { zone, change } => {
                let entries = match (change, &current) {
                    (Some((from, change)), Some(cur)) if cur.serial == from => vec![Entry {
                        from,
                        to: zone.serial,
                        change,
                    }],
                    _ => Vec::new(),
                };
                (zone, entries)
            }
        };
        if entries.is_empty() {
            // A whole new copy: the journal starts again from it, and the file is written
            // now, so that a restart serves it.
            live.journal.rewrite(&[])?;
            // A file being written now holds the old copy: this one is written after it.
            live.unflushed = live.flushing.as_ref().map_or(0, |f| f.changes) + 1;
            live.dirty_since = Some(Instant::now());
        } else {
            live.journal.append(&entries)?;
            live.unflushed += entries.len();
            live.dirty_since.get_or_insert_with(Instant::now);
            if live.journal.len() > zc.journal_max_bytes {
                compact(&mut live.journal, zc.journal_max_bytes, &zc.apex);
            }
        }
        let whole = entries.is_empty();
        self.zones.set_zone(i, next.clone());
        if whole {
            self.flush(i);
        }
        Ok(next)
    }

    /// Checks and applies a group of updates, journals what they changed with one sync per
    /// zone, publishes once, then answers each.
    fn commit_group(&mut self, group: Vec<UpdateRequest>) {
        let now = unix_now();
        let mut working: HashMap<usize, Zone> = HashMap::new();
        let mut entries: HashMap<usize, Vec<Entry>> = HashMap::new();
        let mut answers = Vec::with_capacity(group.len());
        for req in &group {
            // A bug must cost one answer, not the thread that changes every zone.
            let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.one_update(req, now, &mut working, &mut entries)
            }));
            answers.push(answered.unwrap_or_else(|_| {
                error!(peer = %req.peer, "internal error while processing an UPDATE (a bug in enumd): answered SERVFAIL");
                Answer::new(&req.message).fail(rcode::SERVFAIL, "internal error")
            }));
        }
        let mut changed = false;
        for (i, list) in entries {
            let Some(live) = self.live[i].as_mut() else {
                continue;
            };
            let apex = &self.config.zones[i].apex;
            match live.journal.append(&list) {
                Ok(()) => {
                    if let Some(next) = working.remove(&i) {
                        self.zones.set_zone(i, Arc::new(next));
                        changed = true;
                    }
                    live.unflushed += list.len();
                    live.dirty_since.get_or_insert_with(Instant::now);
                }
                Err(e) => {
                    // Nothing of the group is kept: those answers become SERVFAIL.
                    error!(zone = %apex, "{e}: {} update(s) not applied", list.len());
                    // Every answer of this zone's group rested on the state it would have
                    // left, changing or not.
                    for a in answers.iter_mut().filter(|a| a.zone == Some(i) && a.judged) {
                        a.rcode = rcode::SERVFAIL;
                        a.reason = Some("the journal could not be written".to_string());
                    }
                }
            }
        }
        if changed {
            self.publish();
        }
        for (req, answer) in group.into_iter().zip(answers) {
            let zone = answer
                .zone
                .map_or("", |i| self.config.zones[i].apex.as_str());
            metrics::global().tally(
                "enumd_updates",
                &[
                    ("zone", zone),
                    ("rcode", crate::lookup::rcode_name(u16::from(answer.rcode))),
                ],
            );
            let bytes = answer.encode(now);
            match req.reply {
                Reply::Udp(socket) => {
                    let _ = socket.send_to(&bytes, req.peer);
                }
                Reply::Tcp(tx) => {
                    let _ = tx.send(bytes);
                }
            }
        }
    }

    fn one_update(
        &mut self,
        req: &UpdateRequest,
        now: u64,
        working: &mut HashMap<usize, Zone>,
        entries: &mut HashMap<usize, Vec<Entry>>,
    ) -> Answer {
        let raw = &req.message;
        let mut a = Answer::new(raw);
        let msg = match Message::parse(raw) {
            Ok(m) => m,
            Err(e) => return a.fail(rcode::FORMERR, e.0),
        };
        a.opt = msg.opt.is_some();
        match tsig::verify(raw, &msg, &self.keys, now) {
            Verdict::Unsigned => {}
            Verdict::Signed(s) => a.tsig = Tsig::Sign(s),
            Verdict::Failed {
                error,
                key_name,
                algorithm,
                signer,
            } => {
                a.tsig = match signer {
                    Some(s) => Tsig::SignError(s, error),
                    None => Tsig::Unsigned(key_name, algorithm, error),
                };
                let what = tsig::error_text(error);
                static LOGGED: Throttle = Throttle::new();
                if let Some(held_back) = LOGGED.admit() {
                    warn!(peer = %req.peer, held_back, "UPDATE refused: TSIG {what}");
                }
                return a.fail(rcode::NOTAUTH, format!("TSIG: {what}"));
            }
        }
        if msg.question.len() != 1 {
            return a.fail(
                rcode::FORMERR,
                "the zone section must hold one zone (RFC 2136 §3.1.1)",
            );
        }
        let (zname, ztype, zclass) = msg.question[0].clone();
        a.zone_section = Some((zname.clone(), ztype, zclass));
        if ztype != crate::rdata::rtype::SOA {
            return a.fail(
                rcode::FORMERR,
                "the zone section's type must be SOA (RFC 2136 §3.1.1)",
            );
        }
        let lower = name::to_lowercase(&zname);
        let Some(i) = self
            .config
            .zones
            .iter()
            .position(|z| z.apex_wire() == lower)
        else {
            return a.fail(
                rcode::NOTAUTH,
                format!("not authoritative for {}", name::to_text(&lower)),
            );
        };
        if zclass != CLASS_IN {
            return a.fail(rcode::NOTAUTH, "not authoritative for that class");
        }
        a.zone = Some(i);
        let zc = &self.config.zones[i];
        let key = match &a.tsig {
            Tsig::Sign(s) => Some(s.key.name.as_slice()),
            _ => None,
        };
        if !zc.update_policy.allows(req.peer.ip(), key) {
            let who = key.map_or_else(
                || format!("{} unsigned", req.peer.ip()),
                |k| format!("key {}", name::to_text(k)),
            );
            static LOGGED: Throttle = Throttle::new();
            if let Some(held_back) = LOGGED.admit() {
                warn!(zone = %zc.apex, held_back, "UPDATE refused: {who} may not update this zone (allow_update)");
            }
            return a.fail(rcode::REFUSED, format!("{who} may not update {}", zc.apex));
        }
        let Some(served) = self.zones.zone(i) else {
            return a.fail(rcode::SERVFAIL, "the zone is not loaded");
        };
        if self.live[i].is_none() {
            return a.fail(rcode::SERVFAIL, "the zone's journal is not open");
        }
        let current: &Zone = working.get(&i).unwrap_or(served);
        let outcome = update::process(current, &msg, zc.strict, zc.max_records, &mut self.cache);
        a.judged = true;
        if let Some(reason) = &outcome.reason {
            static LOGGED: Throttle = Throttle::new();
            if let Some(held_back) = LOGGED.admit() {
                info!(zone = %zc.apex, peer = %req.peer, rcode = outcome.rcode, held_back, "UPDATE not applied: {reason}");
            }
        }
        let Some(change) = outcome.change else {
            a.rcode = outcome.rcode;
            a.reason = outcome.reason;
            return a;
        };
        match current.apply(&change) {
            Ok(next) => {
                if let Some(why) = update::refused_chain(&next, zc.strict) {
                    static LOGGED: Throttle = Throttle::new();
                    if let Some(held_back) = LOGGED.admit() {
                        info!(zone = %zc.apex, peer = %req.peer, held_back, "UPDATE not applied: {why}");
                    }
                    return a.fail(rcode::REFUSED, why);
                }
                let entry = Entry {
                    from: current.serial,
                    to: next.serial,
                    change,
                };
                entries.entry(i).or_default().push(entry);
                working.insert(i, next);
                a.changed = true;
                a
            }
            Err(e) => a.fail(rcode::REFUSED, e.0),
        }
    }

    /// Writes zones whose changes are due (`all`: every zone with changes) to their files.
    fn flush_due(&mut self, all: bool) {
        for i in 0..self.live.len() {
            let interval = self.config.zones[i].flush_interval;
            let due = self.live[i]
                .as_ref()
                .and_then(|l| l.dirty_since)
                .is_some_and(|since| {
                    all || (interval > 0 && since.elapsed() >= Duration::from_secs(interval))
                });
            if due {
                self.flush(i);
            }
        }
    }

    /// Starts rewriting zone `i`'s file from the serving version (temp file, fsync, rename,
    /// directory fsync) on a thread of its own at low priority; [`Owner::flushed`] finishes.
    /// Updates are committed meanwhile; one write per zone at a time.
    fn flush(&mut self, i: usize) {
        let Some(live) = self.live[i].as_mut() else {
            return;
        };
        let Some(zone) = self.zones.zone(i).cloned() else {
            return;
        };
        if live.flushing.is_some() {
            return;
        }
        let zc = self.config.zones[i].clone();
        let job = Flushing {
            serial: zone.serial,
            changes: live.unflushed,
            started: Instant::now(),
        };
        let Some(tx) = self.tx.clone() else {
            // Not started as a thread (a caller that drives the owner itself): write here.
            live.flushing = Some(job);
            let written = write_zone_file(&zone, &zc.file);
            crate::os::release_free_memory();
            self.flushed(i, written);
            return;
        };
        live.flushing = Some(job);
        let spawned = std::thread::Builder::new()
            .name("enumd-flush".into())
            .spawn(move || {
                crate::os::lower_this_thread_priority();
                let written = write_zone_file(&zone, &zc.file);
                // The version is dropped here too, not on the owner's thread, and the pages the
                // write's copies took are handed back here: trimming a heap of ten million
                // numbers takes a while, and updates would wait for it.
                drop(zone);
                crate::os::release_free_memory();
                let _ = tx.send(Command::Flushed { zone: i, written });
            });
        if let Err(e) = spawned {
            error!(zone = %self.config.zones[i].apex, "cannot start writing the zone file: {e}; the journal keeps the changes");
            if let Some(live) = self.live[i].as_mut() {
                live.flushing = None;
            }
        }
    }

    /// Zone `i`'s file is written (or not): records that it holds the serial it was written
    /// from, then bounds the journal, keeping the newest history. Changes committed while it
    /// was written stay unflushed, journaled before the marker: replay finds them by serial.
    fn flushed(&mut self, i: usize, written: Result<usize, String>) {
        let zc = &self.config.zones[i];
        let Some(live) = self.live[i].as_mut() else {
            return;
        };
        let Some(job) = live.flushing.take() else {
            return;
        };
        let records = match written {
            Ok(n) => n,
            Err(e) => {
                // Tried again a flush interval from now (or on SIGUSR1), not at once: a full
                // disk would otherwise be retried without pause.
                live.dirty_since = Some(Instant::now());
                error!(zone = %zc.apex, "cannot write the zone file: {e}; the journal keeps the changes, and the write is tried again after flush_interval");
                return;
            }
        };
        self.zones.restamp(i, std::slice::from_ref(&zc.file));
        info!(
            zone = %zc.apex,
            serial = job.serial,
            records,
            changes = job.changes,
            ms = u64::try_from(job.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "zone file written"
        );
        if let Err(e) = live.journal.append(&[Entry::flushed(job.serial)]) {
            // The file is written; without the marker a restart finds the file newer than the
            // journal says and refuses the zone, which loses nothing. Say so now.
            error!(zone = %zc.apex, "{e}: the journal does not record that the file holds serial {}", job.serial);
        }
        live.unflushed = live.unflushed.saturating_sub(job.changes);
        live.dirty_since = (live.unflushed > 0).then(Instant::now);
        if live.journal.len() > zc.journal_max_bytes {
            compact(&mut live.journal, zc.journal_max_bytes, &zc.apex);
        }
    }
}

/// Writes `zone` to `file` durably; the number of records.
fn write_zone_file(zone: &Zone, file: &std::path::Path) -> Result<usize, String> {
    let tmp = file.with_extension("enumd-new");
    write_durably_with(&tmp, file, |w| zonefile::write_zone(zone, w)).map_err(|e| e.to_string())
}

/// Where replay starts in a journal: the serial its last marker says the zone file holds (None:
/// no marker), and the index of the first entry that may be pending. A zone file is written
/// while updates go on, so changes committed meanwhile are journaled before its marker: they
/// are the changes after the one that made the marker's serial.
fn replay_from(entries: &[Entry]) -> (Option<u32>, usize) {
    let Some(m) = entries.iter().rposition(Entry::is_marker) else {
        return (None, 0);
    };
    let serial = entries[m].from;
    let made = entries[..m]
        .iter()
        .rposition(|e| !e.is_marker() && e.to == serial);
    (Some(serial), made.map_or(m + 1, |j| j + 1))
}

/// Bounds a journal: keeps what replay needs (the change that made the flushed serial or the
/// marker, and everything after), and of the older history the newest within half the bound
/// (BIND and Knot free that much too, so compaction is not redone each flush).
fn compact(journal: &mut Journal, max: u64, apex: &str) {
    let mut entries = match journal.entries() {
        Ok(e) => e,
        Err(e) => {
            warn!(zone = %apex, "cannot compact the journal: {e}");
            return;
        }
    };
    let needed = replay_from(&entries).1.saturating_sub(1);
    let mut keep = entries.split_off(needed);
    let mut size: u64 = keep.iter().map(Entry::encoded_len).sum();
    let mut older = Vec::new();
    for e in entries.into_iter().rev() {
        size += e.encoded_len();
        if size > max / 2 {
            break;
        }
        older.push(e);
    }
    older.reverse();
    older.append(&mut keep);
    let keep = older;
    if let Err(e) = journal.rewrite(&keep) {
        warn!(zone = %apex, "cannot compact the journal: {e}");
    } else {
        info!(zone = %apex, kept = keep.len(), bytes = journal.len(), "journal compacted");
    }
}

/// Opens the journal of zone `i` if it accepts updates, and replays it onto the loaded zone.
/// A journal that cannot be opened or does not continue the zone file takes the zone out of
/// service, with the reason: serving the file alone would silently undo acknowledged updates.
fn open_live(config: &Config, zones: &mut ZoneSet, i: usize) -> Option<Live> {
    let zc = &config.zones[i];
    if !zc.keeps_journal() {
        return None;
    }
    let path: PathBuf = Journal::path_for(&config.state_dir, &zc.apex);
    if let Some(old) = Journal::other_spelling(&path) {
        if let Err(e) = std::fs::rename(&old, &path) {
            error!(zone = %zc.apex, "cannot rename the journal {} to {}: {e}; the zone is not served", old.display(), path.display());
            zones.unload(i);
            return None;
        }
        info!(zone = %zc.apex, "renamed the journal {} to {} (zone names are kept in lower case)", old.display(), path.display());
    }
    let (journal, opened) = match Journal::open(&path) {
        Ok(j) => j,
        Err(e) => {
            error!(zone = %zc.apex, "{e}; the zone is not served");
            zones.unload(i);
            return None;
        }
    };
    if let Some((bytes, why)) = &opened.dropped_tail {
        warn!(zone = %zc.apex, "{}: dropped a torn last entry ({bytes} bytes: {why}); every entry before it is kept", path.display());
    }
    let mut live = Live {
        journal,
        unflushed: 0,
        dirty_since: None,
        flushing: None,
    };
    let Some(loaded) = zones.zone(i).cloned() else {
        return Some(live);
    };
    let entries = opened.entries;
    let (flushed, start) = replay_from(&entries);
    let pending: Vec<&Entry> = entries[start..].iter().filter(|e| !e.is_marker()).collect();
    let refuse = |why: String| {
        error!(zone = %zc.apex, "{}: {why}; the zone is not served. Restore the zone file the journal continues, or move the journal away (losing what it holds)", path.display());
    };
    match flushed {
        // The file is the one the journal last wrote: replay what came after.
        Some(s) if s == loaded.serial => {}
        Some(s) if pending.is_empty() => {
            // Edited while enumd was stopped, with nothing unwritten: the file stands, and the
            // journal starts again from it.
            warn!(zone = %zc.apex, "{}: the zone file has serial {} where enumd last wrote {s}; no changes were pending, so the file is served and the journal starts again from it", path.display(), loaded.serial);
            if let Err(e) = live.journal.rewrite(&[Entry::flushed(loaded.serial)]) {
                refuse(e);
                zones.unload(i);
                return None;
            }
            return Some(live);
        }
        Some(s) => {
            refuse(format!(
                "{} change(s) after serial {s} are not in the zone file, which now has serial {}: it was replaced or edited while they were pending",
                pending.len(),
                loaded.serial
            ));
            zones.unload(i);
            return None;
        }
        None if entries.is_empty() => {
            if let Err(e) = live.journal.append(&[Entry::flushed(loaded.serial)]) {
                refuse(e);
                zones.unload(i);
                return None;
            }
            return Some(live);
        }
        None => {}
    }
    let mut zone: Option<Zone> = None;
    for e in pending {
        let current = zone.as_ref().unwrap_or(&loaded);
        if e.from != current.serial {
            refuse(format!(
                "holds a change from serial {} to {}, which does not continue serial {}",
                e.from, e.to, current.serial
            ));
            zones.unload(i);
            return None;
        }
        match current.apply(&e.change) {
            Ok(next) => {
                zone = Some(next);
                live.unflushed += 1;
            }
            Err(err) => {
                refuse(format!(
                    "the change from serial {} does not apply to the zone file's data ({err})",
                    e.from
                ));
                zones.unload(i);
                return None;
            }
        }
    }
    if let Some(zone) = zone {
        info!(zone = %zc.apex, serial = zone.serial, changes = live.unflushed, "journal replayed");
        zones.set_zone(i, Arc::new(zone));
        live.dirty_since = Some(Instant::now());
    }
    Some(live)
}

/// A reload's change, the version it makes, and how many names it changed.
type FromFile = (ChangeSet, Arc<Zone>, usize);

/// The version zone file `zc` makes of `current`, the change between them and how many names
/// changed, with the files read. A file changed in most of its names is loaded whole and
/// compared record by record: memory then peaks as for a whole reload.
fn file_difference(
    current: &Zone,
    zc: &crate::config::ZoneConfig,
) -> Result<(FromFile, Vec<PathBuf>, usize), crate::zone::LoadFailure> {
    match diff::from_file(current, &zc.file, zc.strict, zc.max_records)? {
        Outcome::Changed(found) => {
            for w in &found.warnings {
                warn!("{w}");
            }
            if found.unlisted_warnings > 0 {
                warn!(zone = %zc.apex, "… and {} more warnings not listed", found.unlisted_warnings);
            }
            let warnings = found.warnings.len() + found.unlisted_warnings;
            let diff::FileChange {
                change,
                next,
                files,
                changed_names,
                ..
            } = *found;
            Ok(((change, Arc::new(next), changed_names), files, warnings))
        }
        Outcome::Whole => {
            let new = reload::load_zone(zc)?;
            let change = difference(current, &new);
            let names = new.stats.names;
            let files = new.files.clone();
            let warnings = new.warnings.len() + new.unlisted_warnings;
            Ok(((change, new, names), files, warnings))
        }
    }
}

/// Runs `f` on a thread of its own at nice 19 and waits for it: a zone load or write sharing a
/// core with the serving threads takes only the CPU they leave idle. (A thread cannot raise
/// its priority again unprivileged, so the owner itself is never lowered.)
fn at_low_priority<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let job = std::sync::Mutex::new(Some(f));
    let take = || job.lock().ok().and_then(|mut j| j.take());
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("enumd-load".into())
            .spawn_scoped(scope, || {
                crate::os::lower_this_thread_priority();
                take().map(|f| f())
            });
        let done = match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        // No thread to be had: the owner does it, at its own priority.
        done.or_else(|| take().map(|f| f()))
            .unwrap_or_else(|| unreachable!("the job ran on one thread or the other"))
    })
}

/// How the answer to an UPDATE is signed.
enum Tsig {
    None,
    Sign(tsig::Signer),
    /// BADTIME: signed, with the error.
    SignError(tsig::Signer, u16),
    /// BADKEY, BADSIG, BADTRUNC: the error in an unsigned TSIG RR (key name, algorithm).
    Unsigned(Vec<u8>, Vec<u8>, u16),
}

/// The answer to one UPDATE, encoded once the group is committed.
struct Answer {
    id: [u8; 2],
    zone_section: Option<(Vec<u8>, u16, u16)>,
    opt: bool,
    rcode: u8,
    reason: Option<String>,
    tsig: Tsig,
    zone: Option<usize>,
    /// Accepted with a change: it depends on the journal write.
    changed: bool,
    /// Judged against the group's working version (prerequisites and all).
    judged: bool,
}

/// Longest EXTRA-TEXT sent: an answer stays well inside 512 octets.
const MAX_EXTRA_TEXT: usize = 300;

impl Answer {
    fn new(raw: &[u8]) -> Self {
        Self {
            id: [raw[0], raw[1]],
            zone_section: None,
            opt: false,
            rcode: rcode::NOERROR,
            reason: None,
            tsig: Tsig::None,
            zone: None,
            changed: false,
            judged: false,
        }
    }

    fn fail(mut self, rcode: u8, reason: impl Into<String>) -> Self {
        self.rcode = rcode;
        self.reason = Some(reason.into());
        self
    }

    /// Header (QR, opcode UPDATE, RCODE), the zone section echoed, OPT with an Extended DNS
    /// Error (RFC 8914, INFO-CODE 0 "Other", the reason as EXTRA-TEXT) when the request had
    /// OPT, and TSIG as the request's verdict says.
    fn encode(&self, now: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.id);
        out.push(0x80 | (5 << 3));
        out.push(self.rcode & 0x0f);
        let qd = u16::from(self.zone_section.is_some());
        out.extend_from_slice(&qd.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&u16::from(self.opt).to_be_bytes());
        if let Some((zname, ztype, zclass)) = &self.zone_section {
            out.extend_from_slice(zname);
            out.extend_from_slice(&ztype.to_be_bytes());
            out.extend_from_slice(&zclass.to_be_bytes());
        }
        if self.opt {
            let mut options = Vec::new();
            if let Some(reason) = self
                .reason
                .as_ref()
                .filter(|_| self.rcode != rcode::NOERROR)
            {
                let mut text = reason.as_bytes();
                if text.len() > MAX_EXTRA_TEXT {
                    let mut cut = MAX_EXTRA_TEXT;
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text = &text[..cut];
                }
                options.extend_from_slice(&15u16.to_be_bytes());
                options
                    .extend_from_slice(&u16::try_from(text.len() + 2).unwrap_or(0).to_be_bytes());
                options.extend_from_slice(&0u16.to_be_bytes());
                options.extend_from_slice(text);
            }
            out.push(0);
            out.extend_from_slice(&crate::rdata::rtype::OPT.to_be_bytes());
            out.extend_from_slice(&1232u16.to_be_bytes());
            out.extend_from_slice(&[self.rcode >> 4, 0, 0, 0]);
            out.extend_from_slice(&u16::try_from(options.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&options);
        }
        match &self.tsig {
            Tsig::None => {}
            Tsig::Sign(s) => {
                tsig::sign_response(&mut out, s, 0, now);
            }
            Tsig::SignError(s, e) => {
                tsig::sign_response(&mut out, s, *e, now);
            }
            Tsig::Unsigned(k, alg, e) => tsig::append_unsigned(&mut out, k, alg, *e, now),
        }
        out
    }
}

/// SIGHUP reloads every zone, SIGUSR1 writes zones with pending changes to their files, and
/// with `watch` a changed zone file reloads within a second.
pub async fn signals(owner: Handle, watch: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hangup), Ok(mut usr1)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
    ) else {
        error!("cannot listen for SIGHUP and SIGUSR1");
        return;
    };
    let mut tick = tokio::time::interval(reload::WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let all = tokio::select! {
            _ = hangup.recv() => true,
            _ = usr1.recv() => {
                info!("SIGUSR1: writing zones with pending changes");
                if !owner.send(Command::Flush) {
                    return;
                }
                continue;
            }
            _ = tick.tick(), if watch => false,
        };
        if all {
            info!("SIGHUP: reloading all zones");
            crate::ops::systemd::reloading();
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        if !owner.send(Command::Reload {
            all,
            only: None,
            done,
        }) {
            error!("the zone owner has ended; reloads stop");
            return;
        }
        let Ok(report) = finished.await else {
            error!("the zone owner has ended; reloads stop");
            return;
        };
        if all {
            crate::ops::systemd::ready(&report.summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(from: u32, to: u32) -> Entry {
        Entry {
            from,
            to,
            change: ChangeSet::default(),
        }
    }

    #[test]
    fn replay_starts_after_the_change_that_made_the_flushed_serial() {
        assert_eq!(replay_from(&[]), (None, 0));
        assert_eq!(replay_from(&[change(1, 2)]), (None, 0));
        // The marker right after its change, or after changes made while the file was written.
        let e = [change(1, 2), Entry::flushed(2), change(2, 3)];
        assert_eq!(replay_from(&e), (Some(2), 1));
        let e = [change(1, 2), change(2, 3), change(3, 4), Entry::flushed(2)];
        assert_eq!(replay_from(&e), (Some(2), 1));
        // A journal that starts at the file: nothing made the serial here.
        let e = [Entry::flushed(7), change(7, 8)];
        assert_eq!(replay_from(&e), (Some(7), 1));
    }

    #[test]
    fn compaction_keeps_what_replay_needs_whatever_the_bound() {
        let dir = std::env::temp_dir().join(format!("enumd-compact-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut journal, _) = Journal::open(&dir.join("z.jnl")).unwrap();
        let all = [
            change(1, 2),
            Entry::flushed(2),
            change(2, 3),
            change(3, 4),
            change(4, 5),
            Entry::flushed(3),
            change(5, 6),
        ];
        journal.append(&all).unwrap();
        compact(&mut journal, 1, "e164.arpa.");
        assert_eq!(journal.entries().unwrap(), all[2..].to_vec());
        let (flushed, start) = replay_from(&all[2..]);
        assert_eq!((flushed, start), (Some(3), 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
