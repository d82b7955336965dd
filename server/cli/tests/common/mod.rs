//! Helpers of the tests that run `spanlite` processes.
#![allow(dead_code)] // each test binary uses its own share

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
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
