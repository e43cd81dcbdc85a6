//! `sotay-server`: the commune server and its command line (clap derive: each command has
//! its own options and `--help`; options fall back to environment variables).
//!
//! ```text
//! sotay-server serve          [--addr 127.0.0.1:8443] [--public-url URL] [--demo] [TLS options]
//! sotay-server commune list | add CODE --admin USER [--name NAME --province CODE] | remove-demo
//! sotay-server hamlet import FILE | retire ID          sotay-server volunteer import FILE
//! sotay-server admin add USER [--commune CODE | --province CODE] | list | disable USER
//! sotay-server enrol-code     [--hours 24] [--public-url URL] [--volunteer ID]… [--demo]
//! sotay-server devices | revoke DEVICE_ID
//! sotay-server backup FILE    sotay-server restore FILE --data NEW_DIR
//! sotay-server migrate --to postgres://…  [--to-data DIR]   (then serve with --database)
//! ```
//! Every command takes `--data DIR` (`$SOTAY_SERVER_DATA`, `./sotay-data`); those about one
//! commune take `--commune CODE` (`$SOTAY_COMMUNE`), needed only when the server has more
//! than one. Passwords and passphrases are read without echo from the terminal, or from
//! `$SOTAY_ADMIN_PASSWORD` / `$SOTAY_BACKUP_PASSPHRASE` (or a line of standard input that is
//! not a terminal, or `--passphrase-file`).
//!
//! Any error ends the program with a non-zero status and one line on standard error
//! (`sotay-server: …`), never a backtrace; a database error is told by its kind, never by
//! its text (which can quote stored data). What the command line changes goes in the audit
//! log as `(command line)`.
//!
//! The data folder and every file in it are its owner's only (0700 and 0600): the process
//! runs with umask 077, and a folder left looser by an earlier version is tightened at
//! start. Logs go to standard error, filtered by `$SOTAY_LOG` (`info` by default); they
//! name requests by method and route and errors by kind, never personal data.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use sotay_server::accounts::{Scope, ACTOR_CLI, MAX_USERNAME_CHARS};
use sotay_server::db::{DbError, ServerDb};
use sotay_server::domain::sample::sample_reference;
use sotay_server::i18n::office::VI;
use sotay_server::tls::{self, Identity, PublicAddress};
use sotay_server::{backup, communes, db_error_kind, folder, router, units, unsafe_in_name, AppState};

#[path = "server/args.rs"]
mod args;

use args::*;

/// Where the data is kept when not in the data folder's SQLite file: `--database` and
/// `--database-pool`, set once in `run`.
static DATABASE: std::sync::OnceLock<(Option<String>, usize)> = std::sync::OnceLock::new();

fn open(data: &Path) -> anyhow::Result<ServerDb> {
    folder::private_umask();
    let (db, tightened) =
        folder::prepare(data).with_context(|| format!("cannot create the data folder {}", data.display()))?;
    if tightened > 0 {
        tracing::warn!(entries = tightened, "the data folder was readable by others; it is now its owner's only");
    }
    match DATABASE.get() {
        Some((Some(url), pool)) => open_postgres(url, data, *pool),
        _ => ServerDb::open(db).map_err(|e| db_failed("cannot open the server database", e)),
    }
}

/// The PostgreSQL database at `url`, with the key file of the data folder `data`.
fn open_postgres(url: &str, data: &Path, pool: usize) -> anyhow::Result<ServerDb> {
    let keys = data.join(folder::DB_FILE).with_extension("keys");
    let options = sotay_server::db::PoolOptions { size: pool, ..Default::default() };
    ServerDb::open_postgres(url, keys, options).map_err(|e| db_failed("cannot open the PostgreSQL database", e))
}

/// `migrate --to`: this data folder's SQLite data into PostgreSQL.
fn migrate(data: &Path, a: &MigrateArgs) -> anyhow::Result<()> {
    if matches!(DATABASE.get(), Some((Some(_), _))) {
        bail!("migrate moves the SQLite file of --data: leave out --database (and $SOTAY_DATABASE)");
    }
    if !data.join(folder::DB_FILE).exists() {
        bail!("no server database in {} (see --data)", data.display());
    }
    let from = open(data)?;
    let to_data = a.to_data.as_deref().unwrap_or(data);
    folder::prepare(to_data).with_context(|| format!("cannot create the data folder {}", to_data.display()))?;
    let to = open_postgres(&a.to, to_data, 4)?;
    let moved = from.move_into(&to).map_err(|e| db_failed("cannot move the data", e))?;
    for (table, n) in &moved.rows {
        println!("{table:<18} {n:>9} rows");
    }
    for commune in &moved.communes {
        let mismatches = to.totals_mismatches(commune).map_err(|e| db_failed("cannot check the totals", e))?;
        if !mismatches.is_empty() {
            bail!(
                "commune {commune}: the reports' totals in PostgreSQL differ from its records ({} rows)",
                mismatches.len()
            );
        }
        audit(&to, commune, "commune.migrate", "moved from SQLite")?;
    }
    println!(
        "moved communes {} into PostgreSQL; serve with --database (or $SOTAY_DATABASE) and --data {}",
        moved.communes.join(", "),
        to_data.display()
    );
    Ok(())
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

/// A database error as the operator sees it: its kind, never its text.
fn db_failed(what: &str, e: DbError) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", db_error_kind(&e))
}

/// The demo commune: the app's sample hamlets, but real for the devices that enrol.
fn demo_reference() -> sotay_server::domain::ReferenceData {
    let mut r = sample_reference();
    r.commune.sample = false;
    r.commune.name = "Xã Kon Braih (demo)".into();
    r
}

/// Loads the demo commune if the server has no commune yet.
fn load_demo(db: &ServerDb) -> anyhow::Result<()> {
    if db.communes().map_err(|e| db_failed("cannot read the communes", e))?.is_empty() {
        db.add_commune(&demo_reference(), "51", true).map_err(|e| db_failed("cannot load the demo commune", e))?;
        audit(db, "23497", "commune.demo", "23497 (demo)")?;
    }
    Ok(())
}

/// The commune a command is about: the one given, or the server's only one.
fn commune(db: &ServerDb, given: &CommuneArg) -> anyhow::Result<String> {
    let all = db.communes().map_err(|e| db_failed("cannot read the communes", e))?;
    match &given.commune {
        Some(code) if all.iter().any(|c| &c.code == code) => Ok(code.clone()),
        Some(code) => bail!("no commune {code} on this server (see `sotay-server commune list`)"),
        None => match all.as_slice() {
            [only] => Ok(only.code.clone()),
            [] => bail!(
                "this server has no commune yet: add yours with `sotay-server commune add CODE --admin NAME` \
                 (or `serve --demo` for the demo)"
            ),
            many => bail!("this server has {} communes: say which with --commune CODE", many.len()),
        },
    }
}

/// A secret: from the environment variable, from a terminal without echo (asked twice when
/// `confirm`), or from the first line of standard input when it is not a terminal.
fn secret(env: &str, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("{prompt}: ")).context("cannot read from the terminal")?;
        if confirm {
            let again = rpassword::prompt_password("Nhập lại / again: ").context("cannot read from the terminal")?;
            if again != first {
                bail!("the two entries differ; nothing was changed");
            }
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn passphrase(file: &Option<PathBuf>, confirm: bool) -> anyhow::Result<String> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(text.lines().next().unwrap_or("").to_owned())
        }
        None => secret("SOTAY_BACKUP_PASSPHRASE", "Mật khẩu sao lưu / backup passphrase", confirm),
    }
}

fn check_username(username: &str) -> anyhow::Result<()> {
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
        || username.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        bail!("the user name must have 1 to {MAX_USERNAME_CHARS} characters, without spaces");
    }
    Ok(())
}

/// Makes (or resets) an office account, asking for its password.
fn put_account(db: &ServerDb, username: &str, scope: &Scope) -> anyhow::Result<()> {
    check_username(username)?;
    let password = secret("SOTAY_ADMIN_PASSWORD", &format!("Mật khẩu / password for {username}"), true)?;
    if password.chars().count() < 10 {
        bail!("the password must have at least 10 characters");
    }
    db.put_account_for(username, &password, scope, chrono::Utc::now())
        .map_err(|e| db_failed("cannot save the account", e))?;
    match scope {
        Scope::Commune(c) => {
            audit(db, c, "account.put", username)?;
            println!("office account {username} can log in at /office for commune {c}");
        }
        Scope::Province(p) => {
            audit(db, &sotay_server::accounts::province_scope(p), "account.put", username)?;
            println!("office account {username} can log in at /office for every commune of province {p}");
        }
        Scope::Unit { commune, unit } => {
            audit(db, commune, "account.put", username)?;
            println!("office account {username} can log in at /office for unit {unit} of commune {commune}");
        }
    }
    Ok(())
}

fn admin_add(data: &Path, a: &AdminAdd) -> anyhow::Result<()> {
    let db = open(data)?;
    if a.demo {
        load_demo(&db)?;
    }
    let scope = match &a.province {
        Some(p) => {
            let code = units::normal_code(p, 2)
                .filter(|c| units::province(c).is_some())
                .with_context(|| format!("no province {p} in the list of units (two digits, e.g. 51)"))?;
            Scope::Province(code)
        }
        None => Scope::Commune(commune(&db, &CommuneArg { commune: a.commune.clone() })?),
    };
    put_account(&db, &a.username, &scope)
}

/// The certificate to serve: the one given, or the server's own (made for `hosts` at its
/// first start). Warns when it does not name a host devices or browsers will use.
fn identity(data: &Path, tls_args: &TlsArgs, hosts: &[String]) -> anyhow::Result<Identity> {
    let identity = match (&tls_args.tls_cert, &tls_args.tls_key) {
        (Some(cert), Some(key)) => tls::load_given(cert, key, tls_args.pin())?,
        _ => {
            std::fs::create_dir_all(data)
                .with_context(|| format!("cannot create the data folder {}", data.display()))?;
            let (identity, made) = tls::self_signed(data, hosts)?;
            if made {
                println!("made a self-signed certificate: {}", data.join(tls::CERT_FILE).display());
            }
            identity
        }
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
fn check_listen_address(a: &ServeArgs, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    if a.tls.plain() && !addr.ip().is_loopback() {
        bail!(
            "--plain-http serves only on a loopback address (127.0.0.1 or ::1), behind a reverse proxy that \
             terminates TLS; {addr} is not one"
        );
    }
    if addr.ip().is_unspecified() && a.public_url.is_none() {
        let scheme = if a.tls.plain() { "http" } else { "https" };
        bail!(
            "listening on every interface ({addr}): give --public-url {scheme}://<this machine's address on the \
             office network>:{} (or $SOTAY_PUBLIC_URL), the address devices enrol with",
            addr.port()
        );
    }
    Ok(())
}

async fn serve(data: &Path, a: &ServeArgs) -> anyhow::Result<()> {
    a.tls.check()?;
    // An address given as numbers is checked before anything is opened or bound.
    if let Ok(addr) = a.addr.parse::<std::net::SocketAddr>() {
        check_listen_address(a, addr)?;
    }
    let db = open(data)?;
    if a.demo {
        load_demo(&db)?;
    }
    let listener = std::net::TcpListener::bind(&a.addr).with_context(|| format!("cannot listen on {}", a.addr))?;
    let local = listener.local_addr()?;
    check_listen_address(a, local)?;
    let public_url = |scheme: &str| match &a.public_url {
        Some(url) => tls::parse_public_url(url).map_err(anyhow::Error::msg),
        None => Ok((format!("{scheme}://{local}"), local.ip().to_string())),
    };
    let (scheme, tls_config, public) = if a.tls.plain() {
        let (url, _) = public_url("http")?;
        ("http", None, PublicAddress { url, fingerprint: None })
    } else {
        let (url, host) = public_url("https")?;
        let identity = identity(data, &a.tls, &[host])?;
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
    Ok(())
}

fn commune_cmd(data: &Path, cmd: &CommuneCmd) -> anyhow::Result<()> {
    let db = open(data)?;
    match cmd {
        CommuneCmd::List => {
            let rows = db.commune_list(None).map_err(|e| db_failed("cannot list the communes", e))?;
            if rows.is_empty() {
                println!("(no commune yet: `sotay-server commune add CODE --admin NAME`)");
            }
            for c in rows {
                println!(
                    "{}  {:<36} province {:<3} {}hamlets {:<4} devices {:<3} records {:<7} last sync {}",
                    c.code,
                    c.name,
                    if c.province.is_empty() { "?" } else { &c.province },
                    if c.demo { "DEMO " } else { "" },
                    c.hamlets,
                    c.devices,
                    c.records,
                    c.last_sync.as_deref().unwrap_or("never"),
                );
            }
        }
        CommuneCmd::Add { code, admin, name, province } => {
            check_username(admin)?;
            let code5 = units::normal_code(code, 5)
                .with_context(|| format!("a commune code has five digits (23497); {code:?} is not one"))?;
            let (name, province_code, province_name) = match (name, province, units::unit(&code5)) {
                (Some(name), Some(p), _) => {
                    let p2 = units::normal_code(p, 2)
                        .filter(|c| units::province(c).is_some())
                        .with_context(|| format!("no province {p} in the list of units (two digits, e.g. 51)"))?;
                    let name = name.trim();
                    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                        bail!(
                            "--name takes the commune's name as it is written (\"Xã Kon Braih\"), up to 100 characters"
                        );
                    }
                    let full = units::province(&p2).unwrap_or_default();
                    (name.to_owned(), p2, full)
                }
                (None, None, Some(u)) => (u.name.to_owned(), u.province_code.to_owned(), u.province_name),
                _ => bail!(
                    "commune code {code5} is not in the list of administrative units in force since 1/7/2025; \
                     check the code, or give its name and province: --name \"Xã …\" --province 51"
                ),
            };
            let reference = communes::new_reference(&code5, &name, province_name);
            match db.commune_is_demo(&code5).map_err(|e| db_failed("cannot read the communes", e))? {
                Some(true) => bail!(
                    "the demo commune uses the code {code5}: remove it first with `sotay-server commune remove-demo`"
                ),
                Some(false) => bail!("commune {code5} is already on this server (`sotay-server commune list`)"),
                None => {}
            }
            // The password is asked before anything is written, so a typo leaves no commune behind.
            let password = secret("SOTAY_ADMIN_PASSWORD", &format!("Mật khẩu / password for {admin}"), true)?;
            if password.chars().count() < 10 {
                bail!("the password must have at least 10 characters");
            }
            db.add_commune(&reference, &province_code, false).map_err(|e| db_failed("cannot add the commune", e))?;
            audit(&db, &code5, "commune.add", &format!("{code5} {name}"))?;
            db.put_account_for(admin, &password, &Scope::Commune(code5.clone()), chrono::Utc::now())
                .map_err(|e| db_failed("cannot save the account", e))?;
            audit(&db, &code5, "account.put", admin)?;
            println!("added {name}, {} ({code5}), province {province_code}", units::lower_first(province_name));
            println!(
                "office account {admin} can log in at /office; next: the hamlets (`sotay-server hamlet import FILE`)"
            );
        }
        CommuneCmd::RemoveDemo => {
            match db.remove_demo(ACTOR_CLI, chrono::Utc::now()).map_err(|e| db_failed("cannot remove the demo", e))? {
                None => bail!("this server has no demo commune"),
                Some(r) => println!(
                    "removed the demo commune {} with {} records, {} devices and {} office accounts",
                    r.code, r.records, r.devices, r.accounts
                ),
            }
        }
    }
    Ok(())
}

/// A CSV import as the office's pages apply it: (audit action, detail, message) or every
/// row's error.
type Importer = fn(
    &'static sotay_server::i18n::office::OfficeStrings,
    &mut sotay_server::domain::ReferenceData,
    &[u8],
) -> Result<(&'static str, String, String), Vec<String>>;

/// Applies a CSV import the way the office's page does, or says every row's error.
fn import(data: &Path, file: &Path, given: &CommuneArg, apply: Importer) -> anyhow::Result<()> {
    let db = open(data)?;
    let code = commune(&db, given)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut r = db.commune(&code).map_err(|e| db_failed("cannot read the commune", e))?;
    match apply(&VI, &mut r, &bytes) {
        Err(errors) => bail!("{} nothing was imported: {}", file.display(), errors.join("; ")),
        Ok((action, detail, message)) => {
            db.put_commune(&r).map_err(|e| db_failed("cannot save the commune", e))?;
            audit(&db, &code, action, &detail)?;
            println!("{message} ({})", r.commune.name);
        }
    }
    Ok(())
}

fn devices(data: &Path, given: &CommuneArg) -> anyhow::Result<()> {
    let db = open(data)?;
    let code = commune(&db, given)?;
    for d in db.devices(&code).map_err(|e| db_failed("cannot list the devices", e))? {
        let state = if d.revoked { "revoked" } else { "active" };
        println!(
            "{}  {:<30}  {state:<8} last sync {}  queued {}",
            d.id,
            printable(&d.name),
            d.last_seen.as_deref().unwrap_or("never"),
            d.queued.map(|q| q.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    Ok(())
}

fn enrol_code(data: &Path, a: &EnrolCodeArgs) -> anyhow::Result<()> {
    a.tls.check()?;
    let db = open(data)?;
    if a.demo {
        load_demo(&db)?;
    }
    let code_of = commune(&db, &a.commune)?;
    let made = db
        .new_enrol_code_for(&code_of, chrono::Duration::hours(a.hours), chrono::Utc::now(), &a.volunteers)
        .map_err(|e| db_failed("cannot make an enrolment code", e))?;
    let code = made.code;
    let mut detail = format!("{} h", a.hours);
    for v in &a.volunteers {
        detail.push(' ');
        detail.push_str(v);
    }
    audit(&db, &code_of, "device.code", &detail)?;
    println!("Mã đăng ký máy / enrolment code: {code}");
    println!("Hết hạn sau / expires in: {} h", a.hours);
    if made.pin_codes.is_empty() {
        println!("(no --volunteer: the device will offer no one until the office assigns its users)");
    }
    for (volunteer, pin_code) in &made.pin_codes {
        println!("Mã đặt PIN lần đầu / first-PIN code  {volunteer}: {pin_code}");
    }
    let Some(url) = &a.public_url else {
        println!("(--public-url https://… or $SOTAY_PUBLIC_URL adds the address, the certificate's fingerprint and a QR code)");
        return Ok(());
    };
    let (url, host) = tls::parse_public_url(url).map_err(anyhow::Error::msg)?;
    let fingerprint = if a.tls.plain() || !url.starts_with("https://") {
        None
    } else {
        let identity = identity(data, &a.tls, &[host])?;
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
    if let Some(path) = &a.qr_svg {
        let svg = qr.render::<qrcode::render::svg::Color>().min_dimensions(400, 400).quiet_zone(true).build();
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        println!("QR code: {}", path.display());
    }
    Ok(())
}

fn run_backup(data: &Path, a: &BackupArgs) -> anyhow::Result<()> {
    if matches!(DATABASE.get(), Some((Some(_), _))) {
        bail!(
            "this server keeps its data in PostgreSQL: back the database up with pg_dump or base backups, and the \
             data folder (key file, certificate) apart, encrypted (README, \"Deployment\")"
        );
    }
    folder::private_umask();
    let passphrase = passphrase(&a.passphrase_file, true)?;
    let contents = backup::backup(data, &a.file, &passphrase)?;
    let total: u64 = contents.files.iter().map(|(_, n)| n).sum();
    let db = open(data)?;
    let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    audit(&db, "", "backup", &name)?;
    println!(
        "backed up {} files ({total} bytes) into {}, encrypted to the passphrase",
        contents.files.len(),
        a.file.display()
    );
    Ok(())
}

fn run_restore(data: &Path, a: &BackupArgs) -> anyhow::Result<()> {
    folder::private_umask();
    let passphrase = passphrase(&a.passphrase_file, false)?;
    let contents = backup::restore(&a.file, data, &passphrase)?;
    let db = open(data)?;
    let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    audit(&db, "", "restore", &name)?;
    for c in db.commune_list(None).map_err(|e| db_failed("cannot list the communes", e))? {
        println!("{}  {}: {} records, {} devices", c.code, c.name, c.records, c.devices);
    }
    let names: Vec<&str> = contents.files.iter().map(|(n, _)| n.as_str()).collect();
    println!("restored {} into {} (integrity check ok)", names.join(", "), data.display());
    Ok(())
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
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if bad {
        tracing::warn!("SOTAY_LOG is not a valid filter; logging at info");
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data = cli.data.as_path();
    let _ = DATABASE.set((cli.database.clone(), cli.database_pool));
    match &cli.command {
        Command::Serve(a) => serve(data, a).await,
        Command::Commune(cmd) => commune_cmd(data, cmd),
        Command::Hamlet(HamletCmd::Import { file, commune }) => {
            import(data, file, commune, sotay_server::office::import_hamlets_into)
        }
        Command::Hamlet(HamletCmd::Retire { id, commune: given }) => {
            let db = open(data)?;
            let code = commune(&db, given)?;
            if !db.retire_hamlet(&code, id, chrono::Utc::now()).map_err(|e| db_failed("cannot retire the hamlet", e))? {
                bail!("commune {code} has no hamlet {id} in use");
            }
            audit(&db, &code, "hamlet.retire", id)?;
            println!("retired {id}: its records stay; coverage and devices no longer show it");
            Ok(())
        }
        Command::Volunteer(VolunteerCmd::Import { file, commune }) => {
            import(data, file, commune, sotay_server::office::import_volunteers_into)
        }
        Command::Admin(AdminCmd::Add(a)) | Command::AddAdmin(a) => admin_add(data, a),
        Command::Admin(AdminCmd::List) => {
            let db = open(data)?;
            for a in db.accounts().map_err(|e| db_failed("cannot list the accounts", e))? {
                let scope = match &a.scope {
                    Scope::Commune(c) => format!("commune {c}"),
                    Scope::Province(p) => format!("province {p}"),
                    Scope::Unit { commune, unit } => format!("unit {unit} of {commune}"),
                };
                let state = if a.disabled { "disabled" } else { "active" };
                println!("{:<24} {scope:<16} {state:<9} since {}", a.username, a.created_at);
            }
            Ok(())
        }
        Command::Admin(AdminCmd::Disable { username }) => {
            let db = open(data)?;
            if !db.disable_account(username, chrono::Utc::now()).map_err(|e| db_failed("cannot disable", e))? {
                bail!("no active account {username} (see `sotay-server admin list`)");
            }
            audit(&db, "", "account.disable", username)?;
            println!("disabled {username}: logged out everywhere, and can no longer log in");
            Ok(())
        }
        Command::EnrolCode(a) => enrol_code(data, a),
        Command::Devices(given) => devices(data, given),
        Command::Revoke { device_id } => {
            let db = open(data)?;
            let device = db.device(device_id).map_err(|e| db_failed("cannot read the device", e))?;
            let Some(d) = device else { bail!("no device {device_id} (see `sotay-server devices`)") };
            if d.revoked {
                bail!("device {device_id} is already revoked");
            }
            db.revoke(device_id, chrono::Utc::now()).map_err(|e| db_failed("cannot revoke the device", e))?;
            audit(&db, &d.commune, "device.revoke", device_id)?;
            println!("revoked {device_id}");
            Ok(())
        }
        Command::Backup(a) => run_backup(data, a),
        Command::Restore(a) => run_restore(data, a),
        Command::Migrate(a) => migrate(data, a),
    }
}

fn main() -> ExitCode {
    // Parsed first: `--help`, `--version` and usage errors print and exit (status 2) here.
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sotay-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the causes joined: never a backtrace, whatever RUST_BACKTRACE says.
            eprintln!("sotay-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
