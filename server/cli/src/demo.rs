//! `spanlite demo`: three nodes inside this process on loopback
//! ([`EmbeddedCluster`]), with a sample `accounts` table spread over four
//! tablets; then the SQL shell on the first node. Everything is removed on
//! exit.

use std::process::ExitCode;

use spanlite_sql::Value;

use crate::shell::{self, SqlClient};
use spanlite_directory::FIRST_DATA_TABLET;
use spanlite_node::embedded::EmbeddedCluster;
use spanlite_session::Session;

const ACCOUNTS: i64 = 100;

/// Runs the demo; `script`: statements to run instead of the interactive
/// shell (standard input is used when it is not a terminal).
pub async fn run(script: Option<String>) -> Result<ExitCode, String> {
    eprintln!("Starting a 3-node cluster …");
    let cluster = EmbeddedCluster::start(3).await?;
    eprintln!("Data in {}", cluster.dir().display());
    // SIGTERM, or SIGHUP (the terminal closed), ends the demo as \q does:
    // the cluster stops, its data goes. Ctrl-C is the shell's: it drops
    // the statement being typed, or cancels the one running (the shell
    // claims SIGINT then); between statements of a script, it ends the
    // demo too.
    let outcome = crate::interrupt::interruptible(populate_and_shell(&cluster, script)).await;
    cluster.shutdown().await;
    outcome
}

async fn populate_and_shell(
    cluster: &EmbeddedCluster,
    script: Option<String>,
) -> Result<ExitCode, String> {
    populate(cluster).await?;
    let addrs = cluster.addrs();
    let psql = cluster.pg_addrs().first().map_or(String::new(), |a| {
        format!(
            "\nOr from another terminal: psql -h {} -p {} -U root -d spanlite",
            a.ip(),
            a.port()
        )
    });
    let console = cluster.http_addrs().first().map_or(String::new(), |a| {
        format!("\nWeb console and metrics: http://{a}/ (/metrics)")
    });
    eprintln!(
        "Ready: table accounts ({ACCOUNTS} rows, 1000 each) over 4 tablets; nodes at {}.\n\
         Try: SELECT * FROM accounts LIMIT 5;\n     \
         BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = 1; \
         UPDATE accounts SET balance = balance + 10 WHERE id = 80; COMMIT;\n     \
         SELECT sum(balance) FROM accounts;{psql}{console}",
        addrs.join(", ")
    );
    let mut client = SqlClient::connect(&addrs[..1]).await?;
    match script {
        Some(s) => shell::run_script(&mut client, &s).await,
        None => shell::interactive(&mut client).await,
    }
}

/// The demo's sample data: table `accounts` with [`ACCOUNTS`] rows of 1000
/// each, split over four tablets (at accounts 26, 51 and 76).
pub(crate) async fn populate(cluster: &EmbeddedCluster) -> Result<(), String> {
    let mut session = Session::on(cluster.schema_of(0));
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
        tablet = cluster.split(tablet, &key).await?;
    }
    Ok(())
}
