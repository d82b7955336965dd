//! The statement as text and tokens: parsing (PostgreSQL dialect, with a
//! bound on operators so deep trees are refused before they are built) and
//! the naming rules shared by the binder and the executor.

use sqlparser::ast::{self, ObjectName, ObjectNamePart, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::{Result, SqlError};

/// The most binary operators one statement may have. Operator chains
/// (`1 + 1 + …`) parse into trees as deep as they are long, and trees are
/// walked (and dropped) recursively: this bounds the depth. Nesting by
/// parentheses is bounded by the parser itself.
const MAX_OPERATORS: usize = 2000;

/// Refuses statements with more than [`MAX_OPERATORS`] binary operators
/// (54001), counted on tokens before anything builds a tree.
fn check_operators(tokens: &[TokenWithSpan]) -> Result<()> {
    let mut count = 0usize;
    let mut operand_before = false;
    for t in tokens.iter().map(|t| &t.token) {
        if matches!(t, Token::Whitespace(_)) {
            continue;
        }
        if *t == Token::SemiColon {
            count = 0;
        }
        let binary = match t {
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat
            | Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq => operand_before,
            Token::Word(w) => {
                w.quote_style.is_none()
                    && (w.value.eq_ignore_ascii_case("and") || w.value.eq_ignore_ascii_case("or"))
            }
            _ => false,
        };
        if binary {
            count += 1;
            if count > MAX_OPERATORS {
                return Err(SqlError::too_complex(format!(
                    "more than {MAX_OPERATORS} operators in one statement"
                )));
            }
        }
        operand_before = matches!(
            t,
            Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::RParen
                | Token::Placeholder(_)
        ) || matches!(t, Token::Word(w) if !binary && w.keyword == sqlparser::keywords::Keyword::NoKeyword);
    }
    Ok(())
}

/// Parses `sql` (PostgreSQL dialect) into statements; 42601 on errors,
/// 54001 for statements too large to take apart safely.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    check_operators(&tokens)?;
    Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// An identifier as Spanlite names things: unquoted ones fold to lower case.
pub(crate) fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

pub(crate) fn object_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Ok(ident(i)),
        _ => Err(SqlError::not_supported(format!(
            "qualified name {name}: there are no schemas"
        ))),
    }
}

pub(crate) fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
