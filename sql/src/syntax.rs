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
    let mut tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax(e.to_string()))?;
    check_operators(&tokens)?;
    copy_booleans(&mut tokens);
    key_locks(&mut tokens);
    let statements = split_statements(&tokens);
    if !statements.iter().any(|t| own_form(t).is_some()) {
        return parse_tokens(tokens);
    }
    // Forms sqlparser does not take: parsed here, one statement at a time.
    let mut out = Vec::new();
    for t in statements {
        match own_form(t) {
            None => out.extend(parse_tokens(t.to_vec())?),
            Some(OwnForm::User) => {
                // CREATE/ALTER USER is CREATE/ALTER ROLE; CREATE USER
                // defaults to LOGIN.
                let mut t = t.to_vec();
                let creates = first_word(&t, 0).is_some_and(|w| w.eq_ignore_ascii_case("create"));
                if let Some(i) = word_index(&t, 1) {
                    t[i].token = Token::make_keyword("ROLE");
                }
                for mut stmt in parse_tokens(t)? {
                    if let Statement::CreateRole { login, .. } = &mut stmt
                        && creates
                        && login.is_none()
                    {
                        *login = Some(true);
                    }
                    out.push(stmt);
                }
            }
            Some(OwnForm::Membership) => out.push(role_membership(t)?),
            Some(OwnForm::Maintenance) => out.push(maintenance(t)?),
        }
    }
    Ok(out)
}

fn parse_tokens(tokens: Vec<TokenWithSpan>) -> Result<Vec<Statement>> {
    Parser::new(&PostgreSqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| SqlError::syntax(e.to_string()))
}

/// COPY's boolean options (`FREEZE`, `HEADER`) take any of PostgreSQL's
/// spellings of a boolean (`on`, `off`, `yes`, `no`, `1`, `0`); sqlparser
/// takes only TRUE and FALSE, so the others are spelled so here.
/// `FOR NO KEY UPDATE` and `FOR KEY SHARE`, which the parser takes
/// neither of, are taken as `FOR UPDATE` and `FOR SHARE`: a stronger lock
/// than asked for (PostgreSQL's weaker two let only foreign-key checks
/// through), never a weaker one.
fn key_locks(tokens: &mut Vec<TokenWithSpan>) {
    let word = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
        _ => None,
    };
    let words: Vec<usize> = (0..tokens.len())
        .filter(|i| !matches!(tokens[*i].token, Token::Whitespace(_)))
        .collect();
    let mut dropped = Vec::new();
    for (at, &i) in words.iter().enumerate() {
        if word(&tokens[i]).as_deref() != Some("for") {
            continue;
        }
        let next = |k: usize| words.get(at + k).and_then(|&j| word(&tokens[j]));
        match (next(1).as_deref(), next(2).as_deref(), next(3).as_deref()) {
            (Some("no"), Some("key"), Some("update")) => {
                dropped.extend([words[at + 1], words[at + 2]])
            }
            (Some("key"), Some("share"), _) => dropped.push(words[at + 1]),
            _ => {}
        }
    }
    let mut i = 0;
    tokens.retain(|_| {
        i += 1;
        !dropped.contains(&(i - 1))
    });
}

fn copy_booleans(tokens: &mut [TokenWithSpan]) {
    let mut in_copy = false;
    let mut at_start = true;
    let mut after_option = false;
    for t in tokens.iter_mut() {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        if t.token == Token::SemiColon {
            (in_copy, at_start, after_option) = (false, true, false);
            continue;
        }
        let word = match &t.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_lowercase()),
            Token::Number(n, _) => Some(n.clone()),
            _ => None,
        };
        if at_start {
            in_copy = word.as_deref() == Some("copy");
            at_start = false;
            continue;
        }
        if !in_copy {
            continue;
        }
        if after_option {
            match word.as_deref() {
                Some("on" | "yes" | "1") => t.token = Token::make_keyword("TRUE"),
                Some("off" | "no" | "0") => t.token = Token::make_keyword("FALSE"),
                _ => {}
            }
        }
        after_option = matches!(word.as_deref(), Some("freeze" | "header"));
    }
}

/// VACUUM or ANALYZE (PostgreSQL's forms) as sqlparser's statements:
/// `Statement::Vacuum` (`full` kept) or `Statement::Analyze`, naming the
/// one table given (an `Analyze` with an empty name: every table).
fn maintenance(tokens: &[TokenWithSpan]) -> Result<Statement> {
    let mut tokens: Vec<TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon))
        .cloned()
        .collect();
    let is = |t: &TokenWithSpan, w: &str| matches!(&t.token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let vacuum = is(&tokens[0], "vacuum");
    let mut i = 1;
    let mut full = false;
    // VACUUM's options, new style: `(FULL, ANALYZE true, …)`.
    if vacuum && tokens.get(i).is_some_and(|t| t.token == Token::LParen) {
        let mut depth = 0;
        while let Some(t) = tokens.get(i) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => full |= is(t, "full"),
            }
            i += 1;
            if depth == 0 {
                break;
            }
        }
    }
    let options: &[&str] = if vacuum {
        &["full", "freeze", "verbose", "analyze", "analyse"]
    } else {
        &["verbose"]
    };
    while let Some(t) = tokens.get(i) {
        if !options.iter().any(|o| is(t, o)) {
            break;
        }
        full |= is(t, "full");
        i += 1;
    }
    let rest = tokens.split_off(i);
    let mut table: Option<ObjectName> = None;
    if !rest.is_empty() {
        let mut parser = Parser::new(&PostgreSqlDialect {}).with_tokens_with_locations(rest);
        let names = parser
            .parse_comma_separated(|p| {
                let name = p.parse_object_name(false)?;
                // Columns to analyze: not kept (there are no statistics).
                if p.consume_token(&Token::LParen) {
                    p.parse_comma_separated(|p| p.parse_identifier())?;
                    p.expect_token(&Token::RParen)?;
                }
                Ok(name)
            })
            .map_err(|e| SqlError::syntax(e.to_string()))?;
        parser
            .expect_token(&Token::EOF)
            .map_err(|e| SqlError::syntax(e.to_string()))?;
        if names.len() > 1 {
            return Err(SqlError::not_supported(
                "VACUUM or ANALYZE of several tables in one statement: one at a time",
            ));
        }
        table = names.into_iter().next();
    }
    if vacuum {
        return Ok(Statement::Vacuum(sqlparser::ast::VacuumStatement {
            full,
            sort_only: false,
            delete_only: false,
            reindex: false,
            recluster: false,
            table_name: table,
            threshold: None,
            boost: false,
        }));
    }
    Ok(Statement::Analyze {
        table_name: table.unwrap_or(ObjectName(Vec::new())),
        partitions: None,
        for_columns: false,
        columns: Vec::new(),
        cache_metadata: false,
        noscan: false,
        compute_statistics: false,
        has_table_keyword: false,
    })
}

/// The statements of `tokens`, split at semicolons (a semicolon inside a
/// string literal is inside one token), each with its semicolon.
fn split_statements(tokens: &[TokenWithSpan]) -> Vec<&[TokenWithSpan]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.token == Token::SemiColon {
            out.push(&tokens[start..=i]);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        out.push(&tokens[start..]);
    }
    out
}

/// Statements in forms sqlparser does not parse (as PostgreSQL writes
/// them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnForm {
    /// `VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [table]`,
    /// `ANALYZE [VERBOSE] [table [(columns)]]`.
    Maintenance,
    /// `CREATE USER …` / `ALTER USER …`.
    User,
    /// `GRANT role [, …] TO role [, …]` / `REVOKE role [, …] FROM …`.
    Membership,
}

/// The position of the `n`th word-or-symbol token (whitespace skipped).
fn word_index(tokens: &[TokenWithSpan], n: usize) -> Option<usize> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .nth(n)
        .map(|(i, _)| i)
}

/// The `n`th significant token, if it is an unquoted word.
fn first_word(tokens: &[TokenWithSpan], n: usize) -> Option<&str> {
    match &tokens[word_index(tokens, n)?].token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.as_str()),
        _ => None,
    }
}

fn own_form(tokens: &[TokenWithSpan]) -> Option<OwnForm> {
    let first = first_word(tokens, 0)?;
    if ["vacuum", "analyze", "analyse"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
    {
        return Some(OwnForm::Maintenance);
    }
    let second = first_word(tokens, 1);
    if (first.eq_ignore_ascii_case("create") || first.eq_ignore_ascii_case("alter"))
        && second.is_some_and(|w| w.eq_ignore_ascii_case("user"))
    {
        return Some(OwnForm::User);
    }
    if first.eq_ignore_ascii_case("grant") || first.eq_ignore_ascii_case("revoke") {
        // A privilege grant always says ON <objects>; a membership never.
        let on = tokens.iter().any(
            |t| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("on")),
        );
        return (!on).then_some(OwnForm::Membership);
    }
    None
}

/// Parses `GRANT role [, …] TO role [, …]` or `REVOKE role [, …] FROM role
/// [, …] [CASCADE | RESTRICT]` into a GRANT/REVOKE whose privileges are
/// `Action::Role`s and whose objects are none.
fn role_membership(tokens: &[TokenWithSpan]) -> Result<Statement> {
    use sqlparser::ast::{Action, Grantee, GranteeName, GranteesType, Privileges};
    let words: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon | Token::EOF))
        .collect();
    let is_word = |t: &Token, kw: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    let grant = words.first().is_some_and(|t| is_word(t, "grant"));
    let (to, usage) = if grant {
        ("to", "GRANT role [, …] TO role [, …]")
    } else {
        ("from", "REVOKE role [, …] FROM role [, …]")
    };
    let bad = || SqlError::syntax(format!("expected {usage}"));
    let ident_of = |t: &Token| -> Option<ast::Ident> {
        match t {
            Token::Word(w) => Some(ast::Ident {
                value: w.value.clone(),
                quote_style: w.quote_style,
                span: sqlparser::tokenizer::Span::empty(),
            }),
            _ => None,
        }
    };
    // A comma-separated list of names starting at `i`; returns them and
    // the index after the list.
    let list = |mut i: usize| -> Result<(Vec<ast::Ident>, usize)> {
        let mut names = Vec::new();
        loop {
            let name = words.get(i).and_then(|t| ident_of(t)).ok_or_else(bad)?;
            names.push(name);
            i += 1;
            if words.get(i) == Some(&&Token::Comma) {
                i += 1;
            } else {
                return Ok((names, i));
            }
        }
    };
    let (roles, i) = list(1)?;
    if !words.get(i).is_some_and(|t| is_word(t, to)) {
        if words
            .get(i)
            .is_some_and(|t| is_word(t, "option") || is_word(t, "for"))
        {
            return Err(SqlError::not_supported("ADMIN OPTION of role memberships"));
        }
        return Err(bad());
    }
    let (members, mut i) = list(i + 1)?;
    if !grant
        && words
            .get(i)
            .is_some_and(|t| is_word(t, "cascade") || is_word(t, "restrict"))
    {
        i += 1;
    }
    if let Some(rest) = words.get(i) {
        if is_word(rest, "with") || is_word(rest, "granted") {
            return Err(SqlError::not_supported(
                "WITH ADMIN OPTION / GRANTED BY on role memberships",
            ));
        }
        return Err(bad());
    }
    let name = |i: ast::Ident| ObjectName(vec![ObjectNamePart::Identifier(i)]);
    let privileges = Privileges::Actions(
        roles
            .into_iter()
            .map(|r| Action::Role { role: name(r) })
            .collect(),
    );
    let grantees = members
        .into_iter()
        .map(|m| {
            if m.quote_style.is_none() && m.value.eq_ignore_ascii_case("public") {
                Grantee {
                    grantee_type: GranteesType::Public,
                    name: None,
                }
            } else {
                Grantee {
                    grantee_type: GranteesType::None,
                    name: Some(GranteeName::ObjectName(name(m))),
                }
            }
        })
        .collect();
    Ok(if grant {
        Statement::Grant {
            privileges,
            objects: None,
            grantees,
            with_grant_option: false,
            as_grantor: None,
            granted_by: None,
            current_grants: None,
        }
    } else {
        Statement::Revoke {
            privileges,
            objects: None,
            grantees,
            granted_by: None,
            cascade: None,
        }
    })
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

/// Whether `q` only reads: it is no `WITH … UPDATE/DELETE/INSERT`, and
/// has no locking clause (`FOR UPDATE`, `FOR SHARE`) anywhere — at its
/// top, in a subquery in FROM, or in one inside an expression. Only such a
/// query may run as a read-only transaction.
pub fn reads_only(q: &sqlparser::ast::Query) -> bool {
    use sqlparser::ast::SetExpr;
    !matches!(
        *q.body,
        SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Insert(_)
    ) && !locks_rows(q)
}

/// Whether `q` has a locking clause or a data-modifying statement anywhere
/// (see [`reads_only`]).
fn locks_rows(q: &sqlparser::ast::Query) -> bool {
    use sqlparser::ast::{Visit, Visitor};
    struct Locks;
    impl Visitor for Locks {
        type Break = ();
        fn pre_visit_query(&mut self, q: &sqlparser::ast::Query) -> std::ops::ControlFlow<()> {
            // A data-modifying statement in a WITH writes too.
            let writes = matches!(
                *q.body,
                sqlparser::ast::SetExpr::Update(_)
                    | sqlparser::ast::SetExpr::Delete(_)
                    | sqlparser::ast::SetExpr::Insert(_)
            );
            if q.locks.is_empty() && !writes {
                std::ops::ControlFlow::Continue(())
            } else {
                std::ops::ControlFlow::Break(())
            }
        }
    }
    q.visit(&mut Locks).is_break()
}
