//! `enumd provision`'s input: operations read from CSV, JSON lines or a portability list, each
//! with the line it came from. Numbers, ranges, services and URI templates are parsed here, at
//! the edge; the records they make are judged against the zone later ([`super::plan`]).

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::e164::MAX_DIGITS;

/// The most numbers one run may name: each costs its records' bytes in memory.
pub const MAX_NUMBERS: u64 = 20_000_000;

/// How the input file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `.jsonl`/`.ndjson` files are JSON lines; a CSV file whose header names `routing_number`,
    /// or whose first field is a number, is a portability list; any other is operations CSV.
    Auto,
    /// Operations: `action,number,service,uri,order,preference,ttl` (header required).
    Csv,
    /// The same fields, one JSON object per line.
    Jsonl,
    /// `number,routing_number[,operator]`, with or without that header.
    Portability,
}

/// What an operation does to a number's NAPTRs of its Enumservice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Replace them with this one record.
    Set,
    /// Add this record beside them.
    Add,
    /// Remove them (with a URI: only the record that makes it; with service `*`: every NAPTR).
    Delete,
}

/// A number or a block of numbers: `prefix` followed by every `width`-digit value from `first`
/// to `last`. Those digits are the extension a URI template may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbers {
    pub prefix: String,
    pub first: u64,
    pub last: u64,
    pub width: usize,
}

/// One operation, as the input line gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub line: u64,
    pub action: Action,
    pub numbers: Numbers,
    /// The NAPTR services field, `E2U+sip`; None: every NAPTR (a delete with service `*`).
    pub services: Option<String>,
    /// The URI or URI template (`{number}`, `{digits}`, `{extension}`); None for deletes of
    /// every record of the service.
    pub uri: Option<Template>,
    pub order: u16,
    pub preference: u16,
    /// None: the RRset's TTL if the number has NAPTRs, else the default.
    pub ttl: Option<u32>,
}

/// A problem with one input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Values for fields an input leaves out.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    /// For a number that has no NAPTRs yet; one that has keeps its RRset's TTL.
    pub ttl: u32,
    pub order: u16,
    pub preference: u16,
}

impl Defaults {
    /// What `enumd provision` takes when `--ttl`, `--order` and `--preference` are not given.
    pub const STANDARD: Self = Self {
        ttl: 3600,
        order: 100,
        preference: 10,
    };
}

/// A URI with placeholders, parsed once: literal text and the fields that fill the gaps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `{number}`: `+` and the digits.
    Number,
    /// `{digits}`: the digits alone.
    Digits,
    /// `{extension}`: the digits the block varies.
    Extension,
}

impl Template {
    /// Parses `text`; `{{` and `}}` stand for braces. `has_extension`: the numbers vary some
    /// digits, so `{extension}` means something.
    pub fn parse(text: &str, has_extension: bool) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            let tail = &rest[at..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                literal.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!("URI template {text:?}: a lone `}}` (write `}}}}`)"));
            }
            let Some(end) = tail.find('}') else {
                return Err(format!("URI template {text:?}: `{{` is not closed"));
            };
            let piece = match &tail[1..end] {
                "number" => Piece::Number,
                "digits" => Piece::Digits,
                "extension" if has_extension => Piece::Extension,
                "extension" => {
                    return Err(format!(
                        "URI template {text:?}: {{extension}} needs a range or block of numbers, whose varying digits it stands for"
                    ));
                }
                other => {
                    return Err(format!(
                        "URI template {text:?}: unknown field {{{other}}} (expected {{number}}, {{digits}} or {{extension}})"
                    ));
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if pieces.is_empty() {
            return Err("empty URI".into());
        }
        Ok(Self(pieces))
    }

    /// The URI for one number (its digits, without `+`) and its extension digits.
    pub fn fill(&self, digits: &str, extension: &str) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Number => {
                    out.push('+');
                    out.push_str(digits);
                }
                Piece::Digits => out.push_str(digits),
                Piece::Extension => out.push_str(extension),
            }
        }
        out
    }
}

impl Numbers {
    /// `+4319793300`, a range `+4319793300-+4319793399` (the second `+` may be left out), or a
    /// block `+43197933XX` where each trailing `X` is any digit.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits_of = |s: &str| -> Result<String, String> {
            let d = s.strip_prefix('+').unwrap_or(s);
            if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{text:?} is not a number: expected +digits, a range +A-+B or a block ending in X"
                ));
            }
            if d.len() > MAX_DIGITS {
                return Err(format!(
                    "{text:?}: {} digits, more than an E.164 number's {MAX_DIGITS} (ITU-T E.164 §6)",
                    d.len()
                ));
            }
            Ok(d.to_string())
        };
        if let Some((a, b)) = text.split_once('-') {
            let (a, b) = (digits_of(a)?, digits_of(b)?);
            if a.len() != b.len() {
                return Err(format!(
                    "range {text:?}: its ends have different lengths ({} and {} digits)",
                    a.len(),
                    b.len()
                ));
            }
            if a > b {
                return Err(format!("range {text:?}: it ends before it starts"));
            }
            let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            let width = a.len() - common;
            let value = |s: &str| s[common..].parse::<u64>().unwrap_or(0);
            return Ok(Self {
                prefix: a[..common].to_string(),
                first: value(&a),
                last: value(&b),
                width,
            });
        }
        let open = text.trim_end_matches('X');
        let width = text.len() - open.len();
        let prefix = if open.is_empty() || open == "+" {
            return Err(format!("{text:?} is not a number"));
        } else {
            digits_of(open)?
        };
        if prefix.len() + width > MAX_DIGITS {
            return Err(format!(
                "{text:?}: {} digits, more than an E.164 number's {MAX_DIGITS} (ITU-T E.164 §6)",
                prefix.len() + width
            ));
        }
        Ok(Self {
            prefix,
            first: 0,
            last: 10u64.pow(u32::try_from(width).unwrap_or(0)) - 1,
            width,
        })
    }

    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Every number as (digits, extension digits), in order.
    pub fn iter(&self) -> impl Iterator<Item = (String, String)> + '_ {
        (self.first..=self.last).map(move |k| {
            let ext = if self.width == 0 {
                String::new()
            } else {
                format!("{k:0w$}", w = self.width)
            };
            (format!("{}{ext}", self.prefix), ext)
        })
    }

    /// Whether this names more than a single number with digits to vary.
    fn has_extension(&self) -> bool {
        self.width > 0
    }
}

/// Reads the operations of `path`: those of good lines, and every bad line's error (so that
/// one run reports them all). Err: the file could not be read.
pub fn read(
    path: &Path,
    format: Format,
    defaults: Defaults,
) -> Result<(Vec<Op>, Vec<InputError>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    Ok(parse_all(&text, detect(path, &text, format), defaults))
}

/// The format `path` is in, for `--format auto`.
pub fn detect(path: &Path, text: &str, format: Format) -> Format {
    if format != Format::Auto {
        return format;
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("jsonl") || ext.eq_ignore_ascii_case("ndjson") {
        return Format::Jsonl;
    }
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let first_field = first.split(',').next().unwrap_or("").trim();
    let header_names_rn = first
        .split(',')
        .any(|f| f.trim().eq_ignore_ascii_case("routing_number"));
    if header_names_rn || first_field.starts_with(|c: char| c == '+' || c.is_ascii_digit()) {
        Format::Portability
    } else {
        Format::Csv
    }
}

/// Parses input text in a known format (not `Auto`).
pub fn parse(text: &str, format: Format, defaults: Defaults) -> Result<Vec<Op>, Vec<InputError>> {
    let (ops, errors) = parse_all(text, format, defaults);
    if errors.is_empty() {
        Ok(ops)
    } else {
        Err(errors)
    }
}

/// The operations of the good lines, and the errors of the others.
pub fn parse_all(text: &str, format: Format, defaults: Defaults) -> (Vec<Op>, Vec<InputError>) {
    let mut ops = Vec::new();
    let mut errors = Vec::new();
    let mut numbers = 0u64;
    let mut push = |r: Result<Op, InputError>, errors: &mut Vec<InputError>| match r {
        Ok(op) => {
            let total = numbers.saturating_add(op.numbers.count());
            if total > MAX_NUMBERS {
                errors.push(InputError {
                    line: op.line,
                    reason: format!("more than {MAX_NUMBERS} numbers in one run: split the file"),
                });
            } else {
                numbers = total;
                ops.push(op);
            }
        }
        Err(e) => errors.push(e),
    };
    match format {
        Format::Jsonl => {
            for (i, l) in text.lines().enumerate() {
                let line = i as u64 + 1;
                let t = l.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let row = serde_json::from_str::<JsonRow>(t)
                    .map_err(|e| InputError {
                        line,
                        reason: format!("not a JSON object of provisioning fields: {e}"),
                    })
                    .and_then(|r| r.into_row(line));
                push(row.and_then(|r| r.op(line, defaults)), &mut errors);
            }
        }
        Format::Csv | Format::Portability | Format::Auto => {
            // Comment lines are blanked, not dropped, so that byte offsets keep their lines.
            let text: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with('#') {
                        ""
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let text = text.as_str();
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let mut columns: Option<Vec<Column>> = None;
            let mut lines = Lines::new(text);
            for rec in reader.records() {
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| lines.of(p));
                        errors.push(InputError {
                            line,
                            reason: format!("not CSV: {e}"),
                        });
                        continue;
                    }
                };
                let line = rec.position().map_or(0, |p| lines.of(p));
                if rec.iter().all(str::is_empty) {
                    continue;
                }
                let cols = match &columns {
                    Some(c) => c,
                    None => {
                        let is_header = !rec.get(0).is_some_and(|f| {
                            f.starts_with(|c: char| c == '+' || c.is_ascii_digit())
                        });
                        let header = if is_header {
                            header(&rec, format, line)
                        } else if format == Format::Portability {
                            Ok(vec![
                                Column::Number,
                                Column::RoutingNumber,
                                Column::Operator,
                            ])
                        } else {
                            Err(InputError {
                                line,
                                reason: "the first line must name the columns: action,number,service,uri,order,preference,ttl".into(),
                            })
                        };
                        match header {
                            Ok(h) => columns = Some(h),
                            Err(e) => {
                                errors.push(e);
                                break;
                            }
                        }
                        if is_header {
                            continue;
                        }
                        columns.as_ref().expect("just set")
                    }
                };
                if rec.len() > cols.len() {
                    errors.push(InputError {
                        line,
                        reason: format!(
                            "{} fields, but the header names {}",
                            rec.len(),
                            cols.len()
                        ),
                    });
                    continue;
                }
                let mut row = Row::default();
                for (c, v) in cols.iter().zip(rec.iter()) {
                    row.set(*c, v);
                }
                push(row.op(line, defaults), &mut errors);
            }
        }
    }
    (ops, errors)
}

/// Line numbers of records from their byte offsets, counted on from the previous record's
/// (records come in order, so the whole file is scanned once, not once per record).
struct Lines<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The line of a record's start (where the reader started, so blank lines before the
    /// record are stepped over).
    fn of(&mut self, p: &csv::Position) -> u64 {
        let mut at = usize::try_from(p.byte())
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(at), Some(b'\n' | b'\r')) {
            at += 1;
        }
        if at < self.at {
            (self.at, self.line) = (0, 1);
        }
        self.line += memchr::memchr_iter(b'\n', &self.text[self.at..at]).count() as u64;
        self.at = at;
        self.line
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Action,
    Number,
    Service,
    Uri,
    Order,
    Preference,
    Ttl,
    RoutingNumber,
    Operator,
}

fn header(rec: &csv::StringRecord, format: Format, line: u64) -> Result<Vec<Column>, InputError> {
    let mut cols = Vec::new();
    for f in rec {
        let c = match f.to_ascii_lowercase().as_str() {
            "action" => Column::Action,
            "number" => Column::Number,
            "service" | "enumservice" => Column::Service,
            "uri" => Column::Uri,
            "order" => Column::Order,
            "preference" | "pref" => Column::Preference,
            "ttl" => Column::Ttl,
            "routing_number" | "rn" => Column::RoutingNumber,
            "operator" => Column::Operator,
            other => {
                return Err(InputError {
                    line,
                    reason: format!(
                        "unknown column {other:?} (expected action, number, service, uri, order, preference, ttl; or number, routing_number, operator)"
                    ),
                });
            }
        };
        if cols.contains(&c) {
            return Err(InputError {
                line,
                reason: format!("column {f:?} twice"),
            });
        }
        cols.push(c);
    }
    if !cols.contains(&Column::Number) {
        return Err(InputError {
            line,
            reason: "no `number` column".into(),
        });
    }
    let portability = cols.contains(&Column::RoutingNumber);
    if cols.contains(&Column::Operator) && !portability {
        return Err(InputError {
            line,
            reason: "an `operator` column belongs to a portability list (number,routing_number,operator)".into(),
        });
    }
    if format == Format::Portability && !portability {
        return Err(InputError {
            line,
            reason: "a portability list needs a `routing_number` column".into(),
        });
    }
    if portability
        && cols.iter().any(|c| {
            !matches!(
                c,
                Column::Number | Column::RoutingNumber | Column::Operator | Column::Ttl
            )
        })
    {
        return Err(InputError {
            line,
            reason: "a portability list has the columns number, routing_number and, optionally, operator and ttl".into(),
        });
    }
    Ok(cols)
}

/// One input row's fields, as text, whatever the format.
#[derive(Default)]
struct Row {
    action: Option<String>,
    number: Option<String>,
    service: Option<String>,
    uri: Option<String>,
    order: Option<String>,
    preference: Option<String>,
    ttl: Option<String>,
    routing_number: Option<String>,
    portability: bool,
}

impl Row {
    fn set(&mut self, c: Column, v: &str) {
        let v = Some(v.to_string());
        match c {
            Column::Action => self.action = v,
            Column::Number => self.number = v,
            Column::Service => self.service = v,
            Column::Uri => self.uri = v,
            Column::Order => self.order = v,
            Column::Preference => self.preference = v,
            Column::Ttl => self.ttl = v,
            Column::RoutingNumber => {
                self.routing_number = v;
                self.portability = true;
            }
            Column::Operator => {}
        }
    }

    fn op(self, line: u64, d: Defaults) -> Result<Op, InputError> {
        let err = |reason: String| InputError { line, reason };
        let number = self
            .number
            .filter(|n| !n.is_empty())
            .ok_or_else(|| err("no number".into()))?;
        let numbers = Numbers::parse(&number).map_err(err)?;
        let ttl = match self.ttl.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(
                crate::rdata::parse_ttl(t.as_bytes())
                    .map_err(|e| err(format!("ttl {t:?}: {e}")))
                    .and_then(|v| {
                        // RFC 2181 §8: a TTL above 2^31 - 1 counts as 0 (and no zone loads it).
                        if v > 0x7fff_ffff {
                            Err(err(format!("ttl {t:?}: above 2147483647 (RFC 2181 §8)")))
                        } else {
                            Ok(v)
                        }
                    })?,
            ),
        };
        if self.portability {
            // RFC 4694 §4: a ported number's routing number, as `tel:` URI parameters, in an
            // E2U+pstn:tel rule (RFC 4769 §4); no routing number: ported back, rule removed.
            let rn = self.routing_number.unwrap_or_default();
            let (action, uri) = if rn.is_empty() {
                (Action::Delete, None)
            } else {
                let rn = Numbers::parse(&rn)
                    .ok()
                    .filter(|n| n.width == 0)
                    .ok_or_else(|| {
                        err(format!("routing number {rn:?} is not a number (+digits)"))
                    })?;
                let uri = format!("tel:{{number}};npdi;rn=+{}", rn.prefix);
                (
                    Action::Set,
                    Some(Template::parse(&uri, false).map_err(err)?),
                )
            };
            return Ok(Op {
                line,
                action,
                numbers,
                services: Some("E2U+pstn:tel".into()),
                uri,
                order: d.order,
                preference: d.preference,
                ttl,
            });
        }
        let action = match self
            .action
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("" | "set") => Action::Set,
            Some("add") => Action::Add,
            Some("delete" | "del") => Action::Delete,
            Some(other) => {
                return Err(err(format!(
                    "action {other:?}: expected set, add or delete"
                )));
            }
        };
        let services = match self.service.as_deref().unwrap_or("") {
            "" | "*" if action == Action::Delete => None,
            "" => {
                return Err(err(
                    "no service (an Enumservice such as sip or pstn:tel)".into()
                ));
            }
            s => Some(services_field(s).map_err(err)?),
        };
        let uri = match self.uri.as_deref().unwrap_or("") {
            "" if action == Action::Delete => None,
            "" => return Err(err("no uri".into())),
            _ if services.is_none() => {
                return Err(err(
                    "a delete of every NAPTR (service `*`) takes no uri".into()
                ));
            }
            u => Some(Template::parse(u, numbers.has_extension()).map_err(err)?),
        };
        let number_field =
            |v: Option<String>, name: &str, default: u16| -> Result<u16, InputError> {
                match v.as_deref().filter(|v| !v.is_empty()) {
                    None => Ok(default),
                    Some(v) => v
                        .parse()
                        .map_err(|_| err(format!("{name} {v:?}: expected 0 to 65535"))),
                }
            };
        Ok(Op {
            line,
            action,
            numbers,
            services,
            uri,
            order: number_field(self.order, "order", d.order)?,
            preference: number_field(self.preference, "preference", d.preference)?,
            ttl,
        })
    }
}

/// `sip`, `pstn:tel`, `E2U+sip`, `sip+pstn:tel` → the services field, `E2U+sip` (RFC 6116
/// §3.4.3); its syntax is the loader's rule.
fn services_field(s: &str) -> Result<String, String> {
    let field = if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("e2u+")) {
        s.to_string()
    } else {
        format!("E2U+{s}")
    };
    crate::enumservice::parse_services(field.as_bytes())
        .map_err(|e| format!("service {s:?}: {} ({})", e.reason, e.rfc))?;
    Ok(field)
}

/// A JSON line: the CSV columns as keys, numbers as numbers or strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    action: Option<String>,
    number: Option<String>,
    #[serde(alias = "enumservice")]
    service: Option<String>,
    uri: Option<String>,
    order: Option<serde_json::Value>,
    #[serde(alias = "pref")]
    preference: Option<serde_json::Value>,
    ttl: Option<serde_json::Value>,
    #[serde(alias = "rn")]
    routing_number: Option<String>,
    operator: Option<String>,
}

impl JsonRow {
    fn into_row(self, line: u64) -> Result<Row, InputError> {
        let text =
            |v: Option<serde_json::Value>, name: &str| -> Result<Option<String>, InputError> {
                match v {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
                    Some(serde_json::Value::String(s)) => Ok(Some(s)),
                    Some(other) => Err(InputError {
                        line,
                        reason: format!("{name}: {other} is neither a number nor a string"),
                    }),
                }
            };
        if self.operator.is_some() && self.routing_number.is_none() {
            return Err(InputError {
                line,
                reason: "`operator` belongs to a portability line, beside `routing_number`".into(),
            });
        }
        let portability = self.routing_number.is_some();
        if portability && (self.action.is_some() || self.service.is_some() || self.uri.is_some()) {
            return Err(InputError {
                line,
                reason: "a portability line has number, routing_number, operator and ttl only"
                    .into(),
            });
        }
        Ok(Row {
            action: self.action,
            number: self.number,
            service: self.service,
            uri: self.uri,
            order: text(self.order, "order")?,
            preference: text(self.preference, "preference")?,
            ttl: text(self.ttl, "ttl")?,
            routing_number: self.routing_number,
            portability,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Defaults = Defaults::STANDARD;

    #[test]
    fn numbers_ranges_and_blocks() {
        let r = Numbers::parse("+4319793310-+4319793329").unwrap();
        assert_eq!(
            (r.prefix.as_str(), r.first, r.last, r.width),
            ("43197933", 10, 29, 2)
        );
        assert_eq!(r.count(), 20);
        let all: Vec<_> = r.iter().collect();
        assert_eq!(all[0], ("4319793310".into(), "10".into()));
        let b = Numbers::parse("+431979330X").unwrap();
        assert_eq!((b.count(), b.width), (10, 1));
        assert_eq!(b.iter().last().unwrap().0, "4319793309");
        let one = Numbers::parse("+4319793300").unwrap();
        assert_eq!((one.count(), one.width), (1, 0));
        assert!(Numbers::parse("+43-+4399").is_err());
        assert!(Numbers::parse("+4399-+4300").is_err());
        assert!(Numbers::parse("+43a").is_err());
        assert!(Numbers::parse("+1234567890123456").is_err());
        assert!(Numbers::parse("+12345678901234XX").is_err());
    }

    #[test]
    fn templates_fill_their_fields() {
        let t = Template::parse("sip:{extension}@pbx.example.at;user={number}", true).unwrap();
        assert_eq!(
            t.fill("4319793300", "00"),
            "sip:00@pbx.example.at;user=+4319793300"
        );
        assert!(Template::parse("sip:{extension}@x", false).is_err());
        assert!(Template::parse("sip:{nummer}@x", false).is_err());
        assert!(Template::parse("sip:{number@x", false).is_err());
        assert_eq!(
            Template::parse("a{{b}}", false).unwrap().fill("1", ""),
            "a{b}"
        );
    }

    #[test]
    fn csv_rows_become_operations_and_errors_name_their_lines() {
        let ops = parse(
            "action,number,service,uri,order,preference,ttl\n\
             # a comment\n\
             set,+43197933XX,sip,sip:{extension}@pbx.example.at,10,100,600\n\
             add,+4319793300,E2U+voice:tel,tel:{number},,,\n\
             delete,+4319793301,*,,,,\n",
            Format::Csv,
            D,
        )
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[0].line, ops[0].action, ops[0].ttl, ops[0].order),
            (3, Action::Set, Some(600), 10)
        );
        assert_eq!(ops[1].services.as_deref(), Some("E2U+voice:tel"));
        assert_eq!(
            (ops[1].order, ops[1].preference, ops[1].ttl),
            (100, 10, None)
        );
        assert_eq!(
            (ops[2].action, ops[2].services.is_none()),
            (Action::Delete, true)
        );
        let errs = parse(
            "number,service,uri\n+43x,sip,sip:a@b\n+431,,sip:a@b\n+431,sip,sip:{extension}@b\n",
            Format::Csv,
            D,
        )
        .unwrap_err();
        let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4], "{errs:?}");
    }

    #[test]
    fn lines_are_counted_through_blank_lines_comments_and_crlf() {
        // 2,000 good rows between blank lines, comments and CRLF endings; a bad row every
        // 500th line must be reported at its own line, as an editor numbers them.
        let mut text = String::from("number,routing_number\r\n");
        let mut want = Vec::new();
        for n in 0..2000u32 {
            let line = text.matches('\n').count() as u64 + 1;
            match n % 4 {
                0 => text.push_str("\r\n"),
                1 => text.push_str("# a comment\n"),
                2 => text.push('\n'),
                _ => {}
            }
            let line = line + u64::from(n % 4 != 3);
            if n % 500 == 499 {
                text.push_str(&format!("+43{n}x,+4319790\r\n"));
                want.push(line);
            } else {
                text.push_str(&format!("+43{n},+4319790\n"));
            }
        }
        let errs = parse(&text, Format::Portability, D).unwrap_err();
        let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, want, "{errs:?}");
    }

    #[test]
    fn portability_rows_set_or_delete_pstn_tel() {
        let text = "+431979330,+4319790\n+431979331,\n";
        assert_eq!(
            detect(Path::new("p.csv"), text, Format::Auto),
            Format::Portability
        );
        let ops = parse(text, Format::Portability, D).unwrap();
        assert_eq!(ops[0].action, Action::Set);
        assert_eq!(
            ops[0].uri.as_ref().unwrap().fill("431979330", ""),
            "tel:+431979330;npdi;rn=+4319790"
        );
        assert_eq!(
            (ops[1].action, ops[1].services.as_deref()),
            (Action::Delete, Some("E2U+pstn:tel"))
        );
        let with_header = parse(
            "number,routing_number,operator\n+431,+432,A1\n",
            Format::Portability,
            D,
        )
        .unwrap();
        assert_eq!(with_header.len(), 1);
        assert!(parse("+431,+43x\n", Format::Portability, D).is_err());
    }

    #[test]
    fn json_lines_take_the_same_fields() {
        let ops = parse(
            "{\"number\":\"+4319793300\",\"service\":\"sip\",\"uri\":\"sip:{number}@x.example\",\"order\":10}\n\
             {\"number\":\"+4319793301\",\"routing_number\":\"+4319790\"}\n",
            Format::Jsonl,
            D,
        )
        .unwrap();
        assert_eq!(
            (ops[0].order, ops[1].services.as_deref()),
            (10, Some("E2U+pstn:tel"))
        );
        assert!(parse("{\"number\":\"+431\",\"colour\":1}\n", Format::Jsonl, D).is_err());
    }

    #[test]
    fn hostile_fields_are_errors_not_panics_or_other_actions() {
        // An `operator` column outside a portability list would have made every row a delete.
        let e = parse(
            "action,number,service,uri,operator\nset,+4312,sip,sip:a@b,A1\n",
            Format::Csv,
            D,
        )
        .unwrap_err();
        assert!(
            e[0].reason.contains("belongs to a portability list"),
            "{e:?}"
        );
        let e = parse(
            "{\"number\":\"+4312\",\"operator\":\"A1\"}\n",
            Format::Jsonl,
            D,
        )
        .unwrap_err();
        assert!(e[0].reason.contains("routing_number"), "{e:?}");
        // A service with a multi-byte character where "E2U+" would end.
        assert!(
            parse(
                "number,service,uri\n+4312,sip\u{e9},sip:a@b\n",
                Format::Csv,
                D
            )
            .is_err()
        );
        assert!(
            parse(
                "number,service,uri\n+4312,abc\u{20ac},sip:a@b\n",
                Format::Csv,
                D
            )
            .is_err()
        );
        // RFC 2181 §8: TTLs stop at 2^31 - 1.
        let e = parse(
            "number,service,uri,ttl\n+4312,sip,sip:a@b,2147483648\n",
            Format::Csv,
            D,
        )
        .unwrap_err();
        assert!(e[0].reason.contains("above 2147483647"), "{e:?}");
        let ok = parse(
            "number,service,uri,ttl\n+4312,sip,sip:a@b,2147483647\n",
            Format::Csv,
            D,
        )
        .unwrap();
        assert_eq!(ok[0].ttl, Some(2_147_483_647));
        // Blocks of 10^14 numbers each, many times over: the count saturates, never wraps.
        let mut text = String::from("number,service,uri\n");
        for _ in 0..200 {
            text.push_str("+1XXXXXXXXXXXXXX,sip,sip:{number}@b\n");
        }
        let (ops, errors) = parse_all(&text, Format::Csv, D);
        assert!(ops.is_empty() && errors.len() == 200, "{} ops", ops.len());
    }
}
