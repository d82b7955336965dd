//! The crate's modules import each other in one direction only: no module
//! imports (through `crate::…` paths) a module that imports it back,
//! directly or through others. A cycle here once tied `bind`, `exec`,
//! `run` and `explain` together; `syntax` and `kv` broke it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module of every source file (tests excluded) → the modules
/// its code names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    // The directory cargo runs the test for, not the one it was compiled
    // in: a binary built from another checkout sharing the target dir
    // must read this checkout's files.
    let src = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let module = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| module(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let m = module(p);
        if m == "lib" || m == "tests" {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap();
        let deps = graph.entry(m.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for part in code.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != m && modules.contains(&name) {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// Every module `from` reaches through imports.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&String> = graph.get(from).into_iter().flatten().collect();
    while let Some(m) = todo.pop() {
        if seen.insert(m.clone()) {
            todo.extend(graph.get(m).into_iter().flatten());
        }
    }
    seen
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = imports();
    assert!(graph.contains_key("bind") && graph.contains_key("statement"));
    for m in graph.keys() {
        assert!(
            !reach(&graph, m).contains(m),
            "module {m} imports itself through others: {graph:?}"
        );
    }
}
