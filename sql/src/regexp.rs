//! The regular expression functions beyond `~` and `regexp_replace`
//! (`regexp_match`, `regexp_like`, `regexp_count`, `regexp_substr`,
//! `regexp_split_to_array`), `SIMILAR TO` (through `similar_to_escape`, as
//! PostgreSQL rewrites it) and `to_number`.
//!
//! PostgreSQL's regular expressions are POSIX AREs; the common forms
//! (anchors, classes, groups, alternation, repetition) mean the same in
//! the `regex` crate, which runs them here (in time linear in the text).

use crate::error::{Result, SqlError};
use crate::numeric::Numeric;

/// Flags of a regular expression function: `i` ignores case, `c` does
/// not; `g` (every match) only where the function takes it.
struct Flags {
    insensitive: bool,
    global: bool,
}

fn flags(text: &str, function: &str, global_allowed: bool) -> Result<Flags> {
    let mut out = Flags {
        insensitive: false,
        global: false,
    };
    for f in text.chars() {
        match f {
            'i' => out.insensitive = true,
            'c' => out.insensitive = false,
            'g' if global_allowed => out.global = true,
            'g' => {
                return Err(SqlError::invalid_parameter(format!(
                    "{function}() does not support the \"global\" option"
                )));
            }
            other => {
                return Err(SqlError::invalid_parameter(format!(
                    "invalid regular expression option: \"{other}\""
                )));
            }
        }
    }
    Ok(out)
}

fn compile(pattern: &str, flags: &Flags) -> Result<regex::Regex> {
    crate::compat::regex(pattern, flags.insensitive)
}

/// The byte offset of character `start` (1-based; 22023 below 1), or
/// `None` past the end.
fn offset_of(s: &str, start: i64) -> Result<Option<usize>> {
    if start < 1 {
        return Err(SqlError::invalid_parameter(format!(
            "invalid value for parameter \"start\": {start}"
        )));
    }
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    Ok(s.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .nth(skip))
}

/// `regexp_match(s, pattern [, flags])`: the first match's groups (or the
/// whole match when the pattern has none), `None` when there is none.
pub fn regexp_match(
    s: &str,
    pattern: &str,
    flag_text: &str,
) -> Result<Option<Vec<Option<String>>>> {
    let re = compile(pattern, &flags(flag_text, "regexp_match", false)?)?;
    Ok(re.captures(s).map(groups))
}

/// A match's groups, or the whole match when the pattern has none (a
/// group that took no part is `None`).
fn groups(caps: regex::Captures<'_>) -> Vec<Option<String>> {
    if caps.len() == 1 {
        vec![caps.get(0).map(|m| m.as_str().to_string())]
    } else {
        caps.iter()
            .skip(1)
            .map(|m| m.map(|m| m.as_str().to_string()))
            .collect()
    }
}

/// `regexp_matches(s, pattern [, flags])`: each match's groups (or the
/// whole match when the pattern has none) — every match with flag `g`,
/// else the first only.
pub fn regexp_matches(s: &str, pattern: &str, flag_text: &str) -> Result<Vec<Vec<Option<String>>>> {
    let flags = flags(flag_text, "regexp_matches", true)?;
    let re = compile(pattern, &flags)?;
    Ok(if flags.global {
        re.captures_iter(s).map(groups).collect()
    } else {
        re.captures(s).map(groups).into_iter().collect()
    })
}

/// `substring(s FROM pattern)`: the part of `s` the first match of the
/// POSIX `pattern` covers — of its first parenthesized group when it has
/// one — `None` when there is no match (or the group took no part).
pub fn substring(s: &str, pattern: &str) -> Result<Option<String>> {
    let re = compile(pattern, &flags("", "substring", false)?)?;
    let Some(caps) = re.captures(s) else {
        return Ok(None);
    };
    let part = if caps.len() > 1 {
        caps.get(1)
    } else {
        caps.get(0)
    };
    Ok(part.map(|m| m.as_str().to_string()))
}

/// `regexp_like(s, pattern [, flags])`.
pub fn regexp_like(s: &str, pattern: &str, flag_text: &str) -> Result<bool> {
    let re = compile(pattern, &flags(flag_text, "regexp_like", false)?)?;
    Ok(re.is_match(s))
}

/// `regexp_count(s, pattern [, start [, flags]])`: the matches from
/// character `start` on, none overlapping.
pub fn regexp_count(s: &str, pattern: &str, start: i64, flag_text: &str) -> Result<i64> {
    let re = compile(pattern, &flags(flag_text, "regexp_count", false)?)?;
    let Some(from) = offset_of(s, start)? else {
        return Ok(0);
    };
    Ok(re.find_iter(&s[from..]).count() as i64)
}

/// `regexp_substr(s, pattern [, start [, n [, flags [, subexpr]]]])`: the
/// `n`th match from character `start` on (group `subexpr` of it, 0 the
/// whole), `None` when there is none.
pub fn regexp_substr(
    s: &str,
    pattern: &str,
    start: i64,
    n: i64,
    flag_text: &str,
    subexpr: i64,
) -> Result<Option<String>> {
    if n < 1 {
        return Err(SqlError::invalid_parameter(format!(
            "invalid value for parameter \"n\": {n}"
        )));
    }
    if subexpr < 0 {
        return Err(SqlError::invalid_parameter(format!(
            "invalid value for parameter \"subexpr\": {subexpr}"
        )));
    }
    let re = compile(pattern, &flags(flag_text, "regexp_substr", false)?)?;
    let Some(from) = offset_of(s, start)? else {
        return Ok(None);
    };
    let nth = usize::try_from(n - 1).unwrap_or(usize::MAX);
    let group = usize::try_from(subexpr).unwrap_or(usize::MAX);
    Ok(re
        .captures_iter(&s[from..])
        .nth(nth)
        .and_then(|c| c.get(group).map(|m| m.as_str().to_string())))
}

/// `regexp_split_to_array(s, pattern [, flags])`: the pieces between
/// matches. As in PostgreSQL, a match of no characters at the start or
/// end of the text, or right after another match, does not split.
pub fn regexp_split(s: &str, pattern: &str, flag_text: &str) -> Result<Vec<String>> {
    let re = compile(pattern, &flags(flag_text, "regexp_split_to_array", false)?)?;
    let mut out = Vec::new();
    let mut piece_start = 0;
    let mut last_end: Option<usize> = None;
    for m in re.find_iter(s) {
        let empty = m.start() == m.end();
        if empty && (m.start() == 0 || m.start() == s.len() || last_end == Some(m.start())) {
            continue;
        }
        out.push(s[piece_start..m.start()].to_string());
        piece_start = m.end();
        last_end = Some(m.end());
    }
    out.push(s[piece_start..].to_string());
    Ok(out)
}

/// `similar_to_escape(pattern [, escape])`: a SQL regular expression
/// (`SIMILAR TO`'s) as a POSIX one that must match the whole text: `%` is
/// `.*`, `_` is `.`, `.`, `^` and `$` are themselves, `|`, `*`, `+`, `?`,
/// `{…}`, `(…)` and `[…]` as in POSIX; the escape character (default `\`,
/// none when empty) makes the next character literal.
pub fn similar_to_escape(pattern: &str, escape: Option<&str>) -> Result<String> {
    let escape = match escape {
        None => Some('\\'),
        Some(e) => {
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (None, _) => None,
                (Some(c), None) => Some(c),
                _ => {
                    return Err(SqlError::invalid_escape_sequence(
                        "invalid escape string: escape string must be empty or one character",
                    ));
                }
            }
        }
    };
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str("^(?:");
    let mut chars = pattern.chars();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                // As PostgreSQL writes it: a backslash before any
                // punctuation (which the regex crate reads as literal).
                Some(next) if next.is_ascii_punctuation() => {
                    out.push('\\');
                    out.push(next);
                }
                Some(next) => out.push_str(&regex::escape(&next.to_string())),
                None => {
                    return Err(SqlError::invalid_escape_sequence(
                        "invalid escape string: a pattern cannot end with its escape character",
                    ));
                }
            }
            continue;
        }
        if in_bracket {
            if c == ']' {
                in_bracket = false;
            }
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_bracket = true;
                out.push('[');
            }
            '(' => out.push_str("(?:"),
            '|' | '*' | '+' | '?' | '{' | '}' | ')' | ',' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// `to_number(text, template)`: the number `text` writes, read as the
/// template says, character by character: `9` and `0` a digit (if one is
/// there), `D` and `.` the decimal point, `G` and `,` a group separator
/// (if one is there), `S`, `MI`, `PL`, `SG` a sign, `PR` angle brackets
/// around a negative number, `L` and `$` a currency sign, `FM` nothing;
/// any other template character skips one character of the text. A sign
/// or spaces before the first digit are read wherever they are.
pub fn to_number(text: &str, template: &str) -> Result<Numeric> {
    let t: Vec<char> = template.to_uppercase().chars().collect();
    let s: Vec<char> = text.chars().collect();
    let mut i = 0; // in the text
    let mut k = 0; // in the template
    let mut negative = false;
    let mut digits = String::new();
    let mut fraction = false;
    let mut any_digit = false;
    // Leading blanks and a sign.
    let skip_blanks_and_sign = |i: &mut usize, negative: &mut bool| {
        while *i < s.len() && s[*i] == ' ' {
            *i += 1;
        }
        if *i < s.len() && (s[*i] == '-' || s[*i] == '+') {
            *negative = s[*i] == '-';
            *i += 1;
        }
    };
    let starts = |k: usize, word: &str| t[k..].iter().take(word.len()).copied().eq(word.chars());
    while k < t.len() {
        if starts(k, "FM") || starts(k, "PL") || starts(k, "SG") || starts(k, "MI") {
            if !starts(k, "FM") && i < s.len() && (s[i] == '-' || s[i] == '+') {
                negative = s[i] == '-';
                i += 1;
            }
            k += 2;
            continue;
        }
        if starts(k, "PR") {
            if i < s.len() && s[i] == '>' {
                i += 1;
            }
            k += 2;
            continue;
        }
        match t[k] {
            '9' | '0' => {
                if !any_digit {
                    skip_blanks_and_sign(&mut i, &mut negative);
                    if i < s.len() && s[i] == '<' {
                        negative = true;
                        i += 1;
                    }
                }
                if i < s.len() && s[i].is_ascii_digit() {
                    digits.push(s[i]);
                    any_digit = true;
                    i += 1;
                } else if i < s.len() && s[i] == ' ' && !any_digit {
                    i += 1;
                }
            }
            'D' | '.' => {
                if !any_digit {
                    skip_blanks_and_sign(&mut i, &mut negative);
                }
                if i < s.len() && s[i] == '.' && !fraction {
                    digits.push('.');
                    fraction = true;
                    i += 1;
                }
            }
            'G' | ',' => {
                if i < s.len() && s[i] == ',' {
                    i += 1;
                }
            }
            'S' => {
                if i < s.len() && (s[i] == '-' || s[i] == '+') {
                    negative = s[i] == '-';
                    i += 1;
                }
            }
            'L' | '$' => {
                if !any_digit {
                    skip_blanks_and_sign(&mut i, &mut negative);
                }
                if i < s.len() && s[i] == '$' {
                    i += 1;
                }
            }
            ' ' => {
                if i < s.len() && s[i] == ' ' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        k += 1;
    }
    if !any_digit {
        return Err(SqlError::invalid_text(format!(
            "invalid input syntax for type numeric: \"{text}\""
        )));
    }
    if digits.ends_with('.') {
        digits.pop();
    }
    let n = Numeric::parse(&digits)?;
    Ok(if negative && !n.0.is_zero() {
        Numeric(-n.0)
    } else {
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_to_patterns_match_the_whole_text() {
        let m = |s: &str, p: &str| {
            regex::Regex::new(&similar_to_escape(p, None).unwrap())
                .unwrap()
                .is_match(s)
        };
        assert!(m("abc", "abc"));
        assert!(!m("abcd", "abc"));
        assert!(m("abcd", "a%"));
        assert!(m("abc", "_b_"));
        assert!(m("abc", "%(b|d)%"));
        assert!(!m("abc", "(b|c)%"));
        assert!(m("a.c", "a.c") && !m("abc", "a.c"));
        assert!(m("a%", "a\\%") && !m("ab", "a\\%"));
        assert!(m("aaa", "a+") && m("x1", "[a-z][0-9]"));
        assert!(similar_to_escape("a", Some("xy")).is_err());
        assert!(similar_to_escape("a\\", None).is_err());
    }

    #[test]
    fn splits_ignore_empty_matches_at_the_ends_and_after_a_match() {
        assert_eq!(regexp_split("abc", "", "").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(
            regexp_split("hello  world", "\\s*", "").unwrap(),
            vec!["h", "e", "l", "l", "o", "w", "o", "r", "l", "d"]
        );
        assert_eq!(regexp_split(",a,", ",", "").unwrap(), vec!["", "a", ""]);
    }

    #[test]
    fn to_number_reads_as_the_template_says() {
        let n = |s: &str, t: &str| to_number(s, t).unwrap().to_string();
        assert_eq!(n("12,454.8-", "99G999D9S"), "-12454.8");
        assert_eq!(n("$1,234.56", "L9,999.99"), "1234.56");
        assert_eq!(n("12.3", "99"), "12");
        assert_eq!(n("-42", "999"), "-42");
        assert_eq!(n("<42>", "999PR"), "-42");
        assert!(to_number("abc", "999").is_err());
    }
}
