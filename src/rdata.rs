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
    pub const SSHFP: u16 = 44;
    pub const DNSKEY: u16 = 48;
    pub const TLSA: u16 = 52;
    pub const CDS: u16 = 59;
    pub const CDNSKEY: u16 = 60;
    pub const CAA: u16 = 257;
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
        ("SSHFP", SSHFP),
        ("DNSKEY", DNSKEY),
        ("TLSA", TLSA),
        ("CDS", CDS),
        ("CDNSKEY", CDNSKEY),
        ("CAA", CAA),
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
        // Each term is below 2^52; the sum is checked after each, so it never wraps.
        total += value * unit;
        if total > u64::from(u32::MAX) {
            return Err(bad());
        }
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
        rtype::DS | rtype::CDS => {
            // RFC 4034 §5.3: key tag, algorithm (number or mnemonic), digest type, hex digest
            // (which may be split by white space).
            f.u16("key tag", out)?;
            f.algorithm(out)?;
            f.u8("digest type", out)?;
            f.hex_rest("digest", out)?;
        }
        rtype::DNSKEY | rtype::CDNSKEY => {
            // RFC 4034 §2.2: flags, protocol, algorithm, base64 public key.
            f.u16("flags", out)?;
            f.u8("protocol", out)?;
            f.algorithm(out)?;
            f.base64_rest("public key", out)?;
        }
        rtype::TLSA => {
            // RFC 6698 §2.2: usage, selector, matching type, hex data.
            f.u8("certificate usage", out)?;
            f.u8("selector", out)?;
            f.u8("matching type", out)?;
            f.hex_rest("certificate association data", out)?;
        }
        rtype::SSHFP => {
            // RFC 4255 §3.2: algorithm, fingerprint type, hex fingerprint.
            f.u8("algorithm", out)?;
            f.u8("fingerprint type", out)?;
            f.hex_rest("fingerprint", out)?;
        }
        rtype::CAA => {
            // RFC 8659 §4.1.1: flags, tag (letters and digits), value (the rest, unquoted).
            f.u8("flags", out)?;
            let tag = f.take("tag")?;
            if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err(format!(
                    "bad tag '{}': 1 to 255 letters and digits (RFC 8659 §4.1)",
                    name::show(tag)
                ));
            }
            out.push(len_u8(tag.len()));
            out.extend_from_slice(tag);
            let value = f.take("value")?;
            unescape_into(value, out)?;
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

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGORITHMS: &[(&str, u8)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("RSASHA1", 5),
    ("DSA-NSEC3-SHA1", 6),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// A length already known to be at most 255 as the byte that carries it.
fn len_u8(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// Hex digits, two per byte.
fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if !hex.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    for pair in hex.chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| "bad hex")?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| format!("bad hex '{s}'"))?);
    }
    Ok(())
}

/// A token's bytes with its `\X` and `\DDD` escapes decoded.
fn unescape_into(tok: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
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
    Ok(())
}

/// RFC 3597 §5: `\# <length> <hex words>`.
fn encode_generic(args: &[&[u8]], out: &mut Vec<u8>) -> Result<(), String> {
    let (len, hex) = args.split_first().ok_or("\\# needs a length")?;
    let len: usize = name::show(len)
        .parse()
        .map_err(|_| format!("bad \\# length '{}'", name::show(len)))?;
    let hex: Vec<u8> = hex.concat();
    decode_hex(&hex, out).map_err(|e| format!("{e} after \\#"))?;
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

    fn u8(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let tok = self.take(what)?;
        let v: u8 = name::show(tok)
            .parse()
            .map_err(|_| format!("bad {what} '{}': 0..255 expected", name::show(tok)))?;
        out.push(v);
        Ok(())
    }

    /// A DNSSEC algorithm: a number or its mnemonic (RFC 4034 §5.3, Appendix A.1).
    fn algorithm(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let tok = self.take("algorithm")?;
        let by_name = ALGORITHMS
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(tok))
            .map(|&(_, v)| v);
        let v = match by_name {
            Some(v) => v,
            None => name::show(tok).parse().map_err(|_| {
                format!(
                    "bad algorithm '{}': a number 0..255 or a mnemonic such as ECDSAP256SHA256",
                    name::show(tok)
                )
            })?,
        };
        out.push(v);
        Ok(())
    }

    /// The remaining tokens as one hex string (white space inside is allowed).
    fn hex_rest(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let hex: Vec<u8> = self.rest(what)?.concat();
        decode_hex(&hex, out).map_err(|e| format!("{what}: {e}"))
    }

    /// The remaining tokens as one base64 string (RFC 4648 §4; white space inside allowed).
    fn base64_rest(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), String> {
        use base64::Engine as _;
        let text: Vec<u8> = self.rest(what)?.concat();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|e| format!("{what}: bad base64: {e}"))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    /// Every token left, at least one.
    fn rest(&mut self, what: &str) -> Result<&'a [&'a [u8]], String> {
        let rest = &self.args[self.next.min(self.args.len())..];
        if rest.is_empty() {
            return Err(format!("missing {what}"));
        }
        self.next = self.args.len();
        Ok(rest)
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
        unescape_into(tok, out)?;
        let len = out.len() - len_at - 1;
        if len > 255 {
            return Err(format!(
                "{what} is {len} bytes: a character-string holds at most 255 (RFC 1035 §3.3)"
            ));
        }
        out[len_at] = len_u8(len);
        Ok(())
    }
}

/// RDATA in presentation form, the way a master file writes it (RFC 1035 §5.1 and each type's
/// RFC); RFC 3597 generic form for other types and for RDATA that does not parse as its type.
pub fn to_text(rtype: u16, rdata: &[u8]) -> String {
    let mut r = Reader { rdata, pos: 0 };
    let text = match rtype {
        rtype::A => r
            .take(4)
            .map(|b| Ipv4Addr::from([b[0], b[1], b[2], b[3]]).to_string()),
        rtype::AAAA => r.take(16).map(|b| {
            let mut octets = [0; 16];
            octets.copy_from_slice(b);
            Ipv6Addr::from(octets).to_string()
        }),
        rtype::NS | rtype::CNAME | rtype::PTR => r.name(),
        rtype::MX => (|| Some(format!("{} {}", r.u16()?, r.name()?)))(),
        rtype::SOA => (|| {
            let (mname, rname) = (r.name()?, r.name()?);
            let mut t = format!("{mname} {rname}");
            for _ in 0..5 {
                t.push_str(&format!(" {}", r.u32()?));
            }
            Some(t)
        })(),
        rtype::TXT => (|| {
            let mut strings = Vec::new();
            while !r.done() {
                strings.push(quote(r.char_string()?));
            }
            (!strings.is_empty()).then(|| strings.join(" "))
        })(),
        rtype::SRV => (|| {
            Some(format!(
                "{} {} {} {}",
                r.u16()?,
                r.u16()?,
                r.u16()?,
                r.name()?
            ))
        })(),
        rtype::NAPTR => (|| {
            Some(format!(
                "{} {} {} {} {} {}",
                r.u16()?,
                r.u16()?,
                quote(r.char_string()?),
                quote(r.char_string()?),
                quote(r.char_string()?),
                r.name()?
            ))
        })(),
        rtype::DS | rtype::CDS => (|| {
            let head = format!("{} {} {}", r.u16()?, r.u8()?, r.u8()?);
            Some(format!("{head} {}", hex_upper(r.rest_nonempty()?)))
        })(),
        rtype::DNSKEY | rtype::CDNSKEY => (|| {
            use base64::Engine as _;
            let head = format!("{} {} {}", r.u16()?, r.u8()?, r.u8()?);
            let key = base64::engine::general_purpose::STANDARD.encode(r.rest_nonempty()?);
            Some(format!("{head} {key}"))
        })(),
        rtype::TLSA => (|| {
            let head = format!("{} {} {}", r.u8()?, r.u8()?, r.u8()?);
            Some(format!("{head} {}", hex_upper(r.rest_nonempty()?)))
        })(),
        rtype::SSHFP => (|| {
            let head = format!("{} {}", r.u8()?, r.u8()?);
            Some(format!("{head} {}", hex_upper(r.rest_nonempty()?)))
        })(),
        rtype::CAA => (|| {
            let flags = r.u8()?;
            let tag = r.char_string()?;
            let tag_ok = !tag.is_empty() && tag.iter().all(u8::is_ascii_alphanumeric);
            let value = r.rest();
            tag_ok.then(|| format!("{flags} {} {}", name::show(tag), quote(value)))
        })(),
        _ => None,
    };
    match text {
        Some(t) if r.done() => t,
        _ => generic_text(rdata),
    }
}

/// RDATA of the types known here that embed domain names, with those names lower-cased
/// (RFC 4034 §6.2): two records that differ only there are the same record (RFC 4343 §3), as
/// BIND and NSD compare them. None when nothing would change.
pub fn canonical(rtype: u16, rdata: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader { rdata, pos: 0 };
    let mut names = Vec::with_capacity(2);
    let mut name_at = |r: &mut Reader<'_>| -> Option<()> {
        let start = r.pos;
        r.name()?;
        names.push(start..r.pos);
        Some(())
    };
    let found = match rtype {
        rtype::NS | rtype::CNAME | rtype::PTR => name_at(&mut r),
        rtype::MX => r.take(2).and_then(|_| name_at(&mut r)),
        rtype::SRV => r.take(6).and_then(|_| name_at(&mut r)),
        rtype::SOA => name_at(&mut r).and_then(|()| name_at(&mut r)),
        rtype::NAPTR => (|| {
            r.take(4)?;
            for _ in 0..3 {
                r.char_string()?;
            }
            name_at(&mut r)
        })(),
        _ => None,
    };
    found?;
    if !names
        .iter()
        .any(|n| rdata[n.clone()].iter().any(u8::is_ascii_uppercase))
    {
        return None;
    }
    let mut out = rdata.to_vec();
    for n in names {
        out[n].make_ascii_lowercase();
    }
    Some(out)
}

/// RFC 3597 §5: `\# <length> <hex>`.
fn generic_text(rdata: &[u8]) -> String {
    if rdata.is_empty() {
        "\\# 0".to_string()
    } else {
        format!("\\# {} {}", rdata.len(), hex_upper(rdata))
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A character-string in zone-file form: quoted, `"` and `\` escaped, others as `\DDD`.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Reads the fields of wire-form RDATA; every read is bounds-checked.
struct Reader<'a> {
    rdata: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.rdata.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn char_string(&mut self) -> Option<&'a [u8]> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    /// An uncompressed name (RDATA as stored is never compressed), in presentation form.
    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        loop {
            let len = usize::from(self.u8()?);
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            self.take(len)?;
        }
        let wire = &self.rdata[start..self.pos];
        (wire.len() <= 255).then(|| name::to_text(wire))
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.rdata[self.pos..];
        self.pos = self.rdata.len();
        rest
    }

    fn rest_nonempty(&mut self) -> Option<&'a [u8]> {
        Some(self.rest()).filter(|r| !r.is_empty())
    }

    fn done(&self) -> bool {
        self.pos == self.rdata.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wire form of `text` as RDATA of `rtype`, origin `example.`.
    fn wire(rtype: u16, text: &str) -> Result<Vec<u8>, String> {
        let mut lexed: Vec<(Vec<u8>, bool)> = Vec::new();
        // Enough of the master-file lexer for these tests: quoted strings and words.
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c == ' ' {
                rest = &rest[1..];
            } else if c == '"' {
                let end = rest[1..].find('"').expect("closing quote") + 1;
                lexed.push((rest.as_bytes()[1..end].to_vec(), true));
                rest = &rest[end + 1..];
            } else {
                let end = rest.find(' ').unwrap_or(rest.len());
                lexed.push((rest.as_bytes()[..end].to_vec(), false));
                rest = &rest[end..];
            }
        }
        let args: Vec<&[u8]> = lexed.iter().map(|(t, _)| t.as_slice()).collect();
        let quoted: Vec<bool> = lexed.iter().map(|(_, q)| *q).collect();
        let origin = name::parse(b"example.", name::ROOT).unwrap();
        let mut out = Vec::new();
        encode_rdata(rtype, &args, &quoted, &origin, &mut out)?;
        Ok(out)
    }

    #[test]
    fn every_named_type_reads_and_prints_its_rfc_text_form() {
        let digest = "49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE";
        let cases: &[(u16, &str, &str)] = &[
            (rtype::A, "192.0.2.1", "192.0.2.1"),
            (rtype::AAAA, "2001:db8::53", "2001:db8::53"),
            (rtype::NS, "ns1", "ns1.example."),
            (rtype::CNAME, "target.example.", "target.example."),
            (rtype::PTR, "@", "example."),
            (rtype::MX, "10 mail", "10 mail.example."),
            (
                rtype::SOA,
                "ns hm 1 3600 900 1209600 300",
                "ns.example. hm.example. 1 3600 900 1209600 300",
            ),
            (
                rtype::TXT,
                "\"a b\" c \"x\\\\y\\255\"",
                "\"a b\" \"c\" \"x\\\\y\\255\"",
            ),
            (rtype::SRV, "0 5 5060 sip", "0 5 5060 sip.example."),
            (
                rtype::NAPTR,
                "10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .",
                "10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .",
            ),
            // RFC 4034 §5.4's example, digest split by a space as zone files may split it.
            (
                rtype::DS,
                "60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118",
                "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118",
            ),
            (
                rtype::DS,
                &format!("12345 ECDSAP256SHA256 2 {}", digest.to_lowercase()),
                &format!("12345 13 2 {digest}"),
            ),
            (rtype::CDS, "0 0 0 00", "0 0 0 00"),
            (
                rtype::DNSKEY,
                "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0d xCjjnopKl+GqJxpVXckHAeF+KkxLbxIL fDLUT0rAK9iUzy1L53eKGQ==",
                "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
            ),
            (rtype::CDNSKEY, "0 3 0 AA==", "0 3 0 AA=="),
            (
                rtype::TLSA,
                "3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
                "3 1 1 D2ABDE240D7CD3EE6B4B28C54DF034B97983A1D16E8A410E4561CB106618E971",
            ),
            (
                rtype::SSHFP,
                "4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789",
                "4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF123456789",
            ),
            (
                rtype::CAA,
                "0 issue \"ca.example.net\"",
                "0 issue \"ca.example.net\"",
            ),
            (rtype::CAA, "128 tbs Unknown", "128 tbs \"Unknown\""),
            (65300, "\\# 4 0A0B0C0D", "\\# 4 0A0B0C0D"),
        ];
        for &(t, text, printed) in cases {
            let w = wire(t, text).unwrap_or_else(|e| panic!("{} {text}: {e}", rtype::to_text(t)));
            assert_eq!(to_text(t, &w), printed, "{} {text}", rtype::to_text(t));
            // What is printed reads back to the same RDATA.
            assert_eq!(
                wire(t, printed).as_deref(),
                Ok(w.as_slice()),
                "{} {printed}",
                rtype::to_text(t)
            );
        }
        let ds = wire(rtype::DS, &format!("12345 13 2 {digest}")).unwrap();
        assert_eq!(&ds[..4], &[0x30, 0x39, 13, 2]);
        assert_eq!(ds.len(), 4 + 20);
    }

    #[test]
    fn canonical_forms_lower_case_embedded_names_only() {
        let ns = wire(rtype::NS, "NS1.Example.").unwrap();
        assert_eq!(
            canonical(rtype::NS, &ns),
            Some(wire(rtype::NS, "ns1.example.").unwrap())
        );
        assert_eq!(
            canonical(rtype::NS, &wire(rtype::NS, "ns1.example.").unwrap()),
            None
        );
        let naptr = wire(rtype::NAPTR, "10 100 \"U\" \"E2U+SIP\" \"\" Next.Example.").unwrap();
        let lower = wire(rtype::NAPTR, "10 100 \"U\" \"E2U+SIP\" \"\" next.example.").unwrap();
        assert_eq!(
            canonical(rtype::NAPTR, &naptr),
            Some(lower),
            "strings keep their case"
        );
        let txt = wire(rtype::TXT, "\"ABC\"").unwrap();
        assert_eq!(canonical(rtype::TXT, &txt), None, "TXT embeds no name");
        let mx = wire(rtype::MX, "10 Mail").unwrap();
        assert_eq!(
            canonical(rtype::MX, &mx).unwrap()[2..],
            wire(rtype::NS, "mail").unwrap()[..]
        );
    }

    #[test]
    fn malformed_text_and_rdata_are_refused_or_printed_generically() {
        assert!(
            wire(rtype::DS, "12345 13 2")
                .unwrap_err()
                .contains("missing digest")
        );
        assert!(
            wire(rtype::DS, "12345 13 2 ABC")
                .unwrap_err()
                .contains("odd number")
        );
        assert!(
            wire(rtype::DS, "12345 NOSUCH 2 AB")
                .unwrap_err()
                .contains("bad algorithm")
        );
        assert!(
            wire(rtype::DNSKEY, "257 3 13 !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            wire(rtype::CAA, "0 is-sue x")
                .unwrap_err()
                .contains("bad tag")
        );
        assert!(
            wire(rtype::TLSA, "3 1 256 AB")
                .unwrap_err()
                .contains("0..255")
        );
        // RDATA that is not what its type says is shown in RFC 3597 form, never misread.
        assert_eq!(to_text(rtype::A, &[1, 2, 3]), "\\# 3 010203");
        assert_eq!(to_text(rtype::NS, &[3, b'a']), "\\# 2 0361");
        assert_eq!(to_text(rtype::DS, &[]), "\\# 0");
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl(b"1h30m").unwrap(), 5400);
        assert_eq!(parse_ttl(b"2D").unwrap(), 172_800);
        assert!(parse_ttl(b"h").is_err());
        assert!(parse_ttl(b"5000000000").is_err());
    }
}
