//! COPY on the PostgreSQL port: `COPY t [(cols)] FROM STDIN` and `COPY t
//! [(cols)] | (query) TO STDOUT`, in text or CSV format (`FORMAT`,
//! `DELIMITER`, `NULL`, `HEADER`, `QUOTE`), as psql's `\copy` and drivers
//! send them.
//!
//! Rows coming in are inserted in batches of [`BATCH_ROWS`], each one
//! multi-row INSERT. Outside a transaction block each batch commits on its
//! own: a COPY that fails part-way keeps the batches before the failing
//! one (as CockroachDB's COPY does), and no transaction holds locks over a
//! whole load. Inside `BEGIN … COMMIT` the batches are statements of that
//! transaction: all or nothing.

use spanlite_sql::{DataType, SqlError, Value};

/// A record's fields (`None`: NULL).
pub type Record = Vec<Option<Vec<u8>>>;

/// Rows per INSERT (fewer for wide tables: at most [`MAX_PARAMS`] values).
pub const BATCH_ROWS: usize = 1000;

/// Values per INSERT.
const MAX_PARAMS: usize = 30_000;

/// How rows are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// CSV (else PostgreSQL's text format).
    pub csv: bool,
    /// The field separator (tab in text, comma in CSV).
    pub delimiter: u8,
    /// How NULL is written (`\N` in text, an unquoted empty field in CSV).
    pub null: String,
    /// A header line (CSV only).
    pub header: bool,
    /// The quote character (CSV only).
    pub quote: u8,
}

impl Format {
    /// The format COPY's options ask for.
    pub fn from_options(
        options: &[spanlite_sql::sqlparser::ast::CopyOption],
    ) -> Result<Self, SqlError> {
        use spanlite_sql::sqlparser::ast::CopyOption as O;
        let csv = options.iter().any(|o| match o {
            O::Format(f) => f.value.eq_ignore_ascii_case("csv"),
            _ => false,
        });
        let mut f = Format {
            csv,
            delimiter: if csv { b',' } else { b'\t' },
            null: if csv {
                String::new()
            } else {
                "\\N".to_string()
            },
            header: false,
            quote: b'"',
        };
        let byte = |c: char, what: &str| -> Result<u8, SqlError> {
            u8::try_from(u32::from(c))
                .map_err(|_| SqlError::not_supported(format!("a non-ASCII COPY {what}")))
        };
        for o in options {
            match o {
                O::Format(name) => {
                    let n = name.value.to_ascii_lowercase();
                    if n != "csv" && n != "text" {
                        return Err(SqlError::not_supported(format!("COPY format {n}")));
                    }
                }
                O::Delimiter(c) => f.delimiter = byte(*c, "delimiter")?,
                O::Null(s) => f.null = s.clone(),
                O::Header(h) => f.header = *h,
                O::Quote(c) => f.quote = byte(*c, "quote")?,
                // PostgreSQL's hint to write the rows frozen (visible to
                // every later snapshot without vacuuming): MVCC here keeps
                // no per-row visibility state to freeze, so it asks for
                // nothing (pgbench -i sends it).
                O::Freeze(_) => {}
                other => {
                    return Err(SqlError::not_supported(format!("COPY option {other}")));
                }
            }
        }
        if f.header && !f.csv {
            return Err(SqlError::not_supported("COPY HEADER in text format"));
        }
        Ok(f)
    }
}

/// Rows per INSERT for a table of `columns` columns.
pub fn batch_rows(columns: usize) -> usize {
    BATCH_ROWS.min(MAX_PARAMS / columns.max(1)).max(1)
}

/// 22P04: a line of COPY input that does not fit the table.
pub fn bad_format(line: u64, what: &str) -> SqlError {
    SqlError {
        code: spanlite_sql::sqlstate::BAD_COPY_FILE_FORMAT,
        message: format!("{what} (COPY line {line})"),
    }
}

/// Splits the complete records at the start of `buf` off it (the rest is
/// an incomplete record waiting for more data, unless `last`): each is its
/// fields, `None` for NULL.
pub fn take_records(buf: &mut Vec<u8>, f: &Format, last: bool) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        if rest.is_empty() {
            break;
        }
        // `\.` alone on a line ends the data (psql sends it in the old
        // protocol).
        if !f.csv
            && (rest.starts_with(b"\\.\n")
                || rest.starts_with(b"\\.\r\n")
                || (last && rest == b"\\."))
        {
            start = buf.len();
            break;
        }
        let parsed = if f.csv {
            csv_record(rest, f, last)?
        } else {
            text_record(rest, f, last)?
        };
        let Some((fields, used)) = parsed else {
            break;
        };
        start += used;
        out.push(fields);
    }
    buf.drain(..start);
    Ok(out)
}

/// One text-format record: its fields and the bytes it used (with its
/// newline); `None` when the newline has not come yet.
fn text_record(buf: &[u8], f: &Format, last: bool) -> Result<Option<(Record, usize)>, String> {
    let (line, used) = match buf.iter().position(|&b| b == b'\n') {
        Some(i) => (&buf[..i], i + 1),
        None if last => (buf, buf.len()),
        None => return Ok(None),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = Vec::new();
    for raw in line.split(|&b| b == f.delimiter) {
        if raw == f.null.as_bytes() {
            fields.push(None);
            continue;
        }
        let mut v = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\\' && i + 1 < raw.len() {
                i += 1;
                v.push(match raw[i] {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 8,
                    b'f' => 12,
                    b'v' => 11,
                    other => other,
                });
            } else {
                v.push(raw[i]);
            }
            i += 1;
        }
        fields.push(Some(v));
    }
    Ok(Some((fields, used)))
}

/// One CSV record (quoted fields may hold delimiters, quotes doubled, and
/// newlines): its fields and the bytes it used.
fn csv_record(buf: &[u8], f: &Format, last: bool) -> Result<Option<(Record, usize)>, String> {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut i = 0;
    let end_field =
        |field: &mut Vec<u8>, was_quoted: &mut bool, fields: &mut Vec<Option<Vec<u8>>>| {
            let v = std::mem::take(field);
            if !*was_quoted && v == f.null.as_bytes() {
                fields.push(None);
            } else {
                fields.push(Some(v));
            }
            *was_quoted = false;
        };
    while i < buf.len() {
        let b = buf[i];
        if quoted {
            if b == f.quote {
                if buf.get(i + 1) == Some(&f.quote) {
                    field.push(f.quote);
                    i += 2;
                    continue;
                }
                if i + 1 == buf.len() && !last {
                    return Ok(None);
                }
                quoted = false;
            } else {
                field.push(b);
            }
        } else if b == f.quote && field.is_empty() {
            quoted = true;
            was_quoted = true;
        } else if b == f.delimiter {
            end_field(&mut field, &mut was_quoted, &mut fields);
        } else if b == b'\n' {
            if field.last() == Some(&b'\r') {
                field.pop();
            }
            end_field(&mut field, &mut was_quoted, &mut fields);
            return Ok(Some((fields, i + 1)));
        } else {
            field.push(b);
        }
        i += 1;
    }
    if !last {
        return Ok(None);
    }
    if quoted {
        return Err("unterminated CSV quoted field".to_string());
    }
    end_field(&mut field, &mut was_quoted, &mut fields);
    Ok(Some((fields, buf.len())))
}

/// One row written in `f`'s format, with its newline.
pub fn write_row(row: &[Value], f: &Format, out: &mut Vec<u8>) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            out.push(f.delimiter);
        }
        let Some(text) = super::types::encode(v, 0) else {
            out.extend_from_slice(f.null.as_bytes());
            continue;
        };
        if f.csv {
            let needs = text.is_empty()
                || text
                    .iter()
                    .any(|&b| b == f.delimiter || b == f.quote || b == b'\n' || b == b'\r');
            if needs {
                out.push(f.quote);
                for &b in &text {
                    if b == f.quote {
                        out.push(f.quote);
                    }
                    out.push(b);
                }
                out.push(f.quote);
            } else {
                out.extend_from_slice(&text);
            }
        } else {
            for &b in &text {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b if b == f.delimiter => {
                        out.push(b'\\');
                        out.push(b);
                    }
                    b => out.push(b),
                }
            }
        }
    }
    out.push(b'\n');
}

/// A field's value for a column of type `ty` (text as PostgreSQL's input
/// functions read it).
pub fn field_value(raw: Option<&[u8]>, ty: DataType) -> Result<Value, SqlError> {
    let (oid, _) = super::types::oid_of(Some(ty));
    super::types::decode_param(raw, 0, oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> Format {
        Format::from_options(&[]).unwrap()
    }

    #[test]
    fn text_records_unescape_and_wait_for_their_newline() {
        let mut buf = b"1\ta\\tb\t\\N\n2\tx".to_vec();
        let r = take_records(&mut buf, &text(), false).unwrap();
        assert_eq!(
            r,
            vec![vec![Some(b"1".to_vec()), Some(b"a\tb".to_vec()), None]]
        );
        assert_eq!(buf, b"2\tx");
        let r = take_records(&mut buf, &text(), true).unwrap();
        assert_eq!(r, vec![vec![Some(b"2".to_vec()), Some(b"x".to_vec())]]);
        let mut end = b"3\n\\.\n4\n".to_vec();
        assert_eq!(take_records(&mut end, &text(), true).unwrap().len(), 1);
    }

    #[test]
    fn csv_records_keep_quoted_delimiters_quotes_and_newlines() {
        let csv = Format {
            csv: true,
            delimiter: b',',
            null: String::new(),
            header: false,
            quote: b'"',
        };
        let mut buf =
            b"1,\"a,b\",\"say \"\"hi\"\"\",,\"\"\n2,\"two\nlines\",x,y,z\n3,\"open".to_vec();
        let r = take_records(&mut buf, &csv, false).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0][1].as_deref(), Some(b"a,b".as_slice()));
        assert_eq!(r[0][2].as_deref(), Some(b"say \"hi\"".as_slice()));
        assert_eq!(r[0][3], None, "unquoted empty is NULL");
        assert_eq!(
            r[0][4].as_deref(),
            Some(b"".as_slice()),
            "quoted empty is ''"
        );
        assert_eq!(r[1][1].as_deref(), Some(b"two\nlines".as_slice()));
        assert_eq!(buf, b"3,\"open");
        assert!(take_records(&mut buf, &csv, true).is_err());
        let mut out = Vec::new();
        write_row(
            &[Value::Int(1), Value::Text("a,\"b\"".into()), Value::Null],
            &csv,
            &mut out,
        );
        assert_eq!(out, b"1,\"a,\"\"b\"\"\",\n");
        let mut out = Vec::new();
        write_row(
            &[Value::Text("t\tab\\".into()), Value::Null],
            &text(),
            &mut out,
        );
        assert_eq!(out, b"t\\tab\\\\\t\\N\n");
    }
}
