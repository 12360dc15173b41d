//! Views by Enumservice: one copy of a zone's data, and NAPTRs that clients outside a view
//! never see.
//!
//! Private infrastructure ENUM (RFC 5067, RFC 5526) keeps routing and portability records
//! (`E2U+pstn:tel`, the `P-` types RFC 6116 §3.4.3 reserves for private use) for a carrier's
//! peers, beside records everyone may see. A zone's `hide_services` rules name a view (`[[view]]`:
//! address prefixes and TSIG keys) and Enumservice patterns; to a client outside the view, a
//! NAPTR whose Enumservices all match is not there. The decision is a property of one record
//! and one client, so it is made as answers and transfers are written: no second copy of the
//! data, and nothing to rebuild when the zone changes.

use std::sync::Arc;

use crate::config::AccessList;
use crate::lookup::Asker;

/// Most `hide_services` rules one zone may have: the rules hiding from one client are a bit
/// mask.
pub const MAX_RULES: usize = 64;

/// A zone's `hide_services` rules.
#[derive(Debug)]
pub struct Concealment {
    rules: Vec<Rule>,
    /// The lower-case bytes any pattern may start with (all 256 if one starts with `*`): most
    /// records an outsider gets are public, and `E2U+sip` is told so by its `s`.
    first_bytes: [u64; 4],
}

#[derive(Debug)]
struct Rule {
    /// The view whose members see what the rule hides.
    view: String,
    members: Arc<AccessList>,
    patterns: Vec<Pattern>,
}

/// The rules that hide records from one client, for the length of one answer or transfer.
#[derive(Clone, Copy, Debug)]
pub struct Hide<'a> {
    concealment: &'a Concealment,
    mask: u64,
}

impl Concealment {
    /// Rules of (view name, its members, the Enumservice patterns it keeps to itself); at most
    /// [`MAX_RULES`] (the config checks).
    pub fn new(rules: Vec<(String, Arc<AccessList>, Vec<Pattern>)>) -> Self {
        let rules = rules
            .into_iter()
            .take(MAX_RULES)
            .map(|(view, members, patterns)| Rule {
                view,
                members,
                patterns,
            })
            .collect::<Vec<_>>();
        let mut first_bytes = [0u64; 4];
        for p in rules.iter().flat_map(|r| &r.patterns) {
            match p.first_byte() {
                Some(b) => first_bytes[usize::from(b >> 6)] |= 1 << (b & 63),
                None => first_bytes = [u64::MAX; 4],
            }
        }
        Self { rules, first_bytes }
    }

    /// Whether some pattern may match an Enumservice starting with `b`.
    fn may_start_with(&self, b: u8) -> bool {
        let b = b.to_ascii_lowercase();
        self.first_bytes[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// What `asker` may not see; None when nothing (a member of every view named, or an
    /// in-process lookup without an asker: `lookup::lookup`, the benchmarks).
    pub fn for_asker(&self, asker: Option<Asker<'_>>) -> Option<Hide<'_>> {
        let asker = asker?;
        let mut mask = 0;
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.members.allows(asker.addr, asker.key) {
                mask |= 1 << i;
            }
        }
        (mask != 0).then_some(Hide {
            concealment: self,
            mask,
        })
    }

    /// Hide from everyone outside the view `view` (all rules naming it): what `enumd check`
    /// reports per view.
    pub fn outside(&self, view: &str) -> Option<Hide<'_>> {
        let mut mask = 0;
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.view == view {
                mask |= 1 << i;
            }
        }
        (mask != 0).then_some(Hide {
            concealment: self,
            mask,
        })
    }

    /// The views the rules name, in order, each once.
    pub fn views(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.rules {
            if !out.contains(&r.view.as_str()) {
                out.push(&r.view);
            }
        }
        out
    }
}

/// A client that some rules hide records from, owned: a transfer keeps it for as long as it
/// streams.
#[derive(Debug)]
pub struct Outsider {
    concealment: Arc<Concealment>,
    addr: std::net::IpAddr,
    key: Option<Vec<u8>>,
}

impl Outsider {
    /// `asker`, if `concealment` hides anything from it.
    pub fn new(concealment: &Arc<Concealment>, asker: Asker<'_>) -> Option<Self> {
        concealment.for_asker(Some(asker))?;
        Some(Self {
            concealment: concealment.clone(),
            addr: asker.addr,
            key: asker.key.map(<[u8]>::to_vec),
        })
    }

    pub fn hide(&self) -> Option<Hide<'_>> {
        self.concealment.for_asker(Some(Asker {
            addr: self.addr,
            key: self.key.as_deref(),
        }))
    }
}

impl Hide<'_> {
    /// Whether a NAPTR with this RDATA is hidden. `aus` gives the owner's number when the
    /// RDATA is a number template ([`crate::template`]) whose services field holds the
    /// number's marker: then the field is read as it will be sent.
    pub fn hides(&self, rdata: &[u8], aus: impl FnOnce() -> Option<Vec<u8>>) -> bool {
        let Some(services) = services_field(rdata) else {
            return false;
        };
        // Most records an outsider gets are public, and their first Enumservice says so by its
        // first byte (`E2U+sip`): told apart here, before anything else is read.
        if let Some(head) = services.get(..5)
            && head[..4].eq_ignore_ascii_case(b"e2u+")
            && head[4] != b'+'
            && head[4] != 0
            && !self.concealment.may_start_with(head[4])
        {
            return false;
        }
        if services.contains(&0) {
            // A template's marker, read as the number it stands for; a NUL that is not one
            // (a secondary copies what its primary sends) is matched as it stands.
            let Some(aus) = aus() else {
                return self.hides_services(services);
            };
            let mut expanded = Vec::with_capacity(services.len() + aus.len());
            for (i, part) in services.split(|&b| b == 0).enumerate() {
                if i > 0 {
                    expanded.extend_from_slice(&aus);
                }
                expanded.extend_from_slice(part);
            }
            return self.hides_services(&expanded);
        }
        self.hides_services(services)
    }

    /// Whether a services field (`E2U+pstn:tel`) is hidden: it names at least one Enumservice,
    /// and every one matches a pattern of one of the rules. It fails closed on fields the
    /// loader would refuse but a secondary may copy: without `E2U+` the field is read as
    /// Enumservices all the same, and empty ones (`E2U+pstn:tel+`) are passed over rather
    /// than let a lenient client see a private record. An empty field (a non-terminal NAPTR)
    /// is never hidden.
    pub fn hides_services(&self, services: &[u8]) -> bool {
        let rest = match services.get(..4) {
            Some(p) if p.eq_ignore_ascii_case(b"e2u+") => &services[4..],
            _ => services,
        };
        let mut named = false;
        for service in rest.split(|&b| b == b'+').filter(|s| !s.is_empty()) {
            named = true;
            let matched = self.concealment.may_start_with(service[0])
                && self
                    .concealment
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| self.mask & (1 << i) != 0)
                    .any(|(_, rule)| rule.patterns.iter().any(|p| p.matches(service)));
            if !matched {
                return false;
            }
        }
        named
    }
}

/// What one view's rules hide in one zone, for `enumd check`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub naptrs: usize,
    pub hidden: usize,
    /// Hidden records by services field, most first.
    pub by_services: Vec<(String, usize)>,
    /// The first few owners of hidden records, each once, as text.
    pub examples: Vec<String>,
}

/// Counts what `hide` leaves out of `zone`.
pub fn report(zone: &crate::zone::Zone, hide: Hide<'_>) -> Report {
    use std::collections::HashMap;
    let mut r = Report::default();
    let mut by: HashMap<Vec<u8>, usize> = HashMap::new();
    zone.for_each_stored_record(|owner, t, _, rdata, number| {
        if t != crate::rdata::rtype::NAPTR {
            return;
        }
        r.naptrs += 1;
        if hide.hides(rdata, || number.map(<[u8]>::to_vec)) {
            r.hidden += 1;
            let services = services_field(rdata).unwrap_or_default();
            *by.entry(services.to_vec()).or_default() += 1;
            let owner = crate::name::to_text(owner);
            if r.examples.len() < 3 && !r.examples.contains(&owner) {
                r.examples.push(owner);
            }
        }
    });
    r.by_services = by
        .into_iter()
        .map(|(s, n)| (String::from_utf8_lossy(&s).replace('\0', "<number>"), n))
        .collect();
    r.by_services
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    r
}

/// The services field of NAPTR RDATA (RFC 3403 §4.1: ORDER, PREFERENCE, FLAGS, SERVICES, …).
fn services_field(rdata: &[u8]) -> Option<&[u8]> {
    let flags = usize::from(*rdata.get(4)?);
    let at = 5 + flags;
    let len = usize::from(*rdata.get(at)?);
    rdata.get(at + 1..at + 1 + len)
}

/// One Enumservice pattern: `pstn:tel`, `pstn` (the type without a subtype), `pstn:*`,
/// `P-*`. `*` stands for any run of characters, `:` included; case does not matter
/// (RFC 6117 §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// No `*`: the whole Enumservice.
    Exact(Vec<u8>),
    /// One `*`, last (`pstn:*`, `P-*`): the most common kind, a prefix compare.
    Prefix(Vec<u8>),
    /// Any other (lower-case).
    Glob(Vec<u8>),
}

impl Pattern {
    /// Parses a pattern as the config writes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        if lower.is_empty() {
            return Err("an empty Enumservice pattern".into());
        }
        if lower.starts_with("e2u") {
            return Err(format!(
                "{text:?}: write the Enumservice alone (\"pstn:tel\", not \"E2U+pstn:tel\")"
            ));
        }
        if lower.contains('+') {
            return Err(format!(
                "{text:?}: one Enumservice per pattern (a record is hidden when all of its \
                 Enumservices match)"
            ));
        }
        if let Some(c) = lower
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '*')))
        {
            return Err(format!(
                "{text:?}: '{c}' is not in an Enumservice (letters, digits, '-', ':' and '*')"
            ));
        }
        if lower.matches(':').count() > 1 {
            return Err(format!("{text:?}: an Enumservice has at most one subtype"));
        }
        let stars = lower.matches('*').count();
        Ok(if stars == 0 {
            Self::Exact(lower.into_bytes())
        } else if stars == 1 && lower.ends_with('*') {
            Self::Prefix(lower.as_bytes()[..lower.len() - 1].to_vec())
        } else {
            Self::Glob(lower.into_bytes())
        })
    }

    /// The byte a match must start with (lower-case); None when any may (a leading `*`).
    fn first_byte(&self) -> Option<u8> {
        match self {
            Self::Exact(p) | Self::Prefix(p) | Self::Glob(p) => {
                p.first().copied().filter(|&b| b != b'*')
            }
        }
    }

    /// Whether one Enumservice (`type[:subtype]`, any case) matches.
    pub fn matches(&self, service: &[u8]) -> bool {
        match self {
            Self::Exact(p) => service.eq_ignore_ascii_case(p),
            Self::Prefix(p) => service
                .get(..p.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(p)),
            Self::Glob(p) => glob(p, service),
        }
    }
}

/// `*`-only glob, ASCII case-insensitive; `pattern` is lower-case. Iterative, with one
/// backtrack point: linear in practice, and never recursive on hostile input.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t].to_ascii_lowercase() {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naptr(services: &str) -> Vec<u8> {
        let mut r = vec![
            0,
            10,
            0,
            100,
            1,
            b'u',
            u8::try_from(services.len()).unwrap(),
        ];
        r.extend_from_slice(services.as_bytes());
        r.extend_from_slice(b"\x0e!^.*$!sip:x@y!\x00");
        r
    }

    fn peers(patterns: &[&str]) -> Concealment {
        let members = Arc::new(AccessList::new(
            vec![],
            vec![("10.0.0.0".parse().unwrap(), 8)],
        ));
        let patterns = patterns
            .iter()
            .map(|p| Pattern::parse(p).unwrap())
            .collect();
        Concealment::new(vec![("peers".into(), members, patterns)])
    }

    #[test]
    fn patterns_match_whole_enumservices_by_glob_any_case() {
        let p = |t: &str| Pattern::parse(t).unwrap();
        assert!(p("pstn").matches(b"PSTN"));
        assert!(
            !p("pstn").matches(b"pstn:tel"),
            "a type alone is without subtype"
        );
        assert!(p("pstn:*").matches(b"pstn:tel"));
        assert!(!p("pstn:*").matches(b"pstn"));
        assert!(p("P-*").matches(b"p-route:x"));
        assert!(!p("P-*").matches(b"sip"));
        assert!(p("*").matches(b"sip"));
        assert!(p("*:tel").matches(b"voice:tel") && !p("*:tel").matches(b"voice:uri"));
        assert!(
            !glob(b"a*a*a*a*a*b", &[b'a'; 200]),
            "no blow-up on hostile input"
        );
        for bad in ["", "E2U+sip", "sip+pstn", "si p", "a:b:c"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_is_hidden_when_all_its_enumservices_match() {
        let c = peers(&["P-*", "pstn", "pstn:*"]);
        let outsider = Asker {
            addr: "192.0.2.1".parse().unwrap(),
            key: None,
        };
        let insider = Asker {
            addr: "10.1.2.3".parse().unwrap(),
            key: None,
        };
        assert!(c.for_asker(Some(insider)).is_none());
        assert!(c.for_asker(None).is_none(), "the operator sees everything");
        let hide = c.for_asker(Some(outsider)).unwrap();
        let none = || None;
        assert!(hide.hides(&naptr("E2U+pstn:tel"), none));
        assert!(hide.hides(&naptr("e2u+P-route"), none));
        assert!(hide.hides(&naptr("E2U+pstn:tel+P-x"), none));
        assert!(!hide.hides(&naptr("E2U+sip"), none));
        assert!(
            !hide.hides(&naptr("E2U+sip+pstn:tel"), none),
            "sip is public"
        );
        assert!(!hide.hides(&naptr(""), none), "a non-terminal NAPTR");
        assert!(!hide.hides(&naptr("E2U+"), none));
        // Fields the loader refuses but a secondary may copy fail closed.
        assert!(
            hide.hides(&naptr("E2U+pstn:tel+"), none),
            "an empty last Enumservice"
        );
        assert!(hide.hides(&naptr("E2U++P-x"), none), "an empty first one");
        assert!(hide.hides(&naptr("pstn:tel"), none), "no E2U+");
        assert!(
            hide.hides(&naptr("E2U+pstn:tel\0x"), none),
            "a NUL, not a template"
        );
        assert!(hide.hides(&naptr("E2U+P-x\0"), none));
        assert!(!hide.hides(&naptr("E2U+sip\0"), none));
        assert!(!hide.hides(b"\x00\x01", none), "not NAPTR RDATA");
        // A pattern that starts with `*` may match any first byte.
        let c = peers(&["*:tel"]);
        let hide = c.for_asker(Some(outsider)).unwrap();
        assert!(hide.hides(&naptr("E2U+voice:tel+sms:tel"), none));
        assert!(!hide.hides(&naptr("E2U+voice:tel+sip"), none));
        // A template's marker is read as the number it stands for.
        let c = peers(&["4*"]);
        let hide = c.for_asker(Some(outsider)).unwrap();
        let templated = naptr("E2U\0");
        assert!(hide.hides(&templated, || Some(b"+4412".to_vec())));
        assert!(!hide.hides(&templated, || Some(b"+3312".to_vec())));
    }
}
