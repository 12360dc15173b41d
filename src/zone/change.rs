//! Change sets, and the one function that turns a version of a zone into the next.
//!
//! A [`ChangeSet`] is RFC 1995's difference sequence: the records removed, the records added,
//! the old SOA among the first and the new one among the second. UPDATE, reloads by difference
//! and transfers all produce one; [`Zone::apply`] is the only way a version changes.
//!
//! Why chunks, and not BIND's node-by-node copy-on-write or Knot's bi-nodes: both give every
//! name a node of its own with pointers (Knot's is 112 bytes a name), where enumd's trie keeps
//! 12-byte nodes without pointers and shares RRsets and RDATA across millions of numbers. A
//! change here rebuilds each chunk it touches (at most [`super::CHUNK_NODES`] nodes, with a
//! store of its own) and copies the fans above it; every other chunk, and the load's shared
//! store, is the previous version's, reached through the same `Arc`s.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use super::{
    CHILD_MASK, CNAME_BIT, CUT_BIT, ChainRule, Chunk, LINK_BIT, NONE, Node, PackedKey, RRset, Side,
    Store, TrieKey, Zone, chunk_up, index, key_depth, nibble_at, pack, pool_push, pooled,
    side_ancestors, soa_figures, subtree_range, trie_key,
};
use crate::name;
use crate::rdata::{self, rtype};
use crate::template;

/// One resource record of a change, owned: owner lower-cased, RDATA in wire form as served.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            name::to_text(&self.owner),
            self.ttl,
            rtype::to_text(self.rtype),
            rdata::to_text(self.rtype, &self.rdata)
        )
    }
}

/// What turns one version into the next. Removals apply first, then additions; an added
/// record's TTL becomes its RRset's (as a transfer that changes a TTL removes and re-adds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub removed: Vec<Rr>,
    pub added: Vec<Rr>,
}

/// Why a change set does not apply to a version: nothing of it is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApplyError {}

/// One RRset as the change path handles it: records as stored (number templates unexpanded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SetData {
    rtype: u16,
    ttl: u32,
    rdatas: Vec<(Vec<u8>, bool)>,
}

/// A name's RRsets, sorted by type; empty for a name without data.
type NameData = Vec<SetData>;

/// A name's data on the way into a rebuilt chunk: new, or a data list of an existing store,
/// copied over without being taken apart (most names of a rebuilt chunk are unchanged).
#[derive(Clone)]
enum Data<'a> {
    New(NameData),
    Stored(&'a Store, u32),
}

/// What a change does to one trie name: new data, or none but a rebuild of its chunk (an
/// ancestor of side names appeared or went).
enum Touch {
    Set(NameData),
    Keep,
}

impl Zone {
    /// The next version: this one with `change` applied, sharing every chunk it does not
    /// touch. Strict, as a transfer must be: removing a record that is not there, or adding
    /// one that is, fails, as does a result without exactly one SOA at the apex, an SOA
    /// below it, or a CNAME beside other data. On failure this version is unchanged.
    pub fn apply(&self, change: &ChangeSet) -> Result<Self, ApplyError> {
        let mut by_owner: BTreeMap<&[u8], (Vec<&Rr>, Vec<&Rr>)> = BTreeMap::new();
        for (rr, added) in change
            .removed
            .iter()
            .map(|r| (r, false))
            .chain(change.added.iter().map(|r| (r, true)))
        {
            if !name::is_at_or_below(&rr.owner, &self.apex) {
                return Err(ApplyError(format!("{rr}: outside the zone")));
            }
            let entry = by_owner.entry(&rr.owner).or_default();
            if added { &mut entry.1 } else { &mut entry.0 }.push(rr);
        }
        // Owners whose non-terminal NAPTRs may change: those that have some, or are given one.
        let owners: Vec<Vec<u8>> = by_owner
            .iter()
            .filter(|(owner, (_, added))| {
                self.has_rules(owner)
                    || added
                        .iter()
                        .any(|r| r.rtype == rtype::NAPTR && r.rdata.get(4) == Some(&0))
            })
            .map(|(owner, _)| owner.to_vec())
            .collect();
        let apex_labels = name::label_count(&self.apex);
        let mut trie: Vec<(TrieKey, Touch)> = Vec::new();
        let mut side: Vec<(Vec<u8>, NameData)> = Vec::new();
        for (owner, (removed, added)) in by_owner {
            let data = self.changed_name(owner, &removed, &added)?;
            check_name(owner, owner == &self.apex[..], &data)?;
            match trie_key(&relative_labels(owner, apex_labels)) {
                Some(key) => trie.push((key, Touch::Set(data))),
                None => side.push((owner.to_vec(), data)),
            }
        }
        let new_side = if side.is_empty() {
            self.side.clone()
        } else {
            let rebuilt = Arc::new(self.side.with(side, apex_labels));
            // Ancestors of side names that joined or left the trie: their chunks are rebuilt.
            for &key in symmetric_difference(&self.side.anchors, &rebuilt.anchors) {
                trie.push((key, Touch::Keep));
            }
            rebuilt
        };
        trie.sort_by_key(|t| t.0);
        // A name both changed and an anchor's: its change stands.
        trie.dedup_by(|later, earlier| later.0 == earlier.0 && matches!(later.1, Touch::Keep));
        let root = if trie.is_empty() {
            self.root.clone()
        } else {
            apply_chunk(&self.root, 0, 0, &trie, &new_side.anchors, self.chunk_nodes)
                .map_or_else(|| unreachable!("the apex holds its SOA"), Arc::new)
        };
        let mut next = Self {
            apex: self.apex.clone(),
            root,
            side: new_side,
            serial: 0,
            negative_ttl: 0,
            stats: self.stats.clone(),
            files: self.files.clone(),
            warnings: Vec::new(),
            unlisted_warnings: 0,
            chunk_nodes: self.chunk_nodes,
            rules: self.rules.clone(),
            source: None,
        };
        next.rules = next.rules_after(&owners);
        let apex = next.apex_node();
        let soa = next.rrset(apex, rtype::SOA);
        match soa.map(|s| next.rrset_info(s).count()) {
            Some(1) => {}
            _ => {
                return Err(ApplyError(format!(
                    "the apex {} would not hold exactly one SOA",
                    name::to_text(&self.apex)
                )));
            }
        }
        let soa = soa.unwrap_or_else(|| unreachable!("checked just above"));
        (next.serial, next.negative_ttl) = soa_figures(&next, soa);
        let t = next.root.totals;
        let (names, records) = (next.side.names_with_data, next.side.records);
        next.stats.names = t.names + names;
        next.stats.records = t.records + records;
        next.stats.numbers = t.numbers;
        next.stats.trie_nodes = t.nodes;
        next.stats.side_names = next.side.names.len();
        Ok(next)
    }

    /// The RRsets a name holds in this version, records as stored.
    pub(super) fn name_data(&self, owner: &[u8]) -> NameData {
        self.find_exact(owner)
            .map(|node| {
                let (store, d) = self.data_of(node);
                sets_of(store, d)
            })
            .unwrap_or_default()
    }

    /// The data `owner` holds after removing `removed` and adding `added`.
    fn has_rules(&self, owner: &[u8]) -> bool {
        let at = self.rules.partition_point(|r| r.owner.as_slice() < owner);
        self.rules.get(at).is_some_and(|r| r.owner == owner)
    }

    /// The version's non-terminal NAPTRs once those of `owners` are read again from it (its
    /// own list still the previous version's): the same list, shared, if none changed.
    fn rules_after(&self, owners: &[Vec<u8>]) -> Arc<Vec<ChainRule>> {
        let mut changed = false;
        let mut fresh = Vec::new();
        for owner in owners {
            let now = self.rules_at(owner);
            let at = self.rules.partition_point(|r| r.owner < *owner);
            let end = at + self.rules[at..].partition_point(|r| r.owner == *owner);
            changed |= self.rules[at..end] != now[..];
            fresh.extend(now);
        }
        if !changed {
            return self.rules.clone();
        }
        let mut rules: Vec<ChainRule> = self
            .rules
            .iter()
            .filter(|r| owners.binary_search(&r.owner).is_err())
            .cloned()
            .chain(fresh)
            .collect();
        rules.sort_unstable();
        Arc::new(rules)
    }

    fn changed_name(
        &self,
        owner: &[u8],
        removed: &[&Rr],
        added: &[&Rr],
    ) -> Result<NameData, ApplyError> {
        let mut data = self.name_data(owner);
        let mut aus_buf = [0; 128];
        let aus = template::owner_aus(owner, &mut aus_buf);
        // Records compared as served, names inside them without case (RFC 4034 §6.2's form).
        let form = |t: u16, stored: &(Vec<u8>, bool)| -> Vec<u8> {
            let served = match aus.filter(|_| stored.1) {
                Some(aus) => {
                    let mut out = Vec::new();
                    template::expand(&stored.0, aus, &mut out);
                    out
                }
                None => stored.0.clone(),
            };
            rdata::canonical(t, &served).unwrap_or(served)
        };
        for rr in removed {
            let wanted = rdata::canonical(rr.rtype, &rr.rdata).unwrap_or_else(|| rr.rdata.clone());
            let found = data.iter_mut().find(|s| s.rtype == rr.rtype).and_then(|s| {
                let at = s.rdatas.iter().position(|r| form(rr.rtype, r) == wanted)?;
                s.rdatas.remove(at);
                Some(())
            });
            if found.is_none() {
                return Err(ApplyError(format!("{rr}: removed, but not in the zone")));
            }
        }
        for rr in added {
            let wanted = rdata::canonical(rr.rtype, &rr.rdata).unwrap_or_else(|| rr.rdata.clone());
            let stored = match aus.filter(|_| rr.rtype == rtype::NAPTR) {
                Some(aus) => template::make(aus, &rr.rdata)
                    .map_or_else(|| (rr.rdata.clone(), false), |t| (t, true)),
                None => (rr.rdata.clone(), false),
            };
            let at = match data.binary_search_by_key(&rr.rtype, |s| s.rtype) {
                Ok(at) => at,
                Err(at) => {
                    data.insert(
                        at,
                        SetData {
                            rtype: rr.rtype,
                            ttl: rr.ttl,
                            rdatas: Vec::new(),
                        },
                    );
                    at
                }
            };
            let set = &mut data[at];
            if set.rdatas.iter().any(|r| form(rr.rtype, r) == wanted) {
                return Err(ApplyError(format!("{rr}: added, but already in the zone")));
            }
            set.ttl = rr.ttl;
            set.rdatas.push(stored);
        }
        data.retain(|s| !s.rdatas.is_empty());
        Ok(data)
    }
}

/// The change set that turns `old` into `new`: every record of one and not the other, an
/// RRset whose TTL changed removed and added whole (BIND's `ixfr-from-differences`). Records
/// are compared as served, byte for byte: a name in RDATA written in another case is a change,
/// so that applying the difference to `old` serves what `new` serves.
pub fn difference(old: &Zone, new: &Zone) -> ChangeSet {
    type Key = (Vec<u8>, u16, Vec<u8>, u32);
    let keyed = |zone: &Zone| -> Vec<(Key, Rr)> {
        let mut v: Vec<(Key, Rr)> = zone
            .records()
            .into_iter()
            .map(|r| ((r.owner.clone(), r.rtype, r.rdata.clone(), r.ttl), r))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (a, b) = (keyed(old), keyed(new));
    let mut change = ChangeSet::default();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                change.removed.push(x.1.clone());
                i += 1;
            }
            (Some(x), None) => {
                change.removed.push(x.1.clone());
                i += 1;
            }
            (_, Some(y)) => {
                change.added.push(y.1.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    change
}

/// The rules a name's data must keep, whatever the change: RFC 1034 §3.6.2 (a CNAME stands
/// alone, never at the apex) and the SOA's place.
fn check_name(owner: &[u8], is_apex: bool, data: &NameData) -> Result<(), ApplyError> {
    let has = |t: u16| data.iter().any(|s| s.rtype == t);
    let what = if has(rtype::SOA) && !is_apex {
        "an SOA below the apex"
    } else if has(rtype::CNAME) && is_apex {
        "a CNAME at the apex (RFC 1034 §3.6.2)"
    } else if has(rtype::CNAME) && data.len() > 1 {
        "a CNAME beside other data (RFC 1034 §3.6.2)"
    } else if data
        .iter()
        .any(|s| s.rtype == rtype::CNAME && s.rdatas.len() > 1)
    {
        "more than one CNAME (RFC 1034 §3.6.2)"
    } else {
        return Ok(());
    };
    Err(ApplyError(format!(
        "{}: would hold {what}",
        name::to_text(owner)
    )))
}

/// The labels of `owner` below the apex, from the apex down.
fn relative_labels(owner: &[u8], apex_labels: usize) -> Vec<&[u8]> {
    let all: Vec<&[u8]> = name::labels(owner).collect();
    all[..all.len() - apex_labels]
        .iter()
        .rev()
        .copied()
        .collect()
}

/// Keys in exactly one of two sorted, deduplicated lists.
fn symmetric_difference<'a>(a: &'a [TrieKey], b: &'a [TrieKey]) -> Vec<&'a TrieKey> {
    let only =
        |x: &'a [TrieKey], y: &'a [TrieKey]| x.iter().filter(move |k| y.binary_search(k).is_err());
    only(a, b).chain(only(b, a)).collect()
}

/// The RRsets of data list `d` of `store`.
fn sets_of(store: &Store, d: u32) -> NameData {
    store
        .list(d)
        .iter()
        .map(|&id| {
            let set = store.rrsets[id as usize];
            SetData {
                rtype: set.rtype,
                ttl: set.ttl,
                rdatas: store.members[set.first as usize..set.first as usize + set.count as usize]
                    .iter()
                    .map(|&off| {
                        let (r, t) = pooled(&store.pool, off);
                        (r.to_vec(), t)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The new subtree of `chunk` (whose root is `key`'s first `depth` labels) with `touches` (sorted,
/// all in the subtree) applied; None if no name is left in it. `anchors` are the new side
/// table's.
fn apply_chunk(
    chunk: &Arc<Chunk>,
    key: TrieKey,
    depth: usize,
    touches: &[(TrieKey, Touch)],
    anchors: &[TrieKey],
    max: usize,
) -> Option<Chunk> {
    if chunk.links.is_empty() {
        let mut names = Vec::new();
        extract(chunk, 0, key, depth, &mut names);
        return rebuild(merge(names, touches), key, depth, anchors, max);
    }
    // A fan: its root's data, then each child chunk on its own.
    let root = chunk.nodes[0];
    let (own, below) = match touches.first() {
        Some((k, _)) if key_depth(*k) == depth => touches.split_at(1),
        _ => touches.split_at(0),
    };
    let mut links: Vec<(u8, Arc<Chunk>)> = (0..11u8)
        .filter(|nib| root.bits & (1 << nib) != 0)
        .enumerate()
        .map(|(k, nib)| {
            let link = chunk.nodes[root.children as usize + k];
            debug_assert!(link.bits & LINK_BIT != 0);
            (nib + 1, chunk.links[link.data as usize].clone())
        })
        .collect();
    let mut start = 0;
    while start < below.len() {
        let nib = nibble_at(below[start].0, depth);
        let end = start + below[start..].partition_point(|t| nibble_at(t.0, depth) == nib);
        let child_key = key | (TrieKey::from(nib) << (124 - 4 * depth));
        let group = &below[start..end];
        let at = links.iter().position(|(n, _)| *n == nib);
        let rebuilt = match at {
            Some(at) => apply_chunk(&links[at].1, child_key, depth + 1, group, anchors, max),
            None => rebuild(merge(Vec::new(), group), child_key, depth + 1, anchors, max),
        };
        match (at, rebuilt) {
            (Some(at), Some(c)) => links[at].1 = Arc::new(c),
            (Some(at), None) => {
                links.remove(at);
            }
            (None, Some(c)) => {
                let at = links.partition_point(|(n, _)| *n < nib);
                links.insert(at, (nib, Arc::new(c)));
            }
            (None, None) => {}
        }
        start = end;
    }
    let root_data = match own.first() {
        Some((_, Touch::Set(data))) => Some(data.clone()),
        _ => None,
    };
    let below_nodes: usize = links.iter().map(|(_, c)| c.totals.nodes).sum();
    if below_nodes < max / 2 {
        // Shrunk: one whole chunk again, so that deletions do not leave chains of fans.
        let mut names = Vec::new();
        match &root_data {
            Some(data) if !data.is_empty() => names.push((key, Data::New(data.clone()))),
            Some(_) => {}
            None if root.data != NONE => names.push((key, Data::Stored(&chunk.store, root.data))),
            None => {}
        }
        for (nib, c) in &links {
            let child_key = key | (TrieKey::from(*nib) << (124 - 4 * depth));
            extract(c, 0, child_key, depth + 1, &mut names);
        }
        return rebuild(names, key, depth, anchors, max);
    }
    // Still a fan: the root's data in a store of its own if it changed, else as it was.
    let (store, data, flags) = match root_data {
        // Its data all removed: an empty non-terminal, as a fresh load would have it.
        Some(data) if data.is_empty() => (chunk.store.clone(), NONE, 0),
        Some(data) => {
            let mut w = StoreWriter::default();
            let (list, flags) = w.name(&data, key == 0);
            (Arc::new(w.finish()), list, flags)
        }
        None => (
            chunk.store.clone(),
            root.data,
            root.bits & (CUT_BIT | CNAME_BIT),
        ),
    };
    let mut nodes = vec![Node {
        data,
        children: 1,
        bits: flags,
    }];
    let mut arcs = Vec::with_capacity(links.len());
    for (k, (nib, c)) in links.into_iter().enumerate() {
        nodes[0].bits |= 1 << (nib - 1);
        nodes.push(Node {
            data: index(k),
            children: 0,
            bits: LINK_BIT,
        });
        arcs.push(c);
    }
    let own: Vec<(PackedKey, u32, u16)> = if data == NONE {
        Vec::new()
    } else {
        vec![(pack(key), data, flags)]
    };
    Some(Chunk::new(nodes, arcs, store, &own))
}

/// Every name with data in the subtree of `chunk`'s node `i` (whose key is `key`, at `depth`),
/// in key order, linked chunks included.
fn extract<'a>(
    chunk: &'a Chunk,
    i: u32,
    key: TrieKey,
    depth: usize,
    out: &mut Vec<(TrieKey, Data<'a>)>,
) {
    let n = chunk.nodes[i as usize];
    if n.bits & LINK_BIT != 0 {
        return extract(&chunk.links[n.data as usize], 0, key, depth, out);
    }
    if n.data != NONE {
        out.push((key, Data::Stored(&chunk.store, n.data)));
    }
    let mut k = 0;
    for nib in 0..11u8 {
        if n.bits & CHILD_MASK & (1 << nib) != 0 {
            let child_key = key | (TrieKey::from(nib + 1) << (124 - 4 * depth));
            extract(chunk, n.children + k, child_key, depth + 1, out);
            k += 1;
        }
    }
}

/// `names` (sorted) with `touches` (sorted) applied: a touch's data replaces the name's.
fn merge<'a>(
    names: Vec<(TrieKey, Data<'a>)>,
    touches: &[(TrieKey, Touch)],
) -> Vec<(TrieKey, Data<'a>)> {
    let mut out = Vec::with_capacity(names.len() + touches.len());
    let mut names = names.into_iter().peekable();
    for (key, touch) in touches {
        while let Some(n) = names.next_if(|n| n.0 < *key) {
            out.push(n);
        }
        let old = names.next_if(|n| n.0 == *key);
        match touch {
            Touch::Set(data) if data.is_empty() => {}
            Touch::Set(data) => out.push((*key, Data::New(data.clone()))),
            Touch::Keep => out.extend(old),
        }
    }
    out.extend(names);
    out
}

/// The chunk for the subtree at `key`'s first `depth` labels holding `names` (sorted, data
/// each) and the side table's anchors in it; None if it would be empty.
fn rebuild(
    names: Vec<(TrieKey, Data<'_>)>,
    key: TrieKey,
    depth: usize,
    anchors: &[TrieKey],
    max: usize,
) -> Option<Chunk> {
    let (low, high) = subtree_range(key, depth);
    let from = anchors.partition_point(|&a| a < low);
    let to = anchors.partition_point(|&a| a <= high);
    let anchors = &anchors[from..to];
    if names.is_empty() && anchors.is_empty() && depth > 0 {
        return None;
    }
    let mut w = StoreWriter::for_names(names.len());
    let mut keyed: Vec<(PackedKey, u32, u16)> = Vec::with_capacity(names.len() + anchors.len());
    for (k, data) in &names {
        let (list, flags) = match data {
            Data::New(data) => w.name(data, *k == 0),
            Data::Stored(store, list) => w.copy_list(store, *list, *k == 0),
        };
        keyed.push((pack(*k), list, flags));
    }
    keyed.extend(anchors.iter().map(|&a| (pack(a), NONE, 0)));
    keyed.sort_unstable_by_key(|&(k, data, _)| (k, data == NONE));
    keyed.dedup_by_key(|e| e.0);
    let store = Arc::new(w.finish());
    Some(chunk_up(&keyed, &store, depth, max))
}

/// A hash map with a fast hash: keys here are enumd's own data, not an attacker's choice
/// alone, and every table lives for one rebuild.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Writes the data of a few names into a new store, sharing equal RDATA, RRsets and lists,
/// whether a name is new or copied from an existing store.
#[derive(Default)]
struct StoreWriter {
    store: Store,
    /// RDATA by a hash of its bytes (and the template flag): the entry is compared before it
    /// is shared, so a collision only costs the sharing, never the data.
    pool: FastMap<(u64, bool), u32>,
    rrsets: FastMap<(u16, u32, Vec<u32>), u32>,
    lists: FastMap<Vec<u32>, u32>,
    /// Lists of existing stores already copied, by store and list: (new list, flags). The
    /// load's store shares lists across numbers, so most copies are one lookup.
    copied: FastMap<(*const Store, u32), (u32, u16)>,
    /// RRsets and RDATA of existing stores already copied, by store and id or offset.
    copied_rrsets: FastMap<(*const Store, u32), u32>,
    copied_rdata: FastMap<(*const Store, u32), u32>,
}

impl StoreWriter {
    /// A writer sized for about `names` names of a record or two each (at most a chunk's
    /// worth), so that a rebuild does not grow its vectors and tables step by step.
    fn for_names(names: usize) -> Self {
        let names = names.min(super::CHUNK_NODES);
        let mut w = Self::default();
        w.store.lists.reserve(names * 3);
        w.store.rrsets.reserve(names * 2);
        w.store.members.reserve(names * 2);
        w.store.pool.reserve(names * 96);
        w.pool.reserve(names * 2);
        w.rrsets.reserve(names * 2);
        w.lists.reserve(names);
        w.copied.reserve(names);
        w.copied_rrsets.reserve(names * 2);
        w.copied_rdata.reserve(names * 2);
        w
    }

    /// The data list of one name (RRsets sorted by type), and its node flags.
    fn name(&mut self, data: &NameData, is_apex: bool) -> (u32, u16) {
        let mut ids = Vec::with_capacity(data.len());
        let mut flags = 0;
        for set in data {
            let members: Vec<u32> = set.rdatas.iter().map(|r| self.intern(&r.0, r.1)).collect();
            ids.push(self.rrset(set.rtype, set.ttl, members));
            flags |= node_flag(set.rtype, is_apex);
        }
        (self.list(ids), flags)
    }

    /// Data list `list` of `from`, copied into this store. Its RDATA and RRsets are taken by
    /// offset and id, each once (the old store already shares equal ones), rather than by
    /// taking every name's data apart into owned records: that cost a dozen allocations a
    /// name, most of the rebuild of a chunk that one UPDATE touches at one number. They are
    /// still interned by content, so new data shares with copied data as it did.
    fn copy_list(&mut self, from: &Store, list: u32, is_apex: bool) -> (u32, u16) {
        let source = std::ptr::from_ref(from);
        if let Some(&done) = self.copied.get(&(source, list)) {
            return done;
        }
        let old_ids = from.list(list);
        let mut ids = Vec::with_capacity(old_ids.len());
        let mut flags = 0;
        for &old in old_ids {
            let set = from.rrsets[old as usize];
            let id = match self.copied_rrsets.get(&(source, old)) {
                Some(&id) => id,
                None => {
                    let members: Vec<u32> = from.members[set.first as usize..]
                        [..usize::from(set.count)]
                        .iter()
                        .map(|&off| self.copy_rdata(from, off))
                        .collect();
                    let id = self.rrset(set.rtype, set.ttl, members);
                    self.copied_rrsets.insert((source, old), id);
                    id
                }
            };
            ids.push(id);
            flags |= node_flag(set.rtype, is_apex);
        }
        let done = (self.list(ids), flags);
        self.copied.insert((source, list), done);
        done
    }

    /// The pool entry at `off` of `from`, in this store.
    fn copy_rdata(&mut self, from: &Store, off: u32) -> u32 {
        let source = std::ptr::from_ref(from);
        if let Some(&new) = self.copied_rdata.get(&(source, off)) {
            return new;
        }
        let (rdata, templated) = pooled(&from.pool, off);
        let new = self.intern(rdata, templated);
        self.copied_rdata.insert((source, off), new);
        new
    }

    /// The offset of this RDATA in the pool, added if it is not there yet.
    fn intern(&mut self, rdata: &[u8], templated: bool) -> u32 {
        use std::hash::BuildHasher;
        let key = (self.pool.hasher().hash_one(rdata), templated);
        if let Some(&off) = self.pool.get(&key) {
            if pooled(&self.store.pool, off) == (rdata, templated) {
                return off;
            }
            let off = index(self.store.pool.len());
            pool_push(&mut self.store.pool, rdata, templated);
            return off;
        }
        let off = index(self.store.pool.len());
        pool_push(&mut self.store.pool, rdata, templated);
        self.pool.insert(key, off);
        off
    }

    /// The id of the RRset with these members, added if it is not there yet.
    fn rrset(&mut self, rtype: u16, ttl: u32, members: Vec<u32>) -> u32 {
        let key = (rtype, ttl, members);
        if let Some(&id) = self.rrsets.get(&key) {
            return id;
        }
        let id = index(self.store.rrsets.len());
        let first = index(self.store.members.len());
        self.store.members.extend_from_slice(&key.2);
        // At most 65,535 records fit a message; an UPDATE cannot add more.
        let count = u16::try_from(key.2.len()).unwrap_or(u16::MAX);
        self.store.rrsets.push(RRset {
            rtype,
            count,
            ttl,
            first,
        });
        self.rrsets.insert(key, id);
        id
    }

    /// The offset of the data list of these RRsets, added if it is not there yet.
    fn list(&mut self, ids: Vec<u32>) -> u32 {
        if let Some(&at) = self.lists.get(&ids) {
            return at;
        }
        let at = index(self.store.lists.len());
        self.store.lists.push(index(ids.len()));
        self.store.lists.extend_from_slice(&ids);
        self.lists.insert(ids, at);
        at
    }

    fn finish(mut self) -> Store {
        self.store.lists.shrink_to_fit();
        self.store.rrsets.shrink_to_fit();
        self.store.members.shrink_to_fit();
        self.store.pool.shrink_to_fit();
        self.store
    }
}

/// The node flag an RRset of this type gives its name: a cut for NS below the apex, CNAME.
fn node_flag(t: u16, is_apex: bool) -> u16 {
    match t {
        rtype::NS if !is_apex => CUT_BIT,
        rtype::CNAME => CNAME_BIT,
        _ => 0,
    }
}

impl Side {
    /// The side table with `changed` names' data replaced (an empty one removes the name's
    /// data), rebuilt whole: side names are the few names of an ENUM zone that are not numbers.
    fn with(&self, changed: Vec<(Vec<u8>, NameData)>, apex_labels: usize) -> Self {
        let mut names: BTreeMap<Box<[u8]>, NameData> = self
            .names
            .iter()
            .filter(|&(_, &d)| d != NONE)
            .map(|(n, &d)| (n.clone(), sets_of(&self.store, d)))
            .collect();
        for (owner, data) in changed {
            if data.is_empty() {
                names.remove(&owner[..]);
            } else {
                names.insert(owner.into(), data);
            }
        }
        Self::build(names, apex_labels)
    }

    /// A side table of `names`, each with data.
    pub(super) fn build(names: BTreeMap<Box<[u8]>, NameData>, apex_labels: usize) -> Self {
        let mut w = StoreWriter::default();
        let mut table: HashMap<Box<[u8]>, u32> = HashMap::with_capacity(names.len());
        let mut records = 0;
        for (owner, data) in &names {
            records += data.iter().map(|s| s.rdatas.len()).sum::<usize>();
            let (list, _) = w.name(data, false);
            table.insert(owner.clone(), list);
        }
        let (ents, anchors) = side_ancestors(names.keys(), apex_labels);
        for ent in ents {
            table.entry(ent).or_insert(NONE);
        }
        Self {
            names: table,
            store: Arc::new(w.finish()),
            anchors,
            names_with_data: names.len(),
            records,
        }
    }
}

impl RRset {
    /// Records in the RRset.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Pos, Record};
    use crate::zone::ZoneBuilder;
    use std::path::Path;

    fn owner(text: &str) -> Vec<u8> {
        name::parse(text.as_bytes(), name::ROOT).unwrap()
    }

    /// A zone of `names` (TXT each) in chunks of 2 nodes: every name is a chunk or a fan.
    fn zone(names: &[&str]) -> Zone {
        zone_in_chunks(names, 2)
    }

    fn zone_in_chunks(names: &[&str], nodes: usize) -> Zone {
        let mut b = ZoneBuilder::new(&owner("e164.arpa."), false).with_chunk_nodes(nodes);
        let pos = Pos {
            file: Arc::from(Path::new("t.zone")),
            line: 1,
        };
        let mut soa = owner("ns.example.");
        soa.extend_from_slice(&owner("hm.example."));
        for v in [1u32, 3600, 900, 1_209_600, 300] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let apex = owner("e164.arpa.");
        b.add(&Record {
            owner: &apex,
            ttl: 60,
            rtype: rtype::SOA,
            rdata: &soa,
            pos: &pos,
        });
        for n in names {
            let o = owner(n);
            b.add(&Record {
                owner: &o,
                ttl: 60,
                rtype: rtype::TXT,
                rdata: b"\x01x",
                pos: &pos,
            });
        }
        b.finish(&pos, false).0.unwrap()
    }

    fn txt(n: &str) -> Rr {
        Rr {
            owner: owner(n),
            rtype: rtype::TXT,
            ttl: 60,
            rdata: b"\x01x".to_vec(),
        }
    }

    #[test]
    fn rebuilt_chunks_share_equal_rdata_however_many_changes_they_took() {
        // 100 names with the same TXT, added one change at a time to one chunk: each rebuild
        // copies the chunk's names and adds one, and the RDATA must stay one entry, not grow by
        // one a change (copied data and new data interned together).
        let names: Vec<String> = (0..100)
            .map(|k| format!("{}.{}.2.e164.arpa.", k % 10, k / 10))
            .collect();
        let mut z = zone_in_chunks(&[], crate::zone::CHUNK_NODES);
        let mut after_one = 0;
        for (k, n) in names.iter().enumerate() {
            z = z
                .apply(&ChangeSet {
                    removed: vec![],
                    added: vec![txt(n)],
                })
                .unwrap();
            if k == 0 {
                after_one = z.memory().1;
            }
        }
        for n in &names {
            assert!(z.find_exact(&owner(n)).is_some(), "{n}");
        }
        let (_, rdata, _) = z.memory();
        // Each duplicate of the 1-octet TXT would cost its 2-octet length word and the byte.
        assert!(
            rdata < after_one + 3 * 10,
            "RDATA bytes {rdata} after 100 changes, {after_one} after one"
        );
    }

    #[test]
    fn a_fan_root_emptied_of_data_goes_with_its_last_child() {
        let names = [
            "1.e164.arpa.",
            "2.1.e164.arpa.",
            "3.1.e164.arpa.",
            "4.1.e164.arpa.",
        ];
        let z = zone(&names);
        // The data of 1 goes first, then every name below it: 1 must be gone too.
        let z = z
            .apply(&ChangeSet {
                removed: vec![txt(names[0])],
                added: vec![],
            })
            .unwrap();
        assert!(
            z.find_exact(&owner("1.e164.arpa.")).is_some(),
            "an empty non-terminal now"
        );
        let rest: Vec<Rr> = names[1..].iter().map(|n| txt(n)).collect();
        let z = z
            .apply(&ChangeSet {
                removed: rest,
                added: vec![],
            })
            .unwrap();
        assert!(z.find_exact(&owner("1.e164.arpa.")).is_none());
        assert_eq!(z.stats.names, 1, "the apex alone");
    }

    #[test]
    fn the_rules_of_a_version_follow_its_changes_below_a_cut_too() {
        let zone = zone(&["1.1.e164.arpa."]);
        let rule = |from: &str, to: &str| {
            let mut rdata = vec![0, 10, 0, 100, 0, 0, 0];
            rdata.extend_from_slice(&owner(to));
            Rr {
                owner: owner(from),
                rtype: rtype::NAPTR,
                ttl: 60,
                rdata,
            }
        };
        let ns = Rr {
            owner: owner("8.8.e164.arpa."),
            rtype: rtype::NS,
            ttl: 60,
            rdata: owner("ns.example."),
        };
        let mut change = ChangeSet::default();
        change.added.push(ns);
        change
            .added
            .push(rule("1.8.8.e164.arpa.", "5.5.e164.arpa."));
        change
            .added
            .push(rule("5.5.e164.arpa.", "1.8.8.e164.arpa."));
        let next = zone.apply(&change).unwrap();
        let owners: Vec<String> = next.rules.iter().map(|r| name::to_text(&r.owner)).collect();
        assert_eq!(owners, ["1.8.8.e164.arpa.", "5.5.e164.arpa."]);
    }
}
