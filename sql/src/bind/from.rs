//! FROM items: tables, subqueries, `unnest` and the JSON set-returning
//! functions, each added to the block's scope; and a FROM item's whole row
//! as a JSON object (`row_to_json(t)`).

use super::*;

impl Binder<'_> {
    /// Adds the bound subquery `bound` (a derived table, or `unnest`) to
    /// the current block as `entry_name` with columns `names`, at `offset`.
    pub(super) fn add_derived(
        &mut self,
        bound: crate::plan::Query,
        entry_name: String,
        names: Vec<String>,
        lateral: bool,
        (kind, on, offset): (JoinKind, Option<Expr>, usize),
        items: &mut Vec<Item>,
    ) {
        let width = names.len();
        let types: Vec<Option<DataType>> = bound.columns.iter().map(|c| c.1).collect();
        self.scope()
            .add_entry(entry_name.clone(), names, offset, bound.declared(), types);
        items.push(Item {
            source: Source::Derived {
                query: Box::new(bound),
                alias: entry_name,
                offset,
                width,
                filter: None,
                lateral,
            },
            kind,
            on,
            using: Vec::new(),
            offset,
            width,
        });
    }

    /// Adds `unnest(arrays)` or a JSON set-returning function over
    /// `args[0]` to the block's FROM items. After other FROM items it is
    /// bound as a LATERAL subquery, so its arguments may name them; first
    /// in a FROM, its arguments name only enclosing queries.
    fn add_set_function(
        &mut self,
        args: &[&Expr],
        source: SetSource<'_>,
        (kind, on, offset): (JoinKind, Option<Expr>, usize),
        items: &mut Vec<Item>,
    ) -> Result<()> {
        let lateral = !items.is_empty();
        if lateral {
            self.scopes.push(Scope::default());
        }
        let arrays = args
            .iter()
            .map(|e| self.expr(e))
            .collect::<Result<Vec<_>>>();
        // unnest's columns: its arrays' element types, where known.
        // (regexp_matches' rows are text arrays.)
        let elements: Vec<Option<DataType>> = arrays
            .iter()
            .flatten()
            .map(|a| match a {
                BExpr::Func(crate::plan::Func::RegexpMatchesAll, _) => DataType::Text.array().ok(),
                a => self.type_of(a).and_then(DataType::element),
            })
            .collect();
        if lateral {
            self.scopes.pop();
        }
        let arrays = arrays?;
        let alias = source.alias;
        let default_name = source.json.map_or("unnest", Rows::name);
        let entry_name = alias_of(alias).unwrap_or_else(|| default_name.to_string());
        check_unique(self.scope(), &entry_name)?;
        let mut record = Vec::new();
        let (mut names, mut types): (Vec<String>, Vec<Option<DataType>>) = match source.json {
            None => (vec!["unnest".to_string(); arrays.len()], elements),
            Some(rows @ Rows::Records { .. }) => {
                // Its columns are what the alias defines (`AS x(a int, b
                // text)`), as PostgreSQL requires for a function that
                // returns records.
                let defined = alias.as_ref().map_or(&[][..], |a| a.columns.as_slice());
                if defined.is_empty() || defined.iter().any(|c| c.data_type.is_none()) {
                    return Err(SqlError::syntax(format!(
                        "a column definition list is required for functions returning \"record\" ({})",
                        rows.name()
                    )));
                }
                for c in defined {
                    if let Some(t) = &c.data_type {
                        record.push((ident(&c.name), DataType::from_sql(t)?));
                    }
                }
                (
                    record.iter().map(|(n, _)| n.clone()).collect(),
                    record.iter().map(|(_, t)| Some(*t)).collect(),
                )
            }
            Some(rows) => {
                let value = if rows.text() {
                    DataType::Text
                } else {
                    DataType::Jsonb
                };
                let types = match rows {
                    Rows::Each { .. } => vec![Some(DataType::Text), Some(value)],
                    Rows::Elements { .. } | Rows::Keys | Rows::Records { .. } => vec![Some(value)],
                };
                (
                    rows.columns().iter().map(|c| c.to_string()).collect(),
                    types,
                )
            }
        };
        // A function of one column of a plain type takes the alias's
        // name (PostgreSQL's rule; `jsonb_array_elements`' column is an
        // output parameter named `value`, and keeps it).
        let scalar = match source.json {
            None => arrays.len() == 1,
            Some(rows) => rows == Rows::Keys,
        };
        if scalar && alias.as_ref().is_some_and(|a| a.columns.is_empty()) {
            names[0] = entry_name.clone();
        }
        if source.ordinality {
            names.push("ordinality".to_string());
            types.push(Some(DataType::Int));
        }
        rename(&mut names, alias)?;
        let bound = crate::plan::Query {
            body: Body::Unnest {
                arrays,
                ordinality: source.ordinality,
                json: source.json,
                record,
            },
            order: Vec::new(),
            limit: None,
            offset: None,
            columns: names.iter().cloned().zip(types).collect(),
            distinct_on: 0,
        };
        // (Records are records even of one column.)
        let one_column = names.len() == 1 && !matches!(source.json, Some(Rows::Records { .. }));
        self.add_derived(bound, entry_name, names, lateral, (kind, on, offset), items);
        if let Some(entry) = self.scope().entries.last_mut() {
            entry.scalar = one_column;
        }
        Ok(())
    }

    /// Adds a FROM item (a table or a subquery) to the current block.
    pub(super) fn add_item(
        &mut self,
        factor: &TableFactor,
        kind: JoinKind,
        on: Option<Expr>,
        for_update: bool,
        items: &mut Vec<Item>,
    ) -> Result<()> {
        let offset = self.scope().width();
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                partitions,
                ..
            } if with_hints.is_empty() && partitions.is_empty() => {
                let def = self.table(name)?;
                let entry_name = alias_of(alias).unwrap_or_else(|| def.name.clone());
                check_unique(self.scope(), &entry_name)?;
                let mut names: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
                rename(&mut names, alias)?;
                let width = names.len();
                self.scope().add_entry(
                    entry_name.clone(),
                    names,
                    offset,
                    def.columns.iter().map(|c| c.width),
                    def.columns.iter().map(|c| Some(c.ty)),
                );
                items.push(Item {
                    source: Source::Scan(Box::new(Scan {
                        table: def.clone(),
                        alias: entry_name,
                        offset,
                        width: 0,
                        access: Access::Full,
                        filter: None,
                        for_update,
                        lock_wait: LockWait::Wait,
                        rows: Vec::new(),
                        keys: Vec::new(),
                    })),
                    kind,
                    on,
                    using: Vec::new(),
                    offset,
                    width,
                });
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality,
            } => {
                let arrays: Vec<&Expr> = array_exprs.iter().collect();
                let source = SetSource {
                    json: None,
                    alias,
                    ordinality: *with_ordinality,
                };
                self.add_set_function(&arrays, source, (kind, on, offset), items)?;
            }
            // `pg_catalog.unnest(…)` (as psql's `\d+` writes it): the
            // parser makes an UNNEST of the plain name only.
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_ordinality,
                ..
            } if is_unnest(name) => {
                let arrays = args
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                        _ => Err(SqlError::not_supported("unnest with named or * arguments")),
                    })
                    .collect::<Result<Vec<&Expr>>>()?;
                let source = SetSource {
                    json: None,
                    alias,
                    ordinality: *with_ordinality,
                };
                self.add_set_function(&arrays, source, (kind, on, offset), items)?;
            }
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_ordinality,
                ..
            } if json_rows(name).is_some() => {
                let rows = json_rows(name).ok_or_else(|| SqlError::internal("no JSON function"))?;
                let doc = json_rows_argument(rows, &args.args)?;
                let source = SetSource {
                    json: Some(rows),
                    alias,
                    ordinality: *with_ordinality,
                };
                self.add_set_function(&[doc], source, (kind, on, offset), items)?;
            }
            TableFactor::Function {
                name, args, alias, ..
            } if json_rows(name).is_some() => {
                let rows = json_rows(name).ok_or_else(|| SqlError::internal("no JSON function"))?;
                let doc = json_rows_argument(rows, args)?;
                let source = SetSource {
                    json: Some(rows),
                    alias,
                    ordinality: false,
                };
                self.add_set_function(&[doc], source, (kind, on, offset), items)?;
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
            } => {
                if *lateral && matches!(kind, JoinKind::Right | JoinKind::Full) {
                    return Err(SqlError::invalid_column_reference(
                        "the combining JOIN type must be INNER or LEFT for a LATERAL reference",
                    ));
                }
                // The subquery cannot see this block's other FROM items
                // unless LATERAL: bind it with this block's scope set
                // aside.
                let bound = if *lateral {
                    self.query(subquery)?
                } else {
                    let current = self.scopes.pop().unwrap_or_default();
                    let bound = self.query(subquery);
                    self.scopes.push(current);
                    bound?
                };
                let entry_name = alias_of(alias).unwrap_or_else(|| "subquery".to_string());
                check_unique(self.scope(), &entry_name)?;
                let mut names: Vec<String> = bound.columns.iter().map(|c| c.0.clone()).collect();
                rename(&mut names, alias)?;
                self.add_derived(
                    bound,
                    entry_name,
                    names,
                    *lateral,
                    (kind, on, offset),
                    items,
                );
            }
            other => {
                return Err(SqlError::not_supported(format!("FROM {other}")));
            }
        }
        Ok(())
    }

    /// `e` as a row's JSON object when it is a whole-row reference (the
    /// name of a FROM item, not of a column): `json_build_object('a', t.a,
    /// …)` over the item's columns, for the JSON functions that take a row
    /// (`row_to_json(t)`, `to_jsonb(t)`, `json_agg(t)`); `None` otherwise.
    pub(super) fn whole_row(&self, e: &Expr) -> Option<Expr> {
        let Expr::Identifier(id) = e else {
            return None;
        };
        let name = ident(id);
        for scope in self.scopes.iter().rev() {
            let column = scope.entries.iter().any(|e| {
                e.columns
                    .iter()
                    .enumerate()
                    .any(|(c, x)| *x == name && !e.hidden.contains(&c))
            });
            if column {
                return None;
            }
            let Some(entry) = scope.entries.iter().find(|e| e.name == name) else {
                continue;
            };
            let quoted = |s: &str| ast::Ident::with_quote('"', s);
            let args = entry
                .columns
                .iter()
                .flat_map(|c| {
                    [
                        Expr::Value(ast::Value::SingleQuotedString(c.clone()).into()),
                        Expr::CompoundIdentifier(vec![quoted(&entry.name), quoted(c)]),
                    ]
                })
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect();
            return Some(Expr::Function(ast::Function {
                name: ast::ObjectName::from(vec![ast::Ident::new("json_build_object")]),
                uses_odbc_syntax: false,
                parameters: ast::FunctionArguments::None,
                args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                    duplicate_treatment: None,
                    args,
                    clauses: Vec::new(),
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: Vec::new(),
            }));
        }
        None
    }
}

/// How a set-returning function in a FROM is named and what it gives.
struct SetSource<'a> {
    /// `None`: `unnest`.
    json: Option<Rows>,
    alias: &'a Option<ast::TableAlias>,
    ordinality: bool,
}

/// The JSON set-returning function a FROM item calls, if it calls one.
/// `unnest` or `pg_catalog.unnest`.
fn is_unnest(name: &ast::ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(ident))
        .collect();
    matches!(
        parts
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["unnest"] | ["pg_catalog", "unnest"]
    )
}

fn json_rows(name: &ast::ObjectName) -> Option<Rows> {
    Rows::of(&object_name(name).ok()?)
}

fn alias_of(alias: &Option<ast::TableAlias>) -> Option<String> {
    alias.as_ref().map(|a| ident(&a.name))
}

/// 42712 unless `name` is new among the block's FROM items.
fn check_unique(scope: &Scope, name: &str) -> Result<()> {
    if scope.entries.iter().any(|e| e.name == name) {
        return Err(SqlError::duplicate_alias(format!(
            "table name \"{name}\" specified more than once"
        )));
    }
    Ok(())
}

/// `columns` renamed by the alias's column list (which may name fewer).
fn rename(columns: &mut [String], alias: &Option<ast::TableAlias>) -> Result<()> {
    if let Some(a) = alias {
        if a.columns.len() > columns.len() {
            return Err(SqlError::syntax(format!(
                "table \"{}\" has {} columns available but {} columns specified",
                ident(&a.name),
                columns.len(),
                a.columns.len()
            )));
        }
        for (c, new) in columns.iter_mut().zip(&a.columns) {
            *c = ident(&new.name);
        }
    }
    Ok(())
}

/// The one plain argument of a JSON set-returning function in a FROM
/// (42883 for any other count, as PostgreSQL has no such function).
fn json_rows_argument(rows: Rows, args: &[FunctionArg]) -> Result<&Expr> {
    match args {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Ok(e),
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(_)), ..] | [] => {
            Err(SqlError::undefined_function(format!(
                "function {}() with {} arguments does not exist",
                rows.name(),
                args.len()
            )))
        }
        _ => Err(SqlError::not_supported(format!(
            "{} with named or * arguments",
            rows.name()
        ))),
    }
}

/// `FOR UPDATE OF a, b`: only the tables the query names `a` and `b` lock
/// their rows (the others are read as without FOR UPDATE); a name that is
/// no table of the FROM clause is 42P01, as in PostgreSQL.
pub(super) fn lock_only(select: &mut Select, names: &[String]) -> Result<()> {
    for name in names {
        let named = select.steps.iter().any(|step| match &step.source {
            Source::Scan(scan) => &scan.alias == name,
            _ => false,
        });
        if !named {
            return Err(SqlError::undefined_table(format!(
                "relation \"{name}\" in FOR UPDATE clause not found in FROM clause"
            )));
        }
    }
    for step in &mut select.steps {
        if let Source::Scan(scan) = &mut step.source {
            scan.for_update &= names.contains(&scan.alias);
        }
    }
    Ok(())
}

/// Marks the one table of a `SELECT … FOR UPDATE NOWAIT` or `SKIP
/// LOCKED` block with `wait`. Its rows are locked one by one as the query
/// would return them (after its conditions and ORDER BY, up to LIMIT):
/// so the block reads one table, with no grouping, aggregate, window or
/// DISTINCT (PostgreSQL refuses FOR UPDATE with those too).
pub(super) fn one_locked_scan(select: &mut Select, wait: LockWait) -> Result<()> {
    let what = if wait == LockWait::NoWait {
        "FOR UPDATE NOWAIT"
    } else {
        "FOR UPDATE SKIP LOCKED"
    };
    if select.grouping.is_some() || !select.windows.is_empty() || select.distinct {
        return Err(SqlError::not_supported(format!(
            "{what} with GROUP BY, aggregates, window functions or DISTINCT"
        )));
    }
    match select.steps.as_mut_slice() {
        [step] => match &mut step.source {
            Source::Scan(scan) => {
                scan.lock_wait = wait;
                Ok(())
            }
            _ => Err(SqlError::not_supported(format!(
                "{what} on a subquery or function in FROM"
            ))),
        },
        _ => Err(SqlError::not_supported(format!(
            "{what} over more than one FROM item (joins)"
        ))),
    }
}
