//! Cutting a request's text into statements with the SQL tokenizer (so
//! semicolons in strings and comments do not split), and cutting out the
//! clauses Spanlite adds to PostgreSQL's grammar before sqlparser sees
//! them:
//!
//! - `AS OF SYSTEM TIME '<RFC 3339>' | '-10s'` after BEGIN, SET
//!   TRANSACTION or a SELECT (a read-only snapshot at that time);
//! - `CONCURRENCY '2pl' | 'occ' | 'ssi' | 'si'` after BEGIN, START
//!   TRANSACTION, SET TRANSACTION or SET SESSION CHARACTERISTICS AS
//!   TRANSACTION.

use std::ops::Range;
use std::time::Duration;

use spanlite_sql::SqlError;
use spanlite_sql::sqlparser::dialect::PostgreSqlDialect;
use spanlite_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use spanlite_truetime::Timestamp;

use spanlite_gateway::{TxnMode, TxnOptions};

/// When a read-only transaction reads: `AS OF SYSTEM TIME` values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum AsOf {
    At(Timestamp),
    Ago(Duration),
}

impl AsOf {
    fn parse(s: &str) -> Result<AsOf, SqlError> {
        let bad =
            |why: String| SqlError::invalid_datetime(format!("AS OF SYSTEM TIME '{s}': {why}"));
        if let Some(ago) = s.trim().strip_prefix('-') {
            let d = humantime::parse_duration(ago.trim()).map_err(|e| bad(e.to_string()))?;
            return Ok(AsOf::Ago(d));
        }
        Timestamp::parse_rfc3339(s.trim())
            .map(AsOf::At)
            .map_err(|e| {
                bad(format!(
                    "{e} (use RFC 3339, or a negative interval like '-10s')"
                ))
            })
    }

    /// Makes `options` a read-only transaction at this time.
    pub(super) fn apply(self, options: &mut TxnOptions) {
        options.read_only = true;
        match self {
            AsOf::At(ts) => options.as_of = Some(ts),
            AsOf::Ago(d) => options.staleness = Some(d),
        }
    }
}

/// One statement's text with Spanlite's clauses cut out, and their values.
#[derive(Debug, PartialEq)]
pub(super) struct Piece {
    pub text: String,
    pub as_of: Option<AsOf>,
    /// `CONCURRENCY '<mode>'` of a BEGIN or SET TRANSACTION.
    pub concurrency: Option<TxnMode>,
}

/// Byte offsets of a tokenizer location (1-based line and column in
/// characters) in `sql`.
fn byte_offsets(sql: &str) -> Vec<Vec<usize>> {
    let mut lines = vec![Vec::new()];
    for (i, c) in sql.char_indices() {
        if let Some(line) = lines.last_mut() {
            line.push(i);
        }
        if c == '\n' {
            lines.push(Vec::new());
        }
    }
    lines
}

/// Splits `sql` into the texts of its statements, at top-level
/// semicolons (not those in strings or comments); what a client sends one
/// by one.
pub fn split_statements(sql: &str) -> Result<Vec<String>, SqlError> {
    Ok(pieces(sql, false)?.into_iter().map(|p| p.text).collect())
}

/// Splits `sql` into statements at top-level semicolons and cuts out
/// Spanlite's clauses (see the module docs).
pub(super) fn split(sql: &str) -> Result<Vec<Piece>, SqlError> {
    pieces(sql, true)
}

fn word(t: &TokenWithSpan, w: &str) -> bool {
    matches!(&t.token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

/// `AS OF SYSTEM TIME '…'` in `tokens`: its value and the index of its
/// last token.
fn find_as_of(tokens: &[&TokenWithSpan]) -> Result<Option<(AsOf, usize, usize)>, SqlError> {
    for i in 0..tokens.len() {
        let s = &tokens[i..];
        if s.len() >= 5
            && word(s[0], "as")
            && word(s[1], "of")
            && word(s[2], "system")
            && word(s[3], "time")
        {
            let Token::SingleQuotedString(value) = &s[4].token else {
                return Err(SqlError::syntax("AS OF SYSTEM TIME takes a quoted time"));
            };
            return Ok(Some((AsOf::parse(value)?, i, i + 4)));
        }
    }
    Ok(None)
}

/// `CONCURRENCY [=] 'mode'` in a statement that opens or sets a
/// transaction: the mode and the indexes of its first and last tokens.
fn find_concurrency(
    tokens: &[&TokenWithSpan],
) -> Result<Option<(TxnMode, usize, usize)>, SqlError> {
    // Not `SET concurrency = …`, which is a setting.
    let opens = match tokens {
        [first, ..] if word(first, "begin") || word(first, "start") => true,
        [first, second, ..] if word(first, "set") => {
            word(second, "transaction") || word(second, "session")
        }
        _ => false,
    };
    if !opens {
        return Ok(None);
    }
    let Some(i) = tokens.iter().position(|t| word(t, "concurrency")) else {
        return Ok(None);
    };
    let value_at = if tokens.get(i + 1).is_some_and(|t| t.token == Token::Eq) {
        i + 2
    } else {
        i + 1
    };
    let value = match tokens.get(value_at).map(|t| &t.token) {
        Some(Token::SingleQuotedString(v)) => v.clone(),
        Some(Token::Word(w)) => w.value.clone(),
        Some(Token::Number(n, _)) => n.clone(),
        _ => {
            return Err(SqlError::syntax(
                "CONCURRENCY takes a quoted mode: '2pl', 'occ', 'ssi' or 'si'",
            ));
        }
    };
    let mode = TxnMode::parse(&value).ok_or_else(|| {
        SqlError::invalid_parameter(format!(
            "invalid concurrency \"{value}\": use '2pl', 'occ', 'ssi' or 'si'"
        ))
    })?;
    Ok(Some((mode, i, value_at)))
}

fn pieces(sql: &str, cut_clauses: bool) -> Result<Vec<Piece>, SqlError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    let lines = byte_offsets(sql);
    let offset = |t: &TokenWithSpan, end: bool| -> usize {
        let loc = if end { t.span.end } else { t.span.start };
        let line = usize::try_from(loc.line).unwrap_or(0);
        let col = usize::try_from(loc.column).unwrap_or(0);
        line.checked_sub(1)
            .and_then(|l| lines.get(l))
            .and_then(|l| {
                col.checked_sub(1)
                    .map(|c| l.get(c).copied().unwrap_or(sql.len()))
            })
            .unwrap_or(sql.len())
    };
    let piece = |chunk: &[&TokenWithSpan]| -> Result<Option<Piece>, SqlError> {
        let significant: Vec<&TokenWithSpan> = chunk
            .iter()
            .copied()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        let (Some(first), Some(last)) = (significant.first(), significant.last()) else {
            return Ok(None);
        };
        let whole = offset(first, false)..offset(last, true);
        let (mut as_of, mut concurrency) = (None, None);
        // Byte ranges of `sql` to leave out, in order.
        let mut cuts: Vec<Range<usize>> = Vec::new();
        if cut_clauses {
            let found_as_of = find_as_of(&significant)?;
            let found_concurrency = find_concurrency(&significant)?;
            for (from, to) in [
                found_as_of.map(|(a, from, to)| {
                    as_of = Some(a);
                    (from, to)
                }),
                found_concurrency.map(|(m, from, to)| {
                    concurrency = Some(m);
                    (from, to)
                }),
            ]
            .into_iter()
            .flatten()
            {
                cuts.push(offset(significant[from], false)..offset(significant[to], true));
            }
            cuts.sort_by_key(|c| c.start);
        }
        let mut text = String::new();
        let mut at = whole.start;
        for cut in cuts.iter().chain(std::iter::once(&(whole.end..whole.end))) {
            text.push_str(sql.get(at..cut.start.max(at)).unwrap_or_default());
            at = at.max(cut.end);
        }
        Ok(Some(Piece {
            text: text.trim().to_string(),
            as_of,
            concurrency,
        }))
    };
    let mut out = Vec::new();
    for chunk in tokens.split(|t| t.token == Token::SemiColon) {
        let chunk: Vec<&TokenWithSpan> = chunk.iter().collect();
        out.extend(piece(&chunk)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(sql: &str) -> Vec<(String, Option<AsOf>)> {
        split(sql)
            .unwrap()
            .into_iter()
            .map(|p| (p.text, p.as_of))
            .collect()
    }

    #[test]
    fn split_cuts_statements_and_as_of_clauses() {
        assert_eq!(
            pieces("SELECT 'a;b'; SELECT 2 ;\n  "),
            vec![("SELECT 'a;b'".into(), None), ("SELECT 2".into(), None)]
        );
        assert_eq!(
            pieces("SELECT * FROM t AS OF SYSTEM TIME '-10s' WHERE x = 'it''s'"),
            vec![(
                "SELECT * FROM t  WHERE x = 'it''s'".into(),
                Some(AsOf::Ago(Duration::from_secs(10)))
            )]
        );
        assert_eq!(
            pieces("BEGIN AS OF SYSTEM TIME '2026-11-23T10:00:00Z';\nSELECT 'é'"),
            vec![
                (
                    "BEGIN".into(),
                    Some(AsOf::At(
                        Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").unwrap()
                    ))
                ),
                ("SELECT 'é'".into(), None)
            ]
        );
        assert!(pieces("  ; -- nothing\n").is_empty());
        assert_eq!(
            split("SELECT 1 AS OF SYSTEM TIME 'yesterday'")
                .unwrap_err()
                .code,
            "22007"
        );
        assert_eq!(
            split("SELECT 1 AS OF SYSTEM TIME 5").unwrap_err().code,
            "42601"
        );
        assert_eq!(split("SELECT 'unterminated").unwrap_err().code, "42601");
    }

    #[test]
    fn split_cuts_concurrency_only_where_a_transaction_is_set() {
        let one = |sql: &str| {
            let mut p = split(sql).unwrap();
            assert_eq!(p.len(), 1, "{sql}");
            let p = p.remove(0);
            (p.text, p.as_of.is_some(), p.concurrency)
        };
        assert_eq!(
            one("BEGIN ISOLATION LEVEL SERIALIZABLE CONCURRENCY 'occ'"),
            (
                "BEGIN ISOLATION LEVEL SERIALIZABLE".into(),
                false,
                Some(TxnMode::Optimistic)
            )
        );
        assert_eq!(
            one("BEGIN CONCURRENCY = ssi AS OF SYSTEM TIME '-1s' READ ONLY"),
            (
                "BEGIN   READ ONLY".into(),
                true,
                Some(TxnMode::SerializableSnapshot)
            )
        );
        assert_eq!(
            one("SET TRANSACTION CONCURRENCY '2pl'"),
            (
                "SET TRANSACTION".into(),
                false,
                Some(TxnMode::TwoPhaseLocking)
            )
        );
        assert_eq!(
            one("SET concurrency = 'occ'"),
            ("SET concurrency = 'occ'".into(), false, None)
        );
        assert_eq!(split("BEGIN CONCURRENCY 'fast'").unwrap_err().code, "22023");
        assert_eq!(split("BEGIN CONCURRENCY").unwrap_err().code, "42601");
        // Kept as written where only statements are split.
        assert_eq!(
            split_statements("BEGIN CONCURRENCY 'occ'; SELECT 1").unwrap(),
            vec![
                "BEGIN CONCURRENCY 'occ'".to_string(),
                "SELECT 1".to_string()
            ]
        );
    }
}
