//! ENUM-aware checks of provisioned NAPTRs: what a generic server stores blindly and a caller
//! later finds as a failed call. Each finding names the rule and the RFC section it comes from.

use std::fmt;

use crate::enumservice::{self, Enumservice};
use crate::name;
use crate::naptr::{Naptr, RegexCache, SubstExpr};

/// How bad a finding is: errors keep a zone from loading; warnings are reported (and become
/// errors with `strict = true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Short name of the rule, for grepping and counting.
    pub rule: &'static str,
    pub reason: String,
    pub rfc: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] ({})", self.reason, self.rule, self.rfc)
    }
}

fn error(rule: &'static str, rfc: &'static str, reason: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Error,
        rule,
        reason: reason.into(),
        rfc,
    }
}

fn warning(rule: &'static str, rfc: &'static str, reason: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        rule,
        reason: reason.into(),
        rfc,
    }
}

/// The number an owner name stands for, if the owner is a whole number: every label from the
/// owner up to the first non-digit label is one digit (`3.2.1.4.4.e164.arpa.` → `+44123`).
pub fn owner_number(owner: &[u8]) -> Option<String> {
    let mut digits: Vec<u8> = Vec::new();
    let mut labels = name::labels(owner).peekable();
    while let Some(&label) = labels.peek() {
        match label {
            [d @ b'0'..=b'9'] => digits.push(*d),
            _ => break,
        }
        labels.next();
    }
    // The first label must be a digit (not `*`), and something non-digit must follow.
    if digits.is_empty() || name::label_count(owner) == digits.len() {
        return None;
    }
    if name::labels(owner).next().is_some_and(|l| l == b"*") {
        return None;
    }
    digits.reverse();
    Some(format!("+{}", String::from_utf8_lossy(&digits)))
}

/// Checks one NAPTR at `owner` (lower-cased wire form).
pub fn check_naptr(owner: &[u8], rdata: &[u8], cache: &mut RegexCache) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(n) = Naptr::from_wire(rdata) else {
        out.push(error(
            "naptr-rdata",
            "RFC 3403 §4.1",
            "malformed NAPTR RDATA",
        ));
        return out;
    };
    let services = check_services(&n, &mut out);
    let has_regexp = !n.regexp.is_empty();
    let has_replacement = !n.replacement_is_root();
    if has_regexp && has_replacement {
        out.push(error(
            "regexp-and-replacement",
            "RFC 3403 §4.1",
            "both REGEXP and REPLACEMENT are set: a rule uses one or the other",
        ));
    }
    match n.flags.to_ascii_lowercase().as_slice() {
        b"u" => {
            if !has_regexp {
                out.push(error(
                    "terminal-needs-regexp",
                    "RFC 6116 §3.4.1",
                    "terminal rule (flag \"u\") has no REGEXP to produce its URI",
                ));
                if has_replacement {
                    out.push(error(
                        "terminal-replacement",
                        "RFC 6116 §3.4.1",
                        "terminal rule (flag \"u\") must have the replacement \".\"",
                    ));
                }
            }
            if n.services.is_empty() {
                out.push(error(
                    "terminal-needs-enumservice",
                    "RFC 6116 §3.4.3",
                    "terminal rule (flag \"u\") has no Enumservice",
                ));
            }
        }
        b"" => {
            if has_regexp && !has_replacement {
                out.push(error(
                    "non-terminal-regexp",
                    "RFC 6116 §3.4.1",
                    "non-terminal rule (empty flags) must have an empty REGEXP and a REPLACEMENT domain",
                ));
            } else if !has_replacement {
                out.push(error(
                    "non-terminal-needs-replacement",
                    "RFC 6116 §3.4.1",
                    "non-terminal rule (empty flags) has no REPLACEMENT domain to continue at",
                ));
            }
            if !n.services.is_empty() {
                out.push(warning(
                    "non-terminal-services",
                    "RFC 6116 §3.4.3",
                    "non-terminal rule (empty flags) should have empty services",
                ));
            }
        }
        other => out.push(warning(
            "unknown-flags",
            "RFC 6116 §5.2",
            format!(
                "flags \"{}\" are not ENUM's \"u\" or empty: clients ignore this rule",
                String::from_utf8_lossy(other)
            ),
        )),
    }
    if has_regexp {
        check_regexp(owner, &n, services.as_deref(), cache, &mut out);
    }
    out
}

/// Services field: syntax errors, unregistered, experimental and private Enumservices.
fn check_services(n: &Naptr, out: &mut Vec<Finding>) -> Option<Vec<Enumservice>> {
    if n.services.is_empty() {
        return None;
    }
    let services = match enumservice::parse_services(&n.services) {
        Ok(s) => s,
        Err(e) => {
            out.push(Finding {
                severity: Severity::Error,
                rule: "enumservice-syntax",
                reason: e.reason,
                rfc: e.rfc,
            });
            return None;
        }
    };
    for s in &services {
        if s.kind.starts_with("x-") {
            out.push(warning(
                "enumservice-experimental",
                "RFC 6117 §3.2",
                format!("Enumservice {s} is experimental (X-): not for production data"),
            ));
        } else if s.kind.starts_with("p-") {
            out.push(warning(
                "enumservice-private",
                "RFC 6116 §3.4.3.1",
                format!("Enumservice {s} is private (P-): it must never be visible outside a private network"),
            ));
        } else if enumservice::registration(s).is_none() {
            let near = enumservice::closest(s);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!("; closest registered: {}", near.join(", "))
            };
            out.push(warning(
                "enumservice-unregistered",
                "RFC 6117 §4",
                format!("Enumservice {s} is not in the IANA registry{hint}"),
            ));
        }
    }
    Some(services)
}

/// REGEXP: syntax, delimiters, groups, bytes, and what it makes of the owner's own number.
fn check_regexp(
    owner: &[u8],
    n: &Naptr,
    services: Option<&[Enumservice]>,
    cache: &mut RegexCache,
    out: &mut Vec<Finding>,
) {
    if n.regexp.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        out.push(warning(
            "regexp-bytes",
            "RFC 3402 §3.2",
            "REGEXP contains non-printable or non-ASCII bytes",
        ));
    }
    let expr = match SubstExpr::parse_with(&n.regexp, cache) {
        Ok(e) => e,
        Err(e) => {
            out.push(error(
                "regexp-syntax",
                "RFC 3402 §3.2",
                format!("REGEXP: {e}"),
            ));
            return;
        }
    };
    if expr.case_insensitive {
        out.push(warning(
            "regexp-i-flag",
            "RFC 6116 §5.1",
            "REGEXP has the 'i' flag: the AUS is digits, case means nothing",
        ));
    }
    let Some(aus) = owner_number(owner) else {
        return;
    };
    let Some(uri) = expr.apply(&aus) else {
        out.push(warning(
            "regexp-no-match",
            "RFC 3402 §3.2",
            format!("REGEXP does not match this number's AUS {aus}: the rule yields nothing"),
        ));
        return;
    };
    let Some(scheme) = uri_scheme(&uri) else {
        out.push(warning(
            "result-not-uri",
            "RFC 6116 §3.2.3",
            format!("REGEXP turns {aus} into '{uri}', which is not a URI"),
        ));
        return;
    };
    if let Some(reason) = services.and_then(|s| scheme_mismatch(s, &scheme, &uri)) {
        out.push(warning("uri-scheme", "RFC 6117 §3.4", reason));
    }
    // RFC 4769 §4: portability data (`;npdi;rn=`) names the owner's own number and says
    // the dip was made: a client routes on the rn and does not look the number up again.
    if scheme.eq_ignore_ascii_case("tel")
        && tel_is_number(&uri, &aus)
        && !has_param(&uri, "enumdi")
        && !has_param(&uri, "npdi")
    {
        out.push(warning(
            "tel-loop",
            "RFC 4759 §3",
            format!("terminal tel: URI for the owner's own number {aus} without ;enumdi: a client may look it up again (loop)"),
        ));
    }
    if scheme.eq_ignore_ascii_case("tel") && has_param(&uri, "rn") && !has_param(&uri, "npdi") {
        out.push(warning(
            "rn-without-npdi",
            "RFC 4694 §4",
            format!("tel: URI {uri} has a routing number (;rn=) without ;npdi: the number-portability dip indicator goes with it"),
        ));
    }
}

/// Why a URI of `scheme` does not fit `services`: every one of them is registered and none
/// registers that scheme (RFC 6117 §3.4). None if it fits, or if an unregistered service leaves
/// it open. `enumd check` warns of it; `enumd lookup` leaves such a rule out.
pub fn scheme_mismatch(services: &[Enumservice], scheme: &str, uri: &str) -> Option<String> {
    let registered: Vec<&str> = services
        .iter()
        .filter_map(enumservice::registration)
        .flat_map(|r| r.schemes.iter().copied())
        .collect();
    let all_registered = services
        .iter()
        .all(|s| enumservice::registration(s).is_some());
    if services.is_empty()
        || !all_registered
        || registered.iter().any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    Some(format!(
        "REGEXP yields a {scheme}: URI ({uri}) but {} registers {}",
        services
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("+"),
        registered.join(", ")
    ))
}

/// `scheme` of `scheme:rest` (RFC 3986 §3.1), if the text is a URI at all.
pub fn uri_scheme(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok && !rest.is_empty()).then(|| scheme.to_ascii_lowercase())
}

/// True if a tel: URI's number is `aus` (visual separators ignored, RFC 3966 §3).
fn tel_is_number(uri: &str, aus: &str) -> bool {
    let number = uri[4..].split(';').next().unwrap_or("");
    let digits: String = number
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    digits == aus
}

fn has_param(uri: &str, param: &str) -> bool {
    uri.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(param))
    })
}

/// RRset-level: two NAPTRs with the same ORDER and PREFERENCE but different services leave the
/// choice to chance (RFC 6116 §5.1). Returns the index of each later record that clashes.
pub fn check_naptr_rrset(rdatas: &[&[u8]]) -> Vec<(usize, Finding)> {
    let parsed: Vec<Option<Naptr>> = rdatas.iter().map(|r| Naptr::from_wire(r)).collect();
    let mut out = Vec::new();
    for (i, a) in parsed.iter().enumerate() {
        let Some(a) = a else { continue };
        if let Some(b) = parsed[..i].iter().flatten().find(|b| {
            b.order == a.order
                && b.preference == a.preference
                && !b.services.eq_ignore_ascii_case(&a.services)
        }) {
            out.push((
                i,
                warning(
                    "same-order-preference",
                    "RFC 6116 §5.1",
                    format!(
                        "ORDER {} PREFERENCE {} is shared by services {} and {}: which one a client picks is left to chance",
                        a.order,
                        a.preference,
                        String::from_utf8_lossy(&b.services),
                        String::from_utf8_lossy(&a.services)
                    ),
                ),
            ));
        }
    }
    out
}

/// What a name's NAPTR RDATAs are in a zone (None: the name is outside it).
pub type NaptrsAt<'f, 'z> = dyn Fn(&[u8]) -> Option<Vec<&'z [u8]>> + 'f;

/// Longest chain of non-terminal rules a client follows (RFC 6116 §5.2 leaves loops to clients;
/// a zone should never make them).
pub const MAX_NON_TERMINAL_HOPS: usize = 5;

/// Follows the non-terminal chain from `start`'s rule to `first_target`. `naptrs_at` gives the
/// NAPTR RDATAs a name has in this zone (None if it is outside). Returns an error finding for a
/// loop or a chain longer than [`MAX_NON_TERMINAL_HOPS`].
pub fn check_chain<'z>(
    start: &[u8],
    first_target: &[u8],
    naptrs_at: &NaptrsAt<'_, 'z>,
) -> Option<Finding> {
    // Depth-first over every non-terminal branch, bounded by the hop limit.
    let mut stack: Vec<(Vec<u8>, Vec<Vec<u8>>)> =
        vec![(first_target.to_vec(), vec![start.to_vec()])];
    while let Some((target, mut trail)) = stack.pop() {
        let show = |t: &[Vec<u8>], last: &[u8]| {
            t.iter()
                .map(|n| name::to_text(n))
                .chain(std::iter::once(name::to_text(last)))
                .collect::<Vec<_>>()
                .join(" → ")
        };
        if trail.contains(&target) {
            return Some(error(
                "non-terminal-loop",
                "RFC 6116 §5.2",
                format!("non-terminal rules loop: {}", show(&trail, &target)),
            ));
        }
        if trail.len() > MAX_NON_TERMINAL_HOPS {
            return Some(error(
                "non-terminal-chain",
                "RFC 6116 §5.2",
                format!(
                    "non-terminal chain longer than {MAX_NON_TERMINAL_HOPS} hops: {}",
                    show(&trail, &target)
                ),
            ));
        }
        let Some(rdatas) = naptrs_at(&target) else {
            continue;
        };
        trail.push(target);
        for rdata in rdatas {
            if let Some(n) = Naptr::from_wire(rdata)
                && n.flags.is_empty()
                && !n.replacement_is_root()
            {
                stack.push((name::to_lowercase(&n.replacement), trail.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(text: &str) -> Vec<u8> {
        name::parse(text.as_bytes(), name::ROOT).unwrap()
    }

    /// NAPTR RDATA from its presentation fields.
    fn naptr(
        order: u16,
        pref: u16,
        flags: &str,
        services: &str,
        regexp: &str,
        replacement: &str,
    ) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&order.to_be_bytes());
        r.extend_from_slice(&pref.to_be_bytes());
        for s in [flags, services, regexp] {
            r.push(u8::try_from(s.len()).unwrap());
            r.extend_from_slice(s.as_bytes());
        }
        r.extend_from_slice(&owner(replacement));
        r
    }

    /// The findings for one record at +44123 as `severity rule: reason (rfc)` lines.
    fn findings(flags: &str, services: &str, regexp: &str, replacement: &str) -> Vec<String> {
        check_naptr(
            &owner("3.2.1.4.4.e164.arpa."),
            &naptr(10, 100, flags, services, regexp, replacement),
            &mut RegexCache::default(),
        )
        .into_iter()
        .map(|f| format!("{:?} {}", f.severity, f))
        .collect()
    }

    #[test]
    fn a_good_terminal_rule_has_no_findings() {
        assert!(findings("u", "E2U+sip", "!^.*$!sip:info@example.com!", ".").is_empty());
        assert!(findings("U", "E2U+SIP", r"!^\+44(.*)$!sip:\1@example.com!", ".").is_empty());
        assert!(findings("u", "E2U+voice:tel", "!^.*$!tel:+44123;enumdi!", ".").is_empty());
        assert!(findings("", "", "", "x.example.com.").is_empty());
    }

    #[test]
    fn services_rules() {
        assert_eq!(
            findings("u", "sip+E2U", "!^.*$!sip:a@b!", "."),
            [
                "Error 'sip+E2U' is the RFC 2916 form; write 'E2U+sip' [enumservice-syntax] (RFC 6116 §3.4.3)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+-sip", "!^.*$!sip:a@b!", "."),
            [
                "Error Enumservice type '-sip' has '-' first, second or last [enumservice-syntax] (RFC 6117 §3.2)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+voice:sip", "!^.*$!sip:a@b!", "."),
            [
                "Warning Enumservice voice:sip is not in the IANA registry; closest registered: voice:tel, sip [enumservice-unregistered] (RFC 6117 §4)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+X-lab", "!^.*$!sip:a@b!", "."),
            [
                "Warning Enumservice x-lab is experimental (X-): not for production data [enumservice-experimental] (RFC 6117 §3.2)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+P-route", "!^.*$!sip:a@b!", "."),
            [
                "Warning Enumservice p-route is private (P-): it must never be visible outside a private network [enumservice-private] (RFC 6116 §3.4.3.1)"
            ]
        );
    }

    #[test]
    fn flags_rules() {
        assert_eq!(
            findings("u", "E2U+sip", "", "."),
            [
                "Error terminal rule (flag \"u\") has no REGEXP to produce its URI [terminal-needs-regexp] (RFC 6116 §3.4.1)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+sip", "", "x.example."),
            [
                "Error terminal rule (flag \"u\") has no REGEXP to produce its URI [terminal-needs-regexp] (RFC 6116 §3.4.1)",
                "Error terminal rule (flag \"u\") must have the replacement \".\" [terminal-replacement] (RFC 6116 §3.4.1)"
            ]
        );
        assert_eq!(
            findings("u", "", "!^.*$!sip:a@b!", "."),
            [
                "Error terminal rule (flag \"u\") has no Enumservice [terminal-needs-enumservice] (RFC 6116 §3.4.3)"
            ]
        );
        assert_eq!(
            findings("", "", "!^.*$!sip:a@b!", "."),
            [
                "Error non-terminal rule (empty flags) must have an empty REGEXP and a REPLACEMENT domain [non-terminal-regexp] (RFC 6116 §3.4.1)"
            ]
        );
        assert_eq!(
            findings("", "", "", "."),
            [
                "Error non-terminal rule (empty flags) has no REPLACEMENT domain to continue at [non-terminal-needs-replacement] (RFC 6116 §3.4.1)"
            ]
        );
        assert_eq!(
            findings("", "E2U+sip", "", "x.example."),
            [
                "Warning non-terminal rule (empty flags) should have empty services [non-terminal-services] (RFC 6116 §3.4.3)"
            ]
        );
        assert_eq!(
            findings("s", "E2U+sip", "", "x.example."),
            [
                "Warning flags \"s\" are not ENUM's \"u\" or empty: clients ignore this rule [unknown-flags] (RFC 6116 §5.2)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+sip", "!^.*$!sip:a@b!", "x.example."),
            [
                "Error both REGEXP and REPLACEMENT are set: a rule uses one or the other [regexp-and-replacement] (RFC 3403 §4.1)"
            ]
        );
    }

    #[test]
    fn regexp_rules() {
        let one = |re: &str| findings("u", "E2U+sip", re, ".");
        assert_eq!(
            one("1^.*$1sip:a@b1"),
            ["Error REGEXP: delimiter '1' is a digit [regexp-syntax] (RFC 3402 §3.2)"]
        );
        assert_eq!(
            one("!^.*$!sip:a@b!!"),
            [
                "Error REGEXP: 4 unescaped delimiters '!': a regexp has exactly 3 [regexp-syntax] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one("!^.*$!sip:a@b!i"),
            [
                "Warning REGEXP has the 'i' flag: the AUS is digits, case means nothing [regexp-i-flag] (RFC 6116 §5.1)"
            ]
        );
        assert_eq!(
            one(r"!^(.*$!sip:\1@b!"),
            [
                "Error REGEXP: the ERE does not compile: unclosed group [regexp-syntax] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one(r"!^\+(44)(.*)$!sip:\3@b!"),
            [
                "Error REGEXP: back-reference \\3 but the ERE has 2 groups [regexp-syntax] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one(r"!^(.*)$!sip:\0@b!"),
            [
                "Error REGEXP: back-reference \\0: only \\1 to \\9 exist (RFC 3402 §3.2) [regexp-syntax] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one("!^.*$!sip:caf\u{e9}@b!"),
            [
                "Warning REGEXP contains non-printable or non-ASCII bytes [regexp-bytes] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one(r"!^\+43(.*)$!sip:\1@b!"),
            [
                "Warning REGEXP does not match this number's AUS +44123: the rule yields nothing [regexp-no-match] (RFC 3402 §3.2)"
            ]
        );
        assert_eq!(
            one("!^.*$!nonsense!"),
            [
                "Warning REGEXP turns +44123 into 'nonsense', which is not a URI [result-not-uri] (RFC 6116 §3.2.3)"
            ]
        );
        assert_eq!(
            findings("u", "E2U+pstn:tel", "!^.*$!tel:+44123;npdi;rn=+4410!", "."),
            Vec::<String>::new()
        );
        assert_eq!(
            one("!^.*$!tel:+44123!"),
            [
                "Warning REGEXP yields a tel: URI (tel:+44123) but sip registers sip, sips [uri-scheme] (RFC 6117 §3.4)",
                "Warning terminal tel: URI for the owner's own number +44123 without ;enumdi: a client may look it up again (loop) [tel-loop] (RFC 4759 §3)"
            ]
        );
    }

    #[test]
    fn routing_number_goes_with_npdi() {
        let check = |regexp: &str| findings("u", "E2U+pstn:tel", regexp, ".");
        assert_eq!(
            check("!^.*$!tel:+44123;rn=+449;enumdi!"),
            [
                "Warning tel: URI tel:+44123;rn=+449;enumdi has a routing number (;rn=) without ;npdi: the number-portability dip indicator goes with it [rn-without-npdi] (RFC 4694 §4)"
            ]
        );
        assert!(check("!^.*$!tel:+44123;npdi;rn=+449;enumdi!").is_empty());
        assert!(check("!^.*$!tel:+44123;npdi;enumdi!").is_empty());
    }

    #[test]
    fn wildcard_owners_are_not_numbers() {
        assert_eq!(
            owner_number(&owner("3.2.1.4.4.e164.arpa.")).as_deref(),
            Some("+44123")
        );
        assert_eq!(owner_number(&owner("*.1.4.4.e164.arpa.")), None);
        assert_eq!(
            owner_number(&owner("4.4.e164enum.net.")).as_deref(),
            Some("+44")
        );
        assert_eq!(owner_number(&owner("www.e164.arpa.")), None);
    }

    #[test]
    fn same_order_and_preference_with_different_services() {
        let a = naptr(10, 100, "u", "E2U+sip", "!^.*$!sip:a@b!", ".");
        let b = naptr(10, 100, "u", "E2U+voice:tel", "!^.*$!tel:+1!", ".");
        let c = naptr(10, 100, "u", "E2U+SIP", "!^.*$!sip:c@d!", ".");
        // b clashes with a; c (the same services as a, spelled otherwise) clashes with b.
        let f = check_naptr_rrset(&[&a, &b, &c]);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].0, f[1].0), (1, 2));
        assert_eq!(
            f[0].1.to_string(),
            "ORDER 10 PREFERENCE 100 is shared by services E2U+sip and E2U+voice:tel: which one a client picks is left to chance [same-order-preference] (RFC 6116 §5.1)"
        );
    }

    #[test]
    fn non_terminal_loops_and_long_chains() {
        let names: Vec<Vec<u8>> = (0..8).map(|i| owner(&format!("{i}.e164.arpa."))).collect();
        let to = |i: usize| naptr(10, 10, "", "", "", &format!("{i}.e164.arpa."));
        let rules: Vec<Vec<u8>> = (0..8).map(|i| to((i + 1) % 8)).collect();
        // 0 → 1 → … → 7 → 0: a loop, and longer than 5 hops first.
        let at = |n: &[u8]| {
            names
                .iter()
                .position(|x| x == n)
                .map(|i| vec![&rules[i][..]])
        };
        let f = check_chain(&names[0], &names[1], &at).unwrap();
        assert_eq!(f.rule, "non-terminal-chain");
        assert!(
            f.reason.starts_with(
                "non-terminal chain longer than 5 hops: 0.e164.arpa. → 1.e164.arpa. →"
            ),
            "{}",
            f.reason
        );
        // 0 → 1 → 0
        let short: Vec<Vec<u8>> = vec![to(1), to(0)];
        let at = |n: &[u8]| {
            names
                .iter()
                .position(|x| x == n)
                .filter(|&i| i < 2)
                .map(|i| vec![&short[i][..]])
        };
        let f = check_chain(&names[0], &names[1], &at).unwrap();
        assert_eq!(
            f.reason,
            "non-terminal rules loop: 0.e164.arpa. → 1.e164.arpa. → 0.e164.arpa."
        );
        // 0 → 1 (terminal there): fine.
        let terminal = naptr(10, 10, "u", "E2U+sip", "!^.*$!sip:a@b!", ".");
        let at = |n: &[u8]| (n == names[1].as_slice()).then(|| vec![&terminal[..]]);
        assert!(check_chain(&names[0], &names[1], &at).is_none());
    }
}
