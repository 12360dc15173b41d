//! RFC 1035 §5 master files, read as a stream: one logical entry at a time, records handed to a
//! callback with their file and line, nothing kept but the current entry.
//!
//! Handles `$ORIGIN`, `$TTL` (RFC 2308 §4), `$INCLUDE` with an optional origin, `@`, relative
//! names, omitted owner/TTL/class, parentheses across lines, comments, quoted strings with `\"`,
//! `\\` and `\DDD`, and RFC 3597 unknown types (`TYPE65300 \# 4 0A0B0C0D`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::name;
use crate::rdata::{encode_rdata, parse_ttl, rtype};
use crate::record::{Pos, Record, ZoneError};
use crate::zone::fingerprint::{Cut, Cutter, Entry, State};

/// Writes `zone` as a master file (owners absolute, one record a line), as enumd writes a zone
/// it owns, streaming; [`parse_file`] reads it back to the same records. Returns the records
/// written.
pub fn write_zone(
    zone: &crate::zone::Zone,
    out: &mut impl std::io::Write,
) -> std::io::Result<usize> {
    writeln!(
        out,
        "; {} serial {}: written by enumd from its journal; edit with care (see README, Sending updates)",
        name::to_text(&zone.apex),
        zone.serial
    )?;
    let mut count = 0;
    let mut failed = Ok(());
    zone.for_each_record(|owner, t, ttl, rdata| {
        if failed.is_ok() {
            failed = writeln!(
                out,
                "{} {ttl} IN {} {}",
                name::to_text(owner),
                rtype::to_text(t),
                crate::rdata::to_text(t, rdata)
            );
            count += 1;
        }
    });
    failed.map(|()| count)
}

/// Nested `$INCLUDE`s beyond this depth are taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Files one zone may open, its own and every `$INCLUDE` (repeats counted): bounds what a fan
/// of includes can make the loader open. The builder numbers each stretch of records read from
/// one file (at most two per opening) with a `u16`, which this keeps in range.
pub const MAX_FILES_PER_ZONE: usize = 32_767;
/// The longest line, and the longest entry (lines joined by parentheses), of a master file. The
/// longest valid record, 65,535 octets of RDATA written as `\DDD` escapes, takes about 263,000
/// characters; anything longer is not a zone file (binary data, a file without newlines).
pub const MAX_LINE: usize = 1 << 20;

/// What a parse saw besides records and errors.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Every file read, each once, in the order first opened: for change watching.
    pub files: Vec<PathBuf>,
    /// Some file could not be read to its end: a missing SOA may be its consequence.
    pub unreadable: bool,
    /// An SOA record failed to parse: the zone's missing SOA is that error, not another.
    pub bad_soa: bool,
    /// Each file opened, repeats included, with its length and time as it was opened: two
    /// reads of a zone read the same text when they opened the same.
    pub opened: Vec<(PathBuf, FileVersion)>,
    /// The file cut into blocks, with the file still open and its length, when asked for and
    /// the file could be: one file read without error or `$INCLUDE` ([`fingerprint`]).
    pub cut: Option<(File, u64, Cut)>,
}

/// Reads `path` (and what it includes) with `origin` as the initial origin, calling `on_record`
/// for every record and `on_error` for every problem; parsing goes on after an error so that one
/// run lists them all. Time and memory are bounded whatever the input: only regular files are
/// read, each no further than its size when opened, with lines and entries capped at
/// [`MAX_LINE`] and at most [`MAX_FILES_PER_ZONE`] files.
pub fn parse_file(
    path: &Path,
    origin: &[u8],
    on_record: &mut dyn FnMut(&Record<'_>),
    on_error: &mut dyn FnMut(ZoneError),
) -> Parsed {
    parse_file_for(path, origin, &|_| true, on_record, on_error)
}

/// [`parse_file`], cutting the file into blocks as it goes ([`Parsed::cut`]).
pub fn parse_file_cut(
    path: &Path,
    origin: &[u8],
    on_record: &mut dyn FnMut(&Record<'_>),
    on_error: &mut dyn FnMut(ZoneError),
) -> Parsed {
    let mut parser = Parser::new(&|_| true, origin, on_record, on_error);
    parser.cutting = true;
    parser.read_file(path, None, 0);
    parser.parsed
}

/// What parsing a stretch of a file found.
pub struct StretchParse {
    pub cut: Cut,
    /// Problems found: the stretch cannot stand for the file's text if there are any.
    pub errors: usize,
    /// A `$INCLUDE` in it, which a stretch does not follow.
    pub included: bool,
}

/// Parses bytes `range` of `file` (read as `path`), which start at line `first_line` in
/// `start` (a block's state, [`fingerprint`]), cutting them into blocks; records go to
/// `on_record`, and `origins` is the table of origins the blocks' states name.
pub fn parse_stretch(
    file: &File,
    path: &Path,
    range: std::ops::Range<u64>,
    first_line: u32,
    start: &State,
    origins: Vec<Vec<u8>>,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> StretchParse {
    let mut errors = 0usize;
    let mut on_error = |e: ZoneError| errors += usize::from(!e.warning);
    let mut parser = Parser::new(&|_| true, &start.origin, on_record, &mut on_error);
    parser.default_ttl = start.default_ttl;
    parser.last_ttl = start.last_ttl;
    let reader = BufReader::with_capacity(
        1 << 16,
        At {
            file,
            at: range.start,
            end: range.end,
        },
    );
    let mut lexer = Lexer::new(reader, Arc::from(path));
    lexer.line_no = first_line.saturating_sub(1);
    lexer.cutter = Some(Cutter::new(range.start, first_line, start, origins));
    while let Some(entry) = lexer.next_entry() {
        let result = entry.map_err(|_| ()).and_then(|()| {
            parser.note_entry(&mut lexer);
            parser.entry(&lexer, 0).map_err(|_| ())
        });
        if result.is_err() {
            parser.spoiled = true;
        }
    }
    let end = parser.state();
    let included = parser.included;
    let spoiled = parser.spoiled || lexer.stopped;
    drop(parser);
    let cut = lexer
        .cutter
        .take()
        .unwrap_or_else(|| unreachable!("set above"))
        .finish(end);
    StretchParse {
        cut,
        errors: errors + usize::from(spoiled),
        included,
    }
}

/// Reads a byte range of a file, with `pread`: the file's own offset is left alone.
struct At<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// [`parse_file`], but the RDATA of records whose owner `wanted` refuses is not parsed and
/// they are not handed over (their owner and TTL still count for the records after them): a
/// second read that needs only some names skips most of the work.
pub fn parse_file_for(
    path: &Path,
    origin: &[u8],
    wanted: &dyn Fn(&[u8]) -> bool,
    on_record: &mut dyn FnMut(&Record<'_>),
    on_error: &mut dyn FnMut(ZoneError),
) -> Parsed {
    let mut parser = Parser::new(wanted, origin, on_record, on_error);
    parser.read_file(path, None, 0);
    parser.parsed
}

struct Parser<'cb> {
    wanted: &'cb dyn Fn(&[u8]) -> bool,
    origin: Vec<u8>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Vec<u8>>,
    parsed: Parsed,
    /// The files of `parsed.files`, to find one at once.
    seen: std::collections::HashSet<PathBuf>,
    /// Files opened so far, repeats counted.
    opened: usize,
    /// `$INCLUDE` nesting went too deep (reported once).
    too_deep: bool,
    on_record: &'cb mut dyn FnMut(&Record<'_>),
    on_error: &'cb mut dyn FnMut(ZoneError),
    rdata: Vec<u8>,
    /// Cut the top file into blocks.
    cutting: bool,
    /// An `$INCLUDE` was read, or an error: no cut can stand for the text.
    included: bool,
    spoiled: bool,
}

/// What identifies the content of an open file: checked again after reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileVersion {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileVersion {
    /// Its length when opened.
    pub fn size(&self) -> u64 {
        self.len
    }

    pub(crate) fn of(m: &std::fs::Metadata) -> Self {
        Self {
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

/// Opens a zone file for reading, refusing anything but a regular file: a directory never
/// reaches its end, a device or FIFO may never end at all.
pub(crate) fn open_regular(path: &Path) -> Result<(File, FileVersion), String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Looked at before it is opened, as opening a device may do something of its own; and
    // again once open, in case it was replaced in between.
    let before = std::fs::metadata(path).map_err(|e| format!("cannot open: {}", io_reason(&e)))?;
    if !before.is_file() {
        return Err(format!("{}, not a regular file", file_kind(&before)));
    }
    // Non-blocking, so that opening a FIFO swapped in meanwhile does not wait for a writer;
    // reads of a regular file ignore the flag.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open: {}", io_reason(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err(format!("{}, not a regular file", file_kind(&meta)));
    }
    Ok((file, FileVersion::of(&meta)))
}

/// An I/O error without Rust's `(os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

impl<'cb> Parser<'cb> {
    fn new(
        wanted: &'cb dyn Fn(&[u8]) -> bool,
        origin: &[u8],
        on_record: &'cb mut dyn FnMut(&Record<'_>),
        on_error: &'cb mut dyn FnMut(ZoneError),
    ) -> Self {
        Self {
            wanted,
            origin: origin.to_vec(),
            default_ttl: None,
            last_ttl: None,
            last_owner: None,
            parsed: Parsed::default(),
            seen: std::collections::HashSet::new(),
            opened: 0,
            too_deep: false,
            on_record,
            on_error,
            rdata: Vec::with_capacity(512),
            cutting: false,
            included: false,
            spoiled: false,
        }
    }

    fn state(&self) -> State {
        State {
            origin: self.origin.clone(),
            default_ttl: self.default_ttl,
            // Used only where no $TTL is in force.
            last_ttl: self.last_ttl.filter(|_| self.default_ttl.is_none()),
        }
    }

    /// Tells the lexer's cutter, if any, of the entry about to be handled.
    fn note_entry<R: BufRead>(&self, lx: &mut Lexer<R>) {
        if let Some(c) = lx.cutter.as_mut() {
            let directive = !lx.leading_blank
                && !lx.tokens[0].quoted
                && lx.buf.get(lx.tokens[0].start) == Some(&b'$');
            let kind = if directive {
                Entry::Directive
            } else {
                Entry::Record(lx.leading_blank)
            };
            c.entry(
                lx.entry_line,
                &kind,
                &self.origin,
                self.default_ttl,
                self.last_ttl,
            );
        }
    }

    fn read_file(&mut self, path: &Path, included_from: Option<&Pos>, depth: usize) {
        let file: Arc<Path> = Arc::from(path);
        // Blamed on the `$INCLUDE` line that named the file, or on the zone's own file.
        let fail = |p: &mut Self, reason: String| {
            let (pos, reason) = match included_from {
                Some(pos) => (
                    pos.clone(),
                    format!("$INCLUDE {}: {reason}", path.display()),
                ),
                None => (
                    Pos {
                        file: file.clone(),
                        line: 0,
                    },
                    reason,
                ),
            };
            p.parsed.unreadable = true;
            (p.on_error)(ZoneError::error(pos, reason));
        };
        // After a loop, no more includes are followed: the zone will not load, and a file that
        // includes itself twice would otherwise open 2^17 files to say so 2^16 times.
        if self.too_deep && depth > 0 {
            return;
        }
        if depth > MAX_INCLUDE_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                fail(
                    self,
                    format!("nested deeper than {MAX_INCLUDE_DEPTH}: loop?"),
                );
            }
            return;
        }
        if self.opened >= MAX_FILES_PER_ZONE {
            // Reported once; the zone is not loaded, and nothing more is opened.
            if self.opened == MAX_FILES_PER_ZONE {
                fail(
                    self,
                    format!("more than {MAX_FILES_PER_ZONE} files opened for one zone"),
                );
                self.opened += 1;
            }
            return;
        }
        self.opened += 1;
        if self.seen.insert(path.to_path_buf()) {
            self.parsed.files.push(path.to_path_buf());
        }
        let (handle, opened_as) = match open_regular(path) {
            Ok(f) => f,
            Err(reason) => return fail(self, reason),
        };
        self.parsed.opened.push((path.to_path_buf(), opened_as));
        // No further than the size at opening: a file that grows while read still ends.
        let reader = BufReader::with_capacity(1 << 16, handle.take(opened_as.len));
        let mut lexer = Lexer::new(reader, file.clone());
        if depth == 0 && self.cutting {
            lexer.cutter = Some(Cutter::new(0, 1, &self.state(), Vec::new()));
        }
        // This file's latest error waits for the next one, or the end: if the file changed
        // while it was read, its last line may be cut short, and that error is not the file's.
        let mut held: Option<ZoneError> = None;
        while let Some(entry) = lexer.next_entry() {
            let error = match entry {
                Ok(()) => {
                    self.note_entry(&mut lexer);
                    match self.entry(&lexer, depth) {
                        Ok(()) => continue,
                        Err(reason) => ZoneError::error(lexer.entry_pos(), reason),
                    }
                }
                Err(e) => e,
            };
            self.spoiled = true;
            if let Some(earlier) = held.replace(error) {
                (self.on_error)(earlier);
            }
        }
        // A file written while it was read may have been read half old, half new.
        let now = lexer.reader.get_ref().get_ref().metadata();
        let changed = now.map(|m| FileVersion::of(&m)).ok() != Some(opened_as);
        if let Some(last) = held
            && !(changed && last.pos.line >= lexer.line_no)
        {
            (self.on_error)(last);
        }
        if lexer.stopped {
            self.parsed.unreadable = true;
        }
        if changed {
            fail(
                self,
                "changed while it was read: not loaded as it stands (the next reload reads it again)"
                    .to_string(),
            );
        }
        if let Some(cutter) = lexer.cutter.take()
            && !(changed || lexer.stopped || self.spoiled || self.included)
        {
            let cut = cutter.finish(self.state());
            let handle = lexer.reader.into_inner().into_inner();
            self.parsed.cut = Some((handle, opened_as.len, cut));
        }
    }

    /// Handles one logical entry: a directive or a resource record.
    fn entry<R: BufRead>(&mut self, lx: &Lexer<R>, depth: usize) -> Result<(), String> {
        let n = lx.tokens.len();
        let first = lx.token(0);
        if !lx.leading_blank && !lx.tokens[0].quoted && first.first() == Some(&b'$') {
            return self.directive(lx, depth);
        }
        let mut i = 0;
        let owner = if lx.leading_blank {
            self.last_owner
                .clone()
                .ok_or("no owner: the first record must name one")?
        } else {
            i = 1;
            let owner = name::parse(first, &self.origin)?;
            name::to_lowercase(&owner)
        };
        let mut ttl = None;
        let mut rtype = None;
        while i < n && rtype.is_none() {
            let tok = lx.token(i);
            if tok.first().is_some_and(u8::is_ascii_digit) {
                if ttl.is_some() {
                    return Err(format!("unexpected '{}': TTL given twice", name::show(tok)));
                }
                ttl = Some(parse_ttl(tok)?);
            } else if tok.eq_ignore_ascii_case(b"IN") {
            } else if is_class(tok) {
                return Err(format!(
                    "class {} is not supported: only IN",
                    name::show(tok)
                ));
            } else {
                rtype = Some(
                    rtype::from_text(tok)
                        .ok_or_else(|| format!("unknown record type '{}'", name::show(tok)))?,
                );
            }
            i += 1;
        }
        self.last_owner = Some(owner);
        let rtype = rtype.ok_or("record has no type")?;
        let Some(ttl) = ttl.or(self.default_ttl).or(self.last_ttl) else {
            return Err("no TTL: give one on the record or with $TTL".to_string());
        };
        if ttl > i32::MAX as u32 {
            return Err(format!("TTL {ttl} is over 2147483647 (RFC 2181 §8)"));
        }
        self.last_ttl = Some(ttl);
        if !(self.wanted)(self.last_owner.as_deref().unwrap_or(name::ROOT)) {
            return Ok(());
        }
        self.rdata.clear();
        let args: Vec<&[u8]> = (i..n).map(|k| lx.token(k)).collect();
        let quoted: Vec<bool> = (i..n).map(|k| lx.tokens[k].quoted).collect();
        if let Err(e) = encode_rdata(rtype, &args, &quoted, &self.origin, &mut self.rdata) {
            self.parsed.bad_soa |= rtype == rtype::SOA;
            return Err(format!("{} record: {e}", rtype::to_text(rtype)));
        }
        let pos = lx.entry_pos();
        let owner = self.last_owner.as_deref().unwrap_or(name::ROOT);
        (self.on_record)(&Record {
            owner,
            ttl,
            rtype,
            rdata: &self.rdata,
            pos: &pos,
        });
        Ok(())
    }

    fn directive<R: BufRead>(&mut self, lx: &Lexer<R>, depth: usize) -> Result<(), String> {
        let word = lx.token(0);
        let args: Vec<&[u8]> = (1..lx.tokens.len()).map(|k| lx.token(k)).collect();
        if word.eq_ignore_ascii_case(b"$ORIGIN") {
            let [origin] = args[..] else {
                return Err("$ORIGIN takes exactly one name".to_string());
            };
            self.origin = name::to_lowercase(&name::parse(origin, &self.origin)?);
        } else if word.eq_ignore_ascii_case(b"$TTL") {
            let [ttl] = args[..] else {
                return Err("$TTL takes exactly one value".to_string());
            };
            self.default_ttl = Some(parse_ttl(ttl)?);
        } else if word.eq_ignore_ascii_case(b"$INCLUDE") {
            let (file, origin) = match args[..] {
                [file] => (file, None),
                [file, origin] => (file, Some(origin)),
                _ => return Err("$INCLUDE takes a file name and an optional origin".to_string()),
            };
            let file = Path::new(std::str::from_utf8(file).map_err(|_| "file name is not UTF-8")?);
            // Relative to the including file's directory, so a zone tree can move as a whole.
            let path = match lx.file.parent() {
                Some(dir) if file.is_relative() => dir.join(file),
                _ => file.to_path_buf(),
            };
            // RFC 1035 §5.1: an origin given here applies to the included file only.
            let saved = self.origin.clone();
            if let Some(o) = origin {
                self.origin = name::to_lowercase(&name::parse(o, &self.origin)?);
            }
            let pos = lx.entry_pos();
            self.included = true;
            self.read_file(&path, Some(&pos), depth + 1);
            self.origin = saved;
        } else {
            return Err(format!("unknown directive {}", name::show(word)));
        }
        Ok(())
    }
}

fn is_class(tok: &[u8]) -> bool {
    [&b"CH"[..], b"HS", b"CS", b"NONE", b"ANY"]
        .iter()
        .any(|c| c.eq_ignore_ascii_case(tok))
        || (tok.len() > 5 && tok[..5].eq_ignore_ascii_case(b"CLASS"))
}

/// One token of an entry: a byte range of the entry buffer, escapes still raw.
struct Token {
    start: usize,
    end: usize,
    quoted: bool,
}

/// Splits a master file into logical entries: joins lines inside parentheses, drops comments,
/// keeps quoted strings whole. Buffers are reused from entry to entry.
struct Lexer<R> {
    reader: R,
    file: Arc<Path>,
    line_no: u32,
    entry_line: u32,
    line: Vec<u8>,
    buf: Vec<u8>,
    tokens: Vec<Token>,
    leading_blank: bool,
    /// Reading ended early after an error; the rest of the file is not read.
    stopped: bool,
    /// Cuts the text into blocks as it is read ([`fingerprint`]).
    cutter: Option<Cutter>,
}

impl<R: BufRead> Lexer<R> {
    fn new(reader: R, file: Arc<Path>) -> Self {
        Self {
            reader,
            file,
            line_no: 0,
            entry_line: 0,
            line: Vec::with_capacity(256),
            buf: Vec::with_capacity(256),
            tokens: Vec::with_capacity(16),
            leading_blank: false,
            stopped: false,
            cutter: None,
        }
    }

    fn token(&self, i: usize) -> &[u8] {
        let t = &self.tokens[i];
        &self.buf[t.start..t.end]
    }

    fn entry_pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.entry_line,
        }
    }

    fn error(&self, line: u32, reason: impl Into<String>) -> ZoneError {
        let pos = Pos {
            file: self.file.clone(),
            line,
        };
        ZoneError::error(pos, reason)
    }

    /// Reads the next non-empty logical entry. `None` at end of file, and after an error that
    /// stops the file (a read error, an over-long line or entry).
    fn next_entry(&mut self) -> Option<Result<(), ZoneError>> {
        if self.stopped {
            return None;
        }
        self.buf.clear();
        self.tokens.clear();
        let mut depth = 0u32;
        let mut open_line = 0;
        loop {
            match self.read_line() {
                Ok(0) => {
                    if depth > 0 {
                        return Some(Err(self.error(open_line, "unbalanced '(': no closing ')'")));
                    }
                    return if self.tokens.is_empty() {
                        None
                    } else {
                        Some(Ok(()))
                    };
                }
                Ok(_) => {}
                Err(e) => return Some(Err(self.stop(e))),
            }
            if self.tokens.is_empty() && depth == 0 {
                self.entry_line = self.line_no;
                self.leading_blank = matches!(self.line.first(), Some(b' ' | b'\t'));
            }
            if let Err(reason) = self.scan_line(&mut depth, &mut open_line) {
                // Skip the rest of a broken entry.
                let line = self.line_no;
                self.buf.clear();
                self.tokens.clear();
                if depth > 0
                    && let Err(e) = self.skip_to_close(&mut depth)
                {
                    return Some(Err(self.stop(e)));
                }
                return Some(Err(self.error(line, reason)));
            }
            if let Some(c) = self.cutter.as_mut() {
                c.line(&self.line, self.line_no, depth == 0);
            }
            if self.buf.len() > MAX_LINE {
                let e = self.error(
                    self.entry_line,
                    format!(
                        "entry longer than {MAX_LINE} bytes (a '(' at line {open_line} never closed?): reading stops here"
                    ),
                );
                return Some(Err(self.stop(e)));
            }
            if depth == 0 && !self.tokens.is_empty() {
                return Some(Ok(()));
            }
        }
    }

    /// Ends the file after `e`: what follows cannot be trusted to be read right.
    fn stop(&mut self, e: ZoneError) -> ZoneError {
        self.stopped = true;
        e
    }

    /// Reads one line (with its newline) into `self.line`; 0 at end of file. A line longer
    /// than [`MAX_LINE`], a line count beyond `u32` or a read error ends the file.
    fn read_line(&mut self) -> Result<usize, ZoneError> {
        self.line.clear();
        let next = self.line_no.saturating_add(1);
        let limit = MAX_LINE as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| self.error(next, format!("read error: {}", io_reason(&e))))?;
        if n == 0 {
            return Ok(0);
        }
        if self.line.len() > MAX_LINE {
            return Err(self.error(
                next,
                format!("line longer than {MAX_LINE} bytes: not a zone file? Reading stops here"),
            ));
        }
        self.line_no = self.line_no.checked_add(1).ok_or_else(|| {
            self.error(u32::MAX, "more than 4294967295 lines: reading stops here")
        })?;
        Ok(n)
    }

    fn skip_to_close(&mut self, depth: &mut u32) -> Result<(), ZoneError> {
        while *depth > 0 {
            if self.read_line()? == 0 {
                return Ok(());
            }
            for &c in &self.line {
                match c {
                    b'(' => *depth = depth.saturating_add(1),
                    b')' => *depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn scan_line(&mut self, depth: &mut u32, open_line: &mut u32) -> Result<(), String> {
        let line = std::mem::take(&mut self.line);
        let result = self.scan(&line, depth, open_line);
        self.line = line;
        result
    }

    fn scan(&mut self, line: &[u8], depth: &mut u32, open_line: &mut u32) -> Result<(), String> {
        let mut i = 0;
        let n = line.len();
        while i < n {
            let c = line[i];
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b';' => break,
                b'(' => {
                    if *depth == 0 {
                        *open_line = self.line_no;
                    }
                    *depth = depth.saturating_add(1);
                    i += 1;
                }
                b')' => {
                    if *depth == 0 {
                        return Err("unbalanced ')'".to_string());
                    }
                    *depth -= 1;
                    i += 1;
                }
                b'"' => {
                    let start = self.buf.len();
                    i += 1;
                    loop {
                        match line.get(i) {
                            None | Some(b'\n') => {
                                return Err("unterminated quoted string".to_string());
                            }
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') if i + 1 < n => {
                                self.buf.extend_from_slice(&line[i..i + 2]);
                                i += 2;
                            }
                            Some(&b) => {
                                self.buf.push(b);
                                i += 1;
                            }
                        }
                    }
                    self.tokens.push(Token {
                        start,
                        end: self.buf.len(),
                        quoted: true,
                    });
                }
                _ => {
                    let start = self.buf.len();
                    while i < n {
                        let b = line[i];
                        if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"') {
                            break;
                        }
                        if b == b'\\' && i + 1 < n {
                            self.buf.extend_from_slice(&line[i..i + 2]);
                            i += 2;
                        } else {
                            self.buf.push(b);
                            i += 1;
                        }
                    }
                    self.tokens.push(Token {
                        start,
                        end: self.buf.len(),
                        quoted: false,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Parsed {
        records: Vec<(String, u32, u16, Vec<u8>, u32)>,
        errors: Vec<String>,
    }

    fn parse_text(text: &str) -> Parsed {
        let dir = std::env::temp_dir().join(format!(
            "enumd-zf-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.zone");
        File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let origin = name::parse(b"e164.arpa.", name::ROOT).unwrap();
        let mut records = Vec::new();
        let mut errors = Vec::new();
        parse_file(
            &path,
            &origin,
            &mut |r| {
                records.push((
                    name::to_text(r.owner),
                    r.ttl,
                    r.rtype,
                    r.rdata.to_vec(),
                    r.pos.line,
                ))
            },
            &mut |e| errors.push(format!("{}: {}", e.pos.line, e.reason)),
        );
        Parsed { records, errors }
    }

    #[test]
    fn naptr_regexp_backslashes_follow_rfc3403_4_3() {
        let p = parse_text(
            "$TTL 60\n*.0.8.7.9.7.1.3.4 IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^\\\\+43179780(.*)$!sip:\\\\1@sip.oefeg.at!\" .\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let rdata = &p.records[0].3;
        let regexp = b"!^\\+43179780(.*)$!sip:\\1@sip.oefeg.at!";
        let mut want = vec![0, 100, 0, 10, 1, b'u', 7];
        want.extend_from_slice(b"E2U+sip");
        want.push(u8::try_from(regexp.len()).unwrap());
        want.extend_from_slice(regexp);
        want.push(0);
        assert_eq!(rdata, &want);
        assert_eq!(p.records[0].0, "*.0.8.7.9.7.1.3.4.e164.arpa.");
    }

    #[test]
    fn parentheses_comments_omitted_fields_and_escapes() {
        let p = parse_text(concat!(
            "$ORIGIN 4.4.e164.arpa.\n",
            "@ 3600 IN SOA ns1 hostmaster.example. ( 1 ; serial\n",
            "   7200 3600 ; refresh retry\n",
            "   1209600 300 )\n",
            "  NS ns1.example.\n",
            "1 TXT \"a \\\"quoted\\\" \\\\ \\065 ; not a comment\" (\n",
            "   \"second\" )\n",
            "2 IN 1h NAPTR 10 100 u E2U+sip \"!^.*$!sip:x@y!\" .\n",
        ));
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.records.len(), 4);
        assert_eq!(p.records[1].0, "4.4.e164.arpa.");
        assert_eq!(p.records[1].1, 3600, "TTL carried from the previous record");
        let txt = &p.records[2].3;
        assert_eq!(
            &txt[1..txt[0] as usize + 1],
            b"a \"quoted\" \\ A ; not a comment"
        );
        assert_eq!(p.records[2].4, 6);
        assert_eq!(p.records[3].1, 3600);
        assert_eq!(p.records[3].2, rtype::NAPTR);
    }

    #[test]
    fn generic_rdata_rfc3597() {
        let p = parse_text("$TTL 1\nx TYPE65300 \\# 4 0A0B 0C0D\ny A \\# 4 7f000001\n");
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.records[0].2, 65300);
        assert_eq!(p.records[0].3, vec![10, 11, 12, 13]);
        assert_eq!(p.records[1].3, vec![127, 0, 0, 1]);
    }

    #[test]
    fn errors_name_their_line_and_parsing_goes_on() {
        let long = "x".repeat(256);
        let p = parse_text(&format!(
            "$TTL 60\n1 NAPTR 10 10 \"u\" \"E2U+sip\" \"{long}\" .\n2 A 999.1.1.1\n3 FOO 1\n4 A 192.0.2.1\n5 CH A 1.2.3.4\n6 NAPTR 10\n"
        ));
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.errors.len(), 5, "{:?}", p.errors);
        assert!(p.errors[0].starts_with("2: NAPTR record: regexp is 256 bytes"));
        assert!(p.errors[1].starts_with("3: A record: bad IPv4"));
        assert!(p.errors[2].starts_with("4: unknown record type 'FOO'"));
        assert!(p.errors[3].starts_with("6: class CH"));
        assert!(p.errors[4].starts_with("7: NAPTR record: missing preference"));
    }

    #[test]
    fn unbalanced_parenthesis_is_reported_where_it_opened() {
        let p = parse_text("$TTL 60\n@ SOA a b ( 1 2 3 4 5\n");
        assert_eq!(p.errors, vec!["2: unbalanced '(': no closing ')'"]);
    }

    /// The errors of parsing `path` as a zone of `e164.arpa.`.
    fn errors_of(path: &Path) -> Vec<String> {
        let origin = name::parse(b"e164.arpa.", name::ROOT).unwrap();
        let mut errors = Vec::new();
        parse_file(path, &origin, &mut |_| {}, &mut |e| {
            errors.push(e.to_string())
        });
        errors
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("enumd-zf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = scratch("kinds");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let main = dir.join("main.zone");
        std::fs::write(
            &main,
            format!(
                "$TTL 1\n@ SOA a b 1 2 3 4 5\n$INCLUDE /dev/zero\n$INCLUDE {}\n$INCLUDE {}\n",
                dir.display(),
                fifo.display()
            ),
        )
        .unwrap();
        let errors = errors_of(&main);
        let main = main.display();
        assert_eq!(
            errors,
            [
                format!("{main}:3: $INCLUDE /dev/zero: a character device, not a regular file"),
                format!(
                    "{main}:4: $INCLUDE {}: a directory, not a regular file",
                    dir.display()
                ),
                format!(
                    "{main}:5: $INCLUDE {}: a FIFO, not a regular file",
                    fifo.display()
                ),
            ]
        );
        assert_eq!(
            errors_of(&dir),
            [format!(
                "{}: a directory, not a regular file",
                dir.display()
            )]
        );
    }

    #[test]
    fn an_over_long_line_or_entry_stops_the_file_with_one_error() {
        let dir = scratch("long");
        let path = dir.join("long.zone");
        let mut text = b"$TTL 1\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend_from_slice(b"\nx TXT y\n");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(
            errors_of(&path),
            [format!(
                "{}:2: line longer than 1048576 bytes: not a zone file? Reading stops here",
                path.display()
            )]
        );
        // Short lines inside a '(' that never closes: the entry is capped instead.
        let mut text = b"$TTL 1\nx TXT (\n".to_vec();
        for _ in 0..(MAX_LINE / 6 + 1) {
            text.extend_from_slice(b"\"abcdef\"\n");
        }
        std::fs::write(&path, &text).unwrap();
        let errors = errors_of(&path);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!(
                "{}:2: entry longer than 1048576 bytes",
                path.display()
            )),
            "{errors:?}"
        );
    }

    #[test]
    fn a_file_that_includes_itself_is_one_error() {
        let dir = scratch("self");
        let main = dir.join("main.zone");
        std::fs::write(&main, "$TTL 1\n$INCLUDE main.zone\n$INCLUDE main.zone\n").unwrap();
        let errors = errors_of(&main);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].ends_with("main.zone: nested deeper than 16: loop?"),
            "{errors:?}"
        );
    }

    #[test]
    fn includes_that_fan_out_are_capped() {
        let dir = scratch("fan");
        // 300 × 300 openings of leaf.inc, far over the cap, from two tiny files.
        let leaf = dir.join("leaf.inc");
        std::fs::write(&leaf, "x TXT \"leaf\"\n").unwrap();
        let mid = dir.join("mid.inc");
        std::fs::write(&mid, "$INCLUDE leaf.inc\n".repeat(300)).unwrap();
        let main = dir.join("main.zone");
        std::fs::write(
            &main,
            format!("$TTL 1\n{}", "$INCLUDE mid.inc\n".repeat(300)),
        )
        .unwrap();
        let errors = errors_of(&main);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].ends_with("leaf.inc: more than 32767 files opened for one zone"),
            "{errors:?}"
        );
    }
}
