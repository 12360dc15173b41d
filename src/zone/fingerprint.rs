//! What a zone file said when it was loaded, block by block, so that a reload reads only the
//! parts that changed.
//!
//! Without it a reload by difference ([`super::diff`]) parses the whole file to find a
//! thousand changed numbers among ten million: 1.4 GB, most of a minute. Here the file is cut
//! into blocks after each line whose XXH3 hash ends in six zero bits (about 64 lines; cut by
//! content, as rsync's and restic's chunkers cut, so an inserted or removed line moves no
//! other block's edges), and each block keeps its 128-bit XXH3 hash, its offset and the
//! parser's state where it starts: 40 bytes per block, under one byte per line. A reload
//! hashes the new file the same way, without parsing it, and matches its blocks with the old
//! ones; only the stretches between matches are parsed, in both versions. The old text is
//! read from the file as it was loaded, which the fingerprint keeps open: a file replaced by
//! rename (as editors, `sed -i` and generators that write and rename do) stays readable. A
//! file rewritten in place does not: its old blocks no longer match their hashes, and the
//! reload reads the file whole.
//!
//! The records of the old stretches are taken out of the serving version's names and those of
//! the new stretches put in, which is exact only if every record of the zone comes from one
//! line of one file: a zone with `$INCLUDE`, duplicate records or RRsets whose records
//! disagree on their TTL keeps no fingerprint, and is reloaded as before.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// A line whose hash has these bits clear ends a block.
const CUT_MASK: u64 = 63;
/// Stretches to parse again (old and new text together) of more than a quarter of both
/// versions, half a file: the two reads of a whole comparison cost little more.
const MOST_BYTES: u64 = 4;
/// No TTL known, and a block where parsing cannot start.
const UNSET: u32 = u32::MAX;

/// The parser's state between two entries: all a stretch of the file needs to be parsed alone
/// once its first record names its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub origin: Vec<u8>,
    pub default_ttl: Option<u32>,
    pub last_ttl: Option<u32>,
}

/// One block of the file as loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    hash: [u64; 2],
    offset: u64,
    /// Index into [`Fingerprint::origins`], or [`UNSET`] when parsing cannot start here: the
    /// block starts inside an entry, or its first record takes the previous one's owner, or
    /// it holds no record.
    origin: u32,
    default_ttl: u32,
    last_ttl: u32,
}

impl Block {
    pub fn hash(&self) -> [u64; 2] {
        self.hash
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn starts_clean(&self) -> bool {
        self.origin != UNSET
    }
}

fn ttl_of(v: u32) -> Option<u32> {
    (v != UNSET).then_some(v)
}

/// A file's blocks as a parse cut them, with the origins their states name.
#[derive(Debug)]
pub struct Cut {
    pub blocks: Vec<Block>,
    pub origins: Vec<Vec<u8>>,
    /// The state at the end of the text.
    pub end: State,
}

/// The zone file a version of the zone was loaded from, as it was (see the module's comment).
#[derive(Debug)]
pub struct Fingerprint {
    pub path: PathBuf,
    /// The file as loaded, kept open to read its old text.
    pub file: File,
    pub len: u64,
    pub cut: Cut,
    /// Every CNAME owner, sorted: a changed name can lengthen or loop a chain that starts at
    /// one unchanged, and the checks follow them all, as a load does.
    pub cnames: Vec<Vec<u8>>,
}

/// How a block of a parsed entry begins, for [`Cutter::entry`].
pub enum Entry {
    Directive,
    /// A record; `true` if it takes the previous record's owner.
    Record(bool),
}

/// Cuts text into blocks as the parser reads it, line by line.
pub struct Cutter {
    hasher: Xxh3,
    offset: u64,
    blocks: Vec<Block>,
    /// Per block: its first line, whether the cut before it fell between entries, and its
    /// first record (0 none yet, 1 naming its owner, 2 taking the previous one's).
    lines: Vec<(u32, bool, u8)>,
    /// Blocks from here on still wait for the state they start in.
    unsettled: usize,
    origins: Vec<Vec<u8>>,
}

impl Cutter {
    /// A cutter for text starting at `offset`, line `first_line`, in `state` (which a clean
    /// start, the file's beginning or a block's, provides).
    pub fn new(offset: u64, first_line: u32, state: &State, origins: Vec<Vec<u8>>) -> Self {
        let mut c = Self {
            hasher: Xxh3::new(),
            offset,
            blocks: Vec::new(),
            lines: Vec::new(),
            unsettled: 0,
            origins,
        };
        c.push_block(first_line, true);
        c.settle(first_line, &state.origin, state.default_ttl, state.last_ttl);
        c
    }

    fn push_block(&mut self, first_line: u32, between_entries: bool) {
        self.blocks.push(Block {
            hash: [0; 2],
            offset: self.offset,
            origin: UNSET,
            default_ttl: UNSET,
            last_ttl: UNSET,
        });
        self.lines.push((first_line, between_entries, 0));
    }

    fn close_block(&mut self) {
        let h = self.hasher.digest128();
        self.hasher.reset();
        if let Some(b) = self.blocks.last_mut() {
            b.hash = split(h);
        }
    }

    /// After each line read (newline included), `line_no` its number; `between_entries` if no
    /// entry continues past it.
    pub fn line(&mut self, line: &[u8], line_no: u32, between_entries: bool) {
        self.hasher.update(line);
        self.offset += line.len() as u64;
        if ends_block(line) {
            self.close_block();
            self.push_block(line_no.saturating_add(1), between_entries);
        }
    }

    /// Before the parser handles an entry whose first line is `first_line`, in the state
    /// given by `origin` and the TTLs.
    pub fn entry(
        &mut self,
        first_line: u32,
        kind: &Entry,
        origin: &[u8],
        default_ttl: Option<u32>,
        last_ttl: Option<u32>,
    ) {
        self.settle(first_line, origin, default_ttl, last_ttl);
        if let Entry::Record(blank) = kind
            && let Some(at) = self.lines.iter().rposition(|l| l.0 <= first_line)
            && self.lines[at].2 == 0
        {
            self.lines[at].2 = if *blank { 2 } else { 1 };
        }
    }

    /// Gives a state to the blocks not yet given one that start at or before `line`.
    fn settle(
        &mut self,
        line: u32,
        origin: &[u8],
        default_ttl: Option<u32>,
        last_ttl: Option<u32>,
    ) {
        while self.unsettled < self.blocks.len() && self.lines[self.unsettled].0 <= line {
            let origin = match self.origins.iter().rposition(|o| o == origin) {
                Some(at) => at,
                None => {
                    self.origins.push(origin.to_vec());
                    self.origins.len() - 1
                }
            };
            let b = &mut self.blocks[self.unsettled];
            b.origin = u32::try_from(origin).unwrap_or(UNSET);
            b.default_ttl = default_ttl.unwrap_or(UNSET);
            // The last record's TTL is used only where no $TTL is in force.
            b.last_ttl = last_ttl.filter(|_| default_ttl.is_none()).unwrap_or(UNSET);
            self.unsettled += 1;
        }
    }

    /// The blocks, once the text has ended in `end`.
    pub fn finish(mut self, end: State) -> Cut {
        self.close_block();
        self.settle(u32::MAX, &end.origin, end.default_ttl, end.last_ttl);
        drop_empty_last(&mut self.blocks, self.offset);
        for (k, (b, &(_, between, first))) in self.blocks.iter_mut().zip(&self.lines).enumerate() {
            // The text's first block starts in the state given (and may hold no record);
            // any other must start between entries and name its first record's owner.
            let clean = if k == 0 {
                first != 2
            } else {
                between && first == 1
            };
            if !clean {
                b.origin = UNSET;
            }
        }
        Cut {
            blocks: self.blocks,
            origins: self.origins,
            end,
        }
    }
}

fn split(h: u128) -> [u64; 2] {
    #[allow(clippy::cast_possible_truncation)]
    [(h >> 64) as u64, h as u64]
}

fn ends_block(line: &[u8]) -> bool {
    xxh3_64(line) & CUT_MASK == 0
}

/// A cut right at the end leaves an empty last block, which a scan of the same text would
/// not have: dropped, unless it is the only one.
fn drop_empty_last(blocks: &mut Vec<Block>, end: u64) {
    if blocks.len() > 1 && blocks.last().is_some_and(|b| b.offset == end) {
        blocks.pop();
    }
}

/// A block of a new version of the file, found by [`scan`].
#[derive(Clone, Copy, Debug)]
pub struct NewBlock {
    pub hash: [u64; 2],
    pub offset: u64,
    pub first_line: u32,
}

/// Cuts the first `len` bytes of `file` into blocks as [`Cutter`] would, without parsing.
pub fn scan(file: &File, len: u64) -> std::io::Result<Vec<NewBlock>> {
    let mut buf = vec![0u8; 1 << 22];
    let (mut have, mut at) = (0usize, 0u64);
    let mut hasher = Xxh3::new();
    let mut blocks = vec![NewBlock {
        hash: [0; 2],
        offset: 0,
        first_line: 1,
    }];
    let mut line_no = 0u32;
    loop {
        let want = usize::try_from((len - at - have as u64).min((buf.len() - have) as u64))
            .unwrap_or(usize::MAX);
        let n = file.read_at(&mut buf[have..have + want], at + have as u64)?;
        if n == 0 && want > 0 {
            return Err(std::io::Error::other("the file shrank while it was read"));
        }
        have += n;
        let end_of_file = at + have as u64 == len;
        let (mut i, mut span) = (0usize, 0usize);
        while i < have {
            let end = match memchr::memchr(b'\n', &buf[i..have]) {
                Some(k) => i + k + 1,
                None if end_of_file => have,
                None => break,
            };
            line_no = line_no.saturating_add(1);
            if ends_block(&buf[i..end]) {
                hasher.update(&buf[span..end]);
                if let Some(b) = blocks.last_mut() {
                    b.hash = split(hasher.digest128());
                }
                hasher.reset();
                blocks.push(NewBlock {
                    hash: [0; 2],
                    offset: at + end as u64,
                    first_line: line_no.saturating_add(1),
                });
                span = end;
            }
            i = end;
        }
        hasher.update(&buf[span..i]);
        buf.copy_within(i..have, 0);
        at += i as u64;
        have -= i;
        if end_of_file && have == 0 {
            break;
        }
        if have == buf.len() {
            // A line longer than the buffer: no zone file has one (lines stop at 1 MiB).
            return Err(std::io::Error::other("a line longer than 4 MiB"));
        }
    }
    if let Some(b) = blocks.last_mut() {
        b.hash = split(hasher.digest128());
    }
    if blocks.len() > 1 && blocks.last().is_some_and(|b| b.offset == len) {
        blocks.pop();
    }
    Ok(blocks)
}

/// A stretch that differs between the two versions, widened to blocks where parsing can start
/// and whose state the following text depends on.
#[derive(Debug)]
pub struct Stretch {
    /// Old blocks, and their bytes.
    pub old_blocks: Range<usize>,
    pub old: Range<u64>,
    pub new_blocks: Range<usize>,
    pub new: Range<u64>,
    pub first_line: u32,
    /// Where both start.
    pub start: State,
    /// What the old text led to where it ends, and the new must lead to as well.
    pub end: State,
}

impl Fingerprint {
    fn state(&self, i: usize) -> Option<State> {
        match self.cut.blocks.get(i) {
            None => Some(self.cut.end.clone()),
            Some(b) if b.starts_clean() => Some(State {
                origin: self.cut.origins.get(b.origin as usize)?.clone(),
                default_ttl: ttl_of(b.default_ttl),
                last_ttl: ttl_of(b.last_ttl),
            }),
            Some(_) => None,
        }
    }

    fn old_offset(&self, i: usize) -> u64 {
        self.cut.blocks.get(i).map_or(self.len, |b| b.offset)
    }

    /// The old block `i`'s hash, to check the old text read again.
    pub fn old_hash(&self, i: usize) -> Option<[u64; 2]> {
        self.cut.blocks.get(i).map(|b| b.hash)
    }

    /// The stretches of `new` (a version of the file `new_len` long) that differ from the
    /// loaded one, matched block by block; `None` if they are so much of it that reading the
    /// file whole costs as little.
    pub fn stretches(&self, new: &[NewBlock], new_len: u64) -> Option<Vec<Stretch>> {
        let old = &self.cut.blocks;
        let index = self.by_hash();
        // Matched pairs, increasing on both sides, between sentinels before the first block
        // and after the last; a stretch lies between two of them.
        let mut pairs: Vec<(isize, isize)> = vec![(-1, -1)];
        let mut last = -1isize;
        for (j, b) in new.iter().enumerate() {
            if let Some(&i) = index.get(&b.hash)
                && i != usize::MAX
                && isize::try_from(i).ok()? > last
            {
                last = isize::try_from(i).ok()?;
                pairs.push((last, isize::try_from(j).ok()?));
            }
        }
        pairs.push((
            isize::try_from(old.len()).ok()?,
            isize::try_from(new.len()).ok()?,
        ));
        let first = |p: usize| usize::try_from(pairs[p].0 + 1).unwrap_or(0);
        let clean = |i: usize| i == 0 || self.state(i).is_some();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for q in 1..pairs.len() {
            let p = q - 1;
            if pairs[q].0 - pairs[p].0 == 1 && pairs[q].1 - pairs[p].1 == 1 {
                continue;
            }
            let (mut p, mut q) = (p, q);
            while p > 0 && !clean(first(p)) {
                p -= 1;
            }
            while q < pairs.len() - 1 && !clean(usize::try_from(pairs[q].0).ok()?) {
                q += 1;
            }
            match spans.last_mut() {
                Some(s) if p < s.1 => s.1 = s.1.max(q),
                _ => spans.push((p, q)),
            }
        }
        let new_offset = |j: usize| new.get(j).map_or(new_len, |b| b.offset);
        let mut out = Vec::with_capacity(spans.len());
        let mut bytes = 0;
        for (p, q) in spans {
            let (o0, o1) = (first(p), usize::try_from(pairs[q].0).ok()?);
            let n0 = usize::try_from(pairs[p].1 + 1).ok()?;
            let n1 = usize::try_from(pairs[q].1).ok()?;
            let start = self.state(o0)?;
            let stretch = Stretch {
                old: self.old_offset(o0)..self.old_offset(o1),
                new: new_offset(n0)..new_offset(n1),
                first_line: new.get(n0).map_or(1, |b| b.first_line),
                old_blocks: o0..o1,
                new_blocks: n0..n1,
                start,
                end: self.state(o1)?,
            };
            bytes += (stretch.new.end - stretch.new.start) + (stretch.old.end - stretch.old.start);
            out.push(stretch);
        }
        (bytes <= (new_len + self.len) / MOST_BYTES).then_some(out)
    }

    /// Each old block's index by its hash; a hash seen twice cannot tell which block matched,
    /// and maps to `usize::MAX`.
    fn by_hash(&self) -> HashMap<[u64; 2], usize> {
        let mut index = HashMap::with_capacity(self.cut.blocks.len());
        for (i, b) in self.cut.blocks.iter().enumerate() {
            index
                .entry(b.hash)
                .and_modify(|v| *v = usize::MAX)
                .or_insert(i);
        }
        index
    }

    /// The fingerprint of the new version: its blocks are the stretches' as parsed again
    /// (`parsed`, one [`Cut`] per stretch) and, elsewhere, the old blocks they matched.
    pub fn next(
        &self,
        (file, new_len): (File, u64),
        new: &[NewBlock],
        stretches: &[Stretch],
        parsed: Vec<Cut>,
        origins: Vec<Vec<u8>>,
        cnames: Vec<Vec<u8>>,
    ) -> Option<Self> {
        let mut blocks: Vec<Option<Block>> = vec![None; new.len()];
        let matched_old = self.by_hash();
        let mut end = self.cut.end.clone();
        for (s, cut) in stretches.iter().zip(parsed) {
            if cut.blocks.len() != s.new_blocks.len() {
                return None;
            }
            for (j, b) in s.new_blocks.clone().zip(cut.blocks) {
                if b.hash != new[j].hash || b.offset != new[j].offset {
                    return None;
                }
                blocks[j] = Some(b);
            }
            if s.new_blocks.end == new.len() {
                end = cut.end;
            }
        }
        for (j, slot) in blocks.iter_mut().enumerate() {
            if slot.is_none() {
                let i = *matched_old.get(&new[j].hash)?;
                let old = self.cut.blocks.get(i)?;
                *slot = Some(Block {
                    offset: new[j].offset,
                    ..*old
                });
            }
        }
        Some(Self {
            path: self.path.clone(),
            file,
            len: new_len,
            cut: Cut {
                blocks: blocks.into_iter().collect::<Option<Vec<_>>>()?,
                origins,
                end,
            },
            cnames,
        })
    }
}
