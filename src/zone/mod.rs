//! An immutable, compact zone: the ENUM part (single-digit and `*` labels below the apex) in an
//! arena digit trie, every other name in a small side table, RDATA stored once.
//!
//! A zone of N numbers has about 4.6 N names, 3.6 N of them empty non-terminals, so the trie
//! node is 12 bytes and carries no pointers; a node's children lie next to each other in the
//! arena and are found by a bitmap and a popcount. RRsets and RDATA live in flat arrays.
//!
//! The trie is cut into [`Chunk`]s of at most [`CHUNK_NODES`] nodes, each an arena of its own
//! linked from its parent chunk, so that a new version of the zone ([`change`]) rebuilds only
//! the chunks a change touches and shares every other one with the version before.

pub mod catalog;
pub mod change;
pub mod diff;
pub mod fingerprint;
pub mod journal;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::lookup;
use crate::name;
use crate::naptr::{Naptr, RegexCache};
use crate::rdata::{self, rtype};
use crate::record::{Pos, Record, ZoneError};
use crate::template;
use crate::validate::{self, Finding, Severity};
use crate::zonefile;

/// "No data here" in [`Node::data`] and the side table.
pub const NONE: u32 = u32::MAX;

/// Bit of [`Node::bits`] for the `*` child; bits 0–9 are the digits.
const WILDCARD_BIT: u16 = 1 << 10;
/// The node owns an NS RRset and is not the apex: a zone cut (RFC 1034 §4.2.1).
const CUT_BIT: u16 = 1 << 15;
/// The node owns a CNAME.
const CNAME_BIT: u16 = 1 << 14;
/// The node stands for the root of another chunk: `data` indexes [`Chunk::links`], and the
/// name's own data and flags are that chunk's node 0.
const LINK_BIT: u16 = 1 << 13;
const CHILD_MASK: u16 = 0x07ff;

/// Names deeper than this many digit labels below the apex go to the side table.
const MAX_TRIE_DEPTH: usize = 32;

/// One name of the digit trie.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    /// Index into [`Zone::lists`] of this name's RRsets, or [`NONE`] for an empty non-terminal.
    data: u32,
    /// Index of the first child in the arena; the others follow in label order.
    children: u32,
    /// Which children exist (bits 0–10) and flags (cut, CNAME).
    bits: u16,
}

/// A place in the zone's name space: a trie node (never a link) or a side-table name.
#[derive(Clone, Copy, Debug)]
pub enum NodeRef<'a> {
    Trie(&'a Chunk, u32),
    /// Data list of a side-table name (its key is the name itself).
    Side(u32),
}

/// An RRset of some version of a zone: which store holds it, and its index there.
#[derive(Clone, Copy, Debug)]
pub struct RRsetRef<'a> {
    store: &'a Store,
    id: u32,
}

/// Data lists, RRsets and interned RDATA, shared by every chunk built from them: a load builds
/// one for the whole zone, a change one for each chunk it rebuilds.
#[derive(Debug, Default)]
pub struct Store {
    /// Per name: `[count, rrset ids…]`.
    lists: Vec<u32>,
    rrsets: Vec<RRset>,
    /// Per RRset member: offset of its RDATA in `pool`.
    members: Vec<u32>,
    /// Interned RDATA: `[u16 length][bytes]` each.
    pool: Vec<u8>,
}

impl Store {
    fn list(&self, d: u32) -> &[u32] {
        if d == NONE {
            return &[];
        }
        let count = self.lists[d as usize] as usize;
        &self.lists[d as usize + 1..d as usize + 1 + count]
    }

    fn bytes(&self) -> (usize, usize) {
        (
            self.pool.len(),
            self.rrsets.len() * size_of::<RRset>() + (self.members.len() + self.lists.len()) * 4,
        )
    }
}

/// At most this many nodes in one chunk: what a change to one name rebuilds. Measured on this
/// trie (`cargo bench --bench micro -- apply`, one number's NAPTR and the SOA replaced in a
/// 100,000-number zone): 76 µs a change at 1,024, 22 µs at 256; but at 256 the chunks' own
/// overhead raised the served RSS of a 1M-number zone by 19%, at 1,024 by 1.7%.
pub const CHUNK_NODES: usize = 1024;

/// A subtree of the digit trie in an arena of its own. Either whole (no links: every name of
/// the subtree) or a fan (a root and a link per child), so that a change rebuilds a whole chunk
/// or copies a fan of at most twelve nodes.
#[derive(Debug)]
pub struct Chunk {
    /// Node 0 is the chunk's root.
    nodes: Box<[Node]>,
    links: Box<[Arc<Self>]>,
    store: Arc<Store>,
    /// Names, numbers and records of this chunk and those below it.
    totals: Totals,
}

/// What a chunk holds, its linked chunks included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    names: usize,
    numbers: usize,
    records: usize,
    nodes: usize,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Self) {
        self.names += o.names;
        self.numbers += o.numbers;
        self.records += o.records;
        self.nodes += o.nodes;
    }
}

/// Names that are not all digits, with their data in a store of their own once a change has
/// touched one of them (the load shares its store with the trie).
#[derive(Debug, Default)]
pub struct Side {
    names: HashMap<Box<[u8]>, u32>,
    store: Arc<Store>,
    /// Per side name, the trie key of its deepest all-digit ancestor, sorted and deduplicated:
    /// those names exist in the trie for the side name's sake (RFC 4592 §2.2.2), data or not.
    anchors: Vec<TrieKey>,
    /// Side names holding data, and their records: for the zone's figures.
    names_with_data: usize,
    records: usize,
}

/// One RRset: all records of one type at one name, with a single TTL (RFC 2181 §5.2).
#[derive(Clone, Copy, Debug)]
pub struct RRset {
    pub rtype: u16,
    count: u16,
    pub ttl: u32,
    /// Index into [`Zone::members`] of the first RDATA offset.
    first: u32,
}

/// A loaded zone. Immutable once built.
pub struct Zone {
    /// Lower-cased apex in wire form.
    pub apex: Vec<u8>,
    /// The chunk whose root is the apex.
    root: Arc<Chunk>,
    side: Arc<Side>,
    pub serial: u32,
    /// RFC 2308 §5: negative answers carry the SOA with TTL min(SOA TTL, MINIMUM).
    pub negative_ttl: u32,
    pub stats: ZoneStats,
    /// Every file read to build this zone, for change watching.
    pub files: Vec<PathBuf>,
    /// Warnings found while loading (listed up to a cap), and how many more there were.
    pub warnings: Vec<ZoneError>,
    pub unlisted_warnings: usize,
    /// Most nodes of a chunk this zone's changes build.
    chunk_nodes: usize,
    /// Its non-terminal NAPTRs, sorted: a change anywhere can make a loop of a chain that
    /// starts elsewhere (a removed delegation uncovers one, an added rule lengthens one), so
    /// every change follows them all again. Zones hold few of them; this list is shared
    /// between versions until a change touches one of its owners.
    pub(crate) rules: Arc<Vec<ChainRule>>,
    /// The zone file exactly as this version was read from it, when it can be compared with
    /// a new version of the file block by block ([`fingerprint`]); none once a change that did
    /// not come from the file (an update, a replayed journal) makes the two differ.
    pub source: Option<Arc<fingerprint::Fingerprint>>,
}

/// A non-terminal NAPTR of a zone (empty flags, a replacement in the zone): where its chain
/// starts and goes first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ChainRule {
    /// Lower-cased.
    pub owner: Vec<u8>,
    /// The replacement, lower-cased.
    pub target: Vec<u8>,
    /// As served.
    pub rdata: Vec<u8>,
}

impl ChainRule {
    /// The rule a NAPTR of `owner` makes in the zone of `apex`, if it is non-terminal.
    pub fn of(owner: &[u8], rdata: &[u8], apex: &[u8]) -> Option<Self> {
        // Flags are the first character-string after ORDER and PREFERENCE: most NAPTRs have
        // some, and need no parse.
        if rdata.get(4) != Some(&0) {
            return None;
        }
        let n = Naptr::from_wire(rdata)?;
        if !n.flags.is_empty() || n.replacement_is_root() {
            return None;
        }
        let target = name::to_lowercase(&n.replacement);
        name::is_at_or_below(&target, apex).then(|| Self {
            owner: name::to_lowercase(owner),
            target,
            rdata: rdata.to_vec(),
        })
    }
}

/// Why a zone did not load: what `enumd check` prints and a failed reload logs, with the same
/// counts in both.
#[derive(Debug)]
pub struct LoadFailure {
    /// Errors and warnings in reading order (capped, with a closing line for the unlisted).
    pub problems: Vec<ZoneError>,
    /// Every error, listed or not.
    pub errors: usize,
    /// Every warning, listed or not.
    pub warnings: usize,
    /// Every file the load read (or tried to), for change watching.
    pub files: Vec<PathBuf>,
}

/// Figures for logs and `enumd check`.
#[derive(Clone, Debug, Default)]
pub struct ZoneStats {
    /// Names holding data (empty non-terminals not counted).
    pub names: usize,
    pub records: usize,
    /// Names in the trie whose full digit string holds a NAPTR (not a wildcard).
    pub numbers: usize,
    pub trie_nodes: usize,
    pub side_names: usize,
    pub node_bytes: usize,
    pub rdata_bytes: usize,
    pub rrset_bytes: usize,
}

impl ZoneStats {
    /// Bytes of all the zone's arrays, the side table estimated.
    pub fn total_bytes(&self) -> usize {
        self.node_bytes + self.rdata_bytes + self.rrset_bytes
    }
}

impl Zone {
    /// Reads, validates and builds a zone from its master file. All problems are returned, each
    /// with its file and line; a zone with any error is not built. With `strict`, warnings count
    /// as errors.
    /// `max_records` caps the records read (repeats counted), which bounds the memory a load
    /// may take whatever its files, `$INCLUDE`s of `$INCLUDE`s included.
    pub fn load(
        apex: &[u8],
        path: &Path,
        strict: bool,
        max_records: usize,
    ) -> Result<Self, LoadFailure> {
        let mut builder = ZoneBuilder::new(apex, strict);
        builder.ceilings.records = builder.ceilings.records.min(max_records);
        let (parsed, parse_report) = parse_into(path, apex, strict, &mut builder);
        let files = parsed.files;
        let file_pos = Pos {
            file: path.into(),
            line: 0,
        };
        // A file that could not be read, or an SOA record that did not parse, is the reason
        // for a missing SOA: one failure, one message.
        let soa_explained = parsed.unreadable || parsed.bad_soa;
        let (zone, checks) = builder.build(&file_pos, soa_explained);
        let (irregular, cnames) = (checks.irregular, checks.cname_owners());
        let (zone, mut report) = match zone {
            Some(zone) => {
                let report = checks.run(&zone);
                ((!report.has_errors()).then_some(zone), report)
            }
            None => (None, checks.report),
        };
        report.absorb(parse_report);
        let (warnings, errors) = (report.warnings, report.errors);
        let (listed, unlisted_warnings) = report.into_sorted(&files, &file_pos);
        match zone {
            Some(mut zone) if errors == 0 => {
                if irregular == 0
                    && let Some((file, len, cut)) = parsed.cut
                {
                    zone.source = Some(Arc::new(fingerprint::Fingerprint {
                        path: path.to_path_buf(),
                        file,
                        len,
                        cut,
                        cnames,
                    }));
                }
                zone.files = files;
                zone.warnings = listed;
                zone.unlisted_warnings = unlisted_warnings;
                Ok(zone)
            }
            _ => Err(LoadFailure {
                problems: listed,
                errors,
                warnings,
                files,
            }),
        }
    }

    /// The apex node.
    pub fn apex_node(&self) -> NodeRef<'_> {
        NodeRef::Trie(&self.root, 0)
    }

    /// The child of `node` whose label is `label`; `full_name` is the child's whole lower-cased
    /// wire name, used for side-table names.
    pub fn child<'a>(
        &'a self,
        node: NodeRef<'a>,
        label: &[u8],
        full_name: &[u8],
    ) -> Option<NodeRef<'a>> {
        if let (NodeRef::Trie(chunk, i), &[c]) = (node, label)
            && let Some(bit) = digit_bit(c)
        {
            let n = &chunk.nodes[i as usize];
            if n.bits & bit == 0 {
                // Side names below a digit node are not in the trie.
                return self.side_lookup(full_name);
            }
            let before = (n.bits & CHILD_MASK & (bit - 1)).count_ones();
            return Some(chunk.node(n.children + before));
        }
        self.side_lookup(full_name)
    }

    fn side_lookup(&self, full_name: &[u8]) -> Option<NodeRef<'_>> {
        if self.side.names.is_empty() {
            return None;
        }
        self.side.names.get(full_name).map(|&d| NodeRef::Side(d))
    }

    /// The `*` child of `node` (RFC 4592 §2.1.1: the source of synthesis); `node_name` is the
    /// node's lower-cased wire name.
    pub fn wildcard_child<'a>(
        &'a self,
        node: NodeRef<'a>,
        node_name: &[u8],
    ) -> Option<NodeRef<'a>> {
        if let NodeRef::Trie(chunk, i) = node {
            let n = &chunk.nodes[i as usize];
            if n.bits & WILDCARD_BIT != 0 {
                let before = (n.bits & CHILD_MASK & (WILDCARD_BIT - 1)).count_ones();
                return Some(chunk.node(n.children + before));
            }
        }
        if self.side.names.is_empty() {
            return None;
        }
        let mut star = Vec::with_capacity(node_name.len() + 2);
        star.extend_from_slice(b"\x01*");
        star.extend_from_slice(node_name);
        self.side_lookup(&star)
    }

    /// The store and data list of a name.
    fn data_of<'a>(&'a self, node: NodeRef<'a>) -> (&'a Store, u32) {
        match node {
            NodeRef::Trie(chunk, i) => (&chunk.store, chunk.nodes[i as usize].data),
            NodeRef::Side(d) => (&self.side.store, d),
        }
    }

    /// True if the name is a zone cut: it owns NS and is not the apex.
    pub fn is_cut(&self, node: NodeRef<'_>) -> bool {
        match node {
            NodeRef::Trie(chunk, i) => chunk.nodes[i as usize].bits & CUT_BIT != 0,
            NodeRef::Side(_) => self.rrset(node, rtype::NS).is_some(),
        }
    }

    /// True if the name owns a CNAME.
    pub fn has_cname(&self, node: NodeRef<'_>) -> bool {
        match node {
            NodeRef::Trie(chunk, i) => chunk.nodes[i as usize].bits & CNAME_BIT != 0,
            NodeRef::Side(_) => self.rrset(node, rtype::CNAME).is_some(),
        }
    }

    /// Every RRset at the name (none for an empty non-terminal).
    pub fn rrsets_at<'a>(
        &'a self,
        node: NodeRef<'a>,
    ) -> impl ExactSizeIterator<Item = RRsetRef<'a>> + 'a {
        let (store, d) = self.data_of(node);
        store.list(d).iter().map(move |&id| RRsetRef { store, id })
    }

    /// The RRset of `rtype` at the name.
    pub fn rrset<'a>(&'a self, node: NodeRef<'a>, rtype: u16) -> Option<RRsetRef<'a>> {
        self.rrsets_at(node)
            .find(|r| r.store.rrsets[r.id as usize].rtype == rtype)
    }

    pub fn rrset_info<'a>(&self, r: RRsetRef<'a>) -> &'a RRset {
        &r.store.rrsets[r.id as usize]
    }

    /// The RDATA of each record of an RRset as stored: number templates (see [`template`])
    /// unexpanded. Fine wherever only structure, flags or names matter.
    pub fn rdatas<'a>(&self, r: RRsetRef<'a>) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.rdata_entries(r).map(|(rdata, _)| rdata)
    }

    /// Each record's stored RDATA and whether it is a number template, to be expanded with the
    /// owner's number (the encoder does).
    pub fn rdata_entries<'a>(
        &self,
        r: RRsetRef<'a>,
    ) -> impl Iterator<Item = (&'a [u8], bool)> + 'a {
        let store = r.store;
        let set = store.rrsets[r.id as usize];
        store.members[set.first as usize..set.first as usize + set.count as usize]
            .iter()
            .map(move |&off| pooled(&store.pool, off))
    }

    /// Each record's RDATA as served at `owner` (its wire name), number templates expanded
    /// with the owner's number exactly as the encoder writes them: for checks and transfers.
    pub fn served_rdatas(&self, r: RRsetRef<'_>, owner: &[u8]) -> Vec<Vec<u8>> {
        let mut aus = [0; 128];
        let number = template::owner_aus(owner, &mut aus);
        self.rdata_entries(r)
            .map(|(rdata, templated)| match number.filter(|_| templated) {
                Some(aus) => {
                    let mut out = Vec::with_capacity(rdata.len() + 16);
                    template::expand(rdata, aus, &mut out);
                    out
                }
                None => rdata.to_vec(),
            })
            .collect()
    }

    /// The apex SOA RRset (every built version has one).
    pub fn soa(&self) -> RRsetRef<'_> {
        let apex = self.apex_node();
        self.rrset(apex, rtype::SOA)
            .unwrap_or_else(|| unreachable!("a zone is built only with its apex SOA"))
    }

    /// Finds a name exactly, ignoring cuts and wildcards (for glue and CNAME targets).
    pub fn find_exact(&self, lower_name: &[u8]) -> Option<NodeRef<'_>> {
        // On the stack: a reload by difference looks up every record of the file.
        let mut offsets = [0u8; 128];
        let mut count = 0;
        let mut pos = 0;
        while let Some(&len) = lower_name.get(pos) {
            if len == 0 || count == offsets.len() || pos > 255 {
                break;
            }
            offsets[count] = u8::try_from(pos).ok()?;
            count += 1;
            pos += 1 + len as usize;
        }
        let apex_labels = name::label_count(&self.apex);
        if count < apex_labels || !name::is_at_or_below(lower_name, &self.apex) {
            return None;
        }
        let mut node = self.apex_node();
        for depth in (0..count - apex_labels).rev() {
            let at = usize::from(offsets[depth]);
            let len = lower_name[at] as usize;
            node = self.child(node, &lower_name[at + 1..at + 1 + len], &lower_name[at..])?;
        }
        Some(node)
    }

    /// Every RRset at exactly `owner` (lower-cased wire form): type, TTL and each record as
    /// served. Empty for a name without data or outside the trie and side table.
    pub fn served_sets(&self, owner: &[u8]) -> Vec<(u16, u32, Vec<Vec<u8>>)> {
        let Some(node) = self.find_exact(owner) else {
            return Vec::new();
        };
        self.rrsets_at(node)
            .map(|r| {
                let set = self.rrset_info(r);
                (set.rtype, set.ttl, self.served_rdatas(r, owner))
            })
            .collect()
    }

    /// The non-terminal NAPTRs of `owner` (lower-cased), sorted.
    pub(crate) fn rules_at(&self, owner: &[u8]) -> Vec<ChainRule> {
        let mut rules: Vec<ChainRule> = self
            .served_sets(owner)
            .into_iter()
            .filter(|(t, _, _)| *t == rtype::NAPTR)
            .flat_map(|(_, _, rdatas)| rdatas)
            .filter_map(|rdata| ChainRule::of(owner, &rdata, &self.apex))
            .collect();
        rules.sort_unstable();
        rules
    }

    /// Every record of this version as served, owners in wire form: the apex first (its SOA
    /// first of all), then the trie in key order, then the side table sorted. For zone files,
    /// dumps and transfers.
    pub fn records(&self) -> Vec<change::Rr> {
        let mut out = Vec::new();
        self.for_each_record(|owner, rtype, ttl, rdata| {
            out.push(change::Rr {
                owner: owner.to_vec(),
                rtype,
                ttl,
                rdata: rdata.to_vec(),
            });
        });
        out
    }

    /// Calls `f` with each record (owner, type, TTL, RDATA as served) in [`Self::records`]'
    /// order, one name's records at a time: what a zone file or a transfer streams. Nothing is
    /// collected first, so a walk of ten million numbers costs a few buffers, not a copy.
    pub fn for_each_record(&self, mut f: impl FnMut(&[u8], u16, u32, &[u8])) {
        let mut expanded = Vec::new();
        let mut expander = template::Expander::default();
        self.for_each_stored_record(|owner, rtype, ttl, rdata, number| match number {
            Some(aus) => {
                expanded.clear();
                expander.expand(rdata, aus, &mut expanded);
                f(owner, rtype, ttl, &expanded);
            }
            None => f(owner, rtype, ttl, rdata),
        });
    }

    /// [`Self::for_each_record`] with RDATA as stored: a number template comes with the number
    /// to expand it with ([`template::expand`]), for a caller that writes it straight into a
    /// message rather than copy it twice.
    pub fn for_each_stored_record(&self, mut f: impl FnMut(&[u8], u16, u32, &[u8], Option<&[u8]>)) {
        let mut first = true;
        self.for_each_name(|owner, node, number| {
            let mut emit = |r: RRsetRef<'_>| {
                let set = self.rrset_info(r);
                for (rdata, templated) in self.rdata_entries(r) {
                    f(
                        owner,
                        set.rtype,
                        set.ttl,
                        rdata,
                        number.filter(|_| templated),
                    );
                }
            };
            if std::mem::take(&mut first) {
                // The apex: a master file starts with the SOA (RFC 1035 §5.2 asks for it at
                // the top). No other name holds one.
                let is_soa = |r: &RRsetRef<'_>| self.rrset_info(*r).rtype == rtype::SOA;
                self.rrsets_at(node).filter(is_soa).for_each(&mut emit);
                self.rrsets_at(node)
                    .filter(|r| !is_soa(r))
                    .for_each(&mut emit);
                return;
            }
            self.rrsets_at(node).for_each(emit);
        });
    }

    /// Calls `f` with each name that holds data (wire form), its place, and its number (its
    /// AUS, `+44123` for `3.2.1.4.4.e164.arpa.`; none for a name that is not all digits up to
    /// the first label that is not one): the apex first, then the trie depth first in key
    /// order, then the side table sorted.
    pub fn for_each_name(&self, mut f: impl FnMut(&[u8], NodeRef<'_>, Option<&[u8]>)) {
        /// What the walk calls: a name, its place and its number.
        type NameVisitor<'f> = dyn FnMut(&[u8], NodeRef<'_>, Option<&[u8]>) + 'f;
        /// The path so far, built as the walk goes down so that no name is parsed again:
        /// `name[at..]` is node `i`'s wire name, its digit labels written right to left in
        /// front of the apex (a step down costs two stores, not a rebuild), and `aus[..len]`
        /// its number, `+` then digits appended left to right (`len` 0 in a zone whose names
        /// have no number, 1 for a name that has none of its own).
        struct Path {
            name: [u8; 2 * MAX_TRIE_DEPTH + 255],
            aus: [u8; 128],
        }
        fn walk(
            chunk: &Chunk,
            i: u32,
            path: &mut Path,
            at: usize,
            aus_len: usize,
            f: &mut NameVisitor<'_>,
        ) {
            let n = chunk.nodes[i as usize];
            if n.bits & LINK_BIT != 0 {
                return walk(&chunk.links[n.data as usize], 0, path, at, aus_len, f);
            }
            if n.data != NONE {
                // A number has at least one digit after its `+`.
                let number = (aus_len > 1).then(|| &path.aus[..aus_len]);
                f(&path.name[at..], NodeRef::Trie(chunk, i), number);
            }
            let mut children = n.bits & CHILD_MASK;
            let mut k = 0;
            while children != 0 {
                // Below 11: the mask keeps eleven bits.
                #[allow(clippy::cast_possible_truncation)]
                let nib = children.trailing_zeros() as u8;
                children &= children - 1;
                let digit = if nib == 10 { b'*' } else { b'0' + nib };
                path.name[at - 2] = 1;
                path.name[at - 1] = digit;
                // As `template::owner_aus` reads a name: its digits up to the first label that
                // is not one, so a `*` starts a number afresh for the names below it.
                let below = if nib == 10 {
                    1
                } else if aus_len == 0 || aus_len == path.aus.len() {
                    0
                } else {
                    path.aus[aus_len] = digit;
                    aus_len + 1
                };
                walk(chunk, n.children + k, path, at - 2, below, f);
                k += 1;
            }
        }
        let mut path = Path {
            name: [0; 2 * MAX_TRIE_DEPTH + 255],
            aus: [b'+'; 128],
        };
        let at = path.name.len() - self.apex.len();
        path.name[at..].copy_from_slice(&self.apex);
        // The apex's own digits start every number below it (`+44` under 4.4.e164.arpa.), if
        // its names have numbers at all: those of a digit child say.
        let mut child = vec![1, b'0'];
        child.extend_from_slice(&self.apex);
        let mut buf = [0; 128];
        let aus_len = match template::owner_aus(&child, &mut buf) {
            Some(aus) => {
                path.aus[..aus.len() - 1].copy_from_slice(&aus[..aus.len() - 1]);
                aus.len() - 1
            }
            None => 0,
        };
        walk(&self.root, 0, &mut path, at, aus_len, &mut f);
        let mut side: Vec<(&[u8], u32)> = self
            .side
            .names
            .iter()
            .filter(|&(_, &d)| d != NONE)
            .map(|(n, &d)| (&n[..], d))
            .collect();
        side.sort_unstable();
        for (name, d) in side {
            let number = template::owner_aus(name, &mut buf);
            f(name, NodeRef::Side(d), number);
        }
    }

    /// Bytes of nodes and of every store this version uses, each store counted once: walks
    /// every chunk, so for logs and `enumd check`, not for the change path.
    pub fn memory(&self) -> (usize, usize, usize) {
        let mut seen = std::collections::HashSet::new();
        let (mut nodes, mut rdata, mut rrsets) = (0, 0, 0);
        let mut stores = vec![&self.side.store];
        let mut todo = vec![&self.root];
        while let Some(c) = todo.pop() {
            nodes += c.nodes.len() * size_of::<Node>() + size_of::<Chunk>();
            stores.push(&c.store);
            todo.extend(c.links.iter());
        }
        for s in stores {
            if seen.insert(Arc::as_ptr(s)) {
                let (r, l) = s.bytes();
                rdata += r;
                rrsets += l;
            }
        }
        nodes += self.side.names.keys().map(|k| k.len() + 32).sum::<usize>();
        (nodes, rdata, rrsets)
    }
}

impl Chunk {
    /// Node `i` of this chunk as a place in the zone: a link stands for its chunk's root.
    fn node(&self, i: u32) -> NodeRef<'_> {
        let n = &self.nodes[i as usize];
        if n.bits & LINK_BIT != 0 {
            return NodeRef::Trie(&self.links[n.data as usize], 0);
        }
        NodeRef::Trie(self, i)
    }
}

/// Bit for a digit or `*` label byte.
fn digit_bit(c: u8) -> Option<u16> {
    match c {
        b'0'..=b'9' => Some(1 << (c - b'0')),
        b'*' => Some(WILDCARD_BIT),
        _ => None,
    }
}

/// Key of a name in the trie: one nibble per label from the apex down, most significant first;
/// digit d is d+1, `*` is 11, 0 ends the name. Sorting keys gives a pre-order walk of the trie.
type TrieKey = u128;

/// Trie key of the labels below the apex, if they are all digits or `*` and not too many.
fn trie_key(relative: &[&[u8]]) -> Option<TrieKey> {
    if relative.len() > MAX_TRIE_DEPTH {
        return None;
    }
    let mut key: TrieKey = 0;
    for (depth, label) in relative.iter().enumerate() {
        let nibble = match label {
            [c @ b'0'..=b'9'] => c - b'0' + 1,
            [b'*'] => 11,
            _ => return None,
        };
        key |= TrieKey::from(nibble) << (124 - 4 * depth);
    }
    Some(key)
}

/// [`trie_key`] of `owner`, a name at or below an apex of `apex_len` octets, read straight from
/// its wire form: a load asks this of every record.
fn owner_trie_key(owner: &[u8], apex_len: usize) -> Option<TrieKey> {
    let end = owner.len().checked_sub(apex_len)?;
    // Most specific first, as the owner spells them; the key wants the apex's end first.
    let mut nibbles = [0u8; MAX_TRIE_DEPTH];
    let mut n = 0;
    let mut at = 0;
    while at < end {
        let len = usize::from(owner[at]);
        let nibble = match owner.get(at + 1..at + 1 + len)? {
            [c @ b'0'..=b'9'] => c - b'0' + 1,
            [b'*'] => 11,
            _ => return None,
        };
        *nibbles.get_mut(n)? = nibble;
        n += 1;
        at += 1 + len;
    }
    let mut key: TrieKey = 0;
    for (depth, &nibble) in nibbles[..n].iter().rev().enumerate() {
        key |= TrieKey::from(nibble) << (124 - 4 * depth);
    }
    Some(key)
}

fn nibble_at(key: TrieKey, depth: usize) -> u8 {
    ((key >> (124 - 4 * depth)) & 0xf) as u8
}

/// A non-terminal NAPTR and where it was read.
struct NonTerminal {
    rule: ChainRule,
    pos: Pos,
}

/// Where a record was read, compact: an index into the builder's stretches (runs of records
/// read from one file) and a line. `(file, line)` orders records as they were read, so "the
/// record read first" holds across `$INCLUDE`s.
#[derive(Clone, Copy)]
struct SrcPos {
    file: u16,
    line: u32,
}

/// A record waiting for the trie: 16 bytes, plus its packed key. At 10⁷ numbers these are the
/// builder's largest array, so nothing here is wider than it must be.
struct PendingRecord {
    ttl: u32,
    rdata: u32,
    line: u32,
    rtype: u16,
    file: u16,
}

impl PendingRecord {
    fn pos(&self) -> SrcPos {
        SrcPos {
            file: self.file,
            line: self.line,
        }
    }
}

/// A [`TrieKey`] stored as two words: 8-byte alignment keeps arrays of it dense.
type PackedKey = [u64; 2];

fn pack(key: TrieKey) -> PackedKey {
    // The high and the low half: cutting each to 64 bits is the point.
    #[allow(clippy::cast_possible_truncation)]
    [(key >> 64) as u64, key as u64]
}

fn unpack(key: PackedKey) -> TrieKey {
    (TrieKey::from(key[0]) << 64) | TrieKey::from(key[1])
}

/// Collects records, then builds the [`Zone`] and checks what only the whole zone shows.
pub struct ZoneBuilder {
    apex: Vec<u8>,
    apex_labels: usize,
    trie_records: Vec<(PackedKey, PendingRecord)>,
    side_records: Vec<(Box<[u8]>, PendingRecord)>,
    pool: Vec<u8>,
    interned: HashTable<u32>,
    /// Records stored (identical ones once), for the figures.
    records: usize,
    /// RRsets and data lists already built, to share equal ones.
    rrset_index: HashTable<u32>,
    list_index: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// The file of each stretch of records read from one file, in reading order.
    stretches: Vec<Arc<Path>>,
    /// Records read so far (kept or not), capped at `ceilings.records`.
    records_added: usize,
    ceilings: Ceilings,
    /// The RDATA pool reached its ceiling (reported once).
    pool_full: bool,
    report: Report,
    regex_cache: RegexCache,
    /// Non-terminal NAPTRs in the zone: their chains are followed once the zone is built.
    non_terminals: Vec<NonTerminal>,
    /// Owners of CNAMEs and where they were read: their chains too.
    cnames: Vec<(Vec<u8>, Pos)>,
    chunk_nodes: usize,
    /// Records that were not one line's own: duplicates merged, and records whose TTL differs
    /// from their RRset's. A zone with any cannot be reloaded block by block.
    irregular: usize,
    /// NAPTR shapes checked already, with what the checks found, and their bytes.
    shapes: HashTable<Shape>,
    shape_bytes: usize,
}

/// A NAPTR template and the length of the number it was made at, and what the ENUM checks
/// found in it: nothing (most records), or findings whose reasons have the number taken out
/// (a NUL where it stood), to be put back for the next number of the same shape.
struct Shape {
    template: Vec<u8>,
    number_len: usize,
    findings: Vec<Finding>,
}

/// Most bytes of shapes remembered, some 50,000 (a shape per routing number of a portability
/// zone, say): a zone of more checks the rest record by record.
const MAX_SHAPE_BYTES: usize = 4 << 20;

impl ZoneBuilder {
    pub fn new(apex: &[u8], strict: bool) -> Self {
        Self {
            apex: name::to_lowercase(apex),
            apex_labels: name::label_count(apex),
            trie_records: Vec::new(),
            side_records: Vec::new(),
            pool: Vec::new(),
            interned: HashTable::new(),
            records: 0,
            rrset_index: HashTable::new(),
            list_index: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            stretches: Vec::new(),
            records_added: 0,
            ceilings: Ceilings::default(),
            pool_full: false,
            report: Report::new(strict),
            regex_cache: RegexCache::default(),
            non_terminals: Vec::new(),
            cnames: Vec::new(),
            chunk_nodes: CHUNK_NODES,
            irregular: 0,
            shapes: HashTable::new(),
            shape_bytes: 0,
        }
    }

    /// A builder for a secondary's copy (see [`Report`]'s `mirror`).
    #[must_use]
    pub fn mirroring(mut self) -> Self {
        self.report.mirror = true;
        self
    }

    /// Builds a zone that did not come from files (a transfer): every check of a load, the
    /// problems placed by `origin` (its file names the source, its line the record's number).
    pub fn finish_received(self, origin: &Pos) -> Result<Zone, LoadFailure> {
        let (zone, report) = self.finish(origin, false);
        let (warnings, errors) = (report.warnings, report.errors);
        let (listed, unlisted_warnings) = report.into_sorted(&[], origin);
        match zone {
            Some(mut zone) if errors == 0 => {
                zone.warnings = listed;
                zone.unlisted_warnings = unlisted_warnings;
                Ok(zone)
            }
            _ => Err(LoadFailure {
                problems: listed,
                errors,
                warnings,
                files: Vec::new(),
            }),
        }
    }

    /// Builds chunks of at most `nodes` nodes (at least 2) instead of [`CHUNK_NODES`]: tests
    /// use tiny ones to make every change cross chunks.
    #[must_use]
    pub fn with_chunk_nodes(mut self, nodes: usize) -> Self {
        self.chunk_nodes = nodes.max(2);
        self
    }

    fn src_pos(&mut self, pos: &Pos) -> SrcPos {
        // A new stretch each time records start coming from another file (an `$INCLUDE`, or
        // back from one), so that (stretch, line) orders records as they were read.
        let same = self
            .stretches
            .last()
            .is_some_and(|f| Arc::ptr_eq(f, &pos.file));
        if !same && self.stretches.len() < usize::from(u16::MAX) {
            self.stretches.push(pos.file.clone());
        }
        // The parser opens at most MAX_FILES_PER_ZONE (32,767) files, two stretches each at
        // most: the index fits. Should another producer pass that, later records are named as
        // the last stretch's file.
        let file = u16::try_from(self.stretches.len().saturating_sub(1)).unwrap_or(u16::MAX - 1);
        SrcPos {
            file,
            line: pos.line,
        }
    }

    fn pos(&self, p: SrcPos) -> Pos {
        let last = self.stretches.len().saturating_sub(1);
        Pos {
            file: self.stretches[usize::from(p.file).min(last)].clone(),
            line: p.line,
        }
    }

    /// Stores one RDATA (or number template) once, returning its offset in the pool; None once
    /// the pool has reached its ceiling.
    fn intern(&mut self, rdata: &[u8], templated: bool) -> Option<u32> {
        let hash = self.hasher.hash_one((rdata, templated));
        let pool = &self.pool;
        if let Some(&off) = self
            .interned
            .find(hash, |&off| pooled(pool, off) == (rdata, templated))
        {
            return Some(off);
        }
        let off = u32::try_from(self.pool.len())
            .ok()
            .filter(|&o| o as usize + 4 + rdata.len() <= self.ceilings.pool)?;
        pool_push(&mut self.pool, rdata, templated);
        let (pool, hasher) = (&self.pool, &self.hasher);
        self.interned
            .insert_unique(hash, off, |&o| hasher.hash_one(pooled(pool, o)));
        Some(off)
    }

    /// Adds one record as the parser hands it over.
    pub fn add(&mut self, r: &Record<'_>) {
        // First of all: past the cap nothing of a record is kept, whatever it is.
        self.records_added += 1;
        let most = self.ceilings.records;
        if self.records_added > most {
            if self.records_added == most + 1 {
                let reason = format!(
                    "zone too large: more than {most} records read (max_records); raise it or split the zone"
                );
                self.report.push(ZoneError::error(r.pos.clone(), reason));
            }
            return;
        }
        let pos = self.src_pos(r.pos);
        if !name::is_at_or_below(r.owner, &self.apex) {
            let reason = format!(
                "owner {} is outside the zone {}",
                name::to_text(r.owner),
                name::to_text(&self.apex)
            );
            self.report.push(ZoneError::error(r.pos.clone(), reason));
            return;
        }
        let mut aus = [0; 128];
        let owner_aus = template::owner_aus(r.owner, &mut aus);
        let template = match owner_aus {
            Some(aus) if r.rtype == rtype::NAPTR => template::make(aus, r.rdata),
            _ => None,
        };
        if r.rtype == rtype::NAPTR {
            let shape = template.as_deref().zip(owner_aus);
            self.validate_naptr(r, shape);
        }
        if r.rdata.len() > 65_535 {
            let reason = format!(
                "RDATA of {} octets: at most 65535 (RFC 1035 §3.2.1)",
                r.rdata.len()
            );
            self.report.push(ZoneError::error(r.pos.clone(), reason));
            return;
        }
        let interned = match template {
            Some(t) => self.intern(&t, true),
            None => self.intern(r.rdata, false),
        };
        let Some(rdata) = interned else {
            if !self.pool_full {
                self.pool_full = true;
                let reason = format!(
                    "zone too large: its distinct RDATA exceeds {} bytes (the pool's 32-bit offsets); split the zone",
                    self.ceilings.pool
                );
                self.report.push(ZoneError::error(r.pos.clone(), reason));
            }
            return;
        };
        let pending = PendingRecord {
            ttl: r.ttl,
            rdata,
            line: pos.line,
            rtype: r.rtype,
            file: pos.file,
        };
        match owner_trie_key(r.owner, self.apex.len()) {
            Some(key) => self.trie_records.push((pack(key), pending)),
            None => self.side_records.push((r.owner.into(), pending)),
        }
    }

    /// The ENUM checks of one NAPTR (see [`validate`]). A record whose template (`shape`: its
    /// RDATA with the owner's number `aus` taken out) was checked already for another number
    /// of the same length gets what that one got, its number put back in the reasons: in a
    /// zone of millions of numbers a few shapes repeat, and checking each record took half of
    /// a load's time.
    fn validate_naptr(&mut self, r: &Record<'_>, shape: Option<(&[u8], &[u8])>) {
        // Only shapes whose checks cannot tell one number from another are remembered.
        let shape = shape.filter(|(t, _)| template::checks_alike_at_every_number(t));
        let hash = shape.map(|(t, aus)| self.hasher.hash_one((t, aus.len())));
        if let (Some((t, aus)), Some(hash)) = (shape, hash)
            && let Some(known) = self
                .shapes
                .find(hash, |k| k.template == t && k.number_len == aus.len())
        {
            for finding in &known.findings {
                self.report
                    .push_shaped_finding(r.pos.clone(), r.owner, r.rdata, finding, aus);
            }
        } else {
            let findings = validate::check_naptr(r.owner, r.rdata, &mut self.regex_cache);
            for finding in &findings {
                self.report
                    .push_finding(r.pos.clone(), r.owner, r.rdata, finding);
            }
            if let (Some((t, aus)), Some(hash)) = (shape, hash)
                && self.shape_bytes < MAX_SHAPE_BYTES
            {
                let number = String::from_utf8_lossy(aus);
                let findings: Vec<Finding> = findings
                    .into_iter()
                    .map(|f| Finding {
                        reason: f.reason.replace(&*number, "\0"),
                        ..f
                    })
                    .collect();
                self.shape_bytes += t.len()
                    + size_of::<Shape>()
                    + findings
                        .iter()
                        .map(|f| size_of::<Finding>() + f.reason.len())
                        .sum::<usize>();
                let shape = Shape {
                    template: t.to_vec(),
                    number_len: aus.len(),
                    findings,
                };
                let hasher = &self.hasher;
                self.shapes.insert_unique(hash, shape, |k| {
                    hasher.hash_one((k.template.as_slice(), k.number_len))
                });
            }
        }
        if let Some(rule) = ChainRule::of(r.owner, r.rdata, &self.apex) {
            self.non_terminals.push(NonTerminal {
                rule,
                pos: r.pos.clone(),
            });
        }
    }

    /// Builds the zone, or returns every zone-level error found.
    /// `soa_explained`: an earlier error already accounts for a missing SOA, so it is not
    /// reported again.
    pub fn finish(self, file: &Pos, soa_explained: bool) -> (Option<Zone>, Report) {
        let (zone, checks) = self.build(file, soa_explained);
        match zone {
            Some(zone) => {
                let report = checks.run(&zone);
                let zone = (!report.has_errors()).then_some(zone);
                (zone, report)
            }
            None => (None, checks.report),
        }
    }

    /// Builds the zone from what was added, with every check of a single name and its RRsets;
    /// the checks that follow chains across names are left to run on the zone they end up in
    /// (this one, or the serving version a reload by difference changes). The zone is None
    /// only when it cannot be built at all; with errors in the report it must not be served.
    pub fn build(mut self, file: &Pos, soa_explained: bool) -> (Option<Zone>, CrossChecks) {
        self.trie_records
            .sort_unstable_by_key(|(key, r)| (*key, r.rtype, r.rdata, r.line));
        self.side_records
            .sort_by(|a, b| (&a.0, a.1.rtype, a.1.rdata).cmp(&(&b.0, b.1.rtype, b.1.rdata)));

        let mut store = Store::default();
        let mut numbers = 0;

        // Group records by name into RRsets and data lists.
        let apex = self.apex.clone();
        let mut trie_data: Vec<(PackedKey, u32, u16)> = Vec::new();
        let trie_records = std::mem::take(&mut self.trie_records);
        let mut i = 0;
        while i < trie_records.len() {
            let packed = trie_records[i].0;
            let key = unpack(packed);
            let mut j = i;
            while j < trie_records.len() && trie_records[j].0 == packed {
                j += 1;
            }
            let group: Vec<&PendingRecord> = trie_records[i..j].iter().map(|(_, r)| r).collect();
            let is_apex = key == 0;
            let owner = || key_to_name(key, &apex);
            let (list, flags) = self.make_list(&mut store, &group, is_apex, &owner);
            if is_number_key(key) && group.iter().any(|r| r.rtype == rtype::NAPTR) {
                numbers += 1;
            }
            trie_data.push((packed, list, flags));
            i = j;
        }
        drop(trie_records);

        let side_records = std::mem::take(&mut self.side_records);
        let mut side_names: HashMap<Box<[u8]>, u32> = HashMap::new();
        let mut i = 0;
        while i < side_records.len() {
            let mut j = i;
            while j < side_records.len() && side_records[j].0 == side_records[i].0 {
                j += 1;
            }
            let group: Vec<&PendingRecord> = side_records[i..j].iter().map(|(_, r)| r).collect();
            let owner = || side_records[i].0.to_vec();
            let (list, _) = self.make_list(&mut store, &group, false, &owner);
            side_names.insert(side_records[i].0.clone(), list);
            i = j;
        }
        // Every ancestor of a side name exists (RFC 4592 §2.2.2: empty non-terminals); those
        // made of digits join the trie, in place.
        let (side_ents, anchors) = side_ancestors(side_names.keys(), self.apex_labels);
        for ancestor in side_ents {
            side_names.entry(ancestor).or_insert(NONE);
        }
        let ents = anchors.len();
        trie_data.extend(anchors.iter().map(|&key| (pack(key), NONE, 0)));
        trie_data.push((pack(0), NONE, 0)); // the apex, in case it holds nothing
        if ents > 0 || trie_data.len() > 1 {
            // Names with data sort before empty non-terminals of the same name, which go.
            trie_data.sort_unstable_by_key(|&(k, data, _)| (k, data == NONE));
            trie_data.dedup_by_key(|e| e.0);
        }
        trie_data.shrink_to_fit();

        let node_count = count_nodes(&trie_data, 0);
        if node_count > self.ceilings.nodes {
            let reason = format!(
                "zone too large: {node_count} trie nodes, at most {} (32-bit indices); split the zone",
                self.ceilings.nodes
            );
            self.report.push(ZoneError::error(file.clone(), reason));
            return (None, self.cross_checks());
        }
        store.pool = std::mem::take(&mut self.pool);
        self.interned = HashTable::new();
        store.lists.shrink_to_fit();
        store.rrsets.shrink_to_fit();
        store.members.shrink_to_fit();
        store.pool.shrink_to_fit();
        let store = Arc::new(store);
        let root = chunk_up(&trie_data, &store, 0, self.chunk_nodes);
        drop(trie_data);
        let mut side = Side {
            names: side_names,
            store: store.clone(),
            anchors,
            names_with_data: 0,
            records: 0,
        };
        (side.names_with_data, side.records) = side.totals();
        let mut zone = Zone {
            apex: self.apex.clone(),
            root: Arc::new(root),
            side: Arc::new(side),
            serial: 0,
            negative_ttl: 0,
            stats: ZoneStats::default(),
            files: Vec::new(),
            warnings: Vec::new(),
            unlisted_warnings: 0,
            chunk_nodes: self.chunk_nodes,
            rules: Arc::default(),
            source: None,
        };
        let mut owners: Vec<&[u8]> = self
            .non_terminals
            .iter()
            .map(|n| &n.rule.owner[..])
            .collect();
        owners.sort_unstable();
        owners.dedup();
        zone.rules = Arc::new(owners.into_iter().flat_map(|o| zone.rules_at(o)).collect());

        // The apex must own exactly one SOA.
        let mut usable = true;
        match zone.rrset(zone.apex_node(), rtype::SOA) {
            // Not built, but not reported twice: the parse error already keeps it from loading.
            None if soa_explained => usable = false,
            None => self.report.push(ZoneError::error(
                file.clone(),
                format!("no SOA record at the apex {}", name::to_text(&zone.apex)),
            )),
            Some(soa) => {
                let (serial, negative_ttl) = soa_figures(&zone, soa);
                zone.serial = serial;
                zone.negative_ttl = negative_ttl;
            }
        }
        zone.stats = zone.count();
        debug_assert_eq!(zone.stats.numbers, numbers);
        debug_assert_eq!(zone.stats.records, self.records);
        (usable.then_some(zone), self.cross_checks())
    }

    fn cross_checks(self) -> CrossChecks {
        CrossChecks {
            report: self.report,
            non_terminals: self.non_terminals,
            cnames: self.cnames,
            irregular: self.irregular,
        }
    }
}

/// What a built zone still has to be checked for: the chains of its non-terminal NAPTRs and
/// CNAMEs, followed through the zone they are served from.
pub struct CrossChecks {
    /// Everything found so far.
    pub report: Report,
    non_terminals: Vec<NonTerminal>,
    cnames: Vec<(Vec<u8>, Pos)>,
    /// [`ZoneBuilder::irregular`].
    pub irregular: usize,
}

impl CrossChecks {
    /// Every CNAME owner built, sorted, once.
    pub fn cname_owners(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self.cnames.iter().map(|(o, _)| o.clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Follows these chains too: those of names read but not built (a reload by difference
    /// builds only the names that changed, and a change may loop a chain that starts at
    /// another). A CNAME owner given twice counts once.
    pub(super) fn follow_also(
        &mut self,
        rules: Vec<(ChainRule, Pos)>,
        mut cnames: Vec<(Vec<u8>, Pos)>,
    ) {
        self.non_terminals.extend(
            rules
                .into_iter()
                .map(|(rule, pos)| NonTerminal { rule, pos }),
        );
        cnames.sort_by(|a, b| a.0.cmp(&b.0));
        cnames.dedup_by(|later, earlier| later.0 == earlier.0);
        self.cnames.extend(cnames);
    }

    /// Follows the chains through `zone`, adding what is found to the report.
    pub fn run(mut self, zone: &Zone) -> Report {
        // Non-terminal chains, followed the way a client would resolve them.
        for nt in std::mem::take(&mut self.non_terminals) {
            let naptrs = |n: &[u8]| lookup::naptrs_at(zone, n);
            let rule = &nt.rule;
            if let Some(f) = validate::check_chain(&rule.owner, &rule.target, &naptrs) {
                self.report
                    .push_finding(nt.pos, &rule.owner, &rule.rdata, &f);
            }
        }
        self.check_cname_chains(zone);
        self.report
    }

    /// Follows every CNAME chain as answers will: a loop is answered with each CNAME once, a
    /// chain longer than [`lookup::MAX_CNAME_CHAIN`] is cut short. Both load, as NSD and Knot
    /// load them, with a warning (RFC 1034 §3.6.2: loops "signalled as an error").
    fn check_cname_chains(&mut self, zone: &Zone) {
        let cnames = std::mem::take(&mut self.cnames);
        let targets: std::collections::HashSet<Vec<u8>> = cnames
            .iter()
            .filter_map(|(owner, _)| lookup::cname_target(zone, owner))
            .collect();
        let mut loops = std::collections::HashSet::new();
        for (owner, pos) in cnames {
            let mut chain = vec![owner];
            while let Some(next) = lookup::cname_target(zone, &chain[chain.len() - 1]) {
                if let Some(at) = chain.iter().position(|n| *n == next) {
                    // Once per loop, told from its least name (bytewise), blamed on the first
                    // record found to lead into it.
                    let mut cycle = chain[at..].to_vec();
                    let least = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
                    cycle.rotate_left(least);
                    if loops.insert(cycle[0].clone()) {
                        let mut names: Vec<String> =
                            cycle.iter().map(|n| name::to_text(n)).collect();
                        names.push(name::to_text(&cycle[0]));
                        let reason = format!(
                            "CNAME loop: {}: answers give each CNAME once and end there [cname-loop] (RFC 1034 §3.6.2)",
                            names.join(" → ")
                        );
                        self.report.push(ZoneError::warning(pos.clone(), reason));
                    }
                    break;
                }
                chain.push(next);
                if chain.len() > lookup::MAX_CNAME_CHAIN {
                    if !targets.contains(&chain[0]) {
                        let reason = format!(
                            "CNAME chain from {} does not end within {} CNAMEs: answers stop after the {}th, before its target [cname-chain] (RFC 1034 §3.6.2)",
                            name::to_text(&chain[0]),
                            lookup::MAX_CNAME_CHAIN,
                            lookup::MAX_CNAME_CHAIN
                        );
                        self.report.push(ZoneError::warning(pos.clone(), reason));
                    }
                    break;
                }
            }
        }
    }
}

impl ZoneBuilder {
    /// Turns one name's records (sorted by type, then RDATA) into RRsets and a data list,
    /// checking RFC 1034 §3.6.2 (CNAME stands alone) and the place of SOA.
    fn make_list(
        &mut self,
        zone: &mut Store,
        group: &[&PendingRecord],
        is_apex: bool,
        owner: &dyn Fn() -> Vec<u8>,
    ) -> (u32, u16) {
        let list_at = index(zone.lists.len());
        zone.lists.push(0);
        let mut flags = 0u16;
        let mut k = 0;
        let has_cname = group.iter().any(|r| r.rtype == rtype::CNAME);
        while k < group.len() {
            let t = group[k].rtype;
            // Bounded by `Ceilings::records`, checked as records are added: every index fits.
            let first_member = index(zone.members.len());
            let mut m = k;
            while m < group.len() && group[m].rtype == t {
                m += 1;
            }
            let rrset = &group[k..m];
            // RFC 2181 §5.2: one TTL per RRset; like NSD and Knot, keep the first one read.
            let first_read = rrset
                .iter()
                .min_by_key(|r| (r.file, r.line))
                .unwrap_or(&rrset[0]);
            let ttl = first_read.ttl;
            let same_as_earlier = self.case_duplicates(t, rrset);
            let mut count = 0usize;
            // The least a response carrying the RRset takes: header, question, each record with
            // its owner as a 2-byte pointer, its fixed fields and RDATA (names the encoder may
            // compress counted as a pointer; templates are never longer than their expansion).
            let mut wire_min = HEADER_AND_QUESTION_MIN;
            let mut last_rdata = NONE;
            for r in rrset {
                self.irregular += usize::from(r.ttl != ttl);
                if r.ttl != ttl && self.report.will_list(true) {
                    let reason = format!(
                        "{}: TTL {} differs from the TTL {ttl} of the same RRset read first: {ttl} is used (RFC 2181 §5.2)",
                        self.record_text(&owner(), t, r.rdata),
                        r.ttl
                    );
                    let pos = self.pos(r.pos());
                    self.report.push(ZoneError::warning(pos, reason));
                }
                // Identical records are one record (RFC 2181 §5), and so are records whose
                // embedded names differ only in case: the one read first stays.
                if r.rdata != last_rdata && same_as_earlier.binary_search(&r.rdata).is_err() {
                    zone.members.push(r.rdata);
                    count += 1;
                    wire_min += 12 + rdata_wire_min(t, pooled(&self.pool, r.rdata).0.len());
                    last_rdata = r.rdata;
                }
            }
            self.irregular += rrset.len() - count;
            if wire_min > 65_535 - 255 {
                let owner_len = owner().len();
                if wire_min + owner_len > 65_535 {
                    let last = rrset
                        .iter()
                        .max_by_key(|r| (r.file, r.line))
                        .unwrap_or(&rrset[0]);
                    let reason = format!(
                        "{} RRset of {count} record{} needs at least {} octets in a response: more than a DNS message holds (65535, RFC 1035 §4.2.2), so it could never be served",
                        rtype::to_text(t),
                        if count == 1 { "" } else { "s" },
                        wire_min + owner_len
                    );
                    let pos = self.pos(last.pos());
                    self.report.push(ZoneError::error(pos, reason));
                }
            }
            // An RRset that fits a message has at most 65,535 / 12 members; a larger one has
            // just been refused, and its zone is not built.
            let count = u16::try_from(count).unwrap_or(u16::MAX);
            let reason = match t {
                rtype::CNAME if count > 1 => {
                    Some("more than one CNAME at a name (RFC 1034 §3.6.2)".to_string())
                }
                rtype::SOA if !is_apex => {
                    Some("SOA record below the apex: only the apex may hold one".to_string())
                }
                rtype::SOA if count > 1 => Some("second SOA record at the apex".to_string()),
                rtype::CNAME if is_apex => {
                    Some("CNAME at the zone apex (RFC 1034 §3.6.2)".to_string())
                }
                _ if has_cname && t != rtype::CNAME => Some(format!(
                    "{} beside a CNAME: a CNAME owner holds no other data (RFC 1034 §3.6.2)",
                    rtype::to_text(t)
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                // Blame the record read last: the second SOA, the data added beside a CNAME.
                let last = group[k..m]
                    .iter()
                    .map(|r| r.pos())
                    .max_by_key(|p| (p.file, p.line));
                let pos = self.pos(last.unwrap_or(group[k].pos()));
                self.report.push(ZoneError::error(pos, reason));
            }
            match t {
                rtype::NS if !is_apex => flags |= CUT_BIT,
                rtype::CNAME => {
                    flags |= CNAME_BIT;
                    let pos = self.pos(first_read.pos());
                    self.cnames.push((owner(), pos));
                }
                _ => {}
            }
            self.records += usize::from(count);
            if t == rtype::NAPTR && count > 1 {
                self.validate_naptr_rrset(zone, first_member, count, group, k, owner);
            }
            let set = RRset {
                rtype: t,
                count,
                ttl,
                first: first_member,
            };
            let id = self.intern_rrset(zone, set);
            zone.lists.push(id);
            zone.lists[list_at as usize] += 1;
            k = m;
        }
        (self.intern_list(zone, list_at), flags)
    }

    /// The RDATA offsets in `rrset` (one type at one name) of records equal to one read before
    /// them but for the case of the names they embed, sorted. Empty, and cheap, for almost
    /// every RRset: those of one record, or without an upper-case letter in their names.
    fn case_duplicates(&self, t: u16, rrset: &[&PendingRecord]) -> Vec<u32> {
        if rrset.len() < 2 {
            return Vec::new();
        }
        let canonical: Vec<Option<Vec<u8>>> = rrset
            .iter()
            .map(|r| rdata::canonical(t, pooled(&self.pool, r.rdata).0))
            .collect();
        if canonical.iter().all(Option::is_none) {
            return Vec::new();
        }
        // Per canonical form, in reading order: every offset but the first read is a duplicate.
        // A number template and plain RDATA of the same bytes are different records.
        let mut by_form: Vec<(Form<'_>, (u16, u32), u32)> = rrset
            .iter()
            .zip(&canonical)
            .map(|(r, c)| {
                let (stored, templated) = pooled(&self.pool, r.rdata);
                (
                    (c.as_deref().unwrap_or(stored), templated),
                    (r.file, r.line),
                    r.rdata,
                )
            })
            .collect();
        by_form.sort_unstable();
        let mut duplicates = Vec::new();
        for group in by_form.chunk_by(|a, b| a.0 == b.0) {
            let first = group[0].2;
            duplicates.extend(group.iter().map(|e| e.2).filter(|&o| o != first));
        }
        duplicates.sort_unstable();
        duplicates.dedup();
        duplicates
    }

    /// A pooled record in presentation form (`owner TYPE rdata`), number templates expanded.
    fn record_text(&self, owner: &[u8], t: u16, offset: u32) -> String {
        let (stored, templated) = pooled(&self.pool, offset);
        let mut aus = [0; 128];
        let mut expanded = Vec::new();
        let rdata = match template::owner_aus(owner, &mut aus).filter(|_| templated) {
            Some(aus) => {
                template::expand(stored, aus, &mut expanded);
                &expanded[..]
            }
            None => stored,
        };
        format!(
            "{} {} {}",
            name::to_text(owner),
            rtype::to_text(t),
            rdata::to_text(t, rdata)
        )
    }

    /// Shares RRsets equal in type, TTL and RDATA (number templates make most of them so).
    fn intern_rrset(&mut self, zone: &mut Store, set: RRset) -> u32 {
        fn key<'z>(z: &'z Store, s: &RRset) -> (u16, u32, &'z [u32]) {
            let members = &z.members[s.first as usize..s.first as usize + s.count as usize];
            (s.rtype, s.ttl, members)
        }
        let hash = self.hasher.hash_one(key(zone, &set));
        let existing = self
            .rrset_index
            .find(hash, |&id| {
                key(zone, &zone.rrsets[id as usize]) == key(zone, &set)
            })
            .copied();
        if let Some(id) = existing {
            zone.members.truncate(set.first as usize);
            return id;
        }
        let id = index(zone.rrsets.len());
        zone.rrsets.push(set);
        let hasher = &self.hasher;
        self.rrset_index.insert_unique(hash, id, |&i| {
            hasher.hash_one(key(zone, &zone.rrsets[i as usize]))
        });
        id
    }

    /// Shares the data list just written at `at` with an equal one, if there is one.
    fn intern_list(&mut self, zone: &mut Store, at: u32) -> u32 {
        fn list(lists: &[u32], at: u32) -> &[u32] {
            let n = lists[at as usize] as usize;
            &lists[at as usize..at as usize + 1 + n]
        }
        let hash = self.hasher.hash_one(list(&zone.lists, at));
        let existing = self
            .list_index
            .find(hash, |&o| list(&zone.lists, o) == list(&zone.lists, at))
            .copied();
        if let Some(found) = existing {
            zone.lists.truncate(at as usize);
            return found;
        }
        let (hasher, lists) = (&self.hasher, &zone.lists);
        self.list_index
            .insert_unique(hash, at, |&o| hasher.hash_one(list(lists, o)));
        at
    }
}

impl ZoneBuilder {
    /// RRset-level NAPTR checks over the members just stored (`group[from..]` are the records).
    fn validate_naptr_rrset(
        &mut self,
        zone: &Store,
        first_member: u32,
        count: u16,
        group: &[&PendingRecord],
        from: usize,
        owner: &dyn Fn() -> Vec<u8>,
    ) {
        let offsets = &zone.members[first_member as usize..first_member as usize + count as usize];
        let rdatas: Vec<&[u8]> = offsets.iter().map(|&o| pooled(&self.pool, o).0).collect();
        let findings = validate::check_naptr_rrset(&rdatas);
        if findings.is_empty() {
            return;
        }
        let owner = owner();
        for (i, finding) in findings {
            // Members are the group's distinct RDATAs in order; find the record of member i.
            let offset = offsets[i];
            let record = group[from..]
                .iter()
                .find(|r| r.rdata == offset)
                .map_or(group[from].pos(), |r| r.pos());
            let pos = self.pos(record);
            self.report.push_finding(pos, &owner, rdatas[i], &finding);
        }
    }
}

/// A pool entry is `[u16 word][bytes]`: the word's high bit marks a number template, its low 15
/// bits are the length, up to 32,766. [`LONG_ENTRY`] instead announces a plain entry of 32,767
/// to 65,535 bytes whose length follows in the next two bytes. Templates are NAPTR RDATA, at
/// most 1,027 bytes ([`template::make`] makes no longer one), so they never need it.
const TEMPLATE_FLAG: u16 = 0x8000;
const LONG_ENTRY: u16 = 0x7fff;

/// How large a zone may grow: each array of a [`Zone`] is addressed by `u32` indices, and a
/// zone past a ceiling is refused with a reason, never wrapped. Lowered only by tests.
#[derive(Clone, Copy, Debug)]
struct Ceilings {
    /// Records: keeps every index into the record-sized arrays (members, RRsets, data lists:
    /// each at most twice the records) below `u32::MAX`, which [`NONE`] takes. About 10⁹
    /// numbers of one or two NAPTRs.
    records: usize,
    /// Bytes of distinct RDATA, addressed by `u32` offsets. Number templates make most ENUM
    /// RDATA one entry; RDATA that differs per number (say `sip:alice@…`) reaches it near
    /// 8 × 10⁷ numbers of 50 bytes.
    pool: usize,
    /// Trie nodes (about 4.6 per number): near 9 × 10⁸ numbers.
    nodes: usize,
}

impl Default for Ceilings {
    fn default() -> Self {
        Self {
            records: (u32::MAX / 2 - 1) as usize,
            pool: u32::MAX as usize,
            nodes: (NONE - 1) as usize,
        }
    }
}

/// What two records of one RRset are compared by: RDATA with embedded names lower-cased, and
/// whether it is a number template.
type Form<'a> = (&'a [u8], bool);

/// The fewest octets RDATA of `len` bytes as stored can take in a response: the names of the
/// RFC 1035 types the encoder compresses may become 2-byte pointers.
pub(crate) fn rdata_wire_min(t: u16, len: usize) -> usize {
    let fixed = match t {
        rtype::NS | rtype::CNAME | rtype::PTR => 2,
        rtype::MX => 2 + 2,
        rtype::SOA => 2 + 2 + 20,
        _ => return len,
    };
    fixed.min(len)
}

/// The smallest response: a 12-byte header, the question's type and class, and its name (added
/// where it is known).
pub(crate) const HEADER_AND_QUESTION_MIN: usize = 12 + 4;

/// An index into one of the zone's arrays. Each holds at most twice `Ceilings::records` entries
/// (the node arena is checked on its own), so the index fits below `u32::MAX`, which is
/// [`NONE`].
fn index(len: usize) -> u32 {
    debug_assert!(len < NONE as usize);
    u32::try_from(len).unwrap_or(NONE - 1)
}

/// Appends one entry to an interning pool.
fn pool_push(pool: &mut Vec<u8>, rdata: &[u8], templated: bool) {
    match u16::try_from(rdata.len()) {
        Ok(len) if len < LONG_ENTRY => {
            let flag = if templated { TEMPLATE_FLAG } else { 0 };
            pool.extend_from_slice(&(len | flag).to_be_bytes());
        }
        Ok(len) => {
            debug_assert!(!templated, "templates are at most 1,027 bytes");
            pool.extend_from_slice(&LONG_ENTRY.to_be_bytes());
            pool.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => unreachable!("RDATA over 65,535 bytes is refused in ZoneBuilder::add"),
    }
    pool.extend_from_slice(rdata);
}

/// The RDATA stored at `offset` of an interning pool, and whether it is a number template.
fn pooled(pool: &[u8], offset: u32) -> (&[u8], bool) {
    let o = offset as usize;
    let word = u16::from_be_bytes([pool[o], pool[o + 1]]);
    if word == LONG_ENTRY {
        let len = usize::from(u16::from_be_bytes([pool[o + 2], pool[o + 3]]));
        return (&pool[o + 4..o + 4 + len], false);
    }
    let len = usize::from(word & !TEMPLATE_FLAG);
    (&pool[o + 2..o + 2 + len], word & TEMPLATE_FLAG != 0)
}

/// A validation finding as a zone problem: the record, then the rule and its RFC section.
fn finding_at(pos: Pos, owner: &[u8], rdata: &[u8], f: &Finding) -> ZoneError {
    let record = Naptr::from_wire(rdata).map_or_else(|| "NAPTR".to_string(), |n| n.to_string());
    let reason = format!("{} {record}: {f}", name::to_text(owner));
    match f.severity {
        Severity::Error => ZoneError::error(pos, reason),
        Severity::Warning => ZoneError::warning(pos, reason),
    }
}

/// The name a trie key stands for.
fn key_to_name(key: TrieKey, apex: &[u8]) -> Vec<u8> {
    let mut labels = Vec::new();
    for depth in 0..MAX_TRIE_DEPTH {
        match nibble_at(key, depth) {
            0 => break,
            11 => labels.push(b'*'),
            d => labels.push(b'0' + d - 1),
        }
    }
    let mut wire = Vec::with_capacity(labels.len() * 2 + apex.len());
    for &c in labels.iter().rev() {
        wire.extend_from_slice(&[1, c]);
    }
    wire.extend_from_slice(apex);
    wire
}

/// Problems found while loading. Capped, so that one systematic mistake in millions of records
/// cannot flood memory or logs; what is not listed is counted.
pub struct Report {
    strict: bool,
    /// A secondary's copy: ENUM findings are reported as warnings, never refused for (unless
    /// strict), since the copy must be what the primary serves.
    mirror: bool,
    listed: Vec<ZoneError>,
    errors: usize,
    warnings: usize,
}

/// How many problems of each kind a report lists.
const REPORT_LIMIT: usize = 1000;

impl Report {
    fn new(strict: bool) -> Self {
        Self {
            strict,
            mirror: false,
            listed: Vec::new(),
            errors: 0,
            warnings: 0,
        }
    }

    fn push(&mut self, mut e: ZoneError) {
        if e.warning && self.strict {
            e.warning = false;
            e.reason = format!("strict: {}", e.reason);
        }
        let seen = if e.warning {
            &mut self.warnings
        } else {
            &mut self.errors
        };
        *seen += 1;
        if *seen <= REPORT_LIMIT {
            self.listed.push(e);
        }
    }

    /// Counts a validation finding, writing out its message only if it will be listed: one
    /// systematic mistake can repeat in every record of a large zone.
    fn push_finding(&mut self, pos: Pos, owner: &[u8], rdata: &[u8], f: &Finding) {
        let warning = f.severity == Severity::Warning || self.mirror;
        if self.will_list(warning) {
            let mut e = finding_at(pos, owner, rdata, f);
            e.warning = warning;
            self.push(e);
        }
    }

    /// [`Self::push_finding`] of a finding remembered from another number of the same
    /// shape: its reason is written, with `aus` where that number stood, only when listed.
    fn push_shaped_finding(
        &mut self,
        pos: Pos,
        owner: &[u8],
        rdata: &[u8],
        f: &Finding,
        aus: &[u8],
    ) {
        let warning = f.severity == Severity::Warning || self.mirror;
        if self.will_list(warning) {
            let f = Finding {
                reason: f.reason.replace('\0', &String::from_utf8_lossy(aus)),
                ..f.clone()
            };
            let mut e = finding_at(pos, owner, rdata, &f);
            e.warning = warning;
            self.push(e);
        }
    }

    /// Whether a problem of this kind will be listed: then the caller writes its message and
    /// pushes it; if not, it is counted here and its message never written.
    fn will_list(&mut self, warning: bool) -> bool {
        // Strict turns warnings into errors, and counts them so.
        let seen = if warning && !self.strict {
            &mut self.warnings
        } else {
            &mut self.errors
        };
        if *seen >= REPORT_LIMIT {
            *seen += 1;
            return false;
        }
        true
    }

    /// The problems listed so far, in the order found.
    pub fn listed(&self) -> &[ZoneError] {
        &self.listed
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    fn absorb(&mut self, other: Self) {
        for e in other.listed {
            self.push(e);
        }
        self.errors += other.errors.saturating_sub(REPORT_LIMIT);
        self.warnings += other.warnings.saturating_sub(REPORT_LIMIT);
    }

    /// Listed problems in reading order (files as opened, then lines), a closing line for what
    /// was not listed, and the unlisted warning count.
    fn into_sorted(mut self, files: &[PathBuf], whole: &Pos) -> (Vec<ZoneError>, usize) {
        let rank = |e: &ZoneError| {
            let file = files.iter().position(|f| *f == *e.pos.file);
            (file.unwrap_or(usize::MAX), e.pos.line)
        };
        self.listed.sort_by_key(rank);
        let unlisted_errors = self.errors.saturating_sub(REPORT_LIMIT);
        let unlisted_warnings = self.warnings.saturating_sub(REPORT_LIMIT);
        if unlisted_errors > 0 {
            self.listed.push(ZoneError::error(
                whole.clone(),
                format!("… and {unlisted_errors} more errors not listed"),
            ));
        }
        (self.listed, unlisted_warnings)
    }
}

/// Records parsed and waiting for the builder, owned: a batch's names and RDATA in one buffer.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Owner end and RDATA end in `bytes` (each starts where the one before ends), TTL, type,
    /// where it was read.
    records: Vec<(usize, usize, u32, u16, Pos)>,
}

impl Batch {
    /// Records parsed ahead of the builder at most, in batches of this many, two batches deep:
    /// enough to keep both threads busy, little enough to stay out of the memory figures.
    const RECORDS: usize = 2048;

    fn push(&mut self, r: &Record<'_>) {
        if self.records.is_empty() {
            self.bytes.reserve(1 << 18);
            self.records.reserve(Self::RECORDS);
        }
        self.bytes.extend_from_slice(r.owner);
        let owner_end = self.bytes.len();
        self.bytes.extend_from_slice(r.rdata);
        self.records
            .push((owner_end, self.bytes.len(), r.ttl, r.rtype, r.pos.clone()));
    }

    fn each(&self, mut f: impl FnMut(&Record<'_>)) {
        let mut start = 0;
        for (owner_end, end, ttl, rtype, pos) in &self.records {
            f(&Record {
                owner: &self.bytes[start..*owner_end],
                ttl: *ttl,
                rtype: *rtype,
                rdata: &self.bytes[*owner_end..*end],
                pos,
            });
            start = *end;
        }
    }
}

/// Parses `path` into `builder`, the parse on a thread of its own so that it and the builder's
/// checks and interning run on two cores (measured on 1M numbers: the load took 3.0 s where it
/// took 3.6 s with the NAPTR checks on the parse's side, and 4 to 5 s on one thread); records
/// reach the builder in reading order, as it needs. On one thread if no second can be had.
fn parse_into(
    path: &Path,
    apex: &[u8],
    strict: bool,
    builder: &mut ZoneBuilder,
) -> (zonefile::Parsed, Report) {
    let parse = |on_record: &mut dyn FnMut(&Record<'_>)| {
        let mut report = Report::new(strict);
        let parsed = zonefile::parse_file_cut(path, apex, on_record, &mut |e| report.push(e));
        (parsed, report)
    };
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let parser = std::thread::Builder::new()
            .name("enumd-parse".into())
            .spawn_scoped(scope, move || {
                let mut batch = Batch::default();
                let done = parse(&mut |r| {
                    batch.push(r);
                    if batch.records.len() == Batch::RECORDS {
                        // The builder has stopped only if it panicked; that panic is its own.
                        let _ = tx.send(std::mem::take(&mut batch));
                    }
                });
                let _ = tx.send(batch);
                done
            });
        match parser {
            Ok(handle) => {
                for batch in rx {
                    batch.each(|r| builder.add(r));
                }
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
            Err(_) => parse(&mut |r| builder.add(r)),
        }
    })
}

/// A trie key of a whole number: digits only, no `*`.
fn is_number_key(key: TrieKey) -> bool {
    key != 0 && (0..MAX_TRIE_DEPTH).all(|d| nibble_at(key, d) != 11)
}

/// Nodes of the subtree over `keyed` (sorted, sharing their first `depth` labels): one per
/// distinct prefix, the subtree's root included.
fn count_nodes(keyed: &[(PackedKey, u32, u16)], depth: usize) -> usize {
    let mut nodes = 1;
    let Some(first) = keyed.first() else {
        return nodes;
    };
    let mut prev: TrieKey = unpack(first.0);
    for &(k, _, _) in keyed {
        let k = unpack(k);
        let common = (depth..MAX_TRIE_DEPTH)
            .take_while(|&d| nibble_at(k, d) != 0 && nibble_at(k, d) == nibble_at(prev, d))
            .count();
        nodes += key_depth(k) - depth - common;
        prev = k;
    }
    // The first key's own labels below the root were counted as shared with itself.
    nodes + key_depth(unpack(first.0)) - depth
}

/// Labels below the apex of the name a key stands for.
fn key_depth(k: TrieKey) -> usize {
    (0..MAX_TRIE_DEPTH)
        .take_while(|&d| nibble_at(k, d) != 0)
        .count()
}

/// The keys of the subtree whose root is `key`'s first `depth` labels: one range of keys.
fn subtree_range(key: TrieKey, depth: usize) -> (TrieKey, TrieKey) {
    if depth == 0 {
        return (0, TrieKey::MAX);
    }
    let below = 128 - 4 * depth.min(MAX_TRIE_DEPTH);
    let low_mask = if below == 0 { 0 } else { (1u128 << below) - 1 };
    (key & !low_mask, key | low_mask)
}

/// Builds the chunk for the subtree over `keyed` (sorted, sharing their first `depth` labels,
/// their data in `store`): whole if it fits in `max` nodes, else a fan over one chunk per child.
fn chunk_up(
    keyed: &[(PackedKey, u32, u16)],
    store: &Arc<Store>,
    depth: usize,
    max: usize,
) -> Chunk {
    // A subtree has at least as many nodes as keys: count only where it may fit.
    let fits = keyed.len() <= max && count_nodes(keyed, depth) <= max;
    let mut rest = keyed;
    let mut root = Node {
        data: NONE,
        children: 0,
        bits: 0,
    };
    if let Some(&(key, data, flags)) = rest.first()
        && (depth == MAX_TRIE_DEPTH || nibble_at(unpack(key), depth) == 0)
    {
        root.data = data;
        root.bits = flags;
        if !fits {
            rest = &rest[1..];
        }
    }
    if fits {
        let mut nodes = vec![Node {
            data: NONE,
            children: 0,
            bits: 0,
        }];
        build_trie(&mut nodes, 0, keyed, depth);
        return Chunk::new(nodes, Vec::new(), store.clone(), keyed);
    }
    let groups = label_groups(rest, depth);
    let mut nodes = Vec::with_capacity(groups.len() + 1);
    root.children = 1;
    let mut links = Vec::with_capacity(groups.len());
    for (k, &(nib, s, e)) in groups.iter().enumerate() {
        root.bits |= 1 << (nib - 1);
        links.push(Arc::new(chunk_up(&rest[s..e], store, depth + 1, max)));
        nodes.push(Node {
            data: index(k),
            children: 0,
            bits: LINK_BIT,
        });
    }
    nodes.insert(0, root);
    let own = &keyed[..keyed.len() - rest.len()];
    Chunk::new(nodes, links, store.clone(), own)
}

/// `keyed` (sorted, below some node at `depth`) cut into runs by their label at `depth`:
/// `(nibble, start, end)` each, at most eleven (ten digits and `*`), without allocating.
fn label_groups(keyed: &[(PackedKey, u32, u16)], depth: usize) -> Groups {
    let mut groups = Groups {
        runs: [(0, 0, 0); 11],
        len: 0,
    };
    let mut start = 0;
    while start < keyed.len() && groups.len < 11 {
        let nib = nibble_at(unpack(keyed[start].0), depth);
        let end = start + keyed[start..].partition_point(|e| nibble_at(unpack(e.0), depth) == nib);
        groups.runs[groups.len] = (nib, start, end);
        groups.len += 1;
        start = end;
    }
    groups
}

/// The runs [`label_groups`] finds.
struct Groups {
    runs: [(u8, usize, usize); 11],
    len: usize,
}

impl std::ops::Deref for Groups {
    type Target = [(u8, usize, usize)];
    fn deref(&self) -> &Self::Target {
        &self.runs[..self.len]
    }
}

impl Chunk {
    /// A chunk over `nodes`, its totals counted from the names of `own` (its own keyed names
    /// with data) and from its links.
    fn new(
        nodes: Vec<Node>,
        links: Vec<Arc<Self>>,
        store: Arc<Store>,
        own: &[(PackedKey, u32, u16)],
    ) -> Self {
        let mut totals = Totals {
            nodes: nodes.len(),
            ..Totals::default()
        };
        for &(key, data, _) in own {
            if data == NONE {
                continue;
            }
            totals.names += 1;
            let mut naptr = false;
            for &id in store.list(data) {
                let set = store.rrsets[id as usize];
                totals.records += usize::from(set.count);
                naptr |= set.rtype == rtype::NAPTR;
            }
            if naptr && is_number_key(unpack(key)) {
                totals.numbers += 1;
            }
        }
        for l in &links {
            totals += l.totals;
        }
        Self {
            nodes: nodes.into_boxed_slice(),
            links: links.into_boxed_slice(),
            store,
            totals,
        }
    }
}

/// The ancestors of side names below the apex: those that are side names too (empty
/// non-terminals unless they hold data), and the sorted trie keys of each side name's deepest
/// all-digit ancestor (see [`Side::anchors`]).
fn side_ancestors<'a>(
    names: impl Iterator<Item = &'a Box<[u8]>>,
    apex_labels: usize,
) -> (Vec<Box<[u8]>>, Vec<TrieKey>) {
    let mut ents = Vec::new();
    let mut anchors = Vec::new();
    for owner in names {
        let all: Vec<&[u8]> = name::labels(owner).collect();
        let relative: Vec<&[u8]> = all[..all.len() - apex_labels]
            .iter()
            .rev()
            .copied()
            .collect();
        let offsets = name::label_offsets(owner);
        let mut deepest = None;
        for len in 1..relative.len() {
            match trie_key(&relative[..len]) {
                Some(key) => deepest = Some(key),
                None => ents.push(owner[offsets[relative.len() - len]..].into()),
            }
        }
        anchors.extend(deepest);
    }
    anchors.sort_unstable();
    anchors.dedup();
    (ents, anchors)
}

/// The serial and the negative TTL (RFC 2308 §5: min(SOA TTL, MINIMUM)) of an SOA RRset.
fn soa_figures(zone: &Zone, soa: RRsetRef<'_>) -> (u32, u32) {
    let rdata = zone.rdatas(soa).next().unwrap_or_default();
    let fixed = rdata.len().saturating_sub(20);
    let word = |at: usize| {
        u32::from_be_bytes(
            rdata
                .get(fixed + at..fixed + at + 4)
                .and_then(|w| w.try_into().ok())
                .unwrap_or([0; 4]),
        )
    };
    (word(0), zone.rrset_info(soa).ttl.min(word(16)))
}

impl Zone {
    /// The figures of this version: counts kept in the chunks and the side table, bytes by a
    /// walk over every chunk.
    fn count(&self) -> ZoneStats {
        let t = self.root.totals;
        let (names, records) = (self.side.names_with_data, self.side.records);
        let (node_bytes, rdata_bytes, rrset_bytes) = self.memory();
        ZoneStats {
            names: t.names + names,
            records: t.records + records,
            numbers: t.numbers,
            trie_nodes: t.nodes,
            side_names: self.side.names.len(),
            node_bytes,
            rdata_bytes,
            rrset_bytes,
        }
    }
}

impl Side {
    /// Side names holding data, and their records.
    fn totals(&self) -> (usize, usize) {
        let mut names = 0;
        let mut records = 0;
        for &d in self.names.values().filter(|&&d| d != NONE) {
            names += 1;
            for &id in self.store.list(d) {
                records += usize::from(self.store.rrsets[id as usize].count);
            }
        }
        (names, records)
    }
}

/// Lays out the subtree of `keyed[..]` (all sharing the prefix of node `at`, at `depth`) with
/// each node's children contiguous. `keyed` is sorted; its first entry may be the node itself.
fn build_trie(nodes: &mut Vec<Node>, at: usize, keyed: &[(PackedKey, u32, u16)], depth: usize) {
    let mut rest = keyed;
    if let Some(&(key, data, flags)) = rest.first()
        && (depth == MAX_TRIE_DEPTH || nibble_at(unpack(key), depth) == 0)
    {
        nodes[at].data = data;
        nodes[at].bits |= flags;
        rest = &rest[1..];
    }
    if rest.is_empty() {
        return;
    }
    let groups = label_groups(rest, depth);
    let first_child = nodes.len();
    // The arena holds fewer than u32::MAX nodes (checked in `finish` before it is built).
    nodes[at].children = index(first_child);
    for &(nib, _, _) in groups.iter() {
        nodes[at].bits |= 1 << (nib - 1);
        nodes.push(Node {
            data: NONE,
            children: 0,
            bits: 0,
        });
    }
    for (k, &(_, s, e)) in groups.iter().enumerate() {
        build_trie(nodes, first_child + k, &rest[s..e], depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apex() -> Vec<u8> {
        name::parse(b"4.4.e164.arpa.", name::ROOT).unwrap()
    }

    /// Adds `owner TYPE rdata` (owner relative to the apex) as read from line `line`.
    fn add(b: &mut ZoneBuilder, owner: &str, t: u16, rdata: &[u8], line: u32) {
        let owner = name::parse(owner.as_bytes(), &apex()).unwrap();
        let pos = Pos {
            file: Arc::from(Path::new("t.zone")),
            line,
        };
        b.add(&Record {
            owner: &owner,
            ttl: 60,
            rtype: t,
            rdata,
            pos: &pos,
        });
    }

    fn soa() -> Vec<u8> {
        let mut rdata = name::parse(b"ns.example.", name::ROOT).unwrap();
        rdata.extend_from_slice(&name::parse(b"hm.example.", name::ROOT).unwrap());
        for v in [1u32, 3600, 900, 1_209_600, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        rdata
    }

    /// The errors of building what `fill` adds, under `ceilings`.
    fn errors_under(ceilings: Ceilings, fill: impl Fn(&mut ZoneBuilder)) -> Vec<String> {
        let mut b = ZoneBuilder::new(&apex(), false);
        b.ceilings = ceilings;
        add(&mut b, "@", rtype::SOA, &soa(), 1);
        fill(&mut b);
        let whole = Pos {
            file: Arc::from(Path::new("t.zone")),
            line: 0,
        };
        let (zone, report) = b.finish(&whole, false);
        let errors: Vec<String> = report.listed.iter().map(ToString::to_string).collect();
        assert_eq!(zone.is_some(), errors.is_empty(), "{errors:?}");
        errors
    }

    #[test]
    fn every_ceiling_is_an_error_at_load_never_a_wrap() {
        let ample = Ceilings::default();
        let hundred_numbers = |b: &mut ZoneBuilder| {
            for i in 0..100u32 {
                let owner = format!("{}.{}.1", i % 10, i / 10);
                add(
                    b,
                    &owner,
                    rtype::TXT,
                    format!("\x04n{i:03}").as_bytes(),
                    i + 2,
                );
            }
        };
        assert!(errors_under(ample, hundred_numbers).is_empty());
        // The SOA's entry takes 46 bytes, each TXT 7: the 37th TXT (line 38) does not fit.
        assert_eq!(
            errors_under(Ceilings { pool: 300, ..ample }, hundred_numbers),
            [
                "t.zone:38: zone too large: its distinct RDATA exceeds 300 bytes (the pool's 32-bit offsets); split the zone"
            ]
        );
        assert_eq!(
            errors_under(
                Ceilings {
                    records: 50,
                    ..ample
                },
                hundred_numbers
            ),
            [
                "t.zone:51: zone too large: more than 50 records read (max_records); raise it or split the zone"
            ]
        );
        // Apex, 1, 1.0 … 1.9 and the 100 numbers: 112 nodes.
        assert_eq!(
            errors_under(
                Ceilings {
                    nodes: 111,
                    ..ample
                },
                hundred_numbers
            ),
            [
                "t.zone: zone too large: 112 trie nodes, at most 111 (32-bit indices); split the zone"
            ]
        );
        assert!(
            errors_under(
                Ceilings {
                    nodes: 112,
                    ..ample
                },
                hundred_numbers
            )
            .is_empty()
        );
    }

    #[test]
    fn long_rdata_keeps_its_length_and_templates_their_flag() {
        let mut b = ZoneBuilder::new(&apex(), false);
        let long: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let edge: Vec<u8> = vec![7; usize::from(LONG_ENTRY)];
        let short: Vec<u8> = vec![9; usize::from(LONG_ENTRY) - 1];
        let offs: Vec<u32> = [&long, &edge, &short]
            .iter()
            .map(|r| b.intern(r, false).unwrap())
            .collect();
        let templ = b.intern(b"\0\x01\0\x02", true).unwrap();
        assert_eq!(pooled(&b.pool, offs[0]), (&long[..], false));
        assert_eq!(pooled(&b.pool, offs[1]), (&edge[..], false));
        assert_eq!(pooled(&b.pool, offs[2]), (&short[..], false));
        assert_eq!(pooled(&b.pool, templ), (&b"\0\x01\0\x02"[..], true));
        // Interning finds each again.
        assert_eq!(b.intern(&long, false), Some(offs[0]));
        assert_eq!(b.intern(&edge, false), Some(offs[1]));
    }

    /// NAPTR RDATA whose regexp names `number`.
    fn naptr_for(number: &str) -> Vec<u8> {
        let regexp = format!("!^.*$!sip:{number}@example.net!");
        let mut r = vec![0, 10, 0, 100, 1, b'u', 7];
        r.extend_from_slice(b"E2U+sip");
        r.push(u8::try_from(regexp.len()).unwrap());
        r.extend_from_slice(regexp.as_bytes());
        r.push(0);
        r
    }

    #[test]
    fn a_walk_gives_each_name_the_number_its_owner_spells() {
        // Numbers in the trie, below a `*` label (whose names start a number afresh), at a
        // cut, and names of the side table.
        let owners = [
            "@", "3.2.1", "4.3.2.1", "1.*.5", "2.1.*.5", "*.9", "6.5", "x.3", "7.x.8",
        ];
        let mut b = ZoneBuilder::new(&apex(), false);
        add(&mut b, "@", rtype::SOA, &soa(), 1);
        let mut buf = [0; 128];
        let mut added = Vec::new();
        for (line, o) in (2..).zip(owners) {
            let owner = name::parse(o.as_bytes(), &apex()).unwrap();
            let number = template::owner_aus(&owner, &mut buf).map_or_else(
                || "+0".to_string(),
                |a| String::from_utf8(a.to_vec()).unwrap(),
            );
            let rdata = naptr_for(&number);
            add(&mut b, o, rtype::NAPTR, &rdata, line);
            added.push((owner, rdata));
        }
        let whole = Pos {
            file: Arc::from(Path::new("t.zone")),
            line: 0,
        };
        let (zone, report) = b.finish(&whole, false);
        let zone = zone.unwrap_or_else(|| panic!("{:?}", report.listed));
        let mut seen = 0;
        zone.for_each_name(|owner, _, number| {
            let spelled = template::owner_aus(owner, &mut buf).map(<[u8]>::to_vec);
            assert_eq!(
                number.map(<[u8]>::to_vec),
                spelled,
                "{}",
                name::to_text(owner)
            );
            seen += 1;
        });
        assert_eq!(seen, owners.len());
        // Every record comes back as added, templates expanded with the walk's numbers.
        let mut back: Vec<(Vec<u8>, Vec<u8>)> = zone
            .records()
            .into_iter()
            .filter(|r| r.rtype == rtype::NAPTR)
            .map(|r| (r.owner, r.rdata))
            .collect();
        back.sort();
        added.sort();
        assert_eq!(back, added);
    }

    /// The builder's report of a zone holding, at +44123 and then +44789, one `pstn:tel`
    /// NAPTR each whose REGEXP is `regexp(number)` (lines 2 and 3), and how many shapes it
    /// remembered.
    fn two_numbers(regexp: impl Fn(&str) -> String) -> (Vec<String>, usize) {
        let mut b = ZoneBuilder::new(&apex(), false);
        add(&mut b, "@", rtype::SOA, &soa(), 1);
        for (line, (owner, number)) in [(2, ("3.2.1", "+44123")), (3, ("9.8.7", "+44789"))] {
            let mut r = vec![0, 10, 0, 100, 1, b'u', 12];
            r.extend_from_slice(b"E2U+pstn:tel");
            let regexp = regexp(number);
            r.push(u8::try_from(regexp.len()).unwrap());
            r.extend_from_slice(regexp.as_bytes());
            r.push(0);
            add(&mut b, owner, rtype::NAPTR, &r, line);
        }
        let shapes = b.shapes.len();
        let whole = Pos {
            file: Arc::from(Path::new("t.zone")),
            line: 0,
        };
        let (zone, report) = b.finish(&whole, false);
        assert!(zone.is_some());
        (
            report.listed.iter().map(ToString::to_string).collect(),
            shapes,
        )
    }

    #[test]
    fn a_shape_checked_once_reports_each_number_s_own_findings() {
        // Both records have one template; the second is not checked again, yet its warning
        // names its own number and its own line.
        let (listed, shapes) = two_numbers(|n| format!("!^.*$!tel:{n};cic=+4410!"));
        assert_eq!(shapes, 1, "one shape, checked once");
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(
            listed[0].starts_with("t.zone:2: warning: 3.2.1.4.4.e164.arpa."),
            "{listed:?}"
        );
        assert!(
            listed[0].contains("own number +44123 without ;enumdi"),
            "{listed:?}"
        );
        assert!(
            listed[1].starts_with("t.zone:3: warning: 9.8.7.4.4.e164.arpa."),
            "{listed:?}"
        );
        assert!(
            listed[1].contains("own number +44789 without ;enumdi"),
            "{listed:?}"
        );
        assert!(!listed[1].contains("+44123"), "{listed:?}");
    }

    #[test]
    fn a_shape_whose_pattern_names_digits_is_checked_at_each_number() {
        // The same template at both numbers, but its pattern matches only the first.
        let (listed, shapes) = two_numbers(|n| format!("!^\\+4412(.*)$!tel:{n};enumdi!"));
        assert_eq!(shapes, 0, "not remembered");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].starts_with("t.zone:3: "), "{listed:?}");
        assert!(
            listed[0].contains("does not match this number's AUS +44789"),
            "{listed:?}"
        );
    }

    #[test]
    fn node_stays_small() {
        assert_eq!(size_of::<Node>(), 12);
        assert_eq!(size_of::<RRset>(), 12);
    }

    #[test]
    fn keys_sort_parents_first_and_digits_before_star() {
        let k = |labels: &[&str]| {
            let l: Vec<&[u8]> = labels.iter().map(|s| s.as_bytes()).collect();
            trie_key(&l).unwrap()
        };
        assert!(k(&["1"]) < k(&["1", "0"]));
        assert!(k(&["1", "9"]) < k(&["1", "*"]));
        assert!(k(&["1", "*"]) < k(&["2"]));
        assert!(trie_key(&[b"ns1"]).is_none());
    }

    #[test]
    fn an_owner_s_key_is_its_labels_key() {
        let apex = apex();
        let deep = vec!["1"; MAX_TRIE_DEPTH + 1].join(".");
        let edge = vec!["2"; MAX_TRIE_DEPTH].join(".");
        for text in [
            "@", "1", "3.2.1", "*.9", "1.*.5", "ns1", "x.3", "3.x", &deep, &edge,
        ] {
            let owner = name::parse(text.as_bytes(), &apex).unwrap();
            let all: Vec<&[u8]> = name::labels(&owner).collect();
            let relative: Vec<&[u8]> = all[..all.len() - name::label_count(&apex)]
                .iter()
                .rev()
                .copied()
                .collect();
            assert_eq!(
                owner_trie_key(&owner, apex.len()),
                trie_key(&relative),
                "{text}"
            );
        }
    }
}
