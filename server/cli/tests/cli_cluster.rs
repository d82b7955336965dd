//! Real `spanlite` processes on loopback: start three nodes with one join
//! list, `spanlite init`, raw KV through the CLI; SIGKILL a node and keep
//! going with the CLI failing over to the next `--url`; restart it and check
//! that it holds every acknowledged write.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{BIN, free_addr, spanlite, text, until_ok};

/// A node process, killed (SIGKILL) when dropped.
struct Proc {
    child: Option<Child>,
    id: u64,
    addr: String,
    dir: std::path::PathBuf,
    join: String,
}

impl Proc {
    fn start(id: u64, addr: &str, dir: &Path, join: &str) -> Self {
        let log = std::fs::File::create(dir.join(format!("node{id}.log"))).unwrap();
        let child = Command::new(BIN)
            .args([
                "start",
                "--node-id",
                &id.to_string(),
                "--listen",
                addr,
                "--join",
                join,
            ])
            .arg("--data-dir")
            .arg(dir.join(format!("n{id}")))
            .args([
                "--raft-heartbeat",
                "100ms",
                "--raft-election-timeout",
                "500ms",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Proc {
            child: Some(child),
            id,
            addr: addr.to_string(),
            dir: dir.to_path_buf(),
            join: join.to_string(),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        *self = Proc::start(
            self.id,
            &self.addr.clone(),
            &self.dir.clone(),
            &self.join.clone(),
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `k<i> = v<i>` for each `i` through the CLI, retrying each until
/// it is acknowledged.
fn put_keys(urls: &str, keys: std::ops::Range<usize>) {
    for i in keys {
        let (k, v) = (format!("k{i:02}"), format!("v{i}"));
        until_ok(
            Duration::from_secs(30),
            &["kv", "--url", urls, "put", &k, &v],
        );
    }
}

#[test]
fn three_processes_init_kv_kill_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let join = addrs.join(",");
    let mut nodes: Vec<Proc> = (0..3)
        .map(|i| Proc::start(i as u64 + 1, &addrs[i], tmp.path(), &join))
        .collect();

    // init waits for three nodes to have joined the one it asks.
    let out = until_ok(Duration::from_secs(30), &["init", "--url", &addrs[0]]);
    assert!(
        text(&out.stdout).contains("initialized"),
        "{}",
        text(&out.stdout)
    );
    let again = spanlite(&["init", "--url", &addrs[0]]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already initialized"));

    // A node whose data dir belongs to another cluster is refused and stops.
    let foreign = tmp.path().join("n9");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(
        foreign.join("NODE_IDENTITY"),
        "format=1\nnode_id=9\ncluster_id=some-other-cluster\n",
    )
    .unwrap();
    let mut stray = Command::new(BIN)
        .args([
            "start",
            "--node-id",
            "9",
            "--listen",
            &free_addr(),
            "--join",
            &join,
        ])
        .arg("--data-dir")
        .arg(&foreign)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = stray.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = stray.kill();
            panic!("a node of another cluster kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(stray.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("belongs to cluster some-other-cluster"),
        "{stderr}"
    );

    let urls = join.clone();
    put_keys(&urls, 0..20);
    let got = until_ok(
        Duration::from_secs(10),
        &["kv", "--url", &addrs[2], "get", "k07"],
    );
    assert_eq!(text(&got.stdout), "v7");
    let missing = spanlite(&["kv", "--url", &addrs[1], "get", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let bad = spanlite(&["kv", "--url", &addrs[1], "put", "", "x"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("reserved"),
        "{}",
        text(&bad.stderr)
    );

    // SIGKILL the node leading the data tablet (id 2); the CLI fails over
    // to the next address and writes go on once a new leader is elected.
    let leader = (0..3)
        .find(|&i| {
            let out = spanlite(&["admin", "--url", &addrs[i], "status"]);
            text(&out.stdout)
                .lines()
                .any(|l| l.trim_start().starts_with("tablet    2 ") && l.contains("leader"))
        })
        .expect("no node reports leading tablet 2");
    nodes[leader].kill();
    put_keys(&urls, 20..30);
    until_ok(
        Duration::from_secs(30),
        &["kv", "--url", &urls, "del", "k00"],
    );

    // Restart it: recovery, catch-up; it serves every acknowledged write.
    nodes[leader].restart();
    let scan = until_ok(Duration::from_secs(30), &["kv", "--url", &urls, "scan"]);
    let lines: Vec<String> = text(&scan.stdout).lines().map(str::to_string).collect();
    let expected: Vec<String> = (1..30).map(|i| format!("k{i:02}\tv{i}")).collect();
    assert_eq!(lines, expected);
    for i in [1, 15, 29] {
        let out = until_ok(
            Duration::from_secs(30),
            &["kv", "--url", &addrs[leader], "get", &format!("k{i:02}")],
        );
        assert_eq!(text(&out.stdout), format!("v{i}"));
    }
    for n in &mut nodes {
        n.kill();
    }
}

#[test]
fn bad_flags_and_busy_port_and_foreign_data_dir_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spanlite(&["start", "--node-id", "0", "--data-dir", "x"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("node-id"),
        "{}",
        text(&out.stderr)
    );

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tmp.path().join("d");
    let out = spanlite(&[
        "start",
        "--node-id",
        "1",
        "--listen",
        &addr,
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot listen"),
        "{}",
        text(&out.stderr)
    );
    drop(busy);

    // The data dir now belongs to node 1.
    let out = spanlite(&[
        "start",
        "--node-id",
        "2",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("belongs to node 1"),
        "{}",
        text(&out.stderr)
    );
}
