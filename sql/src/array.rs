//! PostgreSQL's text form of a one-dimensional array (`{1,2,NULL}`,
//! `{"a b",c}`): reading it strictly (what a cast or a column of an array
//! type accepts) and quoting an element for it. Values of array types are
//! [`crate::value::Value::Array`]; this module knows only the syntax.

use crate::error::{Result, SqlError};

/// The elements of `text`, an array's text form: `None` for an unquoted
/// NULL. 22P02 for anything that is not one (`malformed array literal`),
/// 0A000 for an array of more than one dimension.
pub fn parse(text: &str) -> Result<Vec<Option<String>>> {
    let malformed =
        |why: &str| SqlError::invalid_text(format!("malformed array literal: \"{text}\" ({why})"));
    let t = text.trim();
    let inner = t
        .strip_prefix('{')
        .ok_or_else(|| malformed("array value must start with \"{\" or dimension information"))?
        .strip_suffix('}')
        .ok_or_else(|| malformed("unexpected end of input"))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let item = match chars.peek() {
            Some('{') => {
                return Err(SqlError::not_supported("arrays of more than one dimension"));
            }
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => s.push(c),
                            None => return Err(malformed("unexpected end of input")),
                        },
                        Some(c) => s.push(c),
                        None => return Err(malformed("unexpected end of input")),
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                Some(s)
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '"' | '{' | '}' => return Err(malformed("unexpected character")),
                        '\\' => {
                            chars.next();
                            match chars.next() {
                                Some(c) => s.push(c),
                                None => return Err(malformed("unexpected end of input")),
                            }
                            continue;
                        }
                        c => s.push(c),
                    }
                    chars.next();
                }
                let s = s.trim_end().to_string();
                if s.is_empty() {
                    return Err(malformed("unexpected \",\" or end"));
                }
                (!s.eq_ignore_ascii_case("null")).then_some(s)
            }
        };
        out.push(item);
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(_) => return Err(malformed("unexpected character")),
        }
    }
}

/// An element's text as the array's text form writes it: quoted when it
/// is empty, says NULL, or holds a brace, comma, quote, backslash or
/// white space.
pub fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.eq_ignore_ascii_case("null")
        && !text
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if plain {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_postgres_writes_and_refuses_the_rest() {
        let items = |t: &str| parse(t).unwrap();
        assert_eq!(items("{}"), Vec::<Option<String>>::new());
        assert_eq!(
            items(" { 1 , 2,NULL } "),
            vec![Some("1".into()), Some("2".into()), None]
        );
        assert_eq!(
            items(r#"{"a b","NULL",c\,d,""}"#),
            vec![
                Some("a b".into()),
                Some("NULL".into()),
                Some("c,d".into()),
                Some("".into())
            ]
        );
        assert_eq!(items(r#"{"x\"y\\z"}"#), vec![Some(r#"x"y\z"#.into())]);
        for bad in ["1,2", "{1,2", "{1,,2}", "{,}", r#"{"a}"#, "{a\"b}", "{1} x"] {
            assert_eq!(parse(bad).unwrap_err().code, "22P02", "{bad}");
        }
        assert_eq!(parse("{{1,2},{3,4}}").unwrap_err().code, "0A000");
        for s in ["", "a b", "NULL", "x\"y\\z", "{", "plain"] {
            assert_eq!(
                items(&format!("{{{}}}", quote(s))),
                vec![Some(s.to_string())]
            );
        }
    }
}
