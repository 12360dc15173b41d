//! From what a person dials to an E.164 number and its ENUM domain (RFC 6116 §3.2).

use std::fmt;

/// The largest E.164 number: 15 digits, country code included (ITU-T E.164 §6).
pub const MAX_DIGITS: usize = 15;

/// How a dialled string is read where no `+` says it is international.
#[derive(Clone, Debug)]
pub struct DialPlan {
    /// The caller's country code, for national numbers (`43`).
    pub country_code: Option<String>,
    /// The trunk prefix that starts a national number (`0`).
    pub national_prefix: String,
    /// International access codes, tried longest first (`00`, `011`).
    pub international_prefixes: Vec<String>,
}

impl DialPlan {
    /// The usual plan for a country: national prefix `0`; international access code `011` in
    /// the North American plan (+1), `00` elsewhere (ITU-T E.164 Suppl. 2). Without a country,
    /// both codes are accepted. `0117…` in the UK is a national number, not `011` + 7….
    pub fn for_country(country_code: Option<String>) -> Self {
        let international = match country_code.as_deref() {
            Some("1") => vec!["011"],
            Some(_) => vec!["00"],
            None => vec!["00", "011"],
        };
        Self {
            country_code,
            national_prefix: "0".to_string(),
            international_prefixes: international.into_iter().map(str::to_string).collect(),
        }
    }
}

impl Default for DialPlan {
    fn default() -> Self {
        Self::for_country(None)
    }
}

/// An E.164 number: its digits, country code first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E164 {
    digits: String,
}

impl E164 {
    /// The Application Unique String of RFC 6116 §3.2.1: `+` and the digits.
    pub fn aus(&self) -> String {
        format!("+{}", self.digits)
    }

    /// RFC 6116 §3.2.2: digits reversed, one label each, under `apex`.
    pub fn domain(&self, apex: &str) -> String {
        let mut d = String::with_capacity(self.digits.len() * 2 + apex.len());
        for c in self.digits.chars().rev() {
            d.push(c);
            d.push('.');
        }
        d.push_str(apex.trim_start_matches('.'));
        if !d.ends_with('.') {
            d.push('.');
        }
        d
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

/// Normalises a dialled string: separators (space, `-`, `.`, `(`, `)`) and a trailing `#` go;
/// `+`, `*` dialled for `+`, or an international access code start an international number;
/// the national prefix with the plan's country code starts a national one.
pub fn normalize(dialled: &str, plan: &DialPlan) -> Result<E164, String> {
    let trimmed = dialled.trim();
    let trimmed = trimmed.strip_suffix('#').unwrap_or(trimmed);
    let mut s = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        match c {
            ' ' | '\t' | '-' | '.' | '(' | ')' => {}
            '0'..='9' => s.push(c),
            '+' | '*' if s.is_empty() => s.push(c),
            '+' | '*' => return Err(format!("'{c}' can only start a number: {dialled:?}")),
            _ => {
                return Err(format!(
                    "'{c}' is not something one dials: {dialled:?} is not an E.164 number"
                ));
            }
        }
    }
    let digits = if let Some(rest) = s.strip_prefix('+').or_else(|| s.strip_prefix('*')) {
        rest.to_string()
    } else if let Some(rest) = longest_prefix(&s, &plan.international_prefixes) {
        rest.to_string()
    } else if let Some(rest) = s
        .strip_prefix(plan.national_prefix.as_str())
        .filter(|_| !plan.national_prefix.is_empty())
    {
        match &plan.country_code {
            Some(cc) => format!("{cc}{rest}"),
            None => {
                return Err(format!(
                    "{dialled:?} is a national number: give --country-code to complete it"
                ));
            }
        }
    } else {
        return Err(format!(
            "{dialled:?} has no +, international prefix or national prefix: cannot tell its country"
        ));
    };
    if digits.is_empty() {
        return Err(format!("{dialled:?} has no digits after its prefix"));
    }
    if digits.starts_with('0') {
        return Err(format!("+{digits}: no country code starts with 0"));
    }
    if digits.len() > MAX_DIGITS {
        return Err(format!(
            "+{digits} has {} digits: E.164 numbers have at most {MAX_DIGITS}",
            digits.len()
        ));
    }
    Ok(E164 { digits })
}

fn longest_prefix<'s>(s: &'s str, prefixes: &[String]) -> Option<&'s str> {
    prefixes
        .iter()
        .filter(|p| !p.is_empty() && s.starts_with(p.as_str()))
        .max_by_key(|p| p.len())
        .map(|p| &s[p.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cc: &str) -> DialPlan {
        DialPlan::for_country(Some(cc.to_string()))
    }

    #[test]
    fn every_dialling_form_reaches_the_same_number() {
        for (dialled, plan) in [
            ("+43 1 79780 1234", DialPlan::default()),
            ("+43-1-79780-1234", DialPlan::default()),
            ("+43.1.79780.1234", DialPlan::default()),
            ("+43 (1) 79780 1234#", DialPlan::default()),
            ("0043 1 79780 1234", DialPlan::default()),
            ("011 43 1 79780 1234", DialPlan::default()),
            ("011 43 1 79780 1234", plan("1")),
            ("*43 1 79780 1234", DialPlan::default()),
            ("0043 1 79780 1234", plan("43")),
            ("(01) 79780 1234", plan("43")),
            ("01 79780-1234#", plan("43")),
        ] {
            let n = normalize(dialled, &plan).unwrap_or_else(|e| panic!("{dialled}: {e}"));
            assert_eq!(n.aus(), "+431797801234", "{dialled}");
        }
        // In the UK 0117 is Bristol, not 011 + 7.
        assert_eq!(
            normalize("0117 496 0000", &plan("44")).unwrap().aus(),
            "+441174960000"
        );
        let n = normalize("+431797801234", &DialPlan::default()).unwrap();
        assert_eq!(n.domain("e164.arpa."), "4.3.2.1.0.8.7.9.7.1.3.4.e164.arpa.");
        assert_eq!(
            n.domain("e164enum.net"),
            "4.3.2.1.0.8.7.9.7.1.3.4.e164enum.net."
        );
    }

    #[test]
    fn what_cannot_be_e164_is_rejected_with_a_reason() {
        let plan = DialPlan::default();
        assert!(
            normalize("+43 1 CALL NOW", &plan)
                .unwrap_err()
                .contains("'C' is not something one dials")
        );
        assert!(
            normalize("+1234567890123456", &plan)
                .unwrap_err()
                .contains("16 digits")
        );
        assert!(
            normalize("01 79780", &plan)
                .unwrap_err()
                .contains("--country-code")
        );
        assert!(
            normalize("79780", &plan)
                .unwrap_err()
                .contains("cannot tell its country")
        );
        assert!(normalize("+", &plan).unwrap_err().contains("no digits"));
        assert!(
            normalize("+0123", &plan)
                .unwrap_err()
                .contains("starts with 0")
        );
        assert!(
            normalize("+43+1", &plan)
                .unwrap_err()
                .contains("can only start")
        );
    }
}
