//! `sotay-server`: the commune server and its command-line office tools.
//!
//! ```text
//! sotay-server serve       [--data DIR] [--addr 127.0.0.1:8443] [--public-url URL] [--demo]
//!                          [--tls-cert PEM --tls-key PEM [--tls-pin]] [--plain-http]
//! sotay-server enrol-code  [--data DIR] [--commune 23497] [--hours 24] [--public-url URL] [--volunteer ID]…
//! sotay-server devices     [--data DIR] [--commune 23497]
//! sotay-server revoke      [--data DIR] DEVICE_ID
//! sotay-server add-admin   [--data DIR] [--commune 23497] USERNAME   (password: $SOTAY_ADMIN_PASSWORD or stdin)
//! ```
//! `--data` defaults to `$SOTAY_SERVER_DATA` or `./sotay-data`; `--addr` to
//! `$SOTAY_SERVER_ADDR` or `127.0.0.1:8443`. `--demo` loads the sample commune (Kon Braih
//! with made-up hamlets) if the server has no commune yet, so an app can sync at once.
//!
//! HTTPS always, unless `--plain-http` on a loopback address (behind a reverse proxy that
//! terminates TLS). The certificate is `--tls-cert`/`--tls-key` (`$SOTAY_TLS_CERT`,
//! `$SOTAY_TLS_KEY`), or one the server makes at its first start and keeps in the data
//! folder. `--public-url` (`$SOTAY_PUBLIC_URL`; `--server-url` is its old name) is the
//! address devices enrol with; enrolment links carry it with the certificate's SHA-256
//! for devices to pin (a given certificate's only with `--tls-pin`, `$SOTAY_TLS_PIN=1`).
//!
//! The data folder and every file in it (the database, the key file, the certificate and
//! its key) are its owner's only (0700 and 0600): the process runs with umask 077, and a
//! folder left looser by an earlier version is tightened at start. What the command line
//! does (`add-admin`, `enrol-code`, `revoke`) goes in the audit log as `(command line)`.
//!
//! Logs go to standard error, filtered by `$SOTAY_LOG` (`tracing-subscriber`'s `EnvFilter`
//! syntax: `info` by default, `debug`, `sotay=trace,info`, …). They name requests by method
//! and path and errors by kind: no query strings, bodies, headers or personal data.

use std::path::PathBuf;

use anyhow::{bail, Context};
use sotay::domain::sample::sample_reference;
use sotay::server::accounts::{ACTOR_CLI, MAX_USERNAME_CHARS};
use sotay::server::db::{DbError, ServerDb};
use sotay::server::tls::{self, Identity, PublicAddress};
use sotay::server::{db_error_kind, folder, router, unsafe_in_name, AppState};

struct Args {
    command: String,
    data: PathBuf,
    addr: String,
    demo: bool,
    commune: String,
    hours: i64,
    public_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_pin: bool,
    plain_http: bool,
    /// `enrol-code --volunteer ID` (repeated): the users of the device it enrols.
    volunteers: Vec<String>,
    rest: Vec<String>,
}

/// A yes/no environment variable: set to anything but "", "0", "false" or "no" means yes.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim().to_lowercase().as_str(), "" | "0" | "false" | "no"))
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let command = it.next().unwrap_or_else(|| "help".into());
    let mut a = Args {
        command,
        data: std::env::var_os("SOTAY_SERVER_DATA").map(PathBuf::from).unwrap_or_else(|| "sotay-data".into()),
        addr: std::env::var("SOTAY_SERVER_ADDR").unwrap_or_else(|_| "127.0.0.1:8443".into()),
        demo: false,
        commune: "23497".into(),
        hours: 24,
        public_url: std::env::var("SOTAY_PUBLIC_URL").ok().filter(|u| !u.trim().is_empty()),
        tls_cert: std::env::var_os("SOTAY_TLS_CERT").map(PathBuf::from),
        tls_key: std::env::var_os("SOTAY_TLS_KEY").map(PathBuf::from),
        tls_pin: env_flag("SOTAY_TLS_PIN"),
        plain_http: env_flag("SOTAY_PLAIN_HTTP"),
        volunteers: Vec::new(),
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
            "--public-url" | "--server-url" => a.public_url = Some(value(&arg)?),
            "--tls-cert" => a.tls_cert = Some(value("--tls-cert")?.into()),
            "--tls-key" => a.tls_key = Some(value("--tls-key")?.into()),
            "--tls-pin" => a.tls_pin = true,
            "--plain-http" => a.plain_http = true,
            "--volunteer" => a.volunteers.push(value("--volunteer")?),
            other if other.starts_with("--") => bail!("unknown option {other}"),
            other => a.rest.push(other.to_owned()),
        }
    }
    Ok(a)
}

fn open(data: &std::path::Path) -> anyhow::Result<ServerDb> {
    folder::private_umask();
    let (db, tightened) =
        folder::prepare(data).with_context(|| format!("cannot create the data folder {}", data.display()))?;
    if tightened > 0 {
        tracing::warn!(entries = tightened, "the data folder was readable by others; it is now its owner's only");
    }
    ServerDb::open(db).map_err(|e| db_failed("cannot open the server database", e))
}

/// Writes what the command line did to the audit log.
fn audit(db: &ServerDb, commune: &str, action: &str, detail: &str) -> anyhow::Result<()> {
    db.audit_as(ACTOR_CLI, commune, action, detail, chrono::Utc::now())
        .map_err(|e| db_failed("cannot write the audit log", e))
}

/// A device name as the terminal shows it: control and reordering characters (possible in
/// names stored before they were refused) written as escapes, never sent to the terminal.
fn printable(name: &str) -> String {
    name.chars().map(|c| if unsafe_in_name(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
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

/// The certificate to serve: the one given, or the server's own (made for `hosts` at its
/// first start). Warns when it does not name a host devices or browsers will use.
fn identity(args: &Args, hosts: &[String]) -> anyhow::Result<Identity> {
    let identity = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => tls::load_given(cert, key, args.tls_pin)?,
        (None, None) => {
            std::fs::create_dir_all(&args.data)
                .with_context(|| format!("cannot create the data folder {}", args.data.display()))?;
            let (identity, made) = tls::self_signed(&args.data, hosts)?;
            if made {
                println!("made a self-signed certificate: {}", args.data.join(tls::CERT_FILE).display());
            }
            identity
        }
        _ => bail!("--tls-cert and --tls-key go together (or $SOTAY_TLS_CERT and $SOTAY_TLS_KEY)"),
    };
    for host in hosts.iter().filter(|h| !identity.covers(h)) {
        tracing::warn!(
            host = %host,
            "the certificate does not name this host: browsers will warn (devices that pinned it still connect)"
        );
    }
    Ok(identity)
}

/// Plain HTTP only on a loopback address; on every interface, a public address is needed.
fn check_listen_address(args: &Args, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    if args.plain_http && !addr.ip().is_loopback() {
        bail!(
            "--plain-http serves only on a loopback address (127.0.0.1 or ::1), behind a reverse proxy that \
             terminates TLS; {addr} is not one"
        );
    }
    if addr.ip().is_unspecified() && args.public_url.is_none() {
        let scheme = if args.plain_http { "http" } else { "https" };
        bail!(
            "listening on every interface ({addr}): give --public-url {scheme}://<this machine's address on the \
             office network>:{} (or $SOTAY_PUBLIC_URL), the address devices enrol with",
            addr.port()
        );
    }
    Ok(())
}

/// The address devices enrol with: `--public-url`, or this listener's own address when it
/// is a specific one.
fn public_url(args: &Args, local: std::net::SocketAddr, scheme: &str) -> anyhow::Result<(String, String)> {
    match &args.public_url {
        Some(url) => tls::parse_public_url(url).map_err(anyhow::Error::msg),
        None => Ok((format!("{scheme}://{local}"), local.ip().to_string())),
    }
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
            if args.plain_http && (args.tls_cert.is_some() || args.tls_key.is_some()) {
                bail!("--plain-http and a certificate (--tls-cert) exclude each other");
            }
            // An address given as numbers is checked before anything is opened or bound.
            if let Ok(addr) = args.addr.parse::<std::net::SocketAddr>() {
                check_listen_address(&args, addr)?;
            }
            let db = open(&args.data)?;
            if args.demo && db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
                db.put_commune(&demo_reference()).map_err(|e| db_failed("cannot load the demo commune", e))?;
            }
            let listener =
                std::net::TcpListener::bind(&args.addr).with_context(|| format!("cannot listen on {}", args.addr))?;
            let local = listener.local_addr()?;
            check_listen_address(&args, local)?;
            let (scheme, tls_config, public) = if args.plain_http {
                let (url, _) = public_url(&args, local, "http")?;
                ("http", None, PublicAddress { url, fingerprint: None })
            } else {
                let (url, host) = public_url(&args, local, "https")?;
                let identity = identity(&args, &[host])?;
                let fingerprint = identity.pin.then_some(identity.fingerprint);
                ("https", Some(identity.server_config()?), PublicAddress { url, fingerprint })
            };
            println!("sotay-server listening on {scheme}://{local}");
            println!("devices enrol with {}", public.url);
            if let Some(fp) = &public.fingerprint {
                println!("certificate SHA-256: {fp}");
            }
            tracing::info!(addr = %local, scheme, "serving");
            let state = AppState::new(db).with_public_address(public);
            tls::serve(listener, router(state), tls_config, tls::Timeouts::default()).await?;
        }
        "enrol-code" => {
            let db = open(&args.data)?;
            if args.demo && db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
                db.put_commune(&demo_reference()).map_err(|e| db_failed("cannot load the demo commune", e))?;
            }
            let made = db
                .new_enrol_code_for(
                    &args.commune,
                    chrono::Duration::hours(args.hours),
                    chrono::Utc::now(),
                    &args.volunteers,
                )
                .map_err(|e| db_failed("cannot make an enrolment code", e))?;
            let code = made.code;
            let mut detail = format!("{} h", args.hours);
            for v in &args.volunteers {
                detail.push(' ');
                detail.push_str(v);
            }
            audit(&db, &args.commune, "device.code", &detail)?;
            println!("Mã đăng ký máy / enrolment code: {code}");
            println!("Hết hạn sau / expires in: {} h", args.hours);
            if made.pin_codes.is_empty() {
                println!("(no --volunteer: the device will offer no one until the office assigns its users)");
            }
            for (volunteer, pin_code) in &made.pin_codes {
                println!("Mã đặt PIN lần đầu / first-PIN code  {volunteer}: {pin_code}");
            }
            let Some(url) = &args.public_url else {
                println!("(--public-url https://… or $SOTAY_PUBLIC_URL adds the address, the certificate's fingerprint and a QR code)");
                return Ok(());
            };
            let (url, host) = tls::parse_public_url(url).map_err(anyhow::Error::msg)?;
            let fingerprint = if args.plain_http || !url.starts_with("https://") {
                None
            } else {
                let identity = identity(&args, &[host])?;
                identity.pin.then_some(identity.fingerprint)
            };
            let link = PublicAddress { url, fingerprint }.link(&code);
            println!("Địa chỉ máy chủ / server address: {}", link.server);
            if let Some(fp) = &link.fingerprint {
                println!("Dấu vân tay chứng chỉ / certificate SHA-256: {fp}");
            }
            let link = link.to_link();
            let qr = qrcode::QrCode::new(link.as_bytes())?;
            println!("{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
            println!("Liên kết đăng ký / enrolment link: {link}");
        }
        "devices" => {
            let db = open(&args.data)?;
            for d in db.devices(&args.commune).map_err(|e| db_failed("cannot list the devices", e))? {
                let state = if d.revoked { "revoked" } else { "active" };
                println!(
                    "{}  {:<30}  {state:<8} last sync {}  queued {}",
                    d.id,
                    printable(&d.name),
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
            if username.is_empty()
                || username.chars().count() > MAX_USERNAME_CHARS
                || username.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                bail!("the USERNAME must have 1 to {MAX_USERNAME_CHARS} characters, without spaces");
            }
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
            audit(&db, &args.commune, "account.put", username)?;
            println!("office account {username} can log in at /office for commune {}", args.commune);
        }
        "revoke" => {
            let db = open(&args.data)?;
            let id = args.rest.first().context("revoke needs a DEVICE_ID (see `sotay-server devices`)")?;
            let device = db.device(id).map_err(|e| db_failed("cannot read the device", e))?;
            db.revoke(id, chrono::Utc::now()).map_err(|e| db_failed("cannot revoke the device", e))?;
            if let Some(d) = device {
                audit(&db, &d.commune, "device.revoke", id)?;
            }
            println!("revoked {id}");
        }
        _ => {
            println!("{}", include_str!("server_usage.txt"));
        }
    }
    Ok(())
}
