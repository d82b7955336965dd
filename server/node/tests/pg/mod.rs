//! A 3-node cluster in this process with a PostgreSQL port, and the
//! PostgreSQL tools run against it (psql, drivers), for the tests of the
//! port and of the clients that use it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;

use spanlite_node::embedded::EmbeddedCluster;
use spanlite_pgwire::{Auth, Limits};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_postgres::NoTls;

/// A cluster with a PostgreSQL port on node 1.
pub struct PgCluster {
    pub cluster: EmbeddedCluster,
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl PgCluster {
    pub async fn start() -> PgCluster {
        Self::start_with(Auth::Trust).await
    }

    pub async fn start_with(auth: Auth) -> PgCluster {
        Self::start_limited(auth, Limits::default()).await
    }

    pub async fn start_limited(auth: Auth, limits: Limits) -> PgCluster {
        let cluster = EmbeddedCluster::start(3).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopping) = watch::channel(false);
        tokio::spawn(spanlite_pgwire::serve(
            listener,
            cluster.schema_of(0),
            stopping,
            auth,
            limits,
            None,
            Default::default(),
        ));
        PgCluster {
            cluster,
            addr,
            stop,
        }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=root dbname=spanlite",
                self.addr.port()
            ),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        client
    }

    /// `psql -c sql` (each `-c` a query): exit success, stdout, stderr.
    /// Fails the test when psql is not installed (`make deps` installs it).
    pub async fn psql(&self, sqls: &[&str]) -> (bool, String, String) {
        self.psql_with(&[], sqls).await
    }

    /// [`PgCluster::psql`] with extra environment variables.
    pub async fn psql_with(&self, env: &[(&str, &str)], sqls: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new("psql");
        cmd.envs(env.iter().copied());
        let user = env
            .iter()
            .find(|(k, _)| *k == "PGUSER")
            .map_or("root", |(_, v)| *v);
        cmd.args([
            "-X",
            "-w",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &self.addr.port().to_string(),
            "-U",
            user,
            "-d",
            "spanlite",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "prefer");
        for s in sqls {
            cmd.args(["-c", s]);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap();
        let o = out.unwrap_or_else(|e| panic!("running psql (`make deps` installs it): {e}"));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.cluster.shutdown().await;
    }
}

impl PgCluster {
    /// Runs `sql` as root in a session of node 1 (not through the port).
    pub async fn as_root(&self, sql: &str) {
        let mut session = spanlite_session::Session::on(self.cluster.schema_of(0));
        for r in session.run(sql).await {
            r.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        session.close().await;
    }
}

/// Connects as `user` with `password`; the driver's error if refused.
pub async fn connect_as(
    pg: &PgCluster,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user={user} password='{password}' dbname=spanlite",
            pg.addr.port()
        ),
        NoTls,
    )
    .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Runs psql with `args` and `stdin`, as root on `pg`: success, stdout,
/// stderr.
pub async fn psql_stdin(pg: &PgCluster, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
    ])
    .arg(pg.addr.port().to_string())
    .args(["-U", "root", "-d", "spanlite"])
    .args(args)
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running psql (`make deps` installs it): {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A startup packet for `user` (protocol 3.0).
pub fn startup_packet(user: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for s in ["user", user, "database", "spanlite"] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}
