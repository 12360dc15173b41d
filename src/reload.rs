//! Loading zones and publishing snapshots. A reload builds new zones off the serving path and
//! publishes them with one atomic store; a zone that fails to load keeps serving its old data.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tracing::{error, info, warn};

use crate::config::{Config, ZoneConfig};
use crate::lookup::Snapshot;
use crate::name;
use crate::record::{Pos, ZoneError};
use crate::zone::{LoadFailure, Zone};

/// How often watched files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Loads one configured zone, logging its figures (its problems are the caller's to log). A
/// panic while loading is a bug, but it must not end the reload thread or the server: it is
/// turned into a failed load, and the previous version keeps serving.
pub fn load_zone(zc: &ZoneConfig) -> Result<Arc<Zone>, LoadFailure> {
    let started = Instant::now();
    let loaded = std::panic::catch_unwind(|| {
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
    /// Per zone: the files it was read from, with what they looked like then.
    stamps: Vec<Vec<(PathBuf, Option<Stamp>)>>,
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
            stamps: vec![Vec::new(); config.zones.len()],
        };
        for i in 0..set.config.len() {
            set.reload_zone(i);
        }
        set
    }

    /// The snapshot to publish: every zone that has a loaded version, and the apexes of those
    /// that never loaded.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            zones: self.loaded.iter().flatten().cloned().collect(),
            unavailable: self
                .config
                .iter()
                .zip(&self.loaded)
                .filter(|(_, loaded)| loaded.is_none())
                .map(|(zc, _)| zc.apex_wire())
                .collect(),
        }
    }

    /// Rebuilds zone `i`; on failure the old version stays. Returns true if it changed.
    fn reload_zone(&mut self, i: usize) -> bool {
        let zc = &self.config[i];
        // Stamp before reading, so a write during the load triggers another reload.
        let mut files = vec![zc.file.clone()];
        if let Some(old) = &self.loaded[i] {
            files.extend(old.files.iter().cloned());
        }
        let before: HashMap<PathBuf, Option<Stamp>> =
            files.iter().map(|f| (f.clone(), stamp(f))).collect();
        // Files first seen in this load are stamped now: a change from here on reloads.
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
        match load_zone(zc) {
            Ok(zone) => {
                self.stamps[i] = stamps_of(&zone.files);
                self.loaded[i] = Some(zone);
                true
            }
            Err(failure) => {
                log_failure(zc, &failure, self.loaded[i].is_some());
                // Watch what this load read as well as the old version's files, so that
                // fixing a file it newly includes reloads too.
                let mut watched = stamps_of(&failure.files);
                let read: HashSet<&PathBuf> = failure.files.iter().collect();
                watched.extend(
                    before
                        .iter()
                        .filter(|(f, _)| !read.contains(f))
                        .map(|(f, s)| (f.clone(), *s)),
                );
                self.stamps[i] = watched;
                false
            }
        }
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

/// Reloads on SIGHUP, and on file changes when `watch` is on, until the process ends. Loading
/// runs on a thread of its own at the lowest priority, so the serving threads never wait for
/// it, even when they share its core.
pub async fn run(zones: ZoneSet, store: Arc<ArcSwap<Snapshot>>, watch: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot listen for SIGHUP: {e}");
            return;
        }
    };
    let requests = match spawn_loader(zones, store) {
        Ok(tx) => tx,
        Err(e) => {
            error!("cannot start the reload thread: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let all = tokio::select! {
            _ = hangup.recv() => true,
            _ = tick.tick(), if watch => false,
        };
        if all {
            info!("SIGHUP: reloading all zones");
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        if requests.send((all, done)).is_err() || finished.await.is_err() {
            error!("the reload thread has ended; reloads stop");
            return;
        }
    }
}

/// A reload request: all zones (SIGHUP) or only changed ones, and where to say it is done.
type ReloadRequest = (bool, tokio::sync::oneshot::Sender<()>);

/// Starts the thread that owns the zone set and performs reloads one at a time.
fn spawn_loader(
    mut zones: ZoneSet,
    store: Arc<ArcSwap<Snapshot>>,
) -> std::io::Result<std::sync::mpsc::Sender<ReloadRequest>> {
    let (tx, rx) = std::sync::mpsc::channel::<ReloadRequest>();
    std::thread::Builder::new()
        .name("enumd-reload".into())
        .spawn(move || {
            crate::os::lower_this_thread_priority();
            for (all, done) in rx {
                let changed = if all {
                    zones.reload_all()
                } else {
                    zones.reload_changed()
                };
                if changed {
                    // The old snapshot usually dies here; hand its pages back.
                    store.store(Arc::new(zones.snapshot()));
                    crate::os::release_free_memory();
                }
                let _ = done.send(());
            }
        })?;
    Ok(tx)
}
