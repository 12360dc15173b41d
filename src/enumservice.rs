//! Enumservices (RFC 6116 §3.4.3, RFC 6117) and the IANA "Enumservice Registrations" registry,
//! embedded in the binary.

use std::fmt;
use std::sync::OnceLock;

/// One Enumservice of a NAPTR's services field: `type` or `type:subtype`, lower-cased
/// (comparison is case-insensitive, RFC 6117 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enumservice {
    pub kind: String,
    pub subtype: Option<String>,
}

impl fmt::Display for Enumservice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subtype {
            Some(s) => write!(f, "{}:{s}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// A services field that breaks the syntax: the reason and the RFC section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub reason: String,
    pub rfc: &'static str,
}

/// Parses `E2U+type[:subtype]+…` (RFC 6116 §3.4.3). Empty input is no Enumservice at all.
pub fn parse_services(field: &[u8]) -> Result<Vec<Enumservice>, SyntaxError> {
    let abnf = "RFC 6116 §3.4.3";
    let text = std::str::from_utf8(field).map_err(|_| SyntaxError {
        reason: "services field is not ASCII".to_string(),
        rfc: abnf,
    })?;
    let lower = text.to_ascii_lowercase();
    if lower.ends_with("+e2u") {
        let old: Vec<&str> = text[..text.len() - 4].split('+').collect();
        return Err(SyntaxError {
            reason: format!(
                "'{text}' is the RFC 2916 form; write 'E2U+{}'",
                old.join("+")
            ),
            rfc: abnf,
        });
    }
    let Some(rest) = lower.strip_prefix("e2u+") else {
        return Err(SyntaxError {
            reason: format!("services '{text}' must start with 'E2U+'"),
            rfc: abnf,
        });
    };
    let mut services = Vec::new();
    for spec in rest.split('+') {
        let mut parts = spec.split(':');
        let kind = parts.next().unwrap_or_default();
        let subtype = parts.next();
        if parts.next().is_some() {
            return Err(SyntaxError {
                reason: format!("'{spec}' has more than one subtype"),
                rfc: abnf,
            });
        }
        check_name(kind, "type")?;
        if let Some(s) = subtype {
            check_name(s, "subtype")?;
        }
        services.push(Enumservice {
            kind: kind.to_string(),
            subtype: subtype.map(str::to_string),
        });
    }
    Ok(services)
}

/// RFC 6116 §3.4.3: 1–32 letters, digits and `-`; RFC 6117 §3.2: `-` never first or last, not
/// second except in the `X-` and `P-` prefixes, and never starting with `e2u`.
fn check_name(name: &str, what: &str) -> Result<(), SyntaxError> {
    let fail = |reason: String, rfc| Err(SyntaxError { reason, rfc });
    if name.is_empty() {
        return fail(format!("empty Enumservice {what}"), "RFC 6116 §3.4.3");
    }
    if name.len() > 32 {
        return fail(
            format!("Enumservice {what} '{name}' is longer than 32 characters"),
            "RFC 6116 §3.4.3",
        );
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return fail(
            format!("Enumservice {what} '{name}' contains '{c}': only letters, digits and '-'"),
            "RFC 6116 §3.4.3",
        );
    }
    let b = name.as_bytes();
    // A '-' second is what marks the X- (experimental) and P- (private) prefixes.
    let reserved_prefix = b.get(1) == Some(&b'-') && matches!(b[0], b'x' | b'p');
    if b[0] == b'-' || (b.get(1) == Some(&b'-') && !reserved_prefix) || b[b.len() - 1] == b'-' {
        return fail(
            format!("Enumservice {what} '{name}' has '-' first, second or last"),
            "RFC 6117 §3.2",
        );
    }
    if name.starts_with("e2u") {
        return fail(
            format!("Enumservice {what} '{name}' starts with 'e2u'"),
            "RFC 6117 §3.2",
        );
    }
    Ok(())
}

/// One registration of the IANA registry.
#[derive(Debug)]
pub struct Registration {
    pub kind: &'static str,
    /// Empty when the type is registered without a subtype.
    pub subtype: &'static str,
    pub schemes: Vec<&'static str>,
    pub reference: &'static str,
}

impl Registration {
    pub fn name(&self) -> String {
        if self.subtype.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}:{}", self.kind, self.subtype)
        }
    }
}

/// The IANA registry as of its last update (2022-01-28), from `enumservices.tsv`.
pub fn registry() -> &'static [Registration] {
    static REGISTRY: OnceLock<Vec<Registration>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        include_str!("enumservices.tsv")
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&'static str> = line.split('\t').collect();
                let [kind, subtype, schemes, _usage, reference] = cols[..] else {
                    return None;
                };
                Some(Registration {
                    kind,
                    subtype,
                    schemes: schemes.split(',').collect(),
                    reference,
                })
            })
            .collect()
    })
}

/// The registration of an Enumservice, if IANA has one.
pub fn registration(s: &Enumservice) -> Option<&'static Registration> {
    let subtype = s.subtype.as_deref().unwrap_or("");
    registry()
        .iter()
        .find(|r| r.kind == s.kind && r.subtype == subtype)
}

/// Registered Enumservices close to an unregistered one: those of the same type, those whose
/// type is the given subtype (`voice:sip` → `voice:tel`, `sip`), and near spellings.
pub fn closest(s: &Enumservice) -> Vec<String> {
    let same_type = registry().iter().filter(|r| r.kind == s.kind);
    let subtype_as_type = registry()
        .iter()
        .filter(|r| s.subtype.as_deref() == Some(r.kind));
    let mut out: Vec<String> = Vec::new();
    for r in same_type.chain(subtype_as_type) {
        if !out.contains(&r.name()) {
            out.push(r.name());
        }
    }
    if out.is_empty() {
        // Near spellings: the registered types at the smallest edit distance, if it is small.
        let distance = |r: &Registration| edit_distance(r.kind, &s.kind);
        if let Some(best) = registry().iter().map(distance).min().filter(|&d| d <= 2) {
            out = registry()
                .iter()
                .filter(|r| distance(r) == best)
                .map(Registration::name)
                .collect();
            out.dedup();
        }
    }
    out.truncate(4);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_services(s.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn parses_compound_and_legacy_case() {
        let s = parse_services(b"E2U+voice:sip+video:sip").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].to_string(), "video:sip");
        assert_eq!(parse_services(b"E2U+SIP").unwrap()[0].to_string(), "sip");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            err("sip+E2U"),
            "'sip+E2U' is the RFC 2916 form; write 'E2U+sip'"
        );
        assert_eq!(err("E2U"), "services 'E2U' must start with 'E2U+'");
        assert_eq!(err("E2U+"), "empty Enumservice type");
        assert_eq!(
            err("E2U+a_b"),
            "Enumservice type 'a_b' contains '_': only letters, digits and '-'"
        );
        assert_eq!(
            err("E2U+-sip"),
            "Enumservice type '-sip' has '-' first, second or last"
        );
        assert_eq!(
            err("E2U+s-ip"),
            "Enumservice type 's-ip' has '-' first, second or last"
        );
        assert!(
            parse_services(b"E2U+X-lab+P-route").is_ok(),
            "X- and P- prefixes"
        );
        assert_eq!(
            err("E2U+sip-"),
            "Enumservice type 'sip-' has '-' first, second or last"
        );
        assert_eq!(
            err("E2U+e2ufoo"),
            "Enumservice type 'e2ufoo' starts with 'e2u'"
        );
        assert_eq!(
            err("E2U+voice:tel:x"),
            "'voice:tel:x' has more than one subtype"
        );
        assert_eq!(
            err(&format!("E2U+{}", "a".repeat(33))),
            format!(
                "Enumservice type '{}' is longer than 32 characters",
                "a".repeat(33)
            )
        );
    }

    #[test]
    fn registry_is_embedded_and_suggests() {
        assert_eq!(registry().len(), 41);
        let sip = &parse_services(b"E2U+sip").unwrap()[0];
        assert_eq!(registration(sip).unwrap().schemes, ["sip", "sips"]);
        let voice_sip = &parse_services(b"E2U+voice:sip").unwrap()[0];
        assert!(registration(voice_sip).is_none());
        assert_eq!(closest(voice_sip), ["voice:tel", "sip"]);
        let typo = &parse_services(b"E2U+sipp").unwrap()[0];
        assert_eq!(closest(typo), ["sip"]);
    }
}
