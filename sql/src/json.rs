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

/// An object's keys in jsonb's order: shorter first, then by bytes.
fn jsonb_order(map: &serde_json::Map<String, J>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    keys
}

fn write(v: &J, out: &mut String) {
    match v {
        J::Object(map) => {
            let keys = jsonb_order(map);
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
    Ok(select(&parse(doc)?, key).and_then(text_of))
}

/// An element as `->>` gives it: a string unquoted, JSON null as SQL NULL,
/// anything else as jsonb text.
fn text_of(v: &J) -> Option<String> {
    match v {
        J::Null => None,
        J::String(s) => Some(s.clone()),
        other => Some(render(other)),
    }
}

/// One field of an object read as a record's column: its text (a string
/// unquoted) and its jsonb text; `None` when missing or JSON null.
pub type Field = Option<(String, String)>;

/// What a JSON set-returning function gives a row for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// `jsonb_array_elements` (`text`: `jsonb_array_elements_text`): one
    /// row per element of an array.
    Elements { text: bool },
    /// `jsonb_each` (`text`: `jsonb_each_text`): one row per field of an
    /// object, its key and its value.
    Each { text: bool },
    /// `jsonb_object_keys`: one row per key of an object.
    Keys,
    /// `jsonb_to_record` (`set`: `jsonb_to_recordset`): an object (each
    /// object of an array) as one row of the columns its alias defines.
    Records { set: bool },
}

impl Rows {
    /// The function of this name (`json_…` as well: json values are kept
    /// as jsonb).
    pub fn of(name: &str) -> Option<Rows> {
        let name = name.strip_prefix("jsonb_").or(name.strip_prefix("json_"))?;
        Some(match name {
            "array_elements" => Rows::Elements { text: false },
            "array_elements_text" => Rows::Elements { text: true },
            "each" => Rows::Each { text: false },
            "each_text" => Rows::Each { text: true },
            "object_keys" => Rows::Keys,
            "to_record" => Rows::Records { set: false },
            "to_recordset" => Rows::Records { set: true },
            _ => return None,
        })
    }

    /// Its name (the jsonb form).
    pub fn name(self) -> &'static str {
        match self {
            Rows::Elements { text: false } => "jsonb_array_elements",
            Rows::Elements { text: true } => "jsonb_array_elements_text",
            Rows::Each { text: false } => "jsonb_each",
            Rows::Each { text: true } => "jsonb_each_text",
            Rows::Keys => "jsonb_object_keys",
            Rows::Records { set: false } => "jsonb_to_record",
            Rows::Records { set: true } => "jsonb_to_recordset",
        }
    }

    /// Its output columns' names.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Rows::Elements { .. } => &["value"],
            Rows::Each { .. } => &["key", "value"],
            Rows::Keys => &["jsonb_object_keys"],
            Rows::Records { .. } => &[],
        }
    }

    /// Whether its value column is text (else jsonb).
    pub fn text(self) -> bool {
        match self {
            Rows::Elements { text } | Rows::Each { text } => text,
            Rows::Keys | Rows::Records { .. } => true,
        }
    }

    /// The rows of `jsonb_to_record(set)` over `doc`: for each object,
    /// the field of each name in `names` (`None`: missing or JSON null),
    /// as text (a string unquoted) and as jsonb text. 22023 for the wrong
    /// kind of document, as in PostgreSQL.
    pub fn records(self, doc: &str, names: &[String]) -> Result<Vec<Vec<Field>>> {
        let doc = parse(doc)?;
        let row = |m: &serde_json::Map<String, J>| -> Vec<Field> {
            names
                .iter()
                .map(|n| match m.get(n) {
                    None | Some(J::Null) => None,
                    Some(v) => Some((text_of(v).unwrap_or_default(), render(v))),
                })
                .collect()
        };
        match (self, &doc) {
            (Rows::Records { set: false }, J::Object(m)) => Ok(vec![row(m)]),
            (Rows::Records { set: false }, J::Array(_)) => Err(SqlError::invalid_parameter(
                "cannot call jsonb_to_record on an array",
            )),
            (Rows::Records { set: false }, _) => Err(SqlError::invalid_parameter(
                "cannot call jsonb_to_record on a scalar",
            )),
            (Rows::Records { set: true }, J::Array(items)) => items
                .iter()
                .map(|item| match item {
                    J::Object(m) => Ok(row(m)),
                    _ => Err(SqlError::invalid_parameter(
                        "argument of jsonb_to_recordset must be an array of objects",
                    )),
                })
                .collect(),
            (Rows::Records { set: true }, _) => Err(SqlError::invalid_parameter(
                "cannot call jsonb_to_recordset on a non-array",
            )),
            _ => Err(SqlError::internal(format!(
                "{} gives no records",
                self.name()
            ))),
        }
    }

    /// The rows over `doc`, each a key (for `Each` and `Keys`) and a value
    /// (jsonb text, or text for the `_text` forms: `None` is SQL NULL).
    /// An array where an object is wanted, or the reverse, is 22023 as in
    /// PostgreSQL.
    pub fn over(self, doc: &str) -> Result<Vec<(Option<String>, Option<String>)>> {
        let doc = parse(doc)?;
        let kind = match &doc {
            J::Object(_) => "an object",
            J::Array(_) => "an array",
            _ => "a scalar",
        };
        let value = |v: &J, text: bool| if text { text_of(v) } else { Some(render(v)) };
        Ok(match (self, &doc) {
            (Rows::Elements { text }, J::Array(items)) => {
                items.iter().map(|v| (None, value(v, text))).collect()
            }
            (Rows::Elements { .. }, _) => {
                return Err(SqlError::invalid_parameter(format!(
                    "cannot extract elements from {kind}"
                )));
            }
            (Rows::Each { text }, J::Object(map)) => jsonb_order(map)
                .into_iter()
                .map(|k| (Some(k.clone()), value(&map[k.as_str()], text)))
                .collect(),
            (Rows::Keys, J::Object(map)) => jsonb_order(map)
                .into_iter()
                .map(|k| (Some(k.clone()), None))
                .collect(),
            (Rows::Each { .. }, _) => {
                return Err(SqlError::invalid_parameter(
                    "cannot call jsonb_each on a non-object",
                ));
            }
            (Rows::Keys, _) => {
                return Err(SqlError::invalid_parameter(format!(
                    "cannot call jsonb_object_keys on {kind}"
                )));
            }
            (Rows::Records { .. }, _) => {
                return Err(SqlError::internal(
                    "jsonb_to_record(set) rows come from Rows::records",
                ));
            }
        })
    }
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

/// The element at `path` (`#>`, `jsonb_extract_path`): each step a field
/// of an object or, as an integer, an element of an array; `None` when
/// there is none.
pub fn at_path<'a>(doc: &'a J, path: &[String]) -> Option<&'a J> {
    path.iter().try_fold(doc, |at, step| match at {
        J::Object(m) => m.get(step),
        J::Array(_) => select(at, &Key::Index(step.trim().parse().ok()?)),
        _ => None,
    })
}

/// `a || b`: two objects merged (`b`'s fields win), arrays (or an array
/// and a value) joined.
pub fn concat(a: &str, b: &str) -> Result<String> {
    Ok(render(&match (parse(a)?, parse(b)?) {
        (J::Object(mut x), J::Object(y)) => {
            x.extend(y);
            J::Object(x)
        }
        (J::Array(mut x), J::Array(y)) => {
            x.extend(y);
            J::Array(x)
        }
        (J::Array(mut x), y) => {
            x.push(y);
            J::Array(x)
        }
        (x, J::Array(y)) => J::Array(std::iter::once(x).chain(y).collect()),
        (x, y) => J::Array(vec![x, y]),
    }))
}

/// `doc - key`: the object without field `key` (an array without the
/// strings equal to it), or the array without element `key` (an integer;
/// negative from the end).
pub fn remove(doc: &str, key: &Key) -> Result<String> {
    let mut v = parse(doc)?;
    match (&mut v, key) {
        (J::Object(m), Key::Field(f)) => {
            m.remove(f);
        }
        (J::Array(a), Key::Field(f)) => a.retain(|x| x.as_str() != Some(f.as_str())),
        (J::Array(a), Key::Index(i)) => {
            let i = if *i < 0 { a.len() as i64 + i } else { *i };
            if let Some(i) = usize::try_from(i).ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        (J::Object(_), Key::Index(_)) => {
            return Err(SqlError::invalid_parameter(
                "cannot delete from object using integer index",
            ));
        }
        _ => {
            return Err(SqlError::invalid_parameter("cannot delete from scalar"));
        }
    }
    Ok(render(&v))
}

/// `jsonb_set(doc, path, value, create_missing)`: `doc` with the element
/// at `path` replaced by `value` — or added, when `create_missing` and
/// only its last step is missing (an array index past either end adds
/// at that end).
pub fn set(doc: &str, path: &[String], value: &str, create_missing: bool) -> Result<String> {
    let mut v = parse(doc)?;
    let new = parse(value)?;
    if matches!(v, J::Object(_) | J::Array(_)) {
        set_at(&mut v, path, new, create_missing, 1)?;
    } else if !path.is_empty() {
        return Err(SqlError::invalid_parameter("cannot set path in scalar"));
    }
    Ok(render(&v))
}

/// `position`: the 1-based place of `path`'s first step in the whole path.
fn set_at(at: &mut J, path: &[String], new: J, create: bool, position: usize) -> Result<()> {
    let Some((step, rest)) = path.split_first() else {
        *at = new;
        return Ok(());
    };
    match at {
        J::Object(m) => match m.get_mut(step) {
            Some(next) => set_at(next, rest, new, create, position + 1)?,
            None if create && rest.is_empty() => {
                m.insert(step.clone(), new);
            }
            None => {}
        },
        J::Array(a) => {
            let Ok(i) = step.trim().parse::<i64>() else {
                return Err(SqlError::invalid_text(format!(
                    "path element at position {position} is not an integer: \"{step}\""
                )));
            };
            let len = a.len() as i64;
            let k = if i < 0 { len + i } else { i };
            if (0..len).contains(&k) {
                set_at(&mut a[k as usize], rest, new, create, position + 1)?;
            } else if create && rest.is_empty() {
                if k < 0 {
                    a.insert(0, new);
                } else {
                    a.push(new);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `jsonb_strip_nulls`: every object field whose value is null gone, at
/// any depth (nulls in arrays stay).
pub fn strip_nulls(doc: &str) -> Result<String> {
    fn strip(v: &mut J) {
        match v {
            J::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
            J::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = parse(doc)?;
    strip(&mut v);
    Ok(render(&v))
}

/// `jsonb_pretty`: one element per line, indented by four spaces.
pub fn pretty(doc: &str) -> Result<String> {
    fn write_pretty(v: &J, depth: usize, out: &mut String) {
        let indent = |n: usize, out: &mut String| out.push_str(&"    ".repeat(n));
        // Each element on a line of its own; the closing bracket on its
        // own line even when there are none (`{` and `}` on two lines,
        // as PostgreSQL writes an empty object).
        match v {
            J::Object(map) => {
                let keys = jsonb_order(map);
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    indent(depth + 1, out);
                    out.push_str(&J::String((*k).clone()).to_string());
                    out.push_str(": ");
                    write_pretty(&map[k.as_str()], depth + 1, out);
                }
                out.push('\n');
                indent(depth, out);
                out.push('}');
            }
            J::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    indent(depth + 1, out);
                    write_pretty(item, depth + 1, out);
                }
                out.push('\n');
                indent(depth, out);
                out.push(']');
            }
            other => write(other, out),
        }
    }
    let mut out = String::new();
    write_pretty(&parse(doc)?, 0, &mut out);
    Ok(out)
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
