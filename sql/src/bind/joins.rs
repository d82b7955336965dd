//! Planning a block's FROM clause: conditions pushed to the table they
//! name, the join order (greedy, each next table sharing an equality with
//! those joined; syntax order with outer joins), hash-join keys, and each
//! table read's access path.

use std::collections::HashMap;

use super::expr::numeric;
use super::walk::{and_all, columns_of, conjuncts, has_aggregate, has_subquery, is_const};
use super::{Binder, Item};
use crate::error::{Result, SqlError};
use crate::plan::{Access, BExpr, BinOp, JoinKind, Scan, Source, Step};

impl Binder<'_> {
    /// Orders the joins, pushes conditions down and picks access paths.
    pub(super) fn plan_joins(
        &mut self,
        items: Vec<Item>,
        where_conds: Vec<BExpr>,
    ) -> Result<(Vec<Step>, Option<BExpr>)> {
        if items.len() > 64 {
            return Err(SqlError::not_supported(
                "more than 64 tables in one FROM clause",
            ));
        }
        let width = self.scope().width();
        // Which item owns each row position.
        let mut owner = vec![0usize; width];
        for (i, item) in items.iter().enumerate() {
            for slot in owner.iter_mut().skip(item.offset).take(item.width) {
                *slot = i;
            }
        }
        let mask_of = |e: &BExpr| -> u64 {
            let mut cols = Vec::new();
            columns_of(e, &mut cols);
            cols.iter().fold(0u64, |m, &c| m | (1 << owner[c]))
        };
        let outer_join = items
            .iter()
            .any(|i| matches!(i.kind, JoinKind::Left | JoinKind::Right | JoinKind::Full));
        let mut items = items;
        // `a RIGHT JOIN b` is `b LEFT JOIN a` (rows keep their layout, so
        // only the order of the steps changes).
        let mut syntax_order: Vec<usize> = (0..items.len()).collect();
        for i in 1..items.len() {
            if items[i].kind == JoinKind::Right {
                if i != 1 {
                    return Err(SqlError::not_supported(
                        "RIGHT JOIN after other joins (write it as a LEFT JOIN)",
                    ));
                }
                items[0].kind = JoinKind::Left;
                items[1].kind = JoinKind::First;
                items[0].on = items[1].on.take();
                items[0].using = std::mem::take(&mut items[1].using);
                syntax_order.swap(0, 1);
            }
        }
        let mut filters: Vec<Vec<BExpr>> = vec![Vec::new(); items.len()];
        let mut final_filter = Vec::new();
        let mut item_on: Vec<Vec<BExpr>> = vec![Vec::new(); items.len()];
        let mut pool: Vec<(BExpr, u64)> = Vec::new();
        let mut nullable = vec![false; items.len()];
        for (i, item) in items.iter().enumerate() {
            match item.kind {
                JoinKind::Left => nullable[i] = true,
                // Both sides of a FULL JOIN (everything joined before it).
                JoinKind::Full => nullable[..=i].iter_mut().for_each(|n| *n = true),
                _ => {}
            }
        }
        // ON conditions.
        for (i, item) in items.iter_mut().enumerate() {
            let mut cs = std::mem::take(&mut item.using);
            if let Some(on) = &item.on {
                if has_aggregate(on) {
                    return Err(SqlError::grouping(
                        "aggregate functions are not allowed in JOIN conditions",
                    ));
                }
                let b = self.expr(on)?;
                conjuncts(b, &mut cs);
            }
            {
                if outer_join {
                    item_on[i] = cs;
                } else {
                    pool.extend(cs.into_iter().map(|c| {
                        let m = mask_of(&c);
                        (c, m)
                    }));
                }
            }
        }
        for c in where_conds {
            let m = mask_of(&c);
            if has_subquery(&c) {
                final_filter.push(c);
            } else if m.count_ones() == 1 && !nullable[m.trailing_zeros() as usize] {
                filters[m.trailing_zeros() as usize].push(c);
            } else if outer_join {
                final_filter.push(c);
            } else {
                pool.push((c, m));
            }
        }
        // Single-item conditions of the pool go to their item.
        let mut rest = Vec::new();
        for (c, m) in pool {
            if m.count_ones() == 1 && !has_subquery(&c) {
                filters[m.trailing_zeros() as usize].push(c);
            } else if has_subquery(&c) {
                final_filter.push(c);
            } else {
                rest.push((c, m));
            }
        }
        // Join order: FROM order with outer joins or LATERAL; otherwise
        // greedy, each next item sharing an equality with the ones joined.
        let lateral: Vec<bool> = items
            .iter()
            .map(|i| matches!(i.source, Source::Derived { lateral: true, .. }))
            .collect();
        let fixed_order = outer_join || lateral.iter().any(|&l| l);
        let n = items.len();
        let mut order = vec![syntax_order[0]];
        let mut joined: u64 = 1 << syntax_order[0];
        while order.len() < n {
            let remaining: Vec<usize> = (0..n).filter(|i| joined & (1 << i) == 0).collect();
            let next = if fixed_order {
                syntax_order[order.len()]
            } else {
                let links = |j: usize, equi_only: bool| {
                    rest.iter().any(|(c, m)| {
                        m & (1 << j) != 0
                            && m & joined != 0
                            && m & !(joined | (1 << j)) == 0
                            && (!equi_only || self.equi_key(c, joined, j, &mask_of).is_some())
                    })
                };
                remaining
                    .iter()
                    .copied()
                    .find(|&j| links(j, true))
                    .or_else(|| remaining.iter().copied().find(|&j| links(j, false)))
                    .unwrap_or(remaining[0])
            };
            order.push(next);
            joined |= 1 << next;
        }
        let mut items: Vec<Option<Item>> = items.into_iter().map(Some).collect();
        let mut steps = Vec::new();
        let mut joined: u64 = 0;
        for (pos, &i) in order.iter().enumerate() {
            let Some(mut item) = items[i].take() else {
                return Err(SqlError::internal("join order visits an item twice"));
            };
            let bit = 1u64 << i;
            let mut keys = Vec::new();
            let mut after = Vec::new();
            let mut on = Vec::new();
            if outer_join {
                for c in std::mem::take(&mut item_on[i]) {
                    let m = mask_of(&c);
                    if m == bit && !has_subquery(&c) && item.kind != JoinKind::Full {
                        // A condition on the joined table alone filters it
                        // before matching (also right for LEFT JOIN).
                        filters[i].push(c);
                    } else if pos > 0
                        && !lateral[i]
                        && let Some(k) = self.equi_key(&c, joined, i, &mask_of)
                    {
                        keys.push(k);
                    } else if matches!(item.kind, JoinKind::Left | JoinKind::Full) {
                        on.push(c);
                    } else {
                        after.push(c);
                    }
                }
            } else {
                let mut keep = Vec::new();
                for (c, m) in rest.drain(..) {
                    if m & !(joined | bit) != 0 {
                        keep.push((c, m));
                    } else if pos > 0
                        && !lateral[i]
                        && m & bit != 0
                        && let Some(k) = self.equi_key(&c, joined, i, &mask_of)
                    {
                        keys.push(k);
                    } else {
                        after.push(c);
                    }
                }
                rest = keep;
            }
            let kind = if pos == 0 {
                JoinKind::First
            } else if matches!(item.kind, JoinKind::Left | JoinKind::Full) {
                item.kind
            } else {
                JoinKind::Inner
            };
            let local = std::mem::take(&mut filters[i]);
            match &mut item.source {
                Source::Scan(scan) => {
                    scan.width = width;
                    scan.access = choose_access(scan, &local);
                    scan.filter = and_all(local);
                }
                Source::Derived { filter, .. } => *filter = and_all(local),
                Source::Unit => after.extend(local),
            }
            steps.push(Step {
                source: item.source,
                kind,
                keys,
                on: and_all(on),
                after: and_all(after),
            });
            joined |= bit;
        }
        final_filter.extend(rest.into_iter().map(|(c, _)| c));
        Ok((steps, and_all(final_filter)))
    }

    /// `l = r` with `l` over the items `joined` and `r` over item `j`
    /// alone, of types a hash join compares like `=` does.
    pub(super) fn equi_key(
        &self,
        c: &BExpr,
        joined: u64,
        j: usize,
        mask_of: &dyn Fn(&BExpr) -> u64,
    ) -> Option<(BExpr, BExpr)> {
        let BExpr::Binary(l, BinOp::Eq, r) = c else {
            return None;
        };
        let bit = 1u64 << j;
        let (ml, mr) = (mask_of(l), mask_of(r));
        let (left, right) = if ml != 0 && ml & !joined == 0 && mr == bit {
            (l, r)
        } else if mr != 0 && mr & !joined == 0 && ml == bit {
            (r, l)
        } else {
            return None;
        };
        let (lt, rt) = (self.type_of(left), self.type_of(right));
        let comparable = match (lt, rt) {
            (Some(a), Some(b)) => a == b || (numeric(lt) && numeric(rt)),
            _ => false,
        };
        comparable.then(|| ((**left).clone(), (**right).clone()))
    }
}

/// Picks how `scan` reads its table from the conditions on it alone.
pub(crate) fn choose_access(scan: &Scan, conds: &[BExpr]) -> Access {
    let def = &scan.table;
    let n = def.columns.len();
    let column = |e: &BExpr| match e {
        BExpr::Column(p) if *p >= scan.offset && *p < scan.offset + n => Some(*p - scan.offset),
        _ => None,
    };
    let mut eq: HashMap<usize, BExpr> = HashMap::new();
    let mut within: HashMap<usize, Vec<BExpr>> = HashMap::new();
    let mut lower: HashMap<usize, BExpr> = HashMap::new();
    let mut upper: HashMap<usize, (BExpr, bool)> = HashMap::new();
    for c in conds {
        match c {
            BExpr::Binary(l, op, r) => {
                let (col, op, k) = match (column(l), column(r)) {
                    (Some(col), _) if is_const(r) => (col, *op, (**r).clone()),
                    (_, Some(col)) if is_const(l) => {
                        let flipped = match op {
                            BinOp::Lt => BinOp::Gt,
                            BinOp::LtEq => BinOp::GtEq,
                            BinOp::Gt => BinOp::Lt,
                            BinOp::GtEq => BinOp::LtEq,
                            other => *other,
                        };
                        (col, flipped, (**l).clone())
                    }
                    _ => continue,
                };
                match op {
                    BinOp::Eq => {
                        eq.entry(col).or_insert(k);
                    }
                    BinOp::Gt | BinOp::GtEq => {
                        lower.entry(col).or_insert(k);
                    }
                    BinOp::Lt => {
                        upper.entry(col).or_insert((k, false));
                    }
                    BinOp::LtEq => {
                        upper.entry(col).or_insert((k, true));
                    }
                    _ => {}
                }
            }
            BExpr::InList(e, list, false) if list.iter().all(is_const) => {
                if let Some(col) = column(e) {
                    within.entry(col).or_insert_with(|| list.clone());
                }
            }
            _ => {}
        }
    }
    let pk = &def.primary_key;
    // Whole primary key: points.
    if !pk.is_empty() {
        let (last, init) = (pk[pk.len() - 1], &pk[..pk.len() - 1]);
        if init.iter().all(|c| eq.contains_key(c)) {
            let prefix: Vec<BExpr> = init.iter().map(|c| eq[c].clone()).collect();
            if let Some(v) = eq.get(&last) {
                let mut t = prefix;
                t.push(v.clone());
                return Access::Points(vec![t]);
            }
            if let Some(list) = within.get(&last) {
                return Access::Points(
                    list.iter()
                        .map(|v| {
                            let mut t = prefix.clone();
                            t.push(v.clone());
                            t
                        })
                        .collect(),
                );
            }
        }
    }
    // A range: equal on the first `m` columns, then bounded on the next.
    let range = |columns: &[usize], index: Option<u32>| -> Option<(usize, bool, Access)> {
        let m = columns.iter().take_while(|c| eq.contains_key(c)).count();
        let next = columns.get(m);
        let lo = next.and_then(|c| lower.get(c)).cloned();
        let hi = next.and_then(|c| upper.get(c)).cloned();
        let bounded = lo.is_some() || hi.is_some();
        if m == 0 && !bounded {
            return None;
        }
        Some((
            m,
            bounded,
            Access::Range {
                index,
                eq: columns[..m].iter().map(|c| eq[c].clone()).collect(),
                lower: lo,
                upper: hi,
            },
        ))
    };
    let mut best: Option<(usize, bool, Access)> =
        if pk.is_empty() { None } else { range(pk, None) };
    for index in def.readable_indexes() {
        // A unique index with every column equal: one row at most.
        if index.unique
            && index.columns.iter().all(|c| eq.contains_key(c))
            && let Some(r) = range(&index.columns, Some(index.id))
        {
            return r.2;
        }
        if let Some(candidate) = range(&index.columns, Some(index.id)) {
            let better = match &best {
                None => true,
                Some((m, bounded, _)) => (candidate.0, candidate.1) > (*m, *bounded),
            };
            if better {
                best = Some(candidate);
            }
        }
    }
    best.map_or(Access::Full, |b| b.2)
}
