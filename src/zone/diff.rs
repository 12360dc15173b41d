//! A changed zone file's difference from the serving version, found without building the file
//! as a second zone (BIND's `ixfr-from-differences` and Knot's `zonefile-load: difference`
//! load it whole, which doubles the memory of a large zone while they compare).
//!
//! Two passes over the file. The first only compares: each record read is looked up in the
//! serving version and ticked off there (one byte per trie node, which of its name's first 8
//! records the file holds); a record not found, or found with another TTL, makes its owner a
//! changed name. Names the file no longer fully holds are found by walking the version for
//! records left unticked. The second pass parses the records of the changed names, and only
//! those (the rest is read but its RDATA is not parsed), into a [`ZoneBuilder`]: so the new
//! data of a changed name is what a load makes of it, with every check a load makes (ENUM
//! rules, one TTL per RRset, CNAME rules). The difference of those names is applied to the
//! serving version, and the checks that follow chains across names run on the result, from
//! every chain's start the file holds: a changed name can loop a chain that starts at one
//! unchanged (a removed name uncovers a wildcard, a removed cut a rule below it). Memory
//! beyond the serving version is the tick bytes and the changed names. A file that changed in
//! most of its names is cheaper to load whole, and a file with errors is loaded whole to list
//! them all as `enumd check` does: [`Outcome::Whole`] says so.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::fingerprint::{self, Fingerprint};
use super::{
    CHILD_MASK, ChainRule, Chunk, CrossChecks, LINK_BIT, LoadFailure, NONE, NodeRef, Report, Zone,
    ZoneBuilder,
};
use crate::rdata::rtype;
use crate::record::{Pos, Record, ZoneError};
use crate::template;
use crate::zone::change::{ChangeSet, Rr};
use crate::zonefile;

/// What comparing a zone file with the serving version found.
pub enum Outcome {
    /// The next version, and what turns the serving one into it.
    Changed(Box<FileChange>),
    /// So much changed that loading the file whole costs less; or the file has errors, which
    /// a whole load lists as `enumd check` does (every problem of the file, with its counts).
    Whole,
}

pub struct FileChange {
    pub change: ChangeSet,
    pub next: Zone,
    /// Warnings about the changed names, in reading order.
    pub warnings: Vec<ZoneError>,
    pub unlisted_warnings: usize,
    /// Every file read, for change watching.
    pub files: Vec<PathBuf>,
    /// Names whose data the file changed.
    pub changed_names: usize,
}

/// Past this share of the serving version's names changed, a whole load is cheaper.
const MOST_CHANGED: usize = 4;

/// Compares the zone file at `path` with `current` (see the module's comment).
pub fn from_file(
    current: &Zone,
    path: &Path,
    strict: bool,
    max_records: usize,
) -> Result<Outcome, LoadFailure> {
    if let Some(fp) = &current.source {
        match from_blocks(current, fp, path, strict, max_records) {
            Ok(found) => return found,
            Err(why) => tracing::info!(
                zone = %crate::name::to_text(&current.apex),
                "zone file read whole, not by its changed blocks: {why}"
            ),
        }
    }
    let file_pos = Pos {
        file: path.into(),
        line: 0,
    };
    let most = (current.stats.names / MOST_CHANGED).max(1000);
    let mut ticks = Ticks::new(current);
    let mut changed: HashSet<Vec<u8>> = HashSet::new();
    changed.insert(current.apex.clone());
    let mut parse_report = Report::new(strict);
    let mut expanded = Vec::with_capacity(512);
    // Where chains start, with where they were read: a change can loop one that starts at a
    // name it did not change, so the checks follow them all, as a load does.
    let mut rules_read: Vec<(ChainRule, Pos)> = Vec::new();
    let mut cnames_read: Vec<(Vec<u8>, Pos)> = Vec::new();
    let parsed = zonefile::parse_file(
        path,
        &current.apex,
        &mut |r| {
            if changed.len() <= most && !ticks.tick(current, r, &mut expanded) {
                changed.insert(r.owner.to_vec());
            }
            match r.rtype {
                rtype::NAPTR => {
                    if let Some(rule) = ChainRule::of(r.owner, r.rdata, &current.apex) {
                        rules_read.push((rule, r.pos.clone()));
                    }
                }
                rtype::CNAME => cnames_read.push((r.owner.to_vec(), r.pos.clone())),
                _ => {}
            }
        },
        &mut |e| parse_report.push(e),
    );
    let files = parsed.files.clone();
    if parse_report.has_errors() || parsed.unreadable {
        // A whole load reports every problem of the file, with the counts `enumd check` gives.
        return Ok(Outcome::Whole);
    }
    if changed.len() > most {
        return Ok(Outcome::Whole);
    }
    ticks.untouched(current, &mut changed);
    if changed.len() > most {
        return Ok(Outcome::Whole);
    }

    // The changed names as a load makes them. The first read found no error, so an error now,
    // or another file or version opened, means the text changed between the reads.
    let mut builder = ZoneBuilder::new(&current.apex, strict);
    builder.ceilings.records = builder.ceilings.records.min(max_records);
    let mut second_errors = 0usize;
    let second = zonefile::parse_file_for(
        path,
        &current.apex,
        &|owner| changed.contains(owner),
        &mut |r| builder.add(r),
        &mut |e| second_errors += usize::from(!e.warning),
    );
    if second_errors > 0 || second.unreadable || second.opened != parsed.opened {
        let mut report = Report::new(strict);
        report.push(ZoneError::error(
            file_pos.clone(),
            "changed while being read; not reloaded, reload again once it is written",
        ));
        return Err(failure(report, files, &file_pos));
    }
    let (built, checks) = builder.build(&file_pos, parsed.bad_soa);
    conclude(
        current,
        &changed,
        Built {
            built,
            checks,
            rules_read,
            cnames_read,
            parse_report,
        },
        files,
        &file_pos,
        max_records,
    )
}

/// The changed names as built, and what else their checks need.
struct Built {
    built: Option<Zone>,
    checks: CrossChecks,
    /// The chains starting at names not changed, and CNAME owners, as read.
    rules_read: Vec<(ChainRule, Pos)>,
    cnames_read: Vec<(Vec<u8>, Pos)>,
    parse_report: Report,
}

/// The next version: the serving one with the `changed` names as built, checked as a load
/// checks a zone.
fn conclude(
    current: &Zone,
    changed: &HashSet<Vec<u8>>,
    b: Built,
    files: Vec<PathBuf>,
    file_pos: &Pos,
    max_records: usize,
) -> Result<Outcome, LoadFailure> {
    let Built {
        built,
        mut checks,
        mut rules_read,
        mut cnames_read,
        parse_report,
    } = b;
    let Some(built) = built.filter(|_| !checks.report.has_errors()) else {
        return Ok(Outcome::Whole);
    };
    // The changed names' chains are the builder's already.
    rules_read.retain(|(rule, _)| !changed.contains(&rule.owner));
    cnames_read.retain(|(owner, _)| !changed.contains(owner));
    checks.follow_also(rules_read, cnames_read);

    let mut owners: Vec<&Vec<u8>> = changed.iter().collect();
    owners.sort();
    let mut change = ChangeSet::default();
    for owner in owners {
        name_difference(owner, current, &built, &mut change);
    }
    drop(built);
    let Ok(mut next) = current.apply(&change) else {
        return Ok(Outcome::Whole);
    };
    let mut report = checks.run(&next);
    report.absorb(parse_report);
    if next.stats.records > max_records {
        report.push(ZoneError::error(
            file_pos.clone(),
            format!(
                "zone too large: {} records, more than {max_records} (max_records); raise it or split the zone",
                next.stats.records
            ),
        ));
    }
    if report.has_errors() {
        return Ok(Outcome::Whole);
    }
    let (warnings, unlisted_warnings) = report.into_sorted(&files, file_pos);
    next.files.clone_from(&files);
    Ok(Outcome::Changed(Box::new(FileChange {
        change,
        next,
        warnings,
        unlisted_warnings,
        files,
        changed_names: changed.len(),
    })))
}

/// A record read from a stretch of a file.
struct ReadRr {
    owner: Vec<u8>,
    rtype: u16,
    rdata: Vec<u8>,
    ttl: u32,
    line: u32,
}

impl ReadRr {
    fn of(r: &Record<'_>) -> Self {
        Self {
            owner: r.owner.to_vec(),
            rtype: r.rtype,
            rdata: r.rdata.to_vec(),
            ttl: r.ttl,
            line: r.pos.line,
        }
    }
}

/// Moves the records of the names whose records differ between `old` and `new` (one
/// stretch's, in both versions) to `old_read` and `new_read`, and drops the rest.
fn keep_differing(
    old: &mut Vec<ReadRr>,
    new: &mut Vec<ReadRr>,
    old_read: &mut Vec<ReadRr>,
    new_read: &mut Vec<ReadRr>,
) {
    fn key(r: &ReadRr) -> (&[u8], u16, &[u8], u32) {
        (&r.owner, r.rtype, &r.rdata, r.ttl)
    }
    old.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    new.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    let mut differing: HashSet<Vec<u8>> = HashSet::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if key(a) == key(b) => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if key(a) < key(b) => {
                differing.insert(a.owner.clone());
                i += 1;
            }
            (Some(a), None) => {
                differing.insert(a.owner.clone());
                i += 1;
            }
            (_, Some(b)) => {
                differing.insert(b.owner.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    old_read.extend(old.drain(..).filter(|r| differing.contains(&r.owner)));
    new_read.extend(new.drain(..).filter(|r| differing.contains(&r.owner)));
}

/// The reload read block by block ([`fingerprint`]): only the stretches of the file that
/// differ from the version loaded are parsed, in both versions, and the names they hold are
/// built from the serving version's records less the old stretches' and plus the new ones'.
/// An error, saying why, when the file cannot be compared so (rewritten in place, changed in much of it, or
/// with something only a whole read reports right: an error, an `$INCLUDE`, a warning about
/// a record that was not read again); the two reads of [`from_file`] then do it.
fn from_blocks(
    current: &Zone,
    fp: &Fingerprint,
    path: &Path,
    strict: bool,
    max_records: usize,
) -> Result<Result<Outcome, LoadFailure>, &'static str> {
    if fp.path != path {
        return Err("another file");
    }
    let (file, version) = zonefile::open_regular(path).map_err(|_| "cannot open")?;
    let len = version.size();
    let new_blocks = fingerprint::scan(&file, len).map_err(|_| "cannot scan")?;
    let stretches = fp
        .stretches(&new_blocks, len)
        .ok_or("changed in much of it")?;

    let mut origins = fp.cut.origins.clone();
    // Records of the names that differ, stretch by stretch: a name whose records a stretch
    // holds the same in both versions keeps them, whatever other stretches do to it.
    let (mut old_read, mut new_read) = (Vec::new(), Vec::new());
    let (mut old_here, mut new_here) = (Vec::new(), Vec::new());
    let mut cuts = Vec::with_capacity(stretches.len());
    for s in &stretches {
        if !s.old.is_empty() {
            let old = zonefile::parse_stretch(
                &fp.file,
                path,
                s.old.clone(),
                1,
                &s.start,
                origins,
                &mut |r| old_here.push(ReadRr::of(r)),
            );
            // The old text must be what was loaded: a file rewritten in place is not.
            let same = old.cut.blocks.len() == s.old_blocks.len()
                && old
                    .cut
                    .blocks
                    .iter()
                    .zip(s.old_blocks.clone())
                    .all(|(b, i)| Some(b.hash()) == fp.old_hash(i));
            if old.errors > 0 || old.included || !same || old.cut.end != s.end {
                return Err("its old text is gone (rewritten in place?)");
            }
            origins = old.cut.origins;
        }
        if s.new.is_empty() {
            keep_differing(&mut old_here, &mut new_here, &mut old_read, &mut new_read);
            cuts.push(fingerprint::Cut {
                blocks: Vec::new(),
                origins: Vec::new(),
                end: s.start.clone(),
            });
            continue;
        }
        let mut new = zonefile::parse_stretch(
            &file,
            path,
            s.new.clone(),
            s.first_line,
            &s.start,
            origins,
            &mut |r| new_here.push(ReadRr::of(r)),
        );
        // What follows the stretch reads as before only if the stretch ends as it did.
        if new.errors > 0 || new.included || new.cut.end != s.end {
            return Err("a changed part has an error, an $INCLUDE or a new $ORIGIN or $TTL");
        }
        origins = std::mem::take(&mut new.cut.origins);
        cuts.push(new.cut);
        keep_differing(&mut old_here, &mut new_here, &mut old_read, &mut new_read);
    }
    let after = file.metadata().ok().map(|m| zonefile::FileVersion::of(&m));
    if after != Some(version) {
        return Err("changed while read");
    }

    let mut changed: HashSet<Vec<u8>> = HashSet::new();
    changed.insert(current.apex.clone());
    changed.extend(old_read.iter().chain(&new_read).map(|r| r.owner.clone()));
    let most = (current.stats.names / MOST_CHANGED).max(1000);
    if changed.len() > most {
        return Ok(Ok(Outcome::Whole));
    }

    // Each changed name: the serving records the old stretches did not hold, and the new
    // stretches' records.
    let source: std::sync::Arc<Path> = path.into();
    let whole = Pos {
        file: source.clone(),
        line: 0,
    };
    let mut builder = ZoneBuilder::new(&current.apex, strict);
    builder.ceilings.records = builder.ceilings.records.min(max_records);
    let mut by_owner: HashMap<&[u8], (Vec<&ReadRr>, Vec<&ReadRr>)> = HashMap::new();
    for r in &old_read {
        if changed.contains(&r.owner) {
            by_owner.entry(&r.owner).or_default().0.push(r);
        }
    }
    for r in &new_read {
        if changed.contains(&r.owner) {
            by_owner.entry(&r.owner).or_default().1.push(r);
        }
    }
    let mut owners: Vec<&Vec<u8>> = changed.iter().collect();
    owners.sort();
    for owner in &owners {
        let (olds, news) = by_owner.get(owner.as_slice()).cloned().unwrap_or_default();
        let mut kept: Vec<(u16, u32, Vec<u8>)> = current
            .served_sets(owner)
            .into_iter()
            .flat_map(|(t, ttl, rdatas)| rdatas.into_iter().map(move |r| (t, ttl, r)))
            .collect();
        for o in olds {
            let at = kept
                .iter()
                .position(|k| k.0 == o.rtype && k.2 == o.rdata)
                .ok_or("a record read is not served")?;
            kept.remove(at);
        }
        // An RRset held partly in a stretch and partly elsewhere, with another TTL: which TTL a
        // load keeps depends on which it reads first.
        if news
            .iter()
            .any(|n| kept.iter().any(|k| k.0 == n.rtype && k.1 != n.ttl))
        {
            return Err("an RRset's records, read again and not, differ in their TTL");
        }
        for (rtype, ttl, rdata) in &kept {
            builder.add(&Record {
                owner,
                ttl: *ttl,
                rtype: *rtype,
                rdata,
                pos: &whole,
            });
        }
        for n in news {
            let pos = Pos {
                file: source.clone(),
                line: n.line,
            };
            builder.add(&Record {
                owner,
                ttl: n.ttl,
                rtype: n.rtype,
                rdata: &n.rdata,
                pos: &pos,
            });
        }
    }
    let (built, checks) = builder.build(&whole, false);
    // Records merged (duplicates) or RRsets whose TTLs differ: this version is built right, as
    // a load builds it, but the next reload cannot take one line's record out alone.
    let regular = checks.irregular == 0;
    // Chains and CNAMEs of the names not read again, without a line to name: a problem
    // found on one is left to the two reads, which name it.
    let rules_read = current
        .rules
        .iter()
        .map(|r| (r.clone(), whole.clone()))
        .collect();
    let cnames_read = fp
        .cnames
        .iter()
        .map(|o| (o.clone(), whole.clone()))
        .collect();
    let found = conclude(
        current,
        &changed,
        Built {
            built,
            checks,
            rules_read,
            cnames_read,
            parse_report: Report::new(strict),
        },
        vec![path.to_path_buf()],
        &whole,
        max_records,
    );
    let mut found = match found {
        Ok(Outcome::Changed(found)) => found,
        other => return Ok(other),
    };
    if found.unlisted_warnings > 0 || found.warnings.iter().any(|w| w.pos.line == 0) {
        return Err("a warning about a part not read again");
    }
    let mut cnames: Vec<Vec<u8>> = fp
        .cnames
        .iter()
        .filter(|o| !changed.contains(*o))
        .cloned()
        .collect();
    cnames.extend(owners.iter().filter_map(|o| {
        let served = found.next.served_sets(o);
        served
            .iter()
            .any(|s| s.0 == rtype::CNAME)
            .then(|| (*o).clone())
    }));
    cnames.sort_unstable();
    let next = fp
        .next((file, len), &new_blocks, &stretches, cuts, origins, cnames)
        .ok_or("blocks do not match")?;
    found.next.source = regular.then(|| std::sync::Arc::new(next));
    Ok(Ok(Outcome::Changed(found)))
}

fn failure(report: Report, files: Vec<PathBuf>, file_pos: &Pos) -> LoadFailure {
    let (errors, warnings) = (report.errors, report.warnings);
    let (problems, _) = report.into_sorted(&files, file_pos);
    LoadFailure {
        problems,
        errors,
        warnings,
        files,
    }
}

/// The records `owner` loses and gains between `old` and `new`, compared as served; a TTL
/// change removes and adds the RRset whole, as a transfer carries it.
fn name_difference(owner: &[u8], old: &Zone, new: &Zone, change: &mut ChangeSet) {
    let flat = |zone: &Zone| -> Vec<(u16, u32, Vec<u8>)> {
        let mut v: Vec<(u16, u32, Vec<u8>)> = zone
            .served_sets(owner)
            .into_iter()
            .flat_map(|(t, ttl, rdatas)| rdatas.into_iter().map(move |r| (t, ttl, r)))
            .collect();
        v.sort();
        v
    };
    let (before, after) = (flat(old), flat(new));
    let rr = |(rtype, ttl, rdata): &(u16, u32, Vec<u8>)| Rr {
        owner: owner.to_vec(),
        rtype: *rtype,
        ttl: *ttl,
        rdata: rdata.clone(),
    };
    for r in &before {
        if after.binary_search(r).is_err() {
            change.removed.push(rr(r));
        }
    }
    for r in &after {
        if before.binary_search(r).is_err() {
            change.added.push(rr(r));
        }
    }
}

/// Which records of the serving version the file holds.
struct Ticks {
    /// Per chunk (by address, the version outlives this), where its nodes start in `small`.
    bases: HashMap<*const Chunk, usize>,
    /// Per trie node, bit `p` set when the file holds record `p` of the node's name (records
    /// counted in the order the version lists them), for names of at most 8 records.
    small: Vec<u8>,
    /// The same for larger names and for side names, by owner.
    wide: HashMap<Vec<u8>, Vec<bool>>,
}

impl Ticks {
    fn new(zone: &Zone) -> Self {
        let mut bases = HashMap::new();
        let mut total = 0;
        let mut todo = vec![&*zone.root];
        while let Some(c) = todo.pop() {
            bases.insert(std::ptr::from_ref(c), total);
            total += c.nodes.len();
            todo.extend(c.links.iter().map(|l| &**l));
        }
        Self {
            bases,
            small: vec![0; total],
            wide: HashMap::new(),
        }
    }

    /// Ticks off the record if the version holds it with that TTL; false if it does not.
    fn tick(&mut self, zone: &Zone, r: &Record<'_>, expanded: &mut Vec<u8>) -> bool {
        let Some(node) = zone.find_exact(r.owner) else {
            return false;
        };
        let total: usize = zone
            .rrsets_at(node)
            .map(|s| zone.rrset_info(s).count())
            .sum();
        let mut aus_buf = [0; 128];
        let aus = template::owner_aus(r.owner, &mut aus_buf);
        let mut at = 0;
        for set in zone.rrsets_at(node) {
            let info = zone.rrset_info(set);
            if info.rtype != r.rtype {
                at += info.count();
                continue;
            }
            if info.ttl != r.ttl {
                return false;
            }
            for (k, (stored, templated)) in zone.rdata_entries(set).enumerate() {
                let served = match aus.filter(|_| templated) {
                    Some(aus) => {
                        expanded.clear();
                        template::expand(stored, aus, expanded);
                        &expanded[..]
                    }
                    None => stored,
                };
                if served == r.rdata {
                    self.set(node, r.owner, at + k, total);
                    return true;
                }
            }
            return false;
        }
        false
    }

    fn set(&mut self, node: NodeRef<'_>, owner: &[u8], p: usize, total: usize) {
        match node {
            NodeRef::Trie(chunk, i) if total <= 8 => {
                self.small[self.bases[&std::ptr::from_ref(chunk)] + i as usize] |= 1 << p;
            }
            _ => {
                self.wide
                    .entry(owner.to_vec())
                    .or_insert(vec![false; total])[p] = true
            }
        }
    }

    /// Whether the file holds every record of the name (`owner` made only when needed).
    fn all_set(&self, node: NodeRef<'_>, owner: &dyn Fn() -> Vec<u8>, total: usize) -> bool {
        match node {
            NodeRef::Trie(chunk, i) if total <= 8 => {
                let got = self.small[self.bases[&std::ptr::from_ref(chunk)] + i as usize];
                u32::from(got) == (1u32 << total) - 1
            }
            _ => self
                .wide
                .get(&owner())
                .is_some_and(|v| v.iter().all(|&b| b)),
        }
    }

    /// Adds to `changed` every name of the version holding a record the file did not.
    fn untouched(&self, zone: &Zone, changed: &mut HashSet<Vec<u8>>) {
        let mut check = |node: NodeRef<'_>, owner: &dyn Fn() -> Vec<u8>| {
            let total: usize = zone
                .rrsets_at(node)
                .map(|s| zone.rrset_info(s).count())
                .sum();
            if total > 0 && !self.all_set(node, owner, total) {
                changed.insert(owner());
            }
        };
        walk(zone, &zone.root, 0, 0, &mut check);
        for (owner, &d) in &zone.side.names {
            if d != NONE {
                check(NodeRef::Side(d), &|| owner.to_vec());
            }
        }
    }
}

/// What [`walk`] calls for each name: its node, and a way to spell its owner.
type NameVisitor<'a> = dyn FnMut(NodeRef<'_>, &dyn Fn() -> Vec<u8>) + 'a;

/// Calls `f` with every trie node holding data under node `i` of `chunk`, whose key is `key`.
fn walk(zone: &Zone, chunk: &Chunk, i: u32, key: super::TrieKey, f: &mut NameVisitor<'_>) {
    let depth = super::key_depth(key);
    let n = chunk.nodes[i as usize];
    if n.bits & LINK_BIT != 0 {
        return walk(zone, &chunk.links[n.data as usize], 0, key, f);
    }
    if n.data != NONE {
        f(NodeRef::Trie(chunk, i), &|| {
            super::key_to_name(key, &zone.apex)
        });
    }
    let mut k = 0;
    for nib in 0..11u8 {
        if n.bits & CHILD_MASK & (1 << nib) != 0 {
            let child = key | (super::TrieKey::from(nib + 1) << (124 - 4 * depth));
            walk(zone, chunk, n.children + k, child, f);
            k += 1;
        }
    }
}
