//! A zone's journal: every accepted change set, in order, in an append-only file of
//! checksummed entries (the shape of BIND's `.jnl`).
//!
//! The guarantee: [`Journal::append`] returns only after the entries' bytes are on stable
//! storage (`fdatasync`), and enumd answers an UPDATE or publishes a change only after that.
//! Each entry is `[length u32][CRC-32 of the payload u32][payload]`; a crash mid-write leaves
//! at most one entry cut short or with a wrong checksum, at the end of the entries. Opening
//! finds it, warns, and cuts the file back to the last whole entry: everything acknowledged
//! before it is kept. A bad entry is taken for a torn write only if nothing but zeros follows
//! it (or it reaches the end of the file); anywhere else it is damage, and the journal refuses
//! to open rather than guess.
//!
//! The file is grown ahead of its entries by [`GROW`] bytes of zeros, written and synced once:
//! an entry then overwrites blocks the file already has, so its `fdatasync` writes those blocks
//! and not the inode's new size as well (one device write an update instead of two; on ext4
//! 97 µs against 124 µs median a 200-byte append). A length of zero, which no entry has, marks
//! where the entries end and the zeros begin.
//!
//! An entry from serial S to S with no records is a marker: the zone file holds serial S. It
//! is written after each flush, so a restart knows which entries the file already has.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::change::{ChangeSet, Rr};

/// The file's first bytes: format and version. Version 2 may have zeros after its entries;
/// version 1 (before them) is read the same and marked 2 when opened, so that an older enumd
/// refuses the file by its version instead of taking the zeros for damage.
const MAGIC: &[u8; 12] = b"enumd-jnl-2\n";
const MAGIC_V1: &[u8; 12] = b"enumd-jnl-1\n";
/// No entry is longer: a change set from one UPDATE is at most a message (64 KiB), one from a
/// reload of a changed file may be large, but not this large.
const MAX_ENTRY: u32 = 1 << 30;
/// Zeros written past the entries at a time (see the module's doc): the journal's own size
/// rounded up to a power of two, at least `GROW_MIN` and at most `GROW`, so that a zone with few changes (one of thousands
/// of secondaries, say) takes 64 KiB of disk, not a MiB.
pub const GROW: u64 = 1 << 20;
const GROW_MIN: u64 = 64 << 10;

/// One journal entry: the change from serial `from` to serial `to`, or a marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub from: u32,
    pub to: u32,
    pub change: ChangeSet,
}

impl Entry {
    /// The marker saying the zone file holds `serial`.
    pub fn flushed(serial: u32) -> Self {
        Self {
            from: serial,
            to: serial,
            change: ChangeSet::default(),
        }
    }

    pub fn is_marker(&self) -> bool {
        self.from == self.to && self.change == ChangeSet::default()
    }
}

/// An open journal, positioned at the end of its entries.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Where the entries end.
    len: u64,
    /// The file's size: `len` and the zeros after it.
    allocated: u64,
}

/// What opening found besides the entries: a torn tail that was dropped.
#[derive(Debug, Default)]
pub struct Opened {
    pub entries: Vec<Entry>,
    /// Bytes cut from the end, and why.
    pub dropped_tail: Option<(u64, String)>,
}

impl Journal {
    /// The journal of the zone with `apex` (text form) in `dir`.
    pub fn path_for(dir: &Path, apex: &str) -> PathBuf {
        let stem = apex.trim_end_matches('.');
        let stem = if stem.is_empty() { "root" } else { stem };
        dir.join(format!("{stem}.jnl"))
    }

    /// When `path` does not exist, a file beside it with the same name in another case: the
    /// journal of a zone whose apex was configured in capitals (`E164.arpa.jnl`) before apexes
    /// were kept in lower case, which must be adopted, not ignored.
    pub fn other_spelling(path: &Path) -> Option<PathBuf> {
        if path.exists() {
            return None;
        }
        let want = path.file_name()?.to_str()?;
        std::fs::read_dir(path.parent()?)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.eq_ignore_ascii_case(want))
            })
    }

    /// Opens (or creates) the journal at `path`, reads every entry, and drops a torn tail.
    pub fn open(path: &Path) -> Result<(Self, Opened), String> {
        let shown = path.display();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("{shown}: cannot open: {e}"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("{shown}: cannot read: {e}"))?;
        let mut opened = Opened::default();
        if bytes.is_empty() {
            file.write_all(MAGIC)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("{shown}: cannot write: {e}"))?;
            sync_dir(path)?;
            bytes.extend_from_slice(MAGIC);
        } else if bytes.starts_with(MAGIC_V1) {
            file.write_all_at(MAGIC, 0)
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("{shown}: cannot mark version 2: {e}"))?;
            bytes[..MAGIC.len()].copy_from_slice(MAGIC);
        } else if !bytes.starts_with(MAGIC) {
            return Err(format!(
                "{shown}: not an enumd journal (or of another version); move it away to start a new one"
            ));
        }
        let mut at = MAGIC.len();
        while at < entries_end(&bytes, at) {
            match read_entry(&bytes, at) {
                Ok((entry, next)) => {
                    opened.entries.push(entry);
                    at = next;
                }
                Err(why) => {
                    if !is_last(&bytes, at) {
                        return Err(format!(
                            "{shown}: entry at byte {at} is damaged ({why}) and does not end the file: not a torn write; restore the journal or move it away (its changes are then lost)"
                        ));
                    }
                    // Kept aside, not destroyed: what was cut can still be looked at.
                    // The bytes written, without the zeros after them.
                    let cut = bytes[at..]
                        .iter()
                        .rposition(|&b| b != 0)
                        .map_or(0, |p| p + 1);
                    let aside = path.with_extension("jnl.torn");
                    let _ = std::fs::write(&aside, &bytes[at..at + cut]);
                    let cut = cut as u64;
                    file.set_len(at as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| format!("{shown}: cannot cut the torn tail: {e}"))?;
                    opened.dropped_tail = Some((cut, why));
                    bytes.truncate(at);
                    break;
                }
            }
        }
        let journal = Self {
            path: path.to_path_buf(),
            file,
            len: at as u64,
            allocated: bytes.len() as u64,
        };
        Ok((journal, opened))
    }

    /// Appends `entries` and makes them durable: one write, one `fdatasync`, however many
    /// entries (group commit). On error nothing may be taken as written.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        let mut buf = Vec::new();
        for e in entries {
            encode_entry(e, &mut buf);
        }
        let end = self.len + buf.len() as u64;
        // Past the zeros: more of them in the same write, behind the entries.
        let allocated = if end > self.allocated {
            let step = self.len.next_power_of_two().clamp(GROW_MIN, GROW);
            let zeros = usize::try_from(end.next_multiple_of(step) - end).unwrap_or(0);
            buf.resize(buf.len() + zeros, 0);
            end + zeros as u64
        } else {
            self.allocated
        };
        let shown = self.path.display();
        let written = self
            .file
            .write_all_at(&buf, self.len)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Take back whatever part made it, so the next append does not follow a torn one.
            let _ = self.file.set_len(self.len);
            self.allocated = self.len;
            return Err(format!("{shown}: cannot write: {e}"));
        }
        self.len = end;
        self.allocated = allocated;
        Ok(())
    }

    /// Every entry, read from the file again (for compaction; later, IXFR).
    pub fn entries(&self) -> Result<Vec<Entry>, String> {
        let bytes = std::fs::read(&self.path)
            .map_err(|e| format!("{}: cannot read: {e}", self.path.display()))?;
        let mut at = MAGIC.len();
        let mut out = Vec::new();
        while at < entries_end(&bytes, at) {
            let (e, next) = read_entry(&bytes, at)
                .map_err(|why| format!("{}: entry at byte {at}: {why}", self.path.display()))?;
            out.push(e);
            at = next;
        }
        Ok(out)
    }

    /// The journal's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }

    /// Rewrites the journal holding only `keep` (the newest history): a new file written,
    /// synced and renamed over the old one, so a crash leaves one or the other whole.
    pub fn rewrite(&mut self, keep: &[Entry]) -> Result<(), String> {
        let tmp = self.path.with_extension("jnl.new");
        let mut buf = MAGIC.to_vec();
        for e in keep {
            encode_entry(e, &mut buf);
        }
        let shown = tmp.display();
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&tmp)
            .map_err(|e| format!("{shown}: cannot create: {e}"))?;
        f.set_len(0)
            .and_then(|()| f.write_all(&buf))
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{shown}: cannot write: {e}"))?;
        // The handle stays on the new file through the rename: appends can never go to the
        // old one, whatever happens after.
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{shown}: cannot rename: {e}"))?;
        self.file = f;
        self.len = buf.len() as u64;
        self.allocated = self.len;
        sync_dir(&self.path)
    }
}

/// Every whole entry of the journal at `path`, read by someone other than its writer (a
/// transfer out reading history): an entry being appended at that moment is cut short or
/// fails its checksum, and ends the reading rather than failing it.
pub fn read_history(path: &Path) -> Result<Vec<Entry>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if !bytes.starts_with(MAGIC) && !bytes.starts_with(MAGIC_V1) {
        return Err(format!("{}: not an enumd journal", path.display()));
    }
    let mut at = MAGIC.len();
    let mut out = Vec::new();
    while let Ok((e, next)) = read_entry(&bytes, at) {
        out.push(e);
        at = next;
    }
    Ok(out)
}

/// Writes `bytes` to `tmp`, syncs it, renames it to `to` and syncs the directory: the way a
/// file is replaced so that a crash leaves either the old or the new one, never a mix.
pub fn write_durably(tmp: &Path, bytes: &[u8], to: &Path) -> Result<(), String> {
    write_durably_with(tmp, to, |w| w.write_all(bytes))
}

/// [`write_durably`] with the contents streamed by `write` through a buffer.
pub fn write_durably_with<T>(
    tmp: &Path,
    to: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> std::io::Result<T>,
) -> Result<T, String> {
    let shown = tmp.display();
    let f = File::create(tmp).map_err(|e| format!("{shown}: cannot create: {e}"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let value = write(&mut w)
        .and_then(|v| w.flush().map(|()| v))
        .map_err(|e| format!("{shown}: cannot write: {e}"))?;
    w.get_ref()
        .sync_all()
        .map_err(|e| format!("{shown}: cannot sync: {e}"))?;
    std::fs::rename(tmp, to)
        .map_err(|e| format!("{}: cannot rename to {}: {e}", tmp.display(), to.display()))?;
    sync_dir(to)?;
    Ok(value)
}

fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: cannot sync: {e}", dir.display()))
}

impl Entry {
    /// Bytes the entry takes in the file.
    pub fn encoded_len(&self) -> u64 {
        let mut buf = Vec::new();
        encode_entry(self, &mut buf);
        buf.len() as u64
    }
}

fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&e.from.to_be_bytes());
    p.extend_from_slice(&e.to.to_be_bytes());
    for list in [&e.change.removed, &e.change.added] {
        p.extend_from_slice(&count(list.len()).to_be_bytes());
        for rr in list {
            p.extend_from_slice(&rr.owner);
            p.extend_from_slice(&rr.rtype.to_be_bytes());
            p.extend_from_slice(&rr.ttl.to_be_bytes());
            // RDATA is at most 65,535 octets (RFC 1035 §3.2.1), as the parser and UPDATE check.
            p.extend_from_slice(
                &u16::try_from(rr.rdata.len())
                    .unwrap_or(u16::MAX)
                    .to_be_bytes(),
            );
            p.extend_from_slice(&rr.rdata);
        }
    }
    out.extend_from_slice(&count(p.len()).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&p).to_be_bytes());
    out.extend_from_slice(&p);
}

/// A count or length of a journal field: change sets are bounded far below 2³².
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn read_entry(bytes: &[u8], at: usize) -> Result<(Entry, usize), String> {
    let head = bytes
        .get(at..at + 8)
        .ok_or_else(|| "cut short in its header".to_string())?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_ENTRY {
        return Err(format!("length {len} is impossible"));
    }
    let end = at + 8 + len as usize;
    let payload = bytes.get(at + 8..end).ok_or_else(|| {
        format!(
            "cut short: {len} bytes announced, {} there",
            bytes.len() - at - 8
        )
    })?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum does not match".to_string());
    }
    let entry = decode_payload(payload).ok_or_else(|| "checksum good, contents not".to_string())?;
    Ok((entry, end))
}

fn decode_payload(p: &[u8]) -> Option<Entry> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(p.get(at..at + 4)?.try_into().ok()?))
    };
    let from = word(0)?;
    let to = word(4)?;
    let mut at = 8;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = word(at)?;
        at += 4;
        for _ in 0..n {
            let start = at;
            loop {
                let len = usize::from(*p.get(at)?);
                at += 1 + len;
                if len == 0 {
                    break;
                }
            }
            let owner = p.get(start..at)?.to_vec();
            let fixed = p.get(at..at + 8)?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let ttl = u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]);
            let len = usize::from(u16::from_be_bytes([fixed[6], fixed[7]]));
            let rdata = p.get(at + 8..at + 8 + len)?.to_vec();
            at += 8 + len;
            list.push(Rr {
                owner,
                rtype,
                ttl,
                rdata,
            });
        }
    }
    let [removed, added] = lists;
    (at == p.len()).then_some(Entry {
        from,
        to,
        change: ChangeSet { removed, added },
    })
}

/// Where the entries end, looked for at `at` (where the next one would start): the end of the
/// file, or `at` itself when a zero length begins the zeros that follow the last entry and
/// nothing but zeros comes after. (A zero length followed by anything else is left to
/// [`read_entry`], which calls it bad.)
fn entries_end(bytes: &[u8], at: usize) -> usize {
    let zero_length = bytes.get(at..at + 4).is_some_and(|h| h == [0; 4]);
    if zero_length && bytes[at..].iter().all(|&b| b == 0) {
        at
    } else {
        bytes.len()
    }
}

/// Whether the bad entry at `at` is the last thing written: its header cut short, or its
/// announced length reaching every non-zero byte after it (the file's end, or the zeros ahead
/// of the entries). Only such an entry can be a write cut short by a crash; every entry before
/// it was whole and synced before the next was written.
fn is_last(bytes: &[u8], at: usize) -> bool {
    let written = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    match bytes.get(at..at + 4) {
        None => true,
        Some(h) => at + 8 + u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize >= written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Entry {
        Entry {
            from: n,
            to: n + 1,
            change: ChangeSet {
                removed: vec![Rr {
                    owner: b"\x011\x04e164\x04arpa\x00".to_vec(),
                    rtype: 16,
                    ttl: 60,
                    rdata: format!("\x05old{n:02}").into_bytes(),
                }],
                added: vec![Rr {
                    owner: b"\x011\x04e164\x04arpa\x00".to_vec(),
                    rtype: 16,
                    ttl: 60,
                    rdata: format!("\x05new{n:02}").into_bytes(),
                }],
            },
        }
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "enumd-journal-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Where the entries of journal `bytes` end, walked by their lengths.
    fn end_of_entries(bytes: &[u8]) -> usize {
        let mut at = MAGIC.len();
        while let Some(h) = bytes.get(at..at + 4).filter(|h| *h != [0; 4]) {
            at += 8 + u32::from_be_bytes(h.try_into().unwrap()) as usize;
        }
        at
    }

    #[test]
    fn entries_come_back_and_a_torn_or_corrupt_tail_goes() {
        let d = dir();
        let path = d.join("z.jnl");
        let (mut j, opened) = Journal::open(&path).unwrap();
        assert!(opened.entries.is_empty());
        j.append(&[entry(1), entry(2)]).unwrap();
        j.append(&[entry(3)]).unwrap();
        drop(j);
        let (_, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2), entry(3)]);
        let whole = std::fs::read(&path).unwrap();
        let end = end_of_entries(&whole);
        assert_eq!(
            whole.len() as u64,
            GROW_MIN,
            "the entries and zeros after them"
        );

        // Cut mid-entry, as a journal without zeros ahead (an older enumd's) would be: the
        // last entry goes, the others stay, and the file is cut back.
        std::fs::write(&path, &whole[..end - 5]).unwrap();
        let (mut j, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2)]);
        assert!(opened.dropped_tail.is_some());
        j.append(&[entry(3)]).unwrap();
        drop(j);
        assert_eq!(std::fs::read(&path).unwrap(), whole);

        // The last entry's end never reached the disk, the zeros after it did: the same.
        let mut torn = whole.clone();
        torn[end - 5..end].fill(0);
        std::fs::write(&path, &torn).unwrap();
        let (_, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2)]);
        let (cut, why) = opened.dropped_tail.unwrap();
        assert!(why.contains("checksum"), "{why}");
        let last = end - usize::try_from(entry(3).encoded_len()).unwrap();
        assert_eq!(
            usize::try_from(cut).unwrap(),
            end - 5 - last,
            "what was written of it"
        );

        // A flipped bit in the last entry: the same.
        let mut bad = whole.clone();
        bad[end - 3] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let (_, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2)]);
        assert!(opened.dropped_tail.unwrap().1.contains("checksum"));

        // A flipped bit in the first: damage, not a torn write.
        let mut bad = whole.clone();
        bad[MAGIC.len() + 12] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let err = Journal::open(&path).err().unwrap();
        assert!(err.contains("does not end the file"), "{err}");

        // Anything written past the zeros that begin after the entries: damage too.
        let mut bad = whole.clone();
        bad[end + 100] = 1;
        std::fs::write(&path, &bad).unwrap();
        let err = Journal::open(&path).err().unwrap();
        assert!(err.contains(&format!("entry at byte {end}")), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_file_grows_by_zeros_ahead_of_its_entries() {
        let d = dir();
        let path = d.join("z.jnl");
        let (mut j, _) = Journal::open(&path).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        assert_eq!(
            size(),
            MAGIC.len() as u64,
            "nothing ahead before the first entry"
        );
        let mut appended = vec![];
        let mut written = MAGIC.len() as u64;
        for n in 0..u32::try_from(GROW / entry(0).encoded_len() + 10).unwrap() {
            j.append(&[entry(n)]).unwrap();
            appended.push(entry(n));
            written += entry(n).encoded_len();
            assert_eq!(j.len(), written);
            assert!(
                size() >= written && size() - written < GROW,
                "after {} entries: {} bytes",
                n + 1,
                size()
            );
            assert_eq!(size() % GROW_MIN, 0);
        }
        assert!(size() > GROW, "grown past a MiB");
        assert_eq!(j.entries().unwrap(), appended);
        assert_eq!(read_history(&path).unwrap(), appended);
        drop(j);
        let (j, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, appended);
        assert!(opened.dropped_tail.is_none());
        assert_eq!(j.len(), written);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_version_1_journal_opens_and_is_marked_version_2() {
        let d = dir();
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("z.jnl");
        let mut v1 = MAGIC_V1.to_vec();
        encode_entry(&entry(1), &mut v1);
        encode_entry(&entry(2), &mut v1);
        std::fs::write(&path, &v1).unwrap();
        assert_eq!(read_history(&path).unwrap(), vec![entry(1), entry(2)]);
        let (mut j, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2)]);
        assert!(opened.dropped_tail.is_none());
        j.append(&[entry(3)]).unwrap();
        drop(j);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(MAGIC));
        let (_, opened) = Journal::open(&path).unwrap();
        assert_eq!(opened.entries, vec![entry(1), entry(2), entry(3)]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_journal_named_in_capitals_is_found_by_its_lower_case_name() {
        let d = dir();
        std::fs::create_dir_all(&d).unwrap();
        let path = Journal::path_for(&d, "e164.arpa.");
        assert_eq!(Journal::other_spelling(&path), None);
        std::fs::write(d.join("E164.Arpa.jnl"), b"x").unwrap();
        assert_eq!(
            Journal::other_spelling(&path),
            Some(d.join("E164.Arpa.jnl"))
        );
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(Journal::other_spelling(&path), None, "the right name wins");
        let _ = std::fs::remove_dir_all(&d);
    }
}
