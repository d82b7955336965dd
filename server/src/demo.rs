//! `spanlite demo`: three nodes inside this process on loopback, in a
//! temporary directory, with a sample `accounts` table spread over four
//! tablets; then the SQL shell on the first node. Everything is removed on
//! exit.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use spanlite_proto::admin::admin_service_client::AdminServiceClient;
use spanlite_proto::admin::{InitRequest, SplitTabletRequest};
use spanlite_sql::Value;
use tonic::transport::Endpoint;

use crate::directory::FIRST_DATA_TABLET;
use crate::node::{self, NodeConfig, RunningNode};
use crate::shell::{self, SqlClient};
use crate::sql::Session;

const ACCOUNTS: i64 = 100;

/// Runs the demo; `script`: statements to run instead of the interactive
/// shell (standard input is used when it is not a terminal).
pub async fn run(script: Option<String>) -> Result<ExitCode, String> {
    let dir = std::env::temp_dir().join(format!(
        "spanlite-demo-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let result = demo(&dir, script).await;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("spanlite demo: could not remove {}: {e}", dir.display());
    }
    result
}

async fn demo(dir: &std::path::Path, script: Option<String>) -> Result<ExitCode, String> {
    eprintln!("Starting a 3-node cluster in {} …", dir.display());
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("binding a loopback port: {e}"))?,
        );
    }
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let mut config = NodeConfig::new(
            i as u64 + 1,
            addrs[i].parse().map_err(|e| format!("{e}"))?,
            dir.join(format!("node{}", i + 1)),
        );
        config.join = addrs.clone();
        let started = node::start_on(config, listener).await;
        nodes.push(started.map_err(|e| e.to_string())?);
    }
    let outcome = populate_and_shell(&addrs, &nodes, script).await;
    for n in nodes {
        if let Err(e) = n.shutdown().await {
            eprintln!("spanlite demo: shutting a node down: {e}");
        }
    }
    outcome
}

async fn admin(addr: &str) -> Result<AdminServiceClient<tonic::transport::Channel>, String> {
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(AdminServiceClient::new(ch))
}

async fn populate_and_shell(
    addrs: &[String],
    nodes: &[RunningNode],
    script: Option<String>,
) -> Result<ExitCode, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    // Init once every node has joined.
    loop {
        let r = admin(&addrs[0])
            .await?
            .init(InitRequest {})
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        if r.error.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("init: {}", r.error));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut session = Session::new(nodes[0].context.gateway.clone());
    let mut sql = String::from(
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance INT NOT NULL DEFAULT 0);",
    );
    let owners = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    for chunk in (1..=ACCOUNTS).collect::<Vec<_>>().chunks(25) {
        let values: Vec<String> = chunk
            .iter()
            .map(|id| {
                let owner = owners[(*id as usize) % owners.len()];
                format!("({id}, '{owner}{id}', 1000)")
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO accounts VALUES {};",
            values.join(", ")
        ));
    }
    for r in session.run(&sql).await {
        r.map_err(|e| format!("loading the sample data: {e}"))?;
    }
    // Four tablets: split at accounts 26, 51 and 76.
    let def = session
        .table("accounts")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the accounts table vanished")?;
    let mut tablet = FIRST_DATA_TABLET;
    for id in [26, 51, 76] {
        let key = def.row_key(&[Value::Int(id)]).map_err(|e| e.to_string())?;
        tablet = loop {
            let mut split = None;
            for a in addrs {
                let r = admin(a)
                    .await?
                    .split_tablet(SplitTabletRequest {
                        tablet_id: tablet,
                        split_key: key.clone(),
                    })
                    .await
                    .map_err(|s| s.message().to_string())?
                    .into_inner();
                if r.error.is_empty() {
                    split = r.right.map(|d| d.tablet_id);
                    break;
                }
            }
            if let Some(right) = split {
                break right;
            }
            if Instant::now() > deadline {
                return Err("could not split the accounts table".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
    }
    eprintln!(
        "Ready: table accounts ({ACCOUNTS} rows, 1000 each) over 4 tablets; nodes at {}.\n\
         Try: SELECT * FROM accounts LIMIT 5;\n     \
         BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = 1; \
         UPDATE accounts SET balance = balance + 10 WHERE id = 80; COMMIT;\n     \
         SELECT sum(balance) FROM accounts;",
        addrs.join(", ")
    );
    let mut client = SqlClient::connect(&addrs[..1]).await?;
    match script {
        Some(s) => shell::run_script(&mut client, &s).await,
        None => shell::interactive(&mut client).await,
    }
}
