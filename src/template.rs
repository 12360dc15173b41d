//! Number templates: NAPTR RDATA that spells out its owner's own number, stored once for every
//! number that shares its shape.
//!
//! Tier-2 and number-portability data is dominated by records such as
//! `"!^.*$!sip:+441234567890@sip.example.net!"` at `0.9.8.7.6.5.4.3.2.1.4.4.e164.arpa.`:
//! every RDATA is different, yet all say the same thing about their own number. Stored with the
//! number (the owner's AUS, `+441234567890`) replaced by a NUL byte, a million of them become a
//! handful of templates. The encoder puts the owner's number back, so the wire never changes.
//! Only character-strings without NUL bytes of their own are templated, so the marker is
//! unambiguous.

/// The AUS of a whole-number owner (`3.2.1.4.4.e164.arpa.` → `+44123`) into `buf`: every label
/// from the owner up to the first non-digit label is one digit.
pub fn owner_aus<'b>(owner: &[u8], buf: &'b mut [u8; 128]) -> Option<&'b [u8]> {
    // Byte by byte rather than label by label: a transfer asks this of every number.
    let mut digits = 0;
    let mut at = 0;
    while owner.get(at) == Some(&1) && owner.get(at + 1).is_some_and(u8::is_ascii_digit) {
        if digits == buf.len() - 1 {
            return None;
        }
        digits += 1;
        buf[buf.len() - digits] = owner[at + 1];
        at += 2;
    }
    // A name of digits alone (up to the root) has no number; nor has one that starts otherwise.
    if digits == 0 || owner.get(at).is_none_or(|&len| len == 0) {
        return None;
    }
    let start = buf.len() - digits - 1;
    buf[start] = b'+';
    Some(&buf[start..])
}

/// The longest NAPTR RDATA: ORDER, PREFERENCE, three character-strings and a name (RFC 3403
/// §4.1). Templates are never longer, which the zone's RDATA pool relies on.
pub const MAX_NAPTR_RDATA: usize = 4 + 3 * 256 + 255;

/// The three character-strings of NAPTR RDATA (after ORDER and PREFERENCE), and where the
/// replacement starts.
fn strings(rdata: &[u8]) -> Option<([&[u8]; 3], usize)> {
    let mut pos = 4;
    let mut out: [&[u8]; 3] = [&[]; 3];
    for s in &mut out {
        let len = *rdata.get(pos)? as usize;
        *s = rdata.get(pos + 1..pos + 1 + len)?;
        pos += 1 + len;
    }
    Some((out, pos))
}

/// The template of `rdata` for a record owned by the number `aus`, if it mentions it and can
/// be templated.
pub fn make(aus: &[u8], rdata: &[u8]) -> Option<Vec<u8>> {
    if rdata.len() > MAX_NAPTR_RDATA {
        return None; // not NAPTR RDATA (written in RFC 3597 form, say)
    }
    let (fields, rest) = strings(rdata)?;
    if fields.iter().any(|f| f.contains(&0)) || !fields.iter().any(|f| contains(f, aus)) {
        return None;
    }
    let mut t = Vec::with_capacity(rdata.len());
    t.extend_from_slice(&rdata[..4]);
    for f in fields {
        let at = t.len();
        t.push(0);
        let mut i = 0;
        while i < f.len() {
            if f[i..].starts_with(aus) {
                t.push(0);
                i += aus.len();
            } else {
                t.push(f[i]);
                i += 1;
            }
        }
        // Shorter than the string it came from (a number of two or more bytes became one).
        t[at] = u8::try_from(t.len() - at - 1).ok()?;
    }
    t.extend_from_slice(&rdata[rest..]);
    Some(t)
}

/// Writes the RDATA a template stands for at the number `aus`.
pub fn expand(template: &[u8], aus: &[u8], out: &mut Vec<u8>) {
    expand_noting(template, aus, out, &mut |_| {});
}

/// [`expand`], telling `hole` where in `out` each copy of `aus` went.
fn expand_noting(template: &[u8], aus: &[u8], out: &mut Vec<u8>, hole: &mut dyn FnMut(usize)) {
    let Some((fields, rest)) = strings(template) else {
        out.extend_from_slice(template); // not a template after all: never built so
        return;
    };
    out.reserve(template.len() + 3 * aus.len());
    out.extend_from_slice(&template[..4]);
    for f in fields {
        // The length goes first and is known last: a template is only ever expanded at a
        // number whose own RDATA made it, so it is that RDATA's string length, at most 255.
        let at = out.len();
        out.push(0);
        // Whole runs between markers: this runs for every templated record answered or sent.
        for (i, part) in f.split(|&b| b == 0).enumerate() {
            if i > 0 {
                hole(out.len());
                out.extend_from_slice(aus);
            }
            out.extend_from_slice(part);
        }
        let len = out.len() - at - 1;
        debug_assert!(len <= 255);
        out[at] = u8::try_from(len).unwrap_or(u8::MAX);
    }
    out.extend_from_slice(&template[rest..]);
}

/// Whether what the ENUM checks find in a record made from `template` is the same at every
/// number it stands for: true when its REGEXP's pattern names no digit (nor a `[` class) but
/// through the number's own places. `!^.*$!sip:\0@…!` is; `!^\+4412(.*)$!tel:\0!` is not (it
/// matches +44123 and not +44789), so such a record is checked at each number.
pub fn checks_alike_at_every_number(template: &[u8]) -> bool {
    let Some(([_, _, regexp], _)) = strings(template) else {
        return false;
    };
    let Some((&delim, rest)) = regexp.split_first() else {
        return true; // no REGEXP: nothing in it depends on the number
    };
    let mut escaped = false;
    for &b in rest {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
            continue;
        } else if b == delim {
            return true; // the pattern ends here; the replacement may name anything
        }
        if b.is_ascii_digit() || b == b'[' {
            return false;
        }
    }
    true
}

/// [`expand`] for a stream of records that mostly share a few templates, as a walk of a zone
/// does: the last few expansions are kept with the places their number goes, so the next
/// number of the same shape costs one copy and its digits rather than a parse and a copy per
/// piece. Four, so that a number's second NAPTR (say a `pstn:tel` after its `sip`) does not
/// push out the template the next number needs.
#[derive(Default)]
pub struct Expander {
    kept: [Expansion; 4],
    next: usize,
}

#[derive(Default)]
struct Expansion {
    /// The template (where it is stored, and its length) and the number length.
    key: (usize, usize, usize),
    bytes: Vec<u8>,
    holes: Vec<usize>,
}

impl Expander {
    /// Writes what `template` stands for at `aus` (as [`expand`] does) to `out`. The template
    /// must stay where it is while this `Expander` is in use (a zone version's pool does):
    /// it is recognised by its address.
    pub fn expand(&mut self, template: &[u8], aus: &[u8], out: &mut Vec<u8>) {
        let key = (template.as_ptr() as usize, template.len(), aus.len());
        let e = match self.kept.iter().position(|e| e.key == key) {
            Some(i) => &self.kept[i],
            None => {
                let slot = self.next;
                self.next = (slot + 1) % self.kept.len();
                let e = &mut self.kept[slot];
                e.bytes.clear();
                e.holes.clear();
                let holes = &mut e.holes;
                expand_noting(template, aus, &mut e.bytes, &mut |at| holes.push(at));
                e.key = key;
                e
            }
        };
        let start = out.len();
        out.extend_from_slice(&e.bytes);
        for &h in &e.holes {
            out[start + h..start + h + aus.len()].copy_from_slice(aus);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name;

    fn naptr(flags: &str, services: &str, regexp: &str) -> Vec<u8> {
        let mut r = vec![0, 10, 0, 100];
        for s in [flags, services, regexp] {
            r.push(u8::try_from(s.len()).unwrap());
            r.extend_from_slice(s.as_bytes());
        }
        r.push(0);
        r
    }

    #[test]
    fn round_trips_and_shares() {
        let owner = name::parse(b"0.9.8.7.6.5.4.3.2.1.4.4.e164.arpa.", name::ROOT).unwrap();
        let mut buf = [0; 128];
        let aus = owner_aus(&owner, &mut buf).unwrap().to_vec();
        assert_eq!(aus, b"+441234567890");
        let a = naptr(
            "u",
            "E2U+pstn:tel",
            "!^.*$!tel:+441234567890;npdi;rn=+441234567890!",
        );
        let t = make(&aus, &a).unwrap();
        assert!(t.len() < a.len());
        let mut back = Vec::new();
        expand(&t, &aus, &mut back);
        assert_eq!(back, a);
        // Another number's record of the same shape has the same template.
        let other = naptr(
            "u",
            "E2U+pstn:tel",
            "!^.*$!tel:+449999999999;npdi;rn=+449999999999!",
        );
        assert_eq!(make(b"+449999999999", &other).unwrap(), t);
    }

    #[test]
    fn a_pattern_that_names_digits_is_checked_at_each_number() {
        let aus = b"+44123";
        let at = |regexp: &str| make(aus, &naptr("u", "E2U+sip", regexp)).unwrap();
        assert!(checks_alike_at_every_number(&at(
            "!^.*$!sip:+44123@x.example!"
        )));
        assert!(checks_alike_at_every_number(&at(
            "!^\\+44123$!sip:+44123@x.example!"
        )));
        assert!(!checks_alike_at_every_number(&at(
            "!^\\+4412(.*)$!tel:+44123!"
        )));
        assert!(!checks_alike_at_every_number(&at(
            "!^[+]44123$!sip:+44123@x!"
        )));
        assert!(!checks_alike_at_every_number(&at("!^.{3}$!sip:+44123@x!")));
    }

    #[test]
    fn leaves_alone_what_it_cannot_template() {
        assert!(
            make(
                b"+44123",
                &naptr("u", "E2U+sip", "!^.*$!sip:info@example.com!")
            )
            .is_none()
        );
        assert!(make(b"+44123", &naptr("u", "E2U+sip", "!^.*$!sip:+44123@x\0!")).is_none());
        let star = name::parse(b"*.3.2.1.4.4.e164.arpa.", name::ROOT).unwrap();
        assert!(owner_aus(&star, &mut [0; 128]).is_none());
        let apex_only = name::parse(b"4.4.", name::ROOT).unwrap();
        assert!(owner_aus(&apex_only, &mut [0; 128]).is_none());
    }
}
