//! What a sqllogictest run found, file by file, and how it is printed.
//!
//! ```text
//!   tests/slt/dml.slt: 41/42 records passed (97.6%)
//!     dml.slt:57: query result mismatch
//!       SQL:      SELECT id, v FROM t ORDER BY id
//!       expected: 1 a | 2 b
//!       actual:   1 a | 2 c
//!   total: 400/420 records passed (95.2%) in 12 files, 3 skipped, 1 file not run
//! ```
//!
//! A record is a `statement`, `query`, `let` or `system` entry that ran;
//! entries skipped by `skipif`/`onlyif` are counted apart, and entries after
//! a `halt` are not counted at all.

use std::fmt;
use std::path::PathBuf;

/// One record that did not pass.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Line of the record in its file.
    pub line: u32,
    /// What went wrong, in a few words (`query result mismatch`).
    pub what: String,
    /// The record's SQL.
    pub sql: String,
    /// What the file expects.
    pub expected: String,
    /// What the engine did.
    pub actual: String,
}

/// The outcome of one file.
#[derive(Clone, Debug)]
pub struct FileResult {
    /// The file.
    pub path: PathBuf,
    /// Records that passed.
    pub passed: usize,
    /// Records that failed (all of them, though only the first few are kept).
    pub failed: usize,
    /// Records skipped by `skipif` / `onlyif`.
    pub skipped: usize,
    /// The first failures, in file order.
    pub failures: Vec<Failure>,
    /// Set when the file could not be run at all (unreadable, does not
    /// parse, no database): it then counts as failed.
    pub error: Option<String>,
}

impl FileResult {
    /// An empty result for `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            passed: 0,
            failed: 0,
            skipped: 0,
            failures: Vec::new(),
            error: None,
        }
    }

    /// Records that ran.
    pub fn records(&self) -> usize {
        self.passed + self.failed
    }

    /// True when every record passed and the file ran.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.error.is_none()
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// One entry per file, in the order they ran.
    pub files: Vec<FileResult>,
}

impl Summary {
    /// Records that passed, over every file.
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }

    /// Records that failed, over every file.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }

    /// Records skipped, over every file.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped).sum()
    }

    /// True when every record of every file passed and every file ran.
    pub fn ok(&self) -> bool {
        self.files.iter().all(FileResult::ok)
    }
}

fn percent(passed: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        100.0 * passed as f64 / total as f64
    }
}

/// At most `max` characters of `s` on one line, `…` marking a cut.
fn abbreviate(s: &str, max: usize) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// Rows (one per line) joined with ` | ` and abbreviated.
fn rows(s: &str) -> String {
    abbreviate(&s.lines().collect::<Vec<_>>().join(" | "), 200)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "line {}: {}", self.line, self.what)?;
        writeln!(f, "      SQL:      {}", abbreviate(&self.sql, 200))?;
        writeln!(f, "      expected: {}", rows(&self.expected))?;
        write!(f, "      actual:   {}", rows(&self.actual))
    }
}

impl fmt::Display for FileResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.error {
            return write!(
                f,
                "{}: could not run: {}",
                self.path.display(),
                abbreviate(e, 300)
            );
        }
        write!(
            f,
            "{}: {}/{} records passed ({:.1}%)",
            self.path.display(),
            self.passed,
            self.records(),
            percent(self.passed, self.records())
        )?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        for failure in &self.failures {
            write!(f, "\n    {failure}")?;
        }
        if self.failed > self.failures.len() {
            write!(
                f,
                "\n    … and {} more failures",
                self.failed - self.failures.len()
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (passed, total) = (self.passed(), self.passed() + self.failed());
        write!(
            f,
            "total: {passed}/{total} records passed ({:.1}%) in {} files",
            percent(passed, total),
            self.files.len()
        )?;
        if self.skipped() > 0 {
            write!(f, ", {} skipped", self.skipped())?;
        }
        let broken = self.files.iter().filter(|r| r.error.is_some()).count();
        if broken > 0 {
            write!(
                f,
                ", {broken} file{} not run",
                if broken == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}
