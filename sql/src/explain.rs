//! EXPLAIN: a bound plan as indented text, one operator per line, with the
//! access path of every table read.

use crate::plan::{Access, BExpr, Body, JoinKind, Query, Scan, Select, SetOp, Source};

/// The lines describing `q`.
pub fn query(q: &Query) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    if q.limit.is_some() || q.offset.is_some() {
        out.push("Limit".to_string());
        depth += 1;
    }
    if !q.order.is_empty() {
        out.push(format!("{}Sort ({} keys)", pad(depth), q.order.len()));
        depth += 1;
    }
    body(&q.body, depth, &mut out);
    out
}

fn pad(depth: usize) -> String {
    "  ".repeat(depth)
}

fn body(b: &Body, depth: usize, out: &mut Vec<String>) {
    match b {
        Body::Values { rows, .. } => {
            out.push(format!("{}Values ({} rows)", pad(depth), rows.len()))
        }
        Body::Unnest {
            json: Some(rows), ..
        } => out.push(format!("{}Function Scan on {}", pad(depth), rows.name())),
        Body::Unnest { arrays, .. } => {
            out.push(format!("{}Unnest ({} arrays)", pad(depth), arrays.len()))
        }
        Body::SetOp {
            op,
            all,
            left,
            right,
            ..
        } => {
            let name = match op {
                SetOp::Union => "Union",
                SetOp::Intersect => "Intersect",
                SetOp::Except => "Except",
            };
            out.push(format!(
                "{}{name}{}",
                pad(depth),
                if *all { " All" } else { "" }
            ));
            body(left, depth + 1, out);
            body(right, depth + 1, out);
        }
        Body::Select(s) => select(s, depth, out),
    }
}

fn select(s: &Select, mut depth: usize, out: &mut Vec<String>) {
    if s.distinct {
        out.push(format!("{}Distinct", pad(depth)));
        depth += 1;
    }
    out.push(format!(
        "{}Project ({} columns)",
        pad(depth),
        s.projection.len()
    ));
    depth += 1;
    if s.having.is_some() {
        out.push(format!("{}Filter (HAVING)", pad(depth)));
        depth += 1;
    }
    if let Some(g) = &s.grouping {
        let sets = if g.sets.is_empty() {
            String::new()
        } else {
            format!(", {} grouping sets", g.sets.len())
        };
        out.push(format!(
            "{}Aggregate ({} group keys{sets}, {} aggregates)",
            pad(depth),
            g.keys.len(),
            g.aggs.len()
        ));
        depth += 1;
    }
    if let Some(f) = &s.filter {
        out.push(format!("{}Filter{}", pad(depth), subqueries(f)));
        depth += 1;
    }
    // Joins, last step outermost.
    joins(s, s.steps.len(), depth, out);
}

fn joins(s: &Select, n: usize, depth: usize, out: &mut Vec<String>) {
    let Some(step) = n.checked_sub(1).and_then(|i| s.steps.get(i)) else {
        return;
    };
    let mut depth = depth;
    if step.after.is_some() {
        out.push(format!("{}Filter", pad(depth)));
        depth += 1;
    }
    if n == 1 {
        source(&step.source, depth, out);
        return;
    }
    let kind = match step.kind {
        JoinKind::Left | JoinKind::Right => "Left",
        JoinKind::Full => "Full",
        _ => "Inner",
    };
    let how = if step.keys.is_empty() {
        "Nested loop join".to_string()
    } else {
        format!("Hash join on {} keys", step.keys.len())
    };
    out.push(format!("{}{how} ({kind})", pad(depth)));
    joins(s, n - 1, depth + 1, out);
    source(&step.source, depth + 1, out);
}

fn source(src: &Source, depth: usize, out: &mut Vec<String>) {
    match src {
        Source::Unit => out.push(format!("{}One row (no FROM)", pad(depth))),
        Source::Scan(scan) => out.push(format!("{}{}", pad(depth), scan_line(scan))),
        Source::Derived {
            query: q, alias, ..
        } => {
            out.push(format!("{}Subquery {alias}", pad(depth)));
            for l in query(q) {
                out.push(format!("{}{l}", pad(depth + 1)));
            }
        }
    }
}

/// One line for a table read: its access path and whether it filters.
pub fn scan_line(scan: &Scan) -> String {
    let def = &scan.table;
    let name = if scan.alias == def.name {
        def.name.clone()
    } else {
        format!("{} AS {}", def.name, scan.alias)
    };
    let path = match &scan.access {
        Access::Full => "full scan".to_string(),
        Access::Points(tuples) => format!(
            "primary key lookup ({} key{})",
            tuples.len(),
            if tuples.len() == 1 { "" } else { "s" }
        ),
        Access::Range {
            index,
            eq,
            lower,
            upper,
        } => {
            let (what, columns) = match index.and_then(|id| def.indexes.iter().find(|i| i.id == id))
            {
                Some(i) => (format!("index {}", i.name), i.columns.clone()),
                None => ("primary key".to_string(), def.primary_key.clone()),
            };
            let mut parts: Vec<String> = columns[..eq.len()]
                .iter()
                .map(|&c| format!("{} = …", def.columns[c].name))
                .collect();
            if let Some(&c) = columns.get(eq.len()) {
                let col = &def.columns[c].name;
                match (lower, upper) {
                    (Some(_), Some(_)) => parts.push(format!("… ≤ {col} ≤ …")),
                    (Some(_), None) => parts.push(format!("{col} ≥ …")),
                    (None, Some(_)) => parts.push(format!("{col} ≤ …")),
                    (None, None) => {}
                }
            }
            if parts.is_empty() {
                // A LIMIT sorted as the index is (`index_for_order`).
                format!("{what} in its order")
            } else {
                format!("{what} range ({})", parts.join(", "))
            }
        }
    };
    let lock = if scan.for_update {
        ", locked for update"
    } else {
        ""
    };
    let filter = if scan.filter.is_some() {
        ", filtered"
    } else {
        ""
    };
    format!("Scan {name} via {path}{filter}{lock}")
}

/// ` (with subqueries)` when `e` runs subqueries.
fn subqueries(e: &BExpr) -> &'static str {
    if crate::bind::has_subquery(e) {
        " (with subqueries)"
    } else {
        ""
    }
}

/// The lines for an UPDATE or DELETE.
pub fn dml(verb: &str, scan: &Scan, later: Option<&BExpr>) -> Vec<String> {
    let mut out = vec![format!("{verb} {}", scan.table.name)];
    let mut depth = 1;
    if let Some(l) = later {
        out.push(format!("{}Filter{}", pad(depth), subqueries(l)));
        depth += 1;
    }
    out.push(format!("{}{}", pad(depth), scan_line(scan)));
    out
}
