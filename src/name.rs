//! Domain names in uncompressed wire form: length-prefixed labels ending with the root label.
//!
//! Everything below the parser works on these byte strings: owners are kept lower-cased (names
//! compare case-insensitively, RFC 4343), names inside RDATA keep the case they were written in.

use std::fmt::Write as _;

/// The root name in wire form.
pub const ROOT: &[u8] = &[0];

/// Iterates over the labels of a wire name, most specific first (`www`, `example`, `com`).
pub fn labels(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let len = *name.get(pos)? as usize;
        if len == 0 {
            return None;
        }
        let label = name.get(pos + 1..pos + 1 + len)?;
        pos += 1 + len;
        Some(label)
    })
}

/// Number of labels, the root not counted.
pub fn label_count(name: &[u8]) -> usize {
    labels(name).count()
}

/// Byte offsets at which each label starts, most specific first; `name[offsets[i]..]` is the
/// name with its first `i` labels removed.
pub fn label_offsets(name: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(16);
    let mut pos = 0;
    while let Some(&len) = name.get(pos) {
        if len == 0 {
            break;
        }
        offsets.push(pos);
        pos += 1 + len as usize;
    }
    offsets
}

/// Length of the uncompressed wire name at the start of `bytes` (all of `bytes` when it has
/// no root label).
pub fn wire_len(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(&len) = bytes.get(pos) {
        pos += 1 + len as usize;
        if len == 0 {
            break;
        }
    }
    pos.min(bytes.len())
}

/// ASCII lower-casing, the only case folding DNS knows (RFC 4343 §3).
pub fn to_lowercase(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
}

/// Case-insensitive equality of two wire names.
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// True if `name` equals `apex` or lies below it; both must be in the same case.
pub fn is_at_or_below(name: &[u8], apex: &[u8]) -> bool {
    if name.len() < apex.len() {
        return false;
    }
    let start = name.len() - apex.len();
    if &name[start..] != apex {
        return false;
    }
    // The match must begin on a label boundary.
    let mut at = 0;
    while at < start {
        at += 1 + usize::from(name[at]);
    }
    at == start
}

/// Presentation form with a trailing dot, escaping what needs it (RFC 4343 §2.1).
pub fn to_text(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for label in labels(name) {
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Parses a name in presentation form (with `\.`, `\\` and `\DDD` escapes). A name without a
/// trailing dot is relative and gets `origin` appended; `@` is the origin itself.
pub fn parse(text: &[u8], origin: &[u8]) -> Result<Vec<u8>, String> {
    if text == b"@" {
        return Ok(origin.to_vec());
    }
    if text == b"." {
        return Ok(ROOT.to_vec());
    }
    let mut wire = Vec::with_capacity(text.len() + origin.len() + 2);
    let mut label_start = 0;
    wire.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < text.len() {
        let c = text[i];
        match c {
            b'.' => {
                let len = wire.len() - label_start - 1;
                if len == 0 {
                    return Err(format!("empty label in name '{}'", show(text)));
                }
                // Labels are checked to be at most 63 bytes as each byte is added.
                wire[label_start] = u8::try_from(len).map_err(|_| "label too long")?;
                if i + 1 == text.len() {
                    absolute = true;
                } else {
                    label_start = wire.len();
                    wire.push(0);
                }
                i += 1;
                continue;
            }
            b'\\' => {
                let (byte, used) = unescape_at(text, i)?;
                wire.push(byte);
                i += used;
            }
            _ => {
                wire.push(c);
                i += 1;
            }
        }
        if wire.len() - label_start - 1 > 63 {
            return Err(format!(
                "label longer than 63 bytes in name '{}'",
                show(text)
            ));
        }
    }
    if !absolute {
        let len = wire.len() - label_start - 1;
        if len == 0 {
            return Err(format!("empty label in name '{}'", show(text)));
        }
        wire[label_start] = u8::try_from(len).map_err(|_| "label too long")?;
        wire.extend_from_slice(origin);
    } else {
        wire.push(0);
    }
    if wire.len() > 255 {
        return Err(format!("name longer than 255 bytes: '{}'", show(text)));
    }
    Ok(wire)
}

/// Decodes the escape starting at `text[i] == b'\\'`: `\DDD` (a decimal byte value) or `\X`
/// (the character X itself). Returns the byte and how many input bytes were consumed.
pub fn unescape_at(text: &[u8], i: usize) -> Result<(u8, usize), String> {
    let rest = &text[i + 1..];
    match rest {
        [] => Err("backslash at end of text".to_string()),
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            u8::try_from(value)
                .map(|v| (v, 4))
                .map_err(|_| format!("escape \\{value} is over 255"))
        }
        [a, ..] if a.is_ascii_digit() => Err("\\DDD escape needs exactly three digits".to_string()),
        [x, ..] => Ok((*x, 2)),
    }
}

/// Lossy text of raw bytes for error messages.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<u8> {
        parse(text.as_bytes(), ROOT).unwrap()
    }

    #[test]
    fn parses_absolute_relative_and_escaped_names() {
        let origin = w("e164.arpa.");
        assert_eq!(parse(b"1.2", &origin).unwrap(), w("1.2.e164.arpa."));
        assert_eq!(parse(b"@", &origin).unwrap(), origin);
        assert_eq!(w("a\\.b.c."), b"\x03a.b\x01c\x00".to_vec());
        assert_eq!(w("\\065b."), b"\x02Ab\x00".to_vec());
        assert!(parse(b"a..b.", ROOT).is_err());
        assert!(parse(&[b'x'; 64], ROOT).is_err());
    }

    #[test]
    fn below_checks_label_boundaries() {
        assert!(is_at_or_below(&w("1.e164.arpa."), &w("e164.arpa.")));
        assert!(is_at_or_below(&w("e164.arpa."), &w("e164.arpa.")));
        assert!(!is_at_or_below(&w("xe164.arpa."), &w("e164.arpa.")));
        assert!(!is_at_or_below(&w("arpa."), &w("e164.arpa.")));
    }

    #[test]
    fn text_round_trip() {
        assert_eq!(to_text(&w("a\\.b.c.")), "a\\.b.c.");
        assert_eq!(to_text(ROOT), ".");
    }
}
