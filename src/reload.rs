//! Loading zones and publishing snapshots. A reload builds new zones off the serving path and
//! publishes them with one atomic store; a zone that fails to load keeps serving its old data.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use crate::config::{Config, ZoneConfig};
use crate::lookup::Snapshot;
use crate::name;
use crate::record::{Pos, ZoneError};
use crate::zone::{LoadFailure, Zone};

/// How often watched files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Loads one configured zone, logging its figures (its problems are the caller's to log). A
/// panic while loading is a bug, but it must not end the reload thread or the server: it is
/// turned into a failed load, and the previous version keeps serving.
pub fn load_zone(zc: &ZoneConfig) -> Result<Arc<Zone>, LoadFailure> {
    let started = Instant::now();
    let loaded = std::panic::catch_unwind(|| {
        if zc.catalog {
            // A new serial at each start: the members may have changed with the config.
            let serial = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| u32::try_from(d.as_secs() & 0xffff_ffff).unwrap_or(1));
            return crate::zone::catalog::build(&zc.apex_wire(), &zc.catalog_members, serial);
        }
        Zone::load(&zc.apex_wire(), &zc.file, zc.strict, zc.max_records)
    });
    let zone = loaded.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(LoadFailure {
            problems: vec![ZoneError::error(
                Pos {
                    file: zc.file.as_path().into(),
                    line: 0,
                },
                format!("internal error while loading (a bug in enumd): {what}"),
            )],
            errors: 1,
            warnings: 0,
            files: vec![zc.file.clone()],
        })
    })?;
    let took = started.elapsed();
    for w in &zone.warnings {
        warn!("{w}");
    }
    if zone.unlisted_warnings > 0 {
        warn!(zone = %zc.apex, "… and {} more warnings not listed", zone.unlisted_warnings);
    }
    let s = &zone.stats;
    info!(
        zone = %name::to_text(&zone.apex),
        serial = zone.serial,
        names = s.names,
        records = s.records,
        numbers = s.numbers,
        load_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "zone loaded"
    );
    info!(
        zone = %name::to_text(&zone.apex),
        trie_nodes = s.trie_nodes,
        side_names = s.side_names,
        node_bytes = s.node_bytes,
        rdata_bytes = s.rdata_bytes,
        rrset_bytes = s.rrset_bytes,
        bytes_per_number = (s.total_bytes() + s.numbers / 2) / s.numbers.max(1),
        "zone memory"
    );
    Ok(Arc::new(zone))
}

/// Logs a failed load as `enumd check` prints it: each problem at its own level, then one line
/// with the same counts.
fn log_failure(zc: &ZoneConfig, failure: &LoadFailure, keeping_old: bool) {
    for e in &failure.problems {
        if e.warning {
            warn!("{e}");
        } else {
            error!("{e}");
        }
    }
    let (errors, warnings) = (failure.errors, failure.warnings);
    if keeping_old {
        error!(zone = %zc.apex, errors, warnings, "zone not reloaded; the previous version keeps serving");
    } else {
        error!(zone = %zc.apex, errors, warnings, "zone not loaded; queries for it are answered SERVFAIL");
    }
}

/// The zones as configured, each with the version currently served (if any ever loaded).
pub struct ZoneSet {
    config: Vec<ZoneConfig>,
    loaded: Vec<Option<Arc<Zone>>>,
    /// Secondary zones past their SOA expire time: kept (a refresh continues them) but
    /// answered SERVFAIL.
    expired: Vec<bool>,
    /// Per zone: why its last read failed (each problem as `file:line: reason`, then the
    /// counts), until asked ([`Self::take_failure`]).
    failures: Vec<Option<Vec<String>>>,
    /// Per zone: the files it was read from, with what they looked like then.
    stamps: Vec<Vec<(PathBuf, Option<Stamp>)>>,
    /// Per zone: what came of its last read, for metrics.
    loads: Vec<Option<LoadRecord>>,
}

/// What came of one read of a zone's files.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadRecord {
    /// When it ended, in seconds since the Unix epoch.
    pub at: f64,
    /// How long it took, in seconds.
    pub seconds: f64,
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    /// Reads of this zone that failed since the start.
    pub failures: u64,
}

/// What identifies a version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

fn stamp(path: &PathBuf) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok()?,
        len: m.len(),
        inode: m.ino(),
    })
}

impl ZoneSet {
    /// Loads every configured zone. Zones that fail are logged and left out.
    pub fn load(config: &Config) -> Self {
        let mut set = Self {
            config: config.zones.clone(),
            loaded: vec![None; config.zones.len()],
            expired: vec![false; config.zones.len()],
            failures: vec![None; config.zones.len()],
            stamps: vec![Vec::new(); config.zones.len()],
            loads: vec![None; config.zones.len()],
        };
        for i in 0..set.config.len() {
            set.reload_zone(i);
        }
        set
    }

    /// The snapshot to publish: every zone that has a loaded version, and the apexes of those
    /// that never loaded.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (i, zc) in self.config.iter().enumerate() {
            // Each zone and who may query it are pushed together, so the lists stay aligned.
            match self.loaded[i].clone().filter(|_| !self.expired[i]) {
                Some(zone) => {
                    s.zones.push(zone);
                    s.allow_query.push(zc.query_policy.clone());
                    s.hide.push(zc.concealment.clone());
                }
                None => {
                    s.unavailable.push(zc.apex_wire());
                    s.unavailable_allow_query.push(zc.query_policy.clone());
                }
            }
        }
        s
    }

    /// Rebuilds zone `i`; on failure the old version stays. Returns true if it changed.
    pub fn reload_zone(&mut self, i: usize) -> bool {
        let zc = &self.config[i];
        if zc.is_secondary() && !zc.file.exists() {
            info!(zone = %zc.apex, "secondary zone without a stored copy yet: answered SERVFAIL until the first transfer");
            return false;
        }
        let loaded = self.read_zone(i, |zc| {
            load_zone(zc).map(|zone| {
                let files = zone.files.clone();
                let warnings = zone.warnings.len() + zone.unlisted_warnings;
                (zone, files, warnings)
            })
        });
        match loaded {
            Some(zone) => {
                self.loaded[i] = Some(zone);
                true
            }
            None => false,
        }
    }

    /// Reads zone `i`'s files with `read`, which returns what it made of them, every file it
    /// read and how many warnings it found. Those are watched as they were before the read, so a write during it triggers
    /// another reload. A failure is logged, and what it read is watched as well as the old
    /// version's files, so that fixing a file it newly includes reloads too.
    pub fn read_zone<R>(
        &mut self,
        i: usize,
        read: impl FnOnce(&ZoneConfig) -> Result<(R, Vec<PathBuf>, usize), LoadFailure>,
    ) -> Option<R> {
        let started = Instant::now();
        let zc = &self.config[i];
        let mut files = vec![zc.file.clone()];
        if let Some(old) = &self.loaded[i] {
            files.extend(old.files.iter().cloned());
        }
        let before: HashMap<PathBuf, Option<Stamp>> =
            files.iter().map(|f| (f.clone(), stamp(f))).collect();
        // Files first seen in this read are stamped now: a change from here on reloads.
        let stamps_of = |read: &[PathBuf]| -> Vec<(PathBuf, Option<Stamp>)> {
            read.iter()
                .map(|f| {
                    (
                        f.clone(),
                        before.get(f).copied().flatten().or_else(|| stamp(f)),
                    )
                })
                .collect()
        };
        let failures = self.loads[i].as_ref().map_or(0, |l| l.failures);
        let record = |ok: bool, errors, warnings| LoadRecord {
            at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            seconds: started.elapsed().as_secs_f64(),
            ok,
            errors,
            warnings,
            failures: failures + u64::from(!ok),
        };
        match read(zc) {
            Ok((made, files, warnings)) => {
                self.loads[i] = Some(record(true, 0, warnings));
                self.stamps[i] = stamps_of(&files);
                self.failures[i] = None;
                Some(made)
            }
            Err(failure) => {
                self.loads[i] = Some(record(false, failure.errors, failure.warnings));
                log_failure(zc, &failure, self.loaded[i].is_some());
                let mut why: Vec<String> =
                    failure.problems.iter().map(ToString::to_string).collect();
                why.push(format!(
                    "{} error(s), {} warning(s)",
                    failure.errors, failure.warnings
                ));
                self.failures[i] = Some(why);
                let mut watched = stamps_of(&failure.files);
                let read: HashSet<&PathBuf> = failure.files.iter().collect();
                watched.extend(
                    before
                        .iter()
                        .filter(|(f, _)| !read.contains(f))
                        .map(|(f, s)| (f.clone(), *s)),
                );
                self.stamps[i] = watched;
                None
            }
        }
    }

    /// What came of zone `i`'s last read, if it was ever read.
    pub fn last_load(&self, i: usize) -> Option<&LoadRecord> {
        self.loads[i].as_ref()
    }

    /// The zones' configurations, in order.
    pub fn configs(&self) -> &[ZoneConfig] {
        &self.config
    }

    /// The version of zone `i` being served, if it ever loaded.
    pub fn zone(&self, i: usize) -> Option<&Arc<Zone>> {
        self.loaded[i].as_ref()
    }

    /// Serves `zone` as zone `i` from now on (the caller publishes).
    pub fn set_zone(&mut self, i: usize, zone: Arc<Zone>) {
        self.loaded[i] = Some(zone);
    }

    /// Why zone `i`'s last read failed, if it did (once: a later read starts afresh).
    pub fn take_failure(&mut self, i: usize) -> Option<Vec<String>> {
        self.failures[i].take()
    }

    /// Whether secondary zone `i`'s copy has expired (answered SERVFAIL).
    pub fn is_expired(&self, i: usize) -> bool {
        self.expired[i]
    }

    /// Marks secondary zone `i` expired (answered SERVFAIL) or current again.
    pub fn set_expired(&mut self, i: usize, expired: bool) {
        self.expired[i] = expired;
    }

    /// Takes zone `i` out of service (it failed to open its journal): answered SERVFAIL.
    pub fn unload(&mut self, i: usize) {
        self.loaded[i] = None;
    }

    /// Whether a file of zone `i` changed since it was read.
    pub fn is_stale(&self, i: usize) -> bool {
        self.stamps[i].iter().any(|(f, s)| stamp(f) != *s)
    }

    /// Records `files` as they are now as zone `i`'s: enumd wrote them, or has seen them.
    pub fn restamp(&mut self, i: usize, files: &[PathBuf]) {
        self.stamps[i] = files.iter().map(|f| (f.clone(), stamp(f))).collect();
    }

    /// Rebuilds every zone (SIGHUP). Returns true if any changed.
    pub fn reload_all(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.config.len() {
            changed |= self.reload_zone(i);
        }
        changed
    }

    /// Rebuilds the zones whose files changed since they were read. Returns true if any did.
    pub fn reload_changed(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.config.len() {
            let stale = self.stamps[i].iter().any(|(f, s)| stamp(f) != *s);
            if stale {
                info!(zone = %self.config[i].apex, "zone file changed, reloading");
                changed |= self.reload_zone(i);
            }
        }
        changed
    }
}
