//! What `enumd provision` must change: the input's operations turned into NAPTR records at
//! number names, judged by the loader's ENUM rules, and compared with the zone's current data.
//! Only the difference is sent, so a second run of the same input has nothing to send.

use std::collections::HashMap;
use std::fmt;

use crate::client::input::{Action, Op};
use crate::name;
use crate::naptr::{Naptr, RegexCache, SubstExpr};
use crate::validate::{self, Finding, Severity};

/// The longest URI a `!^.*$!URI!` regexp holds: a character-string is at most 255 octets.
const MAX_URI: usize = 255 - 7;

/// Where numbers go: the zone's apex and the digits its own labels stand for.
#[derive(Clone, Debug)]
pub struct ZoneNumbers {
    /// Lower-cased wire form.
    pub apex: Vec<u8>,
    /// The digits of the apex's leading single-digit labels: `3.4.e164.arpa.` holds the
    /// numbers that start with 43; `e164enum.net.` any.
    pub digits: String,
}

impl ZoneNumbers {
    pub fn new(apex: &[u8]) -> Self {
        let apex = name::to_lowercase(apex);
        let mut digits: Vec<u8> = name::labels(&apex)
            .take_while(|l| l.len() == 1 && l[0].is_ascii_digit())
            .map(|l| l[0])
            .collect();
        digits.reverse();
        Self {
            apex,
            digits: String::from_utf8_lossy(&digits).into_owned(),
        }
    }

    /// The owner name of a number in this zone (its digits without `+`), or None when the
    /// number is not inside it.
    pub fn owner(&self, digits: &str) -> Option<Vec<u8>> {
        let rest = digits.strip_prefix(self.digits.as_str())?;
        if rest.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(rest.len() * 2 + self.apex.len());
        for d in rest.bytes().rev() {
            out.extend_from_slice(&[1, d]);
        }
        out.extend_from_slice(&self.apex);
        Some(out)
    }
}

/// One operation at one number.
#[derive(Clone, Debug)]
struct Step {
    line: u64,
    action: Action,
    /// Lower-cased services field; None: every NAPTR.
    services: Option<Vec<u8>>,
    /// The record to set or add; for a delete, the URI of the record to remove (None: all of
    /// the service's).
    rdata: Option<Vec<u8>>,
    uri: Option<String>,
    ttl: Option<u32>,
}

/// What the input wants at one number.
#[derive(Debug)]
pub struct Wanted {
    pub owner: Vec<u8>,
    /// `+` and the digits.
    pub number: String,
    steps: Vec<Step>,
}

/// A problem found before anything is sent, placed at its input line (shown as
/// `LINE: error: reason`, after the file's name).
#[derive(Clone, Debug)]
pub struct Problem {
    pub line: u64,
    pub severity: Severity,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {kind}: {}", self.line, self.reason)
    }
}

/// What a number holds now.
#[derive(Clone, Debug, Default)]
pub struct Current {
    /// NAPTRs: TTL and RDATA.
    pub naptrs: Vec<(u32, Vec<u8>)>,
    /// A CNAME there: NAPTRs cannot be added beside it (RFC 1034 §3.6.2).
    pub cname: bool,
    /// At or below a delegation: the data belongs to the child zone.
    pub delegated: bool,
}

/// What the zone holds at the names a run touches (those that hold nothing are left out).
pub type Holdings = HashMap<Vec<u8>, Current>;

/// The changes at one name, and what they assume is there now.
#[derive(Clone, Debug)]
pub struct Change {
    pub owner: Vec<u8>,
    pub number: String,
    /// The input line of the last operation at this number.
    pub line: u64,
    /// The NAPTRs read: the prerequisite that guards this change (RFC 2136 §2.4.2, §2.4.3).
    pub before: Vec<(u32, Vec<u8>)>,
    pub remove: Vec<Vec<u8>>,
    pub add: Vec<(u32, Vec<u8>)>,
}

impl Change {
    /// Records this change removes or adds: the UPDATE section's length.
    pub fn size(&self) -> usize {
        self.remove.len() + self.add.len()
    }
}

/// The whole difference.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// NAPTRs the input names that are there already, as wanted.
    pub unchanged: u64,
    pub added: u64,
    pub removed: u64,
    /// NAPTRs kept whose TTL changes (removed and added again).
    pub retimed: u64,
    /// Numbers that need no change.
    pub numbers_unchanged: u64,
    /// Findings of the ENUM rules on the resulting RRsets (warnings: same ORDER and
    /// PREFERENCE for different services).
    pub problems: Vec<Problem>,
}

/// Expands the operations into what each number wants, checking every record as the zone
/// loader would and every number against the zone; conflicting lines are errors.
pub fn expand(ops: &[Op], zone: &ZoneNumbers) -> (Vec<Wanted>, Vec<Problem>) {
    let mut by_number: HashMap<String, usize> = HashMap::new();
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut problems = Vec::new();
    let mut cache = RegexCache::default();
    for op in ops {
        let mut findings: Vec<(String, Finding, u64)> = Vec::new();
        let mut clashes: Vec<(String, Clash, u64)> = Vec::new();
        let mut outside = None;
        for (digits, ext) in op.numbers.iter() {
            let Some(owner) = zone.owner(&digits) else {
                outside.get_or_insert((digits.clone(), 0u64)).1 += 1;
                continue;
            };
            let uri = op.uri.as_ref().map(|t| t.fill(&digits, &ext));
            let services = op
                .services
                .as_ref()
                .map(|s| s.to_ascii_lowercase().into_bytes());
            let rdata = match (op.action, &uri, &op.services) {
                (Action::Set | Action::Add, Some(uri), Some(s)) => match naptr(op, s, uri) {
                    Ok(r) => {
                        for f in validate::check_naptr(&owner, &r, &mut cache) {
                            match findings.iter_mut().find(|(_, g, _)| g.rule == f.rule) {
                                Some(seen) => seen.2 += 1,
                                None => findings.push((digits.clone(), f, 1)),
                            }
                        }
                        Some(r)
                    }
                    Err(reason) => {
                        problems.push(Problem {
                            line: op.line,
                            severity: Severity::Error,
                            reason: format!("+{digits}: {reason}"),
                        });
                        break;
                    }
                },
                _ => None,
            };
            let step = Step {
                line: op.line,
                action: op.action,
                services,
                rdata,
                uri: if op.action == Action::Delete {
                    uri
                } else {
                    None
                },
                ttl: op.ttl,
            };
            let at = *by_number.entry(digits.clone()).or_insert_with(|| {
                wanted.push(Wanted {
                    owner,
                    number: format!("+{digits}"),
                    steps: Vec::new(),
                });
                wanted.len() - 1
            });
            if let Some(c) = conflict(&wanted[at].steps, &step) {
                match clashes.iter_mut().find(|(_, seen, _)| *seen == c) {
                    Some(seen) => seen.2 += 1,
                    None => clashes.push((wanted[at].number.clone(), c, 1)),
                }
            }
            wanted[at].steps.push(step);
        }
        for (number, c, n) in clashes {
            problems.push(Problem {
                line: op.line,
                severity: Severity::Error,
                reason: format!("{number}{}: {c}", more(n)),
            });
        }
        if let Some((digits, n)) = outside {
            problems.push(Problem {
                line: op.line,
                severity: Severity::Error,
                reason: format!(
                    "+{digits}{}: not in zone {} (whose numbers start with +{})",
                    more(n),
                    name::to_text(&zone.apex),
                    zone.digits
                ),
            });
        }
        for (digits, f, n) in findings {
            problems.push(Problem {
                line: op.line,
                severity: f.severity,
                reason: format!("+{digits}{}: {f}", more(n)),
            });
        }
    }
    problems.sort_by_key(|p| p.line);
    (wanted, problems)
}

fn more(n: u64) -> String {
    if n > 1 {
        format!(" (and {} more numbers of this line)", n - 1)
    } else {
        String::new()
    }
}

/// Two lines that want different things for one number and Enumservice: `set` twice with
/// different records, or a delete beside a set or add. Which should win is the input's to say.
fn conflict(earlier: &[Step], step: &Step) -> Option<Clash> {
    let clash = earlier.iter().find(|e| {
        if e.line == step.line {
            return false;
        }
        let same_service =
            e.services.is_none() || step.services.is_none() || e.services == step.services;
        same_service
            && match (e.action, step.action) {
                (Action::Set, Action::Set) => e.rdata != step.rdata || e.ttl != step.ttl,
                (Action::Delete, Action::Delete) | (Action::Set | Action::Add, Action::Add) => {
                    false
                }
                (Action::Add, Action::Set) => true,
                (Action::Delete, _) | (_, Action::Delete) => true,
            }
    })?;
    Some(Clash {
        line: clash.line,
        action: clash.action,
        service: step.services.as_ref().map_or_else(
            || "every NAPTR".to_string(),
            |s| String::from_utf8_lossy(s).into_owned(),
        ),
    })
}

/// What an earlier line does that a later one contradicts; one report per line and kind,
/// however many numbers of the range it touches.
#[derive(PartialEq, Eq)]
struct Clash {
    line: u64,
    action: Action,
    service: String,
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let does = match self.action {
            Action::Set => "sets",
            Action::Add => "adds",
            Action::Delete => "deletes",
        };
        write!(
            f,
            "line {} already {does} {} differently (overlapping ranges?); use `add` for a second record of one Enumservice",
            self.line, self.service
        )
    }
}

/// A terminal rule for `uri`: `ORDER PREF "u" SERVICES "!^.*$!URI!" .` (RFC 6116 §3.2), with
/// a delimiter the URI does not contain and its backslashes escaped (RFC 3402 §3.2).
fn naptr(op: &Op, services: &str, uri: &str) -> Result<Vec<u8>, String> {
    let delimiter = ['!', '#', '|', '~', '%', ';', ',']
        .into_iter()
        .find(|d| !uri.contains(*d))
        .ok_or_else(|| format!("URI {uri:?} contains every delimiter a regexp could use"))?;
    let body = uri.replace('\\', "\\\\");
    if body.len() > MAX_URI {
        return Err(format!(
            "URI {uri:?} is {} octets: a NAPTR regexp holds at most {MAX_URI} of it",
            body.len()
        ));
    }
    let regexp = format!("{delimiter}^.*${delimiter}{body}{delimiter}");
    let mut r = Vec::with_capacity(8 + services.len() + regexp.len());
    r.extend_from_slice(&op.order.to_be_bytes());
    r.extend_from_slice(&op.preference.to_be_bytes());
    for s in [&b"u"[..], services.as_bytes(), regexp.as_bytes()] {
        r.push(u8::try_from(s.len()).map_err(|_| "a field longer than 255 octets".to_string())?);
        r.extend_from_slice(s);
    }
    r.push(0);
    Ok(r)
}

/// The lower-cased services field of a NAPTR RDATA.
fn services_of(rdata: &[u8]) -> Vec<u8> {
    Naptr::from_wire(rdata).map_or_else(Vec::new, |n| n.services.to_ascii_lowercase())
}

/// The URI a NAPTR gives for `aus` (`+` and digits), if it is a terminal rule that matches.
fn uri_of(rdata: &[u8], aus: &str, cache: &mut RegexCache) -> Option<String> {
    let n = Naptr::from_wire(rdata)?;
    SubstExpr::parse_with(&n.regexp, cache).ok()?.apply(aus)
}

/// Whether `held` is the rule `made` for the number `aus`, however written: the same ORDER,
/// PREFERENCE, flags and services (case aside, RFC 3403 §4.1), no replacement, and a regexp
/// that gives the same URI (`!^\+43(.*)$!sip:\1@x!` beside `!^.*$!sip:+431@x!`). So a zone
/// written by hand or another tool is not rewritten to provision's own form.
fn same_rule(held: &[u8], made: &[u8], aus: &str, cache: &mut RegexCache) -> bool {
    if held == made {
        return true;
    }
    let (Some(h), Some(m)) = (Naptr::from_wire(held), Naptr::from_wire(made)) else {
        return false;
    };
    h.order == m.order
        && h.preference == m.preference
        && h.flags.eq_ignore_ascii_case(&m.flags)
        && h.services.eq_ignore_ascii_case(&m.services)
        && h.replacement == m.replacement
        && uri_of(held, aus, cache).is_some_and(|u| uri_of(made, aus, cache) == Some(u))
}

/// Compares what each number wants with what it holds. `current` has an entry for every
/// wanted owner that holds anything; a number at a CNAME or below a delegation is an error.
/// The NAPTR RRset keeps its TTL unless a line gives one; a new one gets `default_ttl`.
pub fn diff(wanted: &[Wanted], current: &Holdings, default_ttl: u32) -> Plan {
    let empty = Current::default();
    let mut plan = Plan::default();
    let mut cache = RegexCache::default();
    for w in wanted {
        let cur = current.get(&w.owner).unwrap_or(&empty);
        let line = w.steps.last().map_or(0, |s| s.line);
        if cur.cname || cur.delegated {
            plan.problems.push(Problem {
                line,
                severity: Severity::Error,
                reason: format!(
                    "{}: {} is {}: its NAPTRs cannot be changed here",
                    w.number,
                    name::to_text(&w.owner),
                    if cur.cname {
                        "a CNAME (RFC 1034 §3.6.2)"
                    } else {
                        "at or below a delegation (the child zone holds it)"
                    }
                ),
            });
            continue;
        }
        let mut want: Vec<Vec<u8>> = cur.naptrs.iter().map(|(_, r)| r.clone()).collect();
        let mut ttl = cur.naptrs.first().map(|(t, _)| *t);
        for s in &w.steps {
            match (s.action, &s.rdata) {
                (Action::Set, Some(r)) => {
                    // A record already there that gives the same rule is kept as written.
                    let r = want
                        .iter()
                        .find(|x| same_rule(x, r, &w.number, &mut cache))
                        .unwrap_or(r)
                        .clone();
                    want.retain(|x| Some(services_of(x)) != s.services);
                    want.push(r);
                    ttl = s.ttl.or(ttl);
                }
                (Action::Add, Some(r)) => {
                    if !want.iter().any(|x| same_rule(x, r, &w.number, &mut cache)) {
                        want.push(r.clone());
                    }
                    ttl = s.ttl.or(ttl);
                }
                (Action::Delete, _) => want.retain(|x| {
                    let service_matches =
                        s.services.as_ref().is_none_or(|sv| services_of(x) == *sv);
                    let uri_matches = s.uri.as_ref().is_none_or(|u| {
                        uri_of(x, &w.number, &mut cache).as_deref() == Some(u.as_str())
                    });
                    !(service_matches && uri_matches)
                }),
                _ => {}
            }
        }
        let ttl = ttl.unwrap_or(default_ttl);
        let had = |r: &Vec<u8>| cur.naptrs.iter().any(|(_, x)| x == r);
        let mut remove: Vec<Vec<u8>> = cur
            .naptrs
            .iter()
            .filter(|(_, r)| !want.contains(r))
            .map(|(_, r)| r.clone())
            .collect();
        let mut add: Vec<(u32, Vec<u8>)> = want
            .iter()
            .filter(|r| !had(r))
            .map(|r| (ttl, r.clone()))
            .collect();
        let added = add.len() as u64;
        let removed = remove.len() as u64;
        // RFC 2181 §5.2: one TTL for the RRset. Kept records with another TTL are removed and
        // added again with the new one, which every RFC 2136 server applies the same way.
        let retime: Vec<&(u32, Vec<u8>)> = cur
            .naptrs
            .iter()
            .filter(|(t, r)| want.contains(r) && *t != ttl)
            .collect();
        if !add.is_empty() || !retime.is_empty() {
            for (_, r) in &retime {
                remove.push(r.clone());
                add.push((ttl, r.clone()));
            }
        }
        plan.added += added;
        plan.removed += removed;
        plan.retimed += retime.len() as u64;
        plan.unchanged +=
            (want.iter().filter(|r| had(r)).count()).saturating_sub(retime.len()) as u64;
        // The resulting RRset, judged as the loader judges one (only records this run adds).
        let rdatas: Vec<&[u8]> = want.iter().map(Vec::as_slice).collect();
        for (i, f) in validate::check_naptr_rrset(&rdatas) {
            if !had(&want[i]) {
                plan.problems.push(Problem {
                    line,
                    severity: f.severity,
                    reason: format!("{}: {f}", w.number),
                });
            }
        }
        if remove.is_empty() && add.is_empty() {
            plan.numbers_unchanged += 1;
            continue;
        }
        plan.changes.push(Change {
            owner: w.owner.clone(),
            number: w.number.clone(),
            line,
            before: cur.naptrs.clone(),
            remove,
            add,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::input::{self, Defaults, Format};

    const D: Defaults = Defaults::STANDARD;

    fn zone() -> ZoneNumbers {
        ZoneNumbers::new(&name::parse(b"3.4.e164.arpa.", name::ROOT).unwrap())
    }

    fn ops(text: &str) -> Vec<Op> {
        input::parse(text, Format::Csv, D).unwrap()
    }

    #[test]
    fn zone_numbers_map_to_owners_below_the_apex() {
        let z = zone();
        assert_eq!(z.digits, "43");
        assert_eq!(
            name::to_text(&z.owner("4312").unwrap()),
            "2.1.3.4.e164.arpa."
        );
        assert!(z.owner("4412").is_none());
        assert!(z.owner("43").is_none());
    }

    #[test]
    fn set_replaces_the_service_and_a_second_run_has_nothing_to_do() {
        let (wanted, problems) = expand(
            &ops("number,service,uri\n+431979330X,sip,sip:{extension}@pbx.example.at\n"),
            &zone(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(wanted.len(), 10);
        let plan = diff(&wanted, &HashMap::new(), 3600);
        assert_eq!((plan.added, plan.removed, plan.changes.len()), (10, 0, 10));
        // What the zone holds once the plan is applied.
        let after: HashMap<Vec<u8>, Current> = plan
            .changes
            .iter()
            .map(|c| {
                (
                    c.owner.clone(),
                    Current {
                        naptrs: c.add.clone(),
                        ..Current::default()
                    },
                )
            })
            .collect();
        let again = diff(&wanted, &after, 3600);
        assert_eq!(
            (
                again.changes.len(),
                again.unchanged,
                again.numbers_unchanged
            ),
            (0, 10, 10)
        );
    }

    #[test]
    fn overlapping_sets_with_other_data_are_errors_at_the_later_line() {
        let (_, problems) = expand(
            &ops(
                "number,service,uri\n+431979330X,sip,sip:{number}@a.example\n+4319793305,sip,sip:{number}@b.example\n+4319793306,sip,sip:{number}@a.example\n",
            ),
            &zone(),
        );
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3], "{problems:?}");
    }

    #[test]
    fn unknown_services_and_bad_uris_are_findings_of_their_line() {
        let (_, problems) = expand(
            &ops(
                "number,service,uri\n+4312,sipp,sip:{number}@a.example\n+4313,sip,mailto:x@y\n+4412,sip,sip:a@b\n",
            ),
            &zone(),
        );
        let got: Vec<(u64, Severity)> = problems.iter().map(|p| (p.line, p.severity)).collect();
        assert!(got.contains(&(2, Severity::Warning)), "{problems:?}");
        assert!(got.contains(&(3, Severity::Warning)), "{problems:?}");
        assert!(got.contains(&(4, Severity::Error)), "{problems:?}");
    }

    #[test]
    fn a_ttl_change_rewrites_the_kept_records() {
        let (wanted, _) = expand(
            &ops("number,service,uri,ttl\n+4312,sip,sip:a@b.example,300\n"),
            &zone(),
        );
        let plan = diff(&wanted, &HashMap::new(), 3600);
        let rdata = plan.changes[0].add[0].1.clone();
        let mut cur = HashMap::new();
        cur.insert(
            wanted[0].owner.clone(),
            Current {
                naptrs: vec![(3600, rdata.clone())],
                ..Current::default()
            },
        );
        let plan = diff(&wanted, &cur, 3600);
        assert_eq!(plan.changes[0].remove, vec![rdata.clone()]);
        assert_eq!(plan.changes[0].add, vec![(300, rdata)]);
        assert_eq!((plan.added, plan.removed, plan.retimed), (0, 0, 1));
    }

    #[test]
    fn delete_by_uri_matches_what_the_record_gives() {
        let (wanted, _) = expand(
            &ops("action,number,service,uri\ndelete,+4312,sip,sip:+4312@b.example\n"),
            &zone(),
        );
        let other = naptr(
            &ops("number,service,uri,order\n+4312,sip,x:y,7\n")[0],
            "E2U+sip",
            "sip:other@b.example",
        )
        .unwrap();
        let mut cur = HashMap::new();
        // `!^\+43(.*)$!sip:+43\1@b.example!` gives sip:+4312@b.example for +4312.
        let regexp = br"!^\+43(.*)$!sip:+43\1@b.example!";
        let mut mine = b"\x00\x0a\x00\x0a\x01u\x07E2U+sip".to_vec();
        mine.push(u8::try_from(regexp.len()).unwrap());
        mine.extend_from_slice(regexp);
        mine.push(0);
        cur.insert(
            wanted[0].owner.clone(),
            Current {
                naptrs: vec![(60, mine.clone()), (60, other)],
                ..Current::default()
            },
        );
        let plan = diff(&wanted, &cur, 3600);
        assert_eq!(plan.changes[0].remove, vec![mine]);
        assert!(plan.changes[0].add.is_empty());
    }

    #[test]
    fn a_record_written_another_way_that_gives_the_same_rule_is_kept() {
        // `E2U+SIP` and `!^\+43(.*)$!sip:+43\1@b.example!` give +4312 what the line wants:
        // the record stays as written, and the run has nothing to do.
        let (wanted, _) = expand(
            &ops("action,number,service,uri,order,preference\n\
                 set,+4312,sip,sip:+4312@b.example,10,10\n\
                 add,+4312,sip,sip:+4312@b.example,10,10\n"),
            &zone(),
        );
        let regexp = br"!^\+43(.*)$!sip:+43\1@b.example!";
        let mut theirs = b"\x00\x0a\x00\x0a\x01U\x07E2U+SIP".to_vec();
        theirs.push(u8::try_from(regexp.len()).unwrap());
        theirs.extend_from_slice(regexp);
        theirs.push(0);
        let mut cur = HashMap::new();
        cur.insert(
            wanted[0].owner.clone(),
            Current {
                naptrs: vec![(60, theirs.clone())],
                ..Current::default()
            },
        );
        let plan = diff(&wanted, &cur, 3600);
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        assert_eq!((plan.unchanged, plan.numbers_unchanged), (1, 1));
        // Another URI, or another PREFERENCE, is a change.
        let (other, _) = expand(
            &ops("number,service,uri,order,preference\n+4312,sip,sip:+4312@c.example,10,10\n"),
            &zone(),
        );
        assert_eq!(
            diff(&other, &cur, 3600).changes[0].remove,
            vec![theirs.clone()]
        );
        let (other, _) = expand(
            &ops("number,service,uri,order,preference\n+4312,sip,sip:+4312@b.example,10,11\n"),
            &zone(),
        );
        assert_eq!(diff(&other, &cur, 3600).changes[0].remove, vec![theirs]);
    }
}
