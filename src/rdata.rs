//! RDATA of each record type: from its presentation form (the tokens of a master-file entry)
//! to wire form. Types without a text form here are written in RFC 3597 generic form.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name;

/// Record types the parser knows by name. Others are written `TYPEnnn` with `\#` RDATA.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const DS: u16 = 43;
    pub const OPT: u16 = 41;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;

    const NAMES: &[(&str, u16)] = &[
        ("A", A),
        ("NS", NS),
        ("CNAME", CNAME),
        ("SOA", SOA),
        ("PTR", PTR),
        ("MX", MX),
        ("TXT", TXT),
        ("AAAA", AAAA),
        ("SRV", SRV),
        ("NAPTR", NAPTR),
        ("DS", DS),
    ];

    /// `NAPTR` → 35, `TYPE65300` → 65300 (RFC 3597 §5); case-insensitive.
    pub fn from_text(text: &[u8]) -> Option<u16> {
        if let Some((_, code)) = NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text))
        {
            return Some(*code);
        }
        let digits = text
            .strip_prefix(b"TYPE")
            .or_else(|| text.strip_prefix(b"type"))?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// Mnemonic for messages (`NAPTR`, or `TYPE65300`).
    pub fn to_text(code: u16) -> String {
        NAMES
            .iter()
            .find(|(_, c)| *c == code)
            .map_or_else(|| format!("TYPE{code}"), |(n, _)| (*n).to_string())
    }
}

/// A TTL in seconds, or BIND's unit form (`1h30m`, `2d`, `1W`).
pub fn parse_ttl(tok: &[u8]) -> Result<u32, String> {
    let bad = || format!("bad TTL '{}'", name::show(tok));
    let mut total: u64 = 0;
    let mut value: u64 = 0;
    let mut have_digits = false;
    for &c in tok {
        if c.is_ascii_digit() {
            value = value * 10 + u64::from(c - b'0');
            have_digits = true;
            if value > u64::from(u32::MAX) {
                return Err(bad());
            }
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => return Err(bad()),
        };
        if !have_digits {
            return Err(bad());
        }
        total += value * unit;
        value = 0;
        have_digits = false;
    }
    total += value;
    u32::try_from(total).map_err(|_| bad())
}

/// Encodes RDATA from its presentation tokens (RFC 1035 §5.1 and each type's RFC).
pub fn encode_rdata(
    rtype: u16,
    args: &[&[u8]],
    quoted: &[bool],
    origin: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if args.first() == Some(&&b"\\#"[..]) && !quoted[0] {
        return encode_generic(&args[1..], out);
    }
    let mut f = Fields { args, next: 0 };
    match rtype {
        rtype::A => {
            let ip: Ipv4Addr = f
                .text("IPv4 address")?
                .parse()
                .map_err(|_| "bad IPv4 address")?;
            out.extend_from_slice(&ip.octets());
        }
        rtype::AAAA => {
            let ip: Ipv6Addr = f
                .text("IPv6 address")?
                .parse()
                .map_err(|_| "bad IPv6 address")?;
            out.extend_from_slice(&ip.octets());
        }
        rtype::NS | rtype::CNAME | rtype::PTR => f.name(origin, out)?,
        rtype::MX => {
            f.u16("preference", out)?;
            f.name(origin, out)?;
        }
        rtype::SOA => {
            f.name(origin, out)?;
            f.name(origin, out)?;
            let serial = f.take("serial")?;
            let serial: u32 = name::show(serial)
                .parse()
                .map_err(|_| format!("bad serial '{}'", name::show(serial)))?;
            out.extend_from_slice(&serial.to_be_bytes());
            for what in ["refresh", "retry", "expire", "minimum"] {
                out.extend_from_slice(&parse_ttl(f.take(what)?)?.to_be_bytes());
            }
        }
        rtype::TXT => {
            if args.is_empty() {
                return Err("needs at least one character-string".to_string());
            }
            while f.next < args.len() {
                f.char_string("text", out)?;
            }
        }
        rtype::SRV => {
            f.u16("priority", out)?;
            f.u16("weight", out)?;
            f.u16("port", out)?;
            f.name(origin, out)?;
        }
        rtype::NAPTR => {
            // RFC 3403 §4.1: ORDER PREFERENCE FLAGS SERVICES REGEXP REPLACEMENT.
            f.u16("order", out)?;
            f.u16("preference", out)?;
            f.char_string("flags", out)?;
            f.char_string("services", out)?;
            f.char_string("regexp", out)?;
            f.name(origin, out)?;
        }
        _ => {
            return Err(format!(
                "type {} needs RFC 3597 generic RDATA: \\# <length> <hex>",
                rtype::to_text(rtype)
            ));
        }
    }
    if f.next < args.len() {
        return Err(format!(
            "unexpected '{}' after the RDATA",
            name::show(args[f.next])
        ));
    }
    if out.len() > 65_535 {
        return Err("RDATA longer than 65535 bytes".to_string());
    }
    Ok(())
}

/// RFC 3597 §5: `\# <length> <hex words>`.
fn encode_generic(args: &[&[u8]], out: &mut Vec<u8>) -> Result<(), String> {
    let (len, hex) = args.split_first().ok_or("\\# needs a length")?;
    let len: usize = name::show(len)
        .parse()
        .map_err(|_| format!("bad \\# length '{}'", name::show(len)))?;
    let hex: Vec<u8> = hex.concat();
    if !hex.len().is_multiple_of(2) {
        return Err("odd number of hex digits after \\#".to_string());
    }
    for pair in hex.chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| "bad hex after \\#")?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| format!("bad hex '{s}' after \\#"))?);
    }
    if out.len() != len {
        return Err(format!(
            "\\# says {len} bytes but {} bytes of hex follow",
            out.len()
        ));
    }
    Ok(())
}

/// The RDATA tokens of one record, consumed field by field.
struct Fields<'a> {
    args: &'a [&'a [u8]],
    next: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, what: &str) -> Result<&'a [u8], String> {
        let tok = self
            .args
            .get(self.next)
            .ok_or_else(|| format!("missing {what}"))?;
        self.next += 1;
        Ok(tok)
    }

    fn text(&mut self, what: &str) -> Result<String, String> {
        self.take(what).map(name::show)
    }

    fn u16(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let tok = self.take(what)?;
        let v: u16 = name::show(tok)
            .parse()
            .map_err(|_| format!("bad {what} '{}': 0..65535 expected", name::show(tok)))?;
        out.extend_from_slice(&v.to_be_bytes());
        Ok(())
    }

    fn name(&mut self, origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let tok = self.take("domain name")?;
        out.extend_from_slice(&name::parse(tok, origin)?);
        Ok(())
    }

    /// RFC 1035 §3.3 <character-string>: unescaped, at most 255 bytes.
    fn char_string(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let tok = self.take(what)?;
        let len_at = out.len();
        out.push(0);
        let mut i = 0;
        while i < tok.len() {
            if tok[i] == b'\\' {
                let (byte, used) = name::unescape_at(tok, i)?;
                out.push(byte);
                i += used;
            } else {
                out.push(tok[i]);
                i += 1;
            }
        }
        let len = out.len() - len_at - 1;
        if len > 255 {
            return Err(format!(
                "{what} is {len} bytes: a character-string holds at most 255 (RFC 1035 §3.3)"
            ));
        }
        out[len_at] = len as u8;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl(b"1h30m").unwrap(), 5400);
        assert_eq!(parse_ttl(b"2D").unwrap(), 172_800);
        assert!(parse_ttl(b"h").is_err());
        assert!(parse_ttl(b"5000000000").is_err());
    }
}
