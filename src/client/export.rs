//! `enumd export`: a zone's numbers written back as `enumd provision` input, from a server
//! (AXFR) or a zone file, so that data can move between systems and come back unchanged.
//!
//! `csv`: one `set` row per number and Enumservice, `add` rows for its further records, each
//! with the URI its rule gives for the number. `portability`: `number,routing_number` for every
//! `E2U+pstn:tel` rule with `;npdi;rn=` (RFC 4694 §4). Rules that are not terminal, and names
//! that are not numbers (wildcards, the apex), have no row; they are counted on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::client::conn::Conn;
use crate::client::provision::exit;
use crate::config::Key;
use crate::name;
use crate::naptr::{Naptr, RegexCache, SubstExpr};
use crate::rdata::rtype;
use crate::validate::owner_number;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Portability,
}

pub enum Source {
    Server(SocketAddr, Option<Key>),
    File(PathBuf),
}

pub fn run(apex: &[u8], source: &Source, format: ExportFormat, out: &mut dyn Write) -> u8 {
    // Number → its NAPTRs (TTL, RDATA), in number order.
    let mut numbers: BTreeMap<String, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    let mut others = 0u64;
    let mut keep = |owner: &[u8], rt: u16, ttl: u32, rdata: &[u8]| {
        if rt != rtype::NAPTR {
            return;
        }
        match owner_number(owner).filter(|_| name::is_at_or_below(owner, apex) && owner != apex) {
            Some(n) => numbers.entry(n).or_default().push((ttl, rdata.to_vec())),
            None => others += 1,
        }
    };
    match source {
        Source::Server(addr, key) => {
            let read =
                Conn::open(*addr, key.as_ref()).map_err(|reason| crate::client::conn::ReadError {
                    reason,
                    refused: false,
                });
            if let Err(e) = read.and_then(|mut c| {
                c.axfr(apex, &mut |rr| keep(&rr.owner, rr.rtype, rr.ttl, &rr.rdata))
            }) {
                eprintln!("enumd export: {}", e.reason);
                return exit::UNREACHABLE;
            }
        }
        Source::File(path) => {
            let mut errors = 0usize;
            crate::zonefile::parse_file(
                path,
                apex,
                &mut |r| keep(&name::to_lowercase(r.owner), r.rtype, r.ttl, r.rdata),
                &mut |e| {
                    if !e.warning {
                        errors += 1;
                        eprintln!("{e}");
                    }
                },
            );
            if errors > 0 {
                eprintln!("enumd export: {errors} error(s) in {}", path.display());
                return exit::INPUT;
            }
        }
    }
    let mut cache = RegexCache::default();
    let mut skipped = 0u64;
    let mut rows = 0u64;
    let result = (|| -> std::io::Result<()> {
        match format {
            ExportFormat::Csv => writeln!(out, "action,number,service,uri,order,preference,ttl")?,
            ExportFormat::Portability => writeln!(out, "number,routing_number")?,
        }
        for (number, naptrs) in &numbers {
            let mut seen: Vec<Vec<u8>> = Vec::new();
            for (ttl, rdata) in naptrs {
                let Some((n, uri)) = terminal(rdata, number, &mut cache) else {
                    skipped += 1;
                    continue;
                };
                let services = String::from_utf8_lossy(&n.services);
                match format {
                    ExportFormat::Csv => {
                        let key = n.services.to_ascii_lowercase();
                        let action = if seen.contains(&key) { "add" } else { "set" };
                        seen.push(key);
                        let service = services.get(4..).unwrap_or("");
                        writeln!(
                            out,
                            "{action},{number},{},{},{},{},{ttl}",
                            csv_field(service),
                            csv_field(&uri.replace('{', "{{").replace('}', "}}")),
                            n.order,
                            n.preference
                        )?;
                    }
                    ExportFormat::Portability => {
                        if !services.eq_ignore_ascii_case("E2U+pstn:tel") {
                            continue;
                        }
                        let Some(rn) = routing_number(&uri, number) else {
                            skipped += 1;
                            continue;
                        };
                        writeln!(out, "{number},{rn}")?;
                    }
                }
                rows += 1;
            }
        }
        out.flush()
    })();
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return exit::DONE; // `| head`: the reader has what it wanted
        }
        eprintln!("enumd export: {e}");
        return exit::INPUT;
    }
    eprintln!(
        "exported {rows} row(s) for {} number(s); left out {skipped} rule(s) without a URI of their own and {others} NAPTR(s) at names that are not numbers",
        numbers.len()
    );
    exit::DONE
}

/// A terminal ENUM rule (flag `u`, an `E2U+` services field) and the URI it gives `number`.
fn terminal(rdata: &[u8], number: &str, cache: &mut RegexCache) -> Option<(Naptr, String)> {
    let n = Naptr::from_wire(rdata)?;
    if !n.flags.eq_ignore_ascii_case(b"u") || !n.services.get(..4)?.eq_ignore_ascii_case(b"e2u+") {
        return None;
    }
    let uri = SubstExpr::parse_with(&n.regexp, cache)
        .ok()?
        .apply(number)?;
    Some((n, uri))
}

/// The global routing number of `tel:NUMBER;npdi;rn=+DIGITS` (RFC 4694 §4), the one form a
/// portability list makes: any other (a local `rn`, more parameters, another number) would
/// not come back the same, so it is left to the csv export.
fn routing_number<'a>(uri: &'a str, number: &str) -> Option<&'a str> {
    let rest = uri.strip_prefix("tel:")?.strip_prefix(number)?;
    let (npdi, rn) = rest.strip_prefix(';')?.split_once(';')?;
    let rn = rn.strip_prefix("rn=")?;
    let global = rn.len() > 1 && rn.starts_with('+') && rn[1..].bytes().all(|b| b.is_ascii_digit());
    (npdi.eq_ignore_ascii_case("npdi") && global).then_some(rn)
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_numbers_need_npdi() {
        assert_eq!(
            routing_number("tel:+431;npdi;rn=+4319790", "+431"),
            Some("+4319790")
        );
        assert_eq!(routing_number("tel:+431;rn=+4319790", "+431"), None);
        assert_eq!(routing_number("sip:+431@x;npdi;rn=+4", "+431"), None);
        // Forms a portability list would not give back the same.
        assert_eq!(routing_number("tel:+431;npdi;rn=4319790", "+431"), None);
        assert_eq!(routing_number("tel:+431;npdi;rn=+43;cic=+1", "+431"), None);
        assert_eq!(routing_number("tel:+432;npdi;rn=+4319790", "+431"), None);
    }
}
