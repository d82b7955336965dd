//! JSONB: documents kept as PostgreSQL's jsonb text (`{"a": 1, "b": [1, 2]}`:
//! object keys shorter first, then by bytes, the last of duplicates kept),
//! and the operators `->`, `->>`, `@>` and `?`.
//!
//! Numbers keep their digits as written, as PostgreSQL's numeric does
//! (`1.50` stays `1.50`, `1e2` is `100`): `serde_json` is built with
//! `arbitrary_precision`, and each number is rendered through
//! [`crate::numeric::Numeric`] (beyond its 28 digits, as written).

use serde_json::Value as J;

use crate::error::{Result, SqlError};

fn parse(text: &str) -> Result<J> {
    serde_json::from_str(text)
        .map_err(|e| SqlError::invalid_text(format!("invalid input syntax for type json: {e}")))
}

/// `text` as jsonb text (22P02 if it is not JSON).
pub fn normalize(text: &str) -> Result<String> {
    Ok(render(&parse(text)?))
}

/// A document as jsonb writes it.
pub fn render(v: &J) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &J, out: &mut String) {
    match v {
        J::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&J::String((*k).clone()).to_string());
                out.push_str(": ");
                write(&map[k.as_str()], out);
            }
            out.push('}');
        }
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        J::Number(n) => out.push_str(&number_text(&n.to_string())),
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A JSON number as PostgreSQL's numeric writes it.
fn number_text(raw: &str) -> String {
    match crate::numeric::Numeric::parse(raw) {
        Ok(n) if n.0.is_zero() => {
            let mut z = n.0;
            z.set_sign_positive(true);
            z.to_string()
        }
        Ok(n) => n.to_string(),
        Err(_) => raw.to_string(),
    }
}

/// Equal scalars: numbers by value (`1.0` is `1`), the rest as they are.
fn scalar_eq(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            match (
                crate::numeric::Numeric::parse(&x),
                crate::numeric::Numeric::parse(&y),
            ) {
                (Ok(x), Ok(y)) => x == y,
                _ => x == y,
            }
        }
        _ => a == b,
    }
}

/// What `key` selects: an object's field (text) or an array's element
/// (an integer; negative counts from the end).
#[derive(Clone, Debug)]
pub enum Key {
    Field(String),
    Index(i64),
}

fn select<'a>(doc: &'a J, key: &Key) -> Option<&'a J> {
    match (doc, key) {
        (J::Object(m), Key::Field(f)) => m.get(f),
        (J::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            usize::try_from(i).ok().and_then(|i| a.get(i))
        }
        _ => None,
    }
}

/// `doc -> key`: the element as jsonb text, `None` when there is none.
pub fn get(doc: &str, key: &Key) -> Result<Option<String>> {
    Ok(select(&parse(doc)?, key).map(render))
}

/// `doc ->> key`: the element as text (a string unquoted; JSON null is
/// SQL NULL).
pub fn get_text(doc: &str, key: &Key) -> Result<Option<String>> {
    Ok(match select(&parse(doc)?, key) {
        None | Some(J::Null) => None,
        Some(J::String(s)) => Some(s.clone()),
        Some(other) => Some(render(other)),
    })
}

/// `a @> b`: PostgreSQL's containment.
pub fn contains(a: &str, b: &str) -> Result<bool> {
    Ok(contained(&parse(b)?, &parse(a)?, true))
}

fn contained(inner: &J, outer: &J, top: bool) -> bool {
    match (outer, inner) {
        (J::Object(o), J::Object(i)) => i
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contained(v, ov, false))),
        (J::Array(o), J::Array(i)) => i.iter().all(|v| o.iter().any(|ov| contained(v, ov, false))),
        // An array contains a scalar it has, at the top level.
        (J::Array(o), scalar) if top && !matches!(scalar, J::Object(_)) => {
            o.iter().any(|ov| scalar_eq(ov, scalar))
        }
        (o, i) => scalar_eq(o, i),
    }
}

/// `doc ? key`: an object with the field, or an array with the string.
pub fn has_key(doc: &str, key: &str) -> Result<bool> {
    Ok(match parse(doc)? {
        J::Object(m) => m.contains_key(key),
        J::Array(a) => a.iter().any(|v| v.as_str() == Some(key)),
        J::String(s) => s == key,
        _ => false,
    })
}

/// `text` parsed (22P02 if it is not JSON).
pub fn parse_document(text: &str) -> Result<J> {
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_and_write_as_jsonb_does() {
        assert_eq!(
            normalize(r#"{"bb": 1, "a": [1, {"z": null}], "a": true}"#).unwrap(),
            r#"{"a": true, "bb": 1}"#
        );
        assert!(normalize("{oops}").is_err());
        let doc = r#"{"a": {"b": [10, "x"]}, "n": null}"#;
        assert_eq!(
            get(doc, &Key::Field("a".into())).unwrap().unwrap(),
            r#"{"b": [10, "x"]}"#
        );
        assert_eq!(
            get_text(r#"["p", "q"]"#, &Key::Index(-1)).unwrap().unwrap(),
            "q"
        );
        assert_eq!(get_text(doc, &Key::Field("n".into())).unwrap(), None);
        assert!(contains(doc, r#"{"a": {"b": ["x"]}}"#).unwrap());
        assert!(!contains(doc, r#"{"a": {"b": [11]}}"#).unwrap());
        assert!(contains("[1, 2, 3]", "2").unwrap());
        assert!(has_key(doc, "n").unwrap());
        assert_eq!(
            normalize(r#"[1.50, 1e2, -0, 0.1e1, 12345678901234567890123456789012345]"#).unwrap(),
            "[1.50, 100, 0, 1, 12345678901234567890123456789012345]"
        );
        assert!(contains(r#"{"a": 1.0}"#, r#"{"a": 1}"#).unwrap());
        assert!(!has_key(doc, "b").unwrap());
    }
}
