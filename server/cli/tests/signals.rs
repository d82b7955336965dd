//! Commands that run a cluster inside their process (`spanlite workload`,
//! `spanlite demo`) stopped by a signal: the cluster is shut down and its
//! temporary directory removed, where the signal's default action left it
//! behind. Each child gets a `TMPDIR` of the test's own, so whatever it
//! leaves is found there (and removed with it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{BIN, Proc, exit_of, lines_of, send, wait_for_line};

/// The `spanlite-embedded-*` directories in `dir`.
fn embedded_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("spanlite-embedded-"))
        })
        .collect()
}

/// Once `child` printed a line containing `ready` on its standard error
/// (its cluster's directory in `tmp` by then), sends it `signal.0` and
/// checks that it exits with code `signal.1` and leaves no directory;
/// returns its standard error's lines.
fn stop_once_ready(mut child: Proc, tmp: &Path, ready: &str, signal: (&str, i32)) -> Vec<String> {
    let lines = lines_of(child.0.stderr.take().unwrap());
    let mut seen = Vec::new();
    wait_for_line(&lines, &mut seen, ready);
    assert_eq!(embedded_dirs(tmp).len(), 1, "output: {seen:#?}");
    send(&child.0, signal.0);
    let status = exit_of(&mut child.0);
    seen.extend(lines.iter());
    assert_eq!(status.code(), Some(signal.1), "output: {seen:#?}");
    assert_eq!(
        embedded_dirs(tmp),
        Vec::<PathBuf>::new(),
        "the cluster's data is left behind; output: {seen:#?}"
    );
    seen
}

/// Ctrl-C (SIGINT) during a workload on a cluster in the process: the
/// command exits with 130 (128 + 2) and leaves no directory.
#[test]
fn an_interrupted_workload_removes_its_cluster_data() {
    let tmp = tempfile::tempdir().unwrap();
    let child = Proc(
        Command::new(BIN)
            .args([
                "workload",
                "kv",
                "--duration",
                "120s",
                "--concurrency",
                "2",
                "--keys",
                "100",
            ])
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // "Cluster ready": the line after the cluster started, the workload runs.
    let seen = stop_once_ready(child, tmp.path(), "Cluster ready", ("INT", 130));
    assert!(
        seen.iter().any(|l| l.contains("interrupted by signal 2")),
        "output: {seen:#?}"
    );
}

/// SIGTERM while the demo waits for its script on standard input (a pipe
/// kept open): exit 143 (128 + 15), no directory left.
#[test]
fn a_terminated_demo_removes_its_cluster_data() {
    let tmp = tempfile::tempdir().unwrap();
    let child = Proc(
        Command::new(BIN)
            .arg("demo")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    stop_once_ready(child, tmp.path(), "Ready:", ("TERM", 143));
}

/// The PIDs of the processes whose environment has `TMPDIR=dir`.
fn processes_with_tmpdir(dir: &Path) -> Vec<u32> {
    let wanted = format!("TMPDIR={}", dir.display()).into_bytes();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|var| var == wanted.as_slice()) {
            pids.push(pid);
        }
    }
    pids
}

/// The demo's interactive shell on a terminal (a pseudo-terminal made by
/// `script`, util-linux): a statement typed runs, and when the terminal
/// goes away (`script` killed: the kernel sends SIGHUP) the demo stops its
/// cluster and removes the directory.
#[test]
fn the_demo_shell_on_a_terminal_runs_statements_and_cleans_up_on_hangup() {
    let tmp = tempfile::tempdir().unwrap();
    let mut script = Proc(
        Command::new("script")
            .args(["-qfec", &format!("exec {BIN} demo"), "/dev/null"])
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("`script` (util-linux) runs the demo on a pseudo-terminal"),
    );
    let lines = lines_of(script.0.stdout.take().unwrap());
    let mut seen = Vec::new();
    wait_for_line(&lines, &mut seen, "Type \\? for help");
    let mut input = script.0.stdin.take().unwrap();
    input
        .write_all(b"SELECT 40 + 2 AS answer, count(*) FROM accounts;\n")
        .unwrap();
    input.flush().unwrap();
    // The result table's row (the typed line echoes "40 + 2", not this).
    wait_for_line(&lines, &mut seen, "┆ 100");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("│ 42 ") && l.contains("┆ 100")),
        "output: {seen:#?}"
    );
    assert_eq!(embedded_dirs(tmp.path()).len(), 1, "output: {seen:#?}");
    script.0.kill().unwrap();
    script.0.wait().unwrap();
    // Until the demo has exited and its directory is gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (left, running) = loop {
        let left = embedded_dirs(tmp.path());
        let running = processes_with_tmpdir(tmp.path());
        if (left.is_empty() && running.is_empty()) || Instant::now() > deadline {
            break (left, running);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for pid in &running {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        running.is_empty(),
        "the demo still ran 60 s after its terminal went away (killed now: {running:?})"
    );
    assert_eq!(
        left,
        Vec::<PathBuf>::new(),
        "the cluster's data is left behind; output: {seen:#?}"
    );
}

/// The PIDs among `pids` of processes named `name`.
fn named(pids: Vec<u32>, name: &str) -> Vec<u32> {
    pids.into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

/// SIGTERM while the demo's shell waits at its prompt, the terminal in
/// rustyline's raw mode: the demo ends and gives the terminal back as it
/// found it (canonical mode and echo on), where the signal's default
/// action left it raw. (`cat` after the demo keeps the pseudo-terminal
/// open to look at.)
#[test]
fn a_demo_terminated_at_its_prompt_gives_its_terminal_back() {
    use nix::sys::termios::{LocalFlags, tcgetattr};
    let tmp = tempfile::tempdir().unwrap();
    let mut script = Proc(
        Command::new("script")
            .args(["-qfec", &format!("{BIN} demo; cat"), "/dev/null"])
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("`script` (util-linux) runs the demo on a pseudo-terminal"),
    );
    let lines = lines_of(script.0.stdout.take().unwrap());
    let mut seen = Vec::new();
    wait_for_line(&lines, &mut seen, "Type \\? for help");
    let demo = named(processes_with_tmpdir(tmp.path()), "spanlite");
    assert_eq!(demo.len(), 1, "the demo's process: {demo:?}");
    let pid = demo[0];
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap())
        .unwrap();
    let raw = |t: &std::fs::File| {
        !tcgetattr(t)
            .unwrap()
            .local_flags
            .intersects(LocalFlags::ICANON | LocalFlags::ECHO)
    };
    // Until the shell's line editor has set raw mode.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !raw(&terminal) {
        assert!(Instant::now() < deadline, "the prompt never set raw mode");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !named(processes_with_tmpdir(tmp.path()), "spanlite").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the demo still ran 60 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let flags = tcgetattr(&terminal).unwrap().local_flags;
    assert!(
        flags.contains(LocalFlags::ICANON | LocalFlags::ECHO),
        "the terminal was left in raw mode: {flags:?}"
    );
    assert_eq!(embedded_dirs(tmp.path()), Vec::<PathBuf>::new());
    script.0.kill().unwrap();
}
