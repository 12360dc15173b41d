//! NAPTR records (RFC 3403) and their substitution expressions (RFC 3402 §3.2), shared by the
//! zone validator and the `enumd lookup` client.
//!
//! The regexp field is `<delim> ERE <delim> replacement <delim> [i]`. The ERE is POSIX Extended
//! Regular Expression syntax; it is translated to the `regex` crate's syntax item by item, so
//! that what compiles here means what it means to a POSIX client.

use std::fmt;

use crate::rdata::quote;

/// A NAPTR record's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: Vec<u8>,
    pub services: Vec<u8>,
    pub regexp: Vec<u8>,
    /// Wire form; the root name (`[0]`) when unused.
    pub replacement: Vec<u8>,
}

impl Naptr {
    /// Decodes uncompressed wire RDATA.
    pub fn from_wire(rdata: &[u8]) -> Option<Self> {
        let order = u16::from_be_bytes([*rdata.first()?, *rdata.get(1)?]);
        let preference = u16::from_be_bytes([*rdata.get(2)?, *rdata.get(3)?]);
        let mut pos = 4;
        let string = |pos: &mut usize| -> Option<Vec<u8>> {
            let len = *rdata.get(*pos)? as usize;
            let s = rdata.get(*pos + 1..*pos + 1 + len)?.to_vec();
            *pos += 1 + len;
            Some(s)
        };
        let flags = string(&mut pos)?;
        let services = string(&mut pos)?;
        let regexp = string(&mut pos)?;
        let replacement = rdata.get(pos..)?.to_vec();
        Some(Self {
            order,
            preference,
            flags,
            services,
            regexp,
            replacement,
        })
    }

    /// True if the replacement field is the root: the rule uses its regexp.
    pub fn replacement_is_root(&self) -> bool {
        self.replacement == [0]
    }
}

impl fmt::Display for Naptr {
    /// Presentation form, the way a zone file would write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NAPTR {} {} {} {} {} {}",
            self.order,
            self.preference,
            quote(&self.flags),
            quote(&self.services),
            quote(&self.regexp),
            crate::name::to_text(&self.replacement)
        )
    }
}

/// Why a regexp field cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexpError {
    pub reason: String,
}

impl fmt::Display for RegexpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

fn err(reason: impl Into<String>) -> RegexpError {
    RegexpError {
        reason: reason.into(),
    }
}

/// A parsed and compiled substitution expression: known to compile and to use only groups that
/// exist.
#[derive(Clone, Debug)]
pub struct SubstExpr {
    pub delimiter: u8,
    /// The ERE as written (delimiter escapes removed).
    pub ere: String,
    matcher: Matcher,
    replacement: Vec<Piece>,
    /// The trailing `i` flag (case-insensitive matching).
    pub case_insensitive: bool,
    /// Capturing groups in the ERE.
    pub groups: usize,
}

/// How the ERE matches. Nearly every ENUM rule is `^.*$` (the whole AUS), which needs no
/// regex engine: at 10⁶ records, compiling one each would dominate a zone load.
#[derive(Clone, Debug)]
enum Matcher {
    Whole { groups: usize },
    Regex(regex::Regex),
}

/// The most heap a compiled NAPTR regexp may take (the regex crate's default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 256 << 10;

/// Compiled EREs by their translated pattern, shared across the records of a zone (pilot
/// wildcards repeat theirs).
#[derive(Default)]
pub struct RegexCache {
    compiled: std::collections::HashMap<String, regex::Regex>,
}

const REGEX_CACHE_LIMIT: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
}

impl SubstExpr {
    /// Parses `<d>ERE<d>repl<d>[i]` (RFC 3402 §3.2).
    pub fn parse(field: &[u8]) -> Result<Self, RegexpError> {
        Self::parse_with(field, &mut RegexCache::default())
    }

    /// [`SubstExpr::parse`], reusing EREs already compiled.
    pub fn parse_with(field: &[u8], cache: &mut RegexCache) -> Result<Self, RegexpError> {
        // Bytes that are not UTF-8 become U+FFFD: the validator warns about them separately.
        let text = String::from_utf8_lossy(field);
        let text = text.as_ref();
        let bytes = text.as_bytes();
        let &delimiter = bytes.first().ok_or_else(|| err("regexp is empty"))?;
        match delimiter {
            b'0'..=b'9' => {
                return Err(err(format!("delimiter '{}' is a digit", delimiter as char)));
            }
            b'\\' => return Err(err("delimiter is a backslash")),
            b'i' => return Err(err("delimiter 'i' is the flag character")),
            0 => return Err(err("delimiter is NUL")),
            _ if !delimiter.is_ascii() => return Err(err("delimiter is not ASCII")),
            _ => {}
        }
        // Split on unescaped delimiters; a backslash escapes the next character. Escapes stay
        // in place: the ERE and the replacement each decode their own.
        let body = &text[1..];
        let mut parts: Vec<&str> = Vec::with_capacity(3);
        let mut start = 0;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                if chars.next().is_none() {
                    return Err(err("regexp ends with a lone backslash"));
                }
            } else if c == delimiter as char {
                parts.push(&body[start..i]);
                start = i + 1;
            }
        }
        parts.push(&body[start..]);
        let delimiters = parts.len();
        if delimiters != 3 {
            return Err(err(format!(
                "{delimiters} unescaped delimiters '{}': a regexp has exactly 3",
                delimiter as char
            )));
        }
        let (ere, repl, flags) = (parts[0], parts[1], parts[2]);
        let case_insensitive = match flags {
            "" => false,
            "i" => true,
            other => {
                return Err(err(format!(
                    "unknown regexp flag '{other}': only 'i' exists"
                )));
            }
        };
        let (translated, groups) = translate_ere(ere)?;
        let matcher = match translated.as_str() {
            "^.*$" => Matcher::Whole { groups: 0 },
            "^(.*)$" => Matcher::Whole { groups: 1 },
            _ => {
                let pattern = if case_insensitive {
                    format!("(?i){translated}")
                } else {
                    translated
                };
                let regex = match cache.compiled.get(&pattern) {
                    Some(r) => r.clone(),
                    None => {
                        // A regexp of 255 octets matched against a number of at most 16
                        // characters needs a small program; a counted repetition such as
                        // `a{78700}` would otherwise take a second or more to compile (found by
                        // fuzzing), in a zone load or an UPDATE. The limit fails it at once.
                        let r = regex::RegexBuilder::new(&pattern)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| {
                                err(format!(
                                    "the ERE does not compile: {}",
                                    first_line(&e.to_string())
                                ))
                            })?;
                        if cache.compiled.len() < REGEX_CACHE_LIMIT {
                            cache.compiled.insert(pattern, r.clone());
                        }
                        r
                    }
                };
                Matcher::Regex(regex)
            }
        };
        let replacement = parse_replacement(repl, delimiter as char, groups)?;
        Ok(Self {
            delimiter,
            ere: unescape_delimiter(ere, delimiter as char),
            matcher,
            replacement,
            case_insensitive,
            groups,
        })
    }

    /// Applies the rule once to `input` (the AUS): None if the ERE does not match.
    pub fn apply(&self, input: &str) -> Option<String> {
        let regex = match &self.matcher {
            Matcher::Whole { groups } => {
                let mut out = String::with_capacity(input.len() + 32);
                for piece in &self.replacement {
                    match piece {
                        Piece::Literal(s) => out.push_str(s),
                        Piece::Group(1) if *groups == 1 => out.push_str(input),
                        Piece::Group(_) => {}
                    }
                }
                return Some(out);
            }
            Matcher::Regex(r) => r,
        };
        let caps = regex.captures(input)?;
        let whole = caps.get(0)?;
        let mut out = String::with_capacity(input.len() + 32);
        // RFC 3402 §3.2: the matched part is replaced; unmatched text stays.
        out.push_str(&input[..whole.start()]);
        for piece in &self.replacement {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
            }
        }
        out.push_str(&input[whole.end()..]);
        Some(out)
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

fn unescape_delimiter(s: &str, delim: char) -> String {
    s.replace(&format!("\\{delim}"), &delim.to_string())
}

/// Translates a POSIX ERE to `regex` syntax; returns it and the number of groups.
fn translate_ere(ere: &str) -> Result<(String, usize), RegexpError> {
    let mut out = String::with_capacity(ere.len() + 8);
    let mut groups = 0;
    let chars: Vec<char> = ere.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = *chars
                    .get(i + 1)
                    .ok_or_else(|| err("ERE ends with a backslash"))?;
                if next.is_ascii_digit() {
                    return Err(err(format!(
                        "back-reference \\{next} in the ERE: POSIX EREs have none"
                    )));
                }
                // `\X` is X taken literally (the delimiter included).
                push_literal(&mut out, next);
                i += 2;
            }
            '(' => {
                groups += 1;
                out.push('(');
                i += 1;
            }
            '[' => {
                i = translate_bracket(&chars, i, &mut out)?;
            }
            '{' => {
                // An interval {m}, {m,}, {m,n}: copied after checking its shape.
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '}')
                    .map(|p| i + p)
                    .ok_or_else(|| err("'{' without a closing '}' in the ERE"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                let ok = match inner.split_once(',') {
                    None => inner.parse::<u32>().is_ok(),
                    Some((m, n)) => {
                        m.parse::<u32>().is_ok()
                            && (n.is_empty()
                                || n.parse::<u32>().is_ok_and(|n| n >= m.parse().unwrap_or(0)))
                    }
                };
                if !ok {
                    return Err(err(format!("bad interval {{{inner}}} in the ERE")));
                }
                out.push('{');
                out.push_str(&inner);
                out.push('}');
                i = end + 1;
            }
            '.' | '*' | '+' | '?' | '|' | ')' | '^' | '$' => {
                out.push(c);
                i += 1;
            }
            _ => {
                push_literal(&mut out, c);
                i += 1;
            }
        }
    }
    Ok((out, groups))
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax_special(c) {
        out.push('\\');
    }
    out.push(c);
}

fn regex_syntax_special(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// A POSIX bracket expression starting at `chars[start] == '['`: `]` first is literal, a
/// backslash is literal, `[:class:]` names a class. Returns the index after the closing `]`.
fn translate_bracket(chars: &[char], start: usize, out: &mut String) -> Result<usize, RegexpError> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *chars
            .get(i)
            .ok_or_else(|| err("'[' without a closing ']' in the ERE"))?;
        match c {
            ']' if !first => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' if matches!(chars.get(i + 1), Some(':' | '=' | '.')) => {
                let kind = chars[i + 1];
                let close = chars[i + 2..]
                    .windows(2)
                    .position(|w| w[0] == kind && w[1] == ']')
                    .map(|p| i + 2 + p)
                    .ok_or_else(|| err(format!("unterminated [{kind} in a bracket expression")))?;
                let name: String = chars[i + 2..close].iter().collect();
                if kind != ':' {
                    return Err(err(format!(
                        "[{kind}{name}{kind}] (collating elements, equivalence classes) is not supported"
                    )));
                }
                const CLASSES: &[&str] = &[
                    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                    "punct", "space", "upper", "xdigit",
                ];
                if !CLASSES.contains(&name.as_str()) {
                    return Err(err(format!("unknown character class [:{name}:]")));
                }
                out.push_str(&format!("[:{name}:]"));
                i = close + 2;
            }
            '-' if !first && chars.get(i + 1) != Some(&']') => {
                // A range between the previous and the next character.
                out.push('-');
                i += 1;
            }
            _ => {
                push_literal(out, c);
                i += 1;
            }
        }
        first = false;
    }
}

/// The replacement: `\1`–`\9` are groups, `\<delim>` the delimiter, `\X` the character X.
fn parse_replacement(repl: &str, delim: char, groups: usize) -> Result<Vec<Piece>, RegexpError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = repl.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            literal.push(c);
            continue;
        }
        let next = chars
            .next()
            .ok_or_else(|| err("replacement ends with a backslash"))?;
        match next {
            '0' => {
                return Err(err(
                    "back-reference \\0: only \\1 to \\9 exist (RFC 3402 §3.2)",
                ));
            }
            '1'..='9' => {
                let n = next as usize - '0' as usize;
                if n > groups {
                    return Err(err(format!(
                        "back-reference \\{n} but the ERE has {groups} group{}",
                        if groups == 1 { "" } else { "s" }
                    )));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(n));
            }
            c if c == delim => literal.push(c),
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(re: &str, aus: &str) -> Option<String> {
        SubstExpr::parse(re.as_bytes()).unwrap().apply(aus)
    }

    #[test]
    fn enum_examples() {
        assert_eq!(
            apply(r"!^\+43179780(.*)$!sip:\1@sip.oefeg.at!", "+4317978012345").as_deref(),
            Some("sip:12345@sip.oefeg.at")
        );
        assert_eq!(
            apply("!^.*$!sip:info@example.com!", "+441234").as_deref(),
            Some("sip:info@example.com")
        );
        // RFC 3402 §3.2 / RFC 3403 §6.2 example: the first match is replaced once.
        assert_eq!(
            apply(
                r"!^\+1([0-9]{3})([0-9]{3})([0-9]{4})$!sip:\1\2\3@example.com!",
                "+15554041234"
            )
            .as_deref(),
            Some("sip:5554041234@example.com")
        );
        assert_eq!(apply("!^.*$!x!", "+1").as_deref(), Some("x"));
        assert_eq!(apply(r"!^\+44!x!", "+1"), None);
    }

    #[test]
    fn rfc3403_cid_example_uses_group_2_and_the_i_flag() {
        // RFC 3403 §6.2: the CID URN rule; `\.` in a bracket is a backslash or a dot.
        let e = SubstExpr::parse(br"!^urn:cid:.+@([^\.]+\.)(.*)$!\2!i").unwrap();
        assert!(e.case_insensitive);
        assert_eq!(
            e.apply("urn:cid:199606121851.1@bar.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            e.apply("URN:CID:x@bar.example.com").as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn posix_bracket_expressions() {
        assert_eq!(apply("/^[[:digit:]]*$/ok/", "12345").as_deref(), Some("ok"));
        assert_eq!(
            apply("/^[]a]$/ok/", "]").as_deref(),
            Some("ok"),
            "] first is literal"
        );
        assert_eq!(
            apply(r"/^[\d]$/ok/", "\\").as_deref(),
            Some("ok"),
            "backslash is literal in brackets"
        );
        assert_eq!(apply(r"/^[\d]$/ok/", "5"), None);
        assert_eq!(apply("/^[^0-4]$/ok/", "7").as_deref(), Some("ok"));
        assert_eq!(apply("/^[a-]$/ok/", "-").as_deref(), Some("ok"));
        assert!(SubstExpr::parse(b"/[[=a=]]/x/").is_err());
    }

    #[test]
    fn delimiters_and_flags() {
        assert!(
            SubstExpr::parse(b"1^.*$1x1")
                .unwrap_err()
                .reason
                .contains("digit")
        );
        assert!(
            SubstExpr::parse(b"\\^.*$\\x\\")
                .unwrap_err()
                .reason
                .contains("backslash")
        );
        assert!(
            SubstExpr::parse(b"!^.*$!x")
                .unwrap_err()
                .reason
                .contains("2 unescaped")
        );
        assert!(
            SubstExpr::parse(b"!^.*$!x!y!")
                .unwrap_err()
                .reason
                .contains("4 unescaped")
        );
        let e = SubstExpr::parse(b"!^A$!x!i").unwrap();
        assert!(e.case_insensitive);
        assert_eq!(e.apply("a").as_deref(), Some("x"));
        // An escaped delimiter is literal in both parts.
        assert_eq!(apply(r"!^a\!b$!x\!y!", "a!b").as_deref(), Some("x!y"));
    }

    #[test]
    fn back_references_are_checked() {
        assert!(
            SubstExpr::parse(br"!^(.*)$!\2!")
                .unwrap_err()
                .reason
                .contains("\\2 but the ERE has 1 group")
        );
        assert!(
            SubstExpr::parse(br"!^(.*)$!\0!")
                .unwrap_err()
                .reason
                .contains("\\0")
        );
        assert!(
            SubstExpr::parse(br"!^(a)\1$!x!")
                .unwrap_err()
                .reason
                .contains("POSIX EREs have none")
        );
        assert!(
            SubstExpr::parse(b"!^(.*$!x!")
                .unwrap_err()
                .reason
                .contains("does not compile")
        );
        assert!(
            SubstExpr::parse(b"!a{2,1}!x!")
                .unwrap_err()
                .reason
                .contains("bad interval")
        );
    }
}
