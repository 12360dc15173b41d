//! A resource record as every producer hands it over (the zone-file parser today; UPDATE and
//! transfers next), and where it, or a problem with it, came from. The builder and change sets
//! consume it without knowing its source.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a record or an error came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 stands for the file as a whole (a missing SOA, an unreadable file).
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// A problem in a zone, always with its place: printed as `file:line: reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub pos: Pos,
    pub reason: String,
    /// A warning reports without keeping the zone from loading (unless the zone is strict).
    pub warning: bool,
}

impl ZoneError {
    pub fn error(pos: Pos, reason: impl Into<String>) -> Self {
        Self {
            pos,
            reason: reason.into(),
            warning: false,
        }
    }

    pub fn warning(pos: Pos, reason: impl Into<String>) -> Self {
        Self {
            pos,
            reason: reason.into(),
            warning: true,
        }
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.warning {
            write!(f, "{}: warning: {}", self.pos, self.reason)
        } else {
            write!(f, "{}: {}", self.pos, self.reason)
        }
    }
}

impl std::error::Error for ZoneError {}

/// One resource record as read, borrowed from the parser's buffers.
#[derive(Debug)]
pub struct Record<'a> {
    /// Lower-cased owner in wire form.
    pub owner: &'a [u8],
    pub ttl: u32,
    pub rtype: u16,
    /// RDATA in uncompressed wire form; names inside keep the case they were written in.
    pub rdata: &'a [u8],
    pub pos: &'a Pos,
}
