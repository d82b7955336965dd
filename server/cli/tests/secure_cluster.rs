//! A secure cluster of real `spanlite` processes: certificates made by
//! `spanlite cert`, mutual TLS on every gRPC link, and who may call what.
//!
//! - three nodes started with `--certs-dir` form a cluster (`init`, SQL over
//!   TLS with the root and another user's certificate);
//! - every RPC of every internal and admin service refuses a caller without
//!   a certificate (`Unauthenticated`) and a user's certificate
//!   (`PermissionDenied`), and a plain-HTTP caller gets nowhere;
//! - a node with a certificate of another CA cannot join;
//! - without `--certs-dir`, `start` refuses a non-loopback address unless
//!   `--insecure` is given.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spanlite_directory::tls::TlsConfig;
use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::kv::kv_service_client::KvServiceClient;
use spanlite_proto::raft::raft_service_client::RaftServiceClient;
use spanlite_proto::tablet::tablet_service_client::TabletServiceClient;
use spanlite_proto::time::time_service_client::TimeServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

mod common;

use common::{BIN, Proc, free_addr, spanlite, text, until_ok};

fn must(args: &[&str]) -> String {
    let out = spanlite(args);
    assert!(
        out.status.success(),
        "`spanlite {}`: {}",
        args.join(" "),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn until_ok_text(args: &[&str]) -> String {
    text(&until_ok(Duration::from_secs(60), args).stdout)
}

fn start(id: u64, addr: &str, join: &str, dir: &Path, certs: &Path) -> Proc {
    start_with(id, addr, join, dir, certs, &[])
}

fn start_with(id: u64, addr: &str, join: &str, dir: &Path, certs: &Path, extra: &[&str]) -> Proc {
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
        .args(extra)
        .arg("--data-dir")
        .arg(dir.join(format!("n{id}")))
        .arg("--certs-dir")
        .arg(certs)
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
    Proc(child)
}

fn make_certs(dir: &Path) {
    let d = dir.to_str().unwrap();
    must(&["cert", "create-ca", "--certs-dir", d]);
    must(&[
        "cert",
        "create-node",
        "127.0.0.1",
        "localhost",
        "--certs-dir",
        d,
    ]);
    must(&["cert", "create-client", "root", "--certs-dir", d]);
    must(&["cert", "create-client", "alice", "--certs-dir", d]);
}

/// A TLS channel to `addr` trusting `certs`'s CA, showing `as_user`'s
/// client certificate (or none).
fn channel(addr: &str, certs: &Path, as_user: Option<&str>) -> Channel {
    let tls = match as_user {
        Some(user) => TlsConfig::user(certs, user).unwrap().client(),
        None => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
            std::fs::read(certs.join("ca.crt")).unwrap(),
        )),
    };
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls.domain_name("127.0.0.1"))
        .unwrap()
        .connect_lazy()
}

/// The status codes every RPC of the internal and admin services answers
/// on `ch` with; `Ok` where a call went through.
async fn every_internal_rpc(ch: Channel) -> Vec<(&'static str, tonic::Code)> {
    fn code<T>(r: Result<T, tonic::Status>) -> tonic::Code {
        r.map_or_else(|s| s.code(), |_| tonic::Code::Ok)
    }
    let mut raft = RaftServiceClient::new(ch.clone());
    let mut tablet = TabletServiceClient::new(ch.clone());
    let mut calls =
        spanlite_proto::tablet::tablet_call_stream_client::TabletCallStreamClient::new(ch.clone());
    let mut time = TimeServiceClient::new(ch.clone());
    let mut admin = AdminServiceClient::new(ch.clone());
    let mut kv = KvServiceClient::new(ch);
    vec![
        (
            "Raft.AppendEntries",
            code(
                raft.append_entries(spanlite_proto::raft::RaftRequest::default())
                    .await,
            ),
        ),
        (
            "Raft.Vote",
            code(
                raft.vote(spanlite_proto::raft::RaftRequest::default())
                    .await,
            ),
        ),
        (
            "Raft.InstallSnapshot",
            code(
                raft.install_snapshot(tokio_stream::iter(
                    Vec::<spanlite_proto::raft::SnapshotChunk>::new(),
                ))
                .await,
            ),
        ),
        (
            "Raft.CloseTimestamps",
            code(
                raft.close_timestamps(spanlite_proto::raft::ClosedTimestamps::default())
                    .await,
            ),
        ),
        (
            "Raft.Calls",
            code(
                raft.calls(tokio_stream::iter(vec![
                    spanlite_proto::raft::RaftCall::default(),
                ]))
                .await,
            ),
        ),
        (
            "Tablet.Read",
            code(
                tablet
                    .read(spanlite_proto::tablet::ReadRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.Scan",
            code(
                tablet
                    .scan(spanlite_proto::tablet::ScanRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.Prepare",
            code(
                tablet
                    .prepare(spanlite_proto::tablet::PrepareRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.Commit",
            code(
                tablet
                    .commit(spanlite_proto::tablet::CommitRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.Abort",
            code(
                tablet
                    .abort(spanlite_proto::tablet::AbortRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.TxnStatus",
            code(
                tablet
                    .txn_status(spanlite_proto::tablet::TxnStatusRequest::default())
                    .await,
            ),
        ),
        (
            "Tablet.Calls",
            code(
                calls
                    .calls(tokio_stream::iter(vec![
                        spanlite_proto::tablet::TabletCall::default(),
                    ]))
                    .await,
            ),
        ),
        (
            "Time.Now",
            code(time.now(spanlite_proto::time::NowRequest::default()).await),
        ),
        (
            "Admin.Join",
            code(
                admin
                    .join(spanlite_proto::admin::JoinRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.Init",
            code(
                admin
                    .init(spanlite_proto::admin::InitRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.Status",
            code(
                admin
                    .status(spanlite_proto::admin::StatusRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.SplitTablet",
            code(
                admin
                    .split_tablet(spanlite_proto::admin::SplitTabletRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.ChangeReplicas",
            code(
                admin
                    .change_replicas(spanlite_proto::admin::ChangeReplicasRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.TransferLeader",
            code(
                admin
                    .transfer_leader(spanlite_proto::admin::TransferLeaderRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.SetClockSkew",
            code(
                admin
                    .set_clock_skew(spanlite_proto::admin::SetClockSkewRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.CreateReplica",
            code(
                admin
                    .create_replica(spanlite_proto::admin::CreateReplicaRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.DestroyReplica",
            code(
                admin
                    .destroy_replica(spanlite_proto::admin::DestroyReplicaRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.Decommission",
            code(
                admin
                    .decommission(spanlite_proto::admin::DecommissionRequest {
                        check_only: true,
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "Admin.Campaign",
            code(
                admin
                    .campaign(spanlite_proto::admin::CampaignRequest::default())
                    .await,
            ),
        ),
        (
            "Admin.ScanReplicas",
            code(
                admin
                    .scan_replicas(spanlite_proto::admin::ScanReplicasRequest::default())
                    .await,
            ),
        ),
        (
            "Kv.Get",
            code(kv.get(spanlite_proto::kv::GetRequest::default()).await),
        ),
        (
            "Kv.Put",
            code(kv.put(spanlite_proto::kv::PutRequest::default()).await),
        ),
        (
            "Kv.Delete",
            code(
                kv.delete(spanlite_proto::kv::DeleteRequest::default())
                    .await,
            ),
        ),
        (
            "Kv.Scan",
            code(kv.scan(spanlite_proto::kv::ScanRequest::default()).await),
        ),
        (
            "Kv.Transact",
            code(
                kv.transact(spanlite_proto::kv::TransactRequest::default())
                    .await,
            ),
        ),
    ]
}

#[test]
fn a_secure_cluster_lets_in_only_whom_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    make_certs(&certs);
    let c = certs.to_str().unwrap();
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let join = addrs.join(",");
    let pg = free_addr();
    let _nodes: Vec<Proc> = (0..3)
        .map(|i| {
            let extra: &[&str] = if i == 0 { &["--pg-listen", &pg] } else { &[] };
            start_with(i as u64 + 1, &addrs[i], &join, dir.path(), &certs, extra)
        })
        .collect();
    let pw_file = dir.path().join("root-password");
    std::fs::write(&pw_file, "r00t pass\n").unwrap();
    let pw = pw_file.to_str().unwrap();
    until_ok_text(&[
        "init",
        "--url",
        &addrs[0],
        "--certs-dir",
        c,
        "--root-password-file",
        pw,
    ]);
    let out = until_ok_text(&[
        "sql",
        "--url",
        &addrs[1],
        "--certs-dir",
        c,
        "-e",
        "CREATE TABLE t (k INT PRIMARY KEY); INSERT INTO t VALUES (1), (2); CREATE USER alice; SELECT count(*) FROM t",
    ]);
    assert!(out.contains('2'), "{out}");
    // Another user's certificate logs in as that user, who may read t
    // only once granted.
    let alice_reads = || {
        spanlite(&[
            "sql",
            "--url",
            &addrs[2],
            "--certs-dir",
            c,
            "--user",
            "alice",
            "-e",
            "SELECT count(*) FROM t",
        ])
    };
    let denied = alice_reads();
    let said = format!("{}{}", text(&denied.stdout), text(&denied.stderr));
    assert!(
        said.contains("42501") && said.contains("permission denied for table t"),
        "{said}"
    );
    must(&[
        "sql",
        "--url",
        &addrs[0],
        "--certs-dir",
        c,
        "-e",
        "GRANT SELECT ON t TO alice",
    ]);
    let out = must(&[
        "sql",
        "--url",
        &addrs[2],
        "--certs-dir",
        c,
        "--user",
        "alice",
        "-e",
        "SELECT count(*) FROM t",
    ]);
    assert!(out.contains('2'), "{out}");
    // psql over TLS, checking the node's certificate against the CA and
    // its address (verify-full); without TLS it is turned away.
    let (pg_host, pg_port) = pg.rsplit_once(':').unwrap();
    let psql = |sslmode: &str, extra: &str, password: &str| {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-w", "-c", "SELECT count(*) FROM t"])
            .arg(format!(
                "host={pg_host} port={pg_port} user=root dbname=spanlite sslmode={sslmode} sslrootcert={} {extra}",
                certs.join("ca.crt").display()
            ))
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGPASSWORD", password)
            .output()
            .unwrap_or_else(|e| panic!("running psql (`make deps` installs it): {e}"))
    };
    // root's password by SCRAM-SHA-256-PLUS: bound to the node's
    // certificate (channel_binding=require fails unless the server binds).
    let out = psql("verify-full", "channel_binding=require", "r00t pass");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2");
    let out = psql("verify-full", "channel_binding=require", "wrong");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("password authentication failed for user \"root\""),
        "{}",
        text(&out.stderr)
    );
    // root's client certificate instead of a password (no PGPASSWORD).
    let cert_args = format!(
        "sslcert={} sslkey={}",
        certs.join("client.root.crt").display(),
        certs.join("client.root.key").display()
    );
    let out = psql("verify-full", &cert_args, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2");
    // alice's certificate does not log in as root.
    let alice_cert = format!(
        "sslcert={} sslkey={}",
        certs.join("client.alice.crt").display(),
        certs.join("client.alice.key").display()
    );
    let out = psql("verify-full", &alice_cert, "");
    assert!(!out.status.success());
    // psycopg 3 (libpq) with verify-full and channel binding.
    let pg_dsn = |password: &str| {
        format!(
            "host={pg_host} port={pg_port} user=root password='{password}' dbname=spanlite \
             sslmode=verify-full sslrootcert={} channel_binding=require connect_timeout=10",
            certs.join("ca.crt").display()
        )
    };
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, psycopg\n\
             with psycopg.connect(sys.argv[1]) as c:\n\
             \x20   print(c.execute('SELECT count(*) FROM t').fetchone()[0], c.pgconn.ssl_in_use)",
            &pg_dsn("r00t pass"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("running python3 (`make deps` installs psycopg): {e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2 True");
    // tokio-postgres over rustls (the node's name and certificate checked
    // against the CA), SCRAM-SHA-256-PLUS required.
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let tls = pg_tls::MakeRustls::new(&certs.join("ca.crt"));
            let dsn = |password: &str| {
                format!(
                    "host={pg_host} port={pg_port} user=root password='{password}' dbname=spanlite \
                     sslmode=require channel_binding=require connect_timeout=10"
                )
            };
            let (client, conn) = tokio_postgres::connect(&dsn("r00t pass"), tls.clone())
                .await
                .unwrap();
            tokio::spawn(conn);
            let n: i64 = client
                .query_one("SELECT count(*) FROM t", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 2);
            let e = tokio_postgres::connect(&dsn("wrong"), tls.clone())
                .await
                .err()
                .expect("a wrong password logs in");
            assert_eq!(e.code().map(|c| c.code()), Some("28P01"), "{e:?}");
        });
    }
    let out = psql("disable", "", "r00t pass");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("TLS only"),
        "{}",
        text(&out.stderr)
    );
    // The Rust driver over TLS: the bank workload with root's certificate.
    let out = must(&[
        "workload",
        "bank",
        "--url",
        &join,
        "--certs-dir",
        c,
        "--duration",
        "2s",
        "--accounts",
        "20",
        "--concurrency",
        "2",
        "--quiet",
    ]);
    assert!(out.contains("committed"), "{out}");
    // Without certificates (plain HTTP/2) nothing gets through.
    let plain = spanlite(&["admin", "--url", &addrs[0], "status"]);
    let said = format!("{}{}", text(&plain.stdout), text(&plain.stderr));
    assert!(
        !plain.status.success() || said.contains("unreachable"),
        "{said}"
    );
    // A user other than root may not administer.
    let alice = spanlite(&[
        "admin",
        "--url",
        &addrs[0],
        "--certs-dir",
        c,
        "--user",
        "alice",
        "status",
    ]);
    let said = format!("{}{}", text(&alice.stdout), text(&alice.stderr));
    assert!(said.contains("may not call"), "{said}");
    must(&["admin", "--url", &addrs[0], "--certs-dir", c, "status"]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The driver over TLS without a client certificate: root's password
        // logs in; a wrong one, an unknown user and no password do not.
        use spanlite_client::{Client, ClientOptions};
        let ca = certs.join("ca.crt");
        let with = |user: &str, password: &str| {
            ClientOptions::default()
                .ca_certificate(&ca)
                .unwrap()
                .user(user)
                .password(password)
        };
        let url = format!("https://{}", addrs[1]);
        let client = Client::connect_with([url.clone()], with("root", "r00t pass"))
            .await
            .unwrap();
        let r = client.query("SELECT count(*) FROM t", &[]).await.unwrap();
        assert_eq!(r.rows[0].get::<i64>(0).unwrap(), 2);
        let failed = |r: spanlite_client::Result<Client>| match r {
            Ok(_) => panic!("logged in"),
            // (Debug escapes the quotes around the user name.)
            Err(e) => format!("{e:?}").replace('\\', ""),
        };
        let wrong = failed(Client::connect_with([url.clone()], with("root", "nope")).await);
        assert!(
            wrong.contains("password authentication failed for user \"root\""),
            "{wrong}"
        );
        let unknown = failed(Client::connect_with([url.clone()], with("mallory", "nope")).await);
        // The same refusal whether or not the user exists.
        assert!(
            unknown
                .contains("password authentication failed for user \"mallory\" (SQLSTATE 28P01)"),
            "{unknown}"
        );
        assert!(wrong.contains("(SQLSTATE 28P01)"), "{wrong}");
        let none = failed(Client::connect_with([url.clone()], with("root", "")).await);
        assert!(
            none.contains("a client certificate of this cluster's CA or a password"),
            "{none}"
        );

        // Every internal and admin RPC: no certificate → Unauthenticated.
        for (rpc, code) in every_internal_rpc(channel(&addrs[0], &certs, None)).await {
            assert_eq!(
                code,
                tonic::Code::Unauthenticated,
                "{rpc} without a certificate"
            );
        }
        // A user's certificate → PermissionDenied.
        for (rpc, code) in every_internal_rpc(channel(&addrs[0], &certs, Some("alice"))).await {
            assert_eq!(code, tonic::Code::PermissionDenied, "{rpc} as alice");
        }
        // Root may administer and use KV, never speak for a node.
        for (rpc, code) in every_internal_rpc(channel(&addrs[0], &certs, Some("root"))).await {
            let internal = rpc.starts_with("Raft.")
                || rpc.starts_with("Tablet.")
                || rpc.starts_with("Time.")
                || [
                    "Admin.Join",
                    "Admin.CreateReplica",
                    "Admin.DestroyReplica",
                    "Admin.Campaign",
                ]
                .contains(&rpc);
            if internal {
                assert_eq!(code, tonic::Code::PermissionDenied, "{rpc} as root");
            } else {
                assert!(
                    !matches!(
                        code,
                        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
                    ),
                    "{rpc} as root: {code:?}"
                );
            }
        }
    });

    // A node whose certificate another CA signed cannot join.
    let other = dir.path().join("other-certs");
    let o = other.to_str().unwrap();
    must(&["cert", "create-ca", "--certs-dir", o]);
    must(&["cert", "create-node", "127.0.0.1", "--certs-dir", o]);
    let impostor_addr = free_addr();
    let _impostor = start(4, &impostor_addr, &join, dir.path(), &other);
    // It says it cannot join (its TLS handshakes fail)…
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = std::fs::read_to_string(dir.path().join("node4.log")).unwrap_or_default();
        if log.contains("could not join the cluster") {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 never reported its join failing: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // …and the cluster never heard of it.
    let status = must(&["admin", "--url", &addrs[0], "--certs-dir", c, "status"]);
    assert!(!status.contains(&impostor_addr), "{status}\n{log}");
}

#[test]
fn start_refuses_a_public_address_without_certificates_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let out = spanlite(&[
        "start",
        "--node-id",
        "1",
        "--listen",
        "0.0.0.0:0",
        "--data-dir",
        dir.path().join("n1").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without TLS"),
        "{err}"
    );
    assert!(err.contains("--insecure"), "{err}");
}

/// tokio-postgres over rustls, checking the node's certificate and name
/// against the cluster's CA (libpq's `verify-full`) and giving the
/// `tls-server-end-point` channel binding, so SCRAM-SHA-256-PLUS is used.
/// (What the tokio-postgres-rustls crate does; its rustls default features
/// would pull in a second crypto backend and its C build.)
mod pg_tls {
    use std::future::Future;
    use std::io;
    use std::path::Path;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use sha2::Digest;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    #[derive(Clone)]
    pub struct MakeRustls(Arc<rustls::ClientConfig>);

    impl MakeRustls {
        /// Trusting the CA certificate in `ca_pem_file` only.
        pub fn new(ca_pem_file: &Path) -> Self {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_pem_file).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Self(Arc::new(config))
        }
    }

    pub struct Connect {
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    }

    pub struct Stream<S>(tokio_rustls::client::TlsStream<S>);

    impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeRustls {
        type Stream = Stream<S>;
        type TlsConnect = Connect;
        type Error = rustls::pki_types::InvalidDnsNameError;

        fn make_tls_connect(&mut self, host: &str) -> Result<Connect, Self::Error> {
            Ok(Connect {
                config: self.0.clone(),
                name: ServerName::try_from(host.to_string())?,
            })
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connect {
        type Stream = Stream<S>;
        type Error = io::Error;
        type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

        fn connect(self, stream: S) -> Self::Future {
            Box::pin(async move {
                let s = tokio_rustls::TlsConnector::from(self.config)
                    .connect(self.name, stream)
                    .await?;
                Ok(Stream(s))
            })
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
        fn channel_binding(&self) -> ChannelBinding {
            // The node's certificates are ECDSA with SHA-256: the binding
            // is the SHA-256 of the certificate (RFC 5929 §4.1).
            match self
                .0
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
            {
                Some(cert) => {
                    ChannelBinding::tls_server_end_point(sha2::Sha256::digest(cert).to_vec())
                }
                None => ChannelBinding::none(),
            }
        }
    }
}
