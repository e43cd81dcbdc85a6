//! `sotay-server`: the commune server and its command-line office tools.
//!
//! ```text
//! sotay-server serve       [--data DIR] [--addr 127.0.0.1:8080] [--demo]
//! sotay-server enrol-code  [--data DIR] [--commune 23497] [--hours 24] [--server-url URL]
//! sotay-server devices     [--data DIR] [--commune 23497]
//! sotay-server revoke      [--data DIR] DEVICE_ID
//! sotay-server add-admin   [--data DIR] [--commune 23497] USERNAME   (password: $SOTAY_ADMIN_PASSWORD or stdin)
//! ```
//! `--data` defaults to `$SOTAY_SERVER_DATA` or `./sotay-data`; `--addr` to
//! `$SOTAY_SERVER_ADDR` or `127.0.0.1:8080`. `--demo` loads the sample commune (Kon Braih
//! with made-up hamlets) if the server has no commune yet, so an app can sync at once.
//!
//! Logs go to standard error, filtered by `$SOTAY_LOG` (`tracing-subscriber`'s `EnvFilter`
//! syntax: `info` by default, `debug`, `sotay=trace,info`, …). They name requests by method
//! and path and errors by kind: no query strings, bodies, headers or personal data.

use std::path::PathBuf;

use anyhow::{bail, Context};
use sotay::domain::sample::sample_reference;
use sotay::server::db::{DbError, ServerDb};
use sotay::server::{db_error_kind, router, AppState};

struct Args {
    command: String,
    data: PathBuf,
    addr: String,
    demo: bool,
    commune: String,
    hours: i64,
    server_url: Option<String>,
    rest: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let command = it.next().unwrap_or_else(|| "help".into());
    let mut a = Args {
        command,
        data: std::env::var_os("SOTAY_SERVER_DATA").map(PathBuf::from).unwrap_or_else(|| "sotay-data".into()),
        addr: std::env::var("SOTAY_SERVER_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into()),
        demo: false,
        commune: "23497".into(),
        hours: 24,
        server_url: None,
        rest: Vec::new(),
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data" => a.data = value("--data")?.into(),
            "--addr" => a.addr = value("--addr")?,
            "--demo" => a.demo = true,
            "--commune" => a.commune = value("--commune")?,
            "--hours" => a.hours = value("--hours")?.parse().context("--hours takes a whole number")?,
            "--server-url" => a.server_url = Some(value("--server-url")?),
            other if other.starts_with("--") => bail!("unknown option {other}"),
            other => a.rest.push(other.to_owned()),
        }
    }
    Ok(a)
}

fn open(data: &std::path::Path) -> anyhow::Result<ServerDb> {
    std::fs::create_dir_all(data).with_context(|| format!("cannot create the data folder {}", data.display()))?;
    ServerDb::open(data.join("sotay-server.db")).map_err(|e| db_failed("cannot open the server database", e))
}

/// A database error as the operator sees it: its kind, never its text (which can quote
/// stored data).
fn db_failed(what: &str, e: DbError) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", db_error_kind(&e))
}

/// The demo commune: the app's sample hamlets, but real for the devices that enrol.
fn demo_reference() -> sotay::domain::ReferenceData {
    let mut r = sample_reference();
    r.commune.sample = false;
    r.commune.name = "Xã Kon Braih (demo)".into();
    r
}

/// Logs to standard error, filtered by `$SOTAY_LOG` (default `info`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let (filter, bad) = match std::env::var("SOTAY_LOG") {
        Err(_) => (EnvFilter::new("info"), false),
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, false),
            Err(_) => (EnvFilter::new("info"), true),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if bad {
        tracing::warn!("SOTAY_LOG is not a valid filter; logging at info");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let args = parse_args()?;
    match args.command.as_str() {
        "serve" => {
            let db = open(&args.data)?;
            if args.demo && db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
                db.put_commune(&demo_reference()).map_err(|e| db_failed("cannot load the demo commune", e))?;
            }
            let listener = tokio::net::TcpListener::bind(&args.addr)
                .await
                .with_context(|| format!("cannot listen on {}", args.addr))?;
            println!("sotay-server listening on http://{}", listener.local_addr()?);
            tracing::info!(addr = %listener.local_addr()?, "serving");
            axum::serve(listener, router(AppState::new(db))).await?;
        }
        "enrol-code" => {
            let db = open(&args.data)?;
            if args.demo && db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
                db.put_commune(&demo_reference()).map_err(|e| db_failed("cannot load the demo commune", e))?;
            }
            let code = db
                .new_enrol_code(&args.commune, chrono::Duration::hours(args.hours), chrono::Utc::now())
                .map_err(|e| db_failed("cannot make an enrolment code", e))?;
            println!("Mã đăng ký máy / enrolment code: {code}");
            println!("Hết hạn sau / expires in: {} h", args.hours);
            if let Some(url) = &args.server_url {
                let payload = format!("sotay:enrol?server={url}&code={code}");
                let qr = qrcode::QrCode::new(payload.as_bytes())?;
                println!("{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
                println!("{payload}");
            }
        }
        "devices" => {
            let db = open(&args.data)?;
            for d in db.devices(&args.commune).map_err(|e| db_failed("cannot list the devices", e))? {
                let state = if d.revoked { "revoked" } else { "active" };
                println!(
                    "{}  {:<30}  {state:<8} last sync {}  queued {}",
                    d.id,
                    d.name,
                    d.last_seen.as_deref().unwrap_or("never"),
                    d.queued.map(|q| q.to_string()).unwrap_or_else(|| "?".into())
                );
            }
        }
        "add-admin" => {
            let db = open(&args.data)?;
            if args.demo && db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
                db.put_commune(&demo_reference()).map_err(|e| db_failed("cannot load the demo commune", e))?;
            }
            let username = args.rest.first().context("add-admin needs a USERNAME")?;
            // From the environment (scripts) or one line of standard input (a person).
            let password = match std::env::var("SOTAY_ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprint!("Mật khẩu / password for {username}: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            if password.chars().count() < 10 {
                bail!("the password must have at least 10 characters");
            }
            db.put_account(username, &password, &args.commune, chrono::Utc::now())
                .map_err(|e| db_failed("cannot save the account", e))?;
            println!("office account {username} can log in at /office for commune {}", args.commune);
        }
        "revoke" => {
            let db = open(&args.data)?;
            let id = args.rest.first().context("revoke needs a DEVICE_ID (see `sotay-server devices`)")?;
            db.revoke(id, chrono::Utc::now()).map_err(|e| db_failed("cannot revoke the device", e))?;
            println!("revoked {id}");
        }
        _ => {
            println!("{}", include_str!("server_usage.txt"));
        }
    }
    Ok(())
}
