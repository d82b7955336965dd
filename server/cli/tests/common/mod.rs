//! Helpers of the tests that run `spanlite` processes.
#![allow(dead_code)] // each test binary uses its own share

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The `spanlite` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_spanlite");

/// A free loopback address (`127.0.0.1:port`).
pub fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `spanlite args…`, waited for.
pub fn spanlite(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Output bytes as trimmed text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Runs `spanlite args…` until it succeeds; panics after `deadline`.
pub fn until_ok(deadline: Duration, args: &[&str]) -> Output {
    let start = Instant::now();
    loop {
        let out = spanlite(args);
        if out.status.success() {
            return out;
        }
        assert!(
            start.elapsed() < deadline,
            "`spanlite {}` kept failing: {}",
            args.join(" "),
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process, killed (and reaped) when dropped — also when a failed
/// assertion leaves it running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines `from` gives, as they come (a thread reads them).
pub fn lines_of(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (up to 60 s) for a line containing `what`; returns every line
/// seen so far.
pub fn wait_for_line(lines: &Receiver<String>, seen: &mut Vec<String>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|l| l.contains(what)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {what:?} ({e}); output: {seen:#?}"),
        }
    }
}

pub fn send(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name}");
}

/// The child's exit status within 60 s (else it is killed, and the test
/// fails).
pub fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the command did not stop within 60 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
