//! What the driver must know about a statement's text before sending it,
//! found by a small lexer (not a parser):
//!
//! - that it is **exactly one statement**. The server runs every statement
//!   of a `;`-separated script, but the driver reads the answer to one
//!   (one `CommandComplete` or `SqlError`); `INSERT …; COMMIT` would run a
//!   `COMMIT` the driver never saw. An empty text would get no answer at all.
//! - its **kind**: a read can be re-sent to another node after the
//!   connection broke mid-flight; a write cannot (it may have committed);
//!   transaction control belongs to [`Transaction`](crate::Transaction).
//!
//! The lexer knows what can hide a `;` or a keyword in PostgreSQL's
//! syntax: `-- line` and nested `/* block */` comments, `'strings'` (with
//! `''` inside, and `\'` inside `E'…'`), `"identifiers"` and `$tag$ dollar
//! quotes $tag$`. Text it cannot make sense of (an unterminated string) is
//! sent as it is; the server reports the syntax error.
//!
//! NB: "read" is decided by the first keyword only: `SELECT`, `SHOW`,
//! `EXPLAIN` (but not `EXPLAIN ANALYZE` or `EXPLAIN (…)`, which may run the
//! statement). `WITH …` counts as a write, since a CTE may modify data.

use crate::error::{Error, Result};

/// What a single statement does, as far as retrying it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatementKind {
    /// Reads only: safe to send again after a broken connection.
    Read,
    /// May write (or do anything else).
    Write,
    /// `BEGIN`, `START`, `COMMIT`, `END`, `ROLLBACK`, `ABORT`.
    TransactionControl,
}

/// Checks that `sql` is one statement (a trailing `;` is fine) and says
/// what kind; [`Error::Usage`] for none or several.
pub(crate) fn classify(sql: &str) -> Result<StatementKind> {
    let Some(words) = Lexer::new(sql).leading_words()? else {
        return Err(Error::Usage(
            "no SQL statement given (only whitespace or comments)".into(),
        ));
    };
    let first = words.first().map(String::as_str);
    let second = words.get(1).map(String::as_str);
    Ok(match (first, second) {
        // EXPLAIN ANALYZE (or `EXPLAIN (ANALYZE) …`) runs the statement.
        (Some("EXPLAIN"), Some("ANALYZE" | "ANALYSE") | None) => StatementKind::Write,
        (Some("SELECT" | "SHOW" | "EXPLAIN"), _) => StatementKind::Read,
        (Some("BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"), _) => {
            StatementKind::TransactionControl
        }
        _ => StatementKind::Write,
    })
}

/// A lexer over SQL text that sees only what matters here: words, and the
/// `;` between statements.
struct Lexer<'a> {
    sql: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str) -> Self {
        Self { sql, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.sql[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The words (upper-cased) among the statement's first two tokens, up to
    /// the first token that is not a word; `None` if there is no statement,
    /// an error if there are several.
    fn leading_words(mut self) -> Result<Option<Vec<String>>> {
        let mut words = Vec::new();
        // Once a token that is not a leading word has been seen, no more
        // words are collected.
        let mut leading = true;
        let mut statements = 0;
        let mut in_statement = false;
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            if self.rest().starts_with("--") {
                self.skip_line_comment();
                continue;
            }
            if self.rest().starts_with("/*") {
                self.skip_block_comment();
                continue;
            }
            if c == ';' {
                self.pos += 1;
                in_statement = false;
                continue;
            }
            if !in_statement {
                in_statement = true;
                statements += 1;
                if statements > 1 {
                    return Err(Error::Usage(
                        "several SQL statements given: the driver sends one statement per call"
                            .into(),
                    ));
                }
            }
            if is_word_start(c) {
                let word = self.word();
                if leading && words.len() < 2 {
                    words.push(word.to_ascii_uppercase());
                }
                // E'…' is one token: a string with backslash escapes.
                if word.eq_ignore_ascii_case("e") && self.peek() == Some('\'') {
                    leading = false;
                    self.skip_quoted('\'', true);
                }
                continue;
            }
            leading = false;
            match c {
                '\'' => self.skip_quoted('\'', false),
                '"' => self.skip_quoted('"', false),
                '$' => self.skip_dollar(),
                _ => self.pos += c.len_utf8(),
            }
        }
        Ok((statements == 1).then_some(words))
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_word_char(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.sql[start..self.pos]
    }

    fn skip_line_comment(&mut self) {
        self.pos = self
            .rest()
            .find('\n')
            .map_or(self.sql.len(), |i| self.pos + i);
    }

    /// `/* … */`, nested as PostgreSQL nests them.
    fn skip_block_comment(&mut self) {
        let mut depth = 0usize;
        while !self.rest().is_empty() {
            if self.rest().starts_with("/*") {
                depth += 1;
                self.pos += 2;
            } else if self.rest().starts_with("*/") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += self.peek().map_or(1, char::len_utf8);
            }
        }
    }

    /// A `quote`-delimited token starting at the current position, where a
    /// doubled quote stands for itself (and, with `backslash`, so does `\'`).
    fn skip_quoted(&mut self, quote: char, backslash: bool) {
        self.pos += quote.len_utf8();
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            if backslash && c == '\\' {
                self.pos += self.peek().map_or(0, char::len_utf8);
            } else if c == quote {
                if self.peek() == Some(quote) {
                    self.pos += quote.len_utf8();
                } else {
                    return;
                }
            }
        }
    }

    /// `$tag$ … $tag$` (tag possibly empty); a `$` that starts no such quote
    /// (`$1`) is just a character.
    fn skip_dollar(&mut self) {
        let rest = self.rest();
        let tag_len = rest[1..]
            .find(|c: char| !is_word_char(c) || c == '$')
            .filter(|&i| rest[1 + i..].starts_with('$'))
            .filter(|&i| i == 0 || !rest[1..].starts_with(|c: char| c.is_ascii_digit()));
        let Some(tag_len) = tag_len else {
            self.pos += 1;
            return;
        };
        let delimiter = &rest[..tag_len + 2];
        let body = &rest[delimiter.len()..];
        self.pos += delimiter.len()
            + body
                .find(delimiter)
                .map_or(body.len(), |i| i + delimiter.len());
    }
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

#[cfg(test)]
mod tests {
    use super::StatementKind::*;
    use super::*;

    #[track_caller]
    fn kind(sql: &str) -> StatementKind {
        classify(sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"))
    }

    #[track_caller]
    fn rejected(sql: &str) -> String {
        match classify(sql) {
            Err(Error::Usage(m)) => m,
            other => panic!("{sql:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn reads_are_select_show_and_explain_whatever_the_case_or_comments() {
        assert_eq!(kind("SELECT 1"), Read);
        assert_eq!(kind("  select * from t;"), Read);
        assert_eq!(
            kind("-- a comment\n/* and /* nested */ one */ Show tables"),
            Read
        );
        assert_eq!(kind("EXPLAIN SELECT 1"), Read);
    }

    #[test]
    fn everything_else_counts_as_a_write() {
        assert_eq!(kind("INSERT INTO t VALUES (1)"), Write);
        assert_eq!(kind("explain analyze delete from t"), Write);
        assert_eq!(kind("EXPLAIN (ANALYZE) DELETE FROM t"), Write);
        assert_eq!(
            kind("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
            Write
        );
        assert_eq!(kind("(SELECT 1)"), Write);
        assert_eq!(kind("selection_is_not_select"), Write);
    }

    #[test]
    fn transaction_control_is_recognised() {
        for sql in [
            "BEGIN",
            "begin read only",
            "START TRANSACTION",
            "COMMIT;",
            "END",
            "ROLLBACK",
            "abort",
        ] {
            assert_eq!(kind(sql), TransactionControl, "{sql}");
        }
    }

    #[test]
    fn empty_text_is_rejected() {
        for sql in ["", "   ", ";", "-- only a comment", "/* x */ ;"] {
            assert!(rejected(sql).contains("no SQL statement"), "{sql:?}");
        }
    }

    #[test]
    fn several_statements_are_rejected() {
        for sql in [
            "SELECT 1; SELECT 2",
            "INSERT INTO t VALUES (1);COMMIT",
            "BEGIN; x",
        ] {
            assert!(rejected(sql).contains("several"), "{sql:?}");
        }
    }

    #[test]
    fn semicolons_in_strings_identifiers_comments_and_dollar_quotes_do_not_count() {
        let one_statement = [
            "SELECT 'a;b'",
            "SELECT 'it''s; fine'",
            r"SELECT E'it\'s; fine'",
            r"SELECT e'\\'; ",
            r#"SELECT "semi;colon" FROM t"#,
            "SELECT 1 -- ; SELECT 2",
            "SELECT 1 /* ; */",
            "SELECT $$a;b$$",
            "SELECT $fn$ ; $x$ ; $fn$",
            "SELECT x FROM t WHERE a = $1 AND b = $2;",
            "SELECT 1;;  ; -- trailing",
            "SELECT 'unterminated; SELECT 2",
        ];
        for sql in one_statement {
            assert_eq!(kind(sql), Read, "{sql:?}");
        }
        // A backslash does not escape in a standard string: the `;` is outside.
        assert!(rejected(r"SELECT 'a\'; SELECT 2").contains("several"));
    }
}
