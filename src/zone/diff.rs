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

use super::{
    CHILD_MASK, ChainRule, Chunk, LINK_BIT, LoadFailure, NONE, NodeRef, Report, Zone, ZoneBuilder,
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
    let (built, mut checks) = builder.build(&file_pos, parsed.bad_soa);
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
    let (warnings, unlisted_warnings) = report.into_sorted(&files, &file_pos);
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
