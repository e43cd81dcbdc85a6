//! The command line's shape: every command, its options, their `--help` text and the
//! environment variables they fall back to (clap derive). What each command does is in
//! `server.rs`.

use std::path::PathBuf;

use anyhow::bail;
use clap::builder::FalseyValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sotay-server", version, about = "The commune server of Sổ tay, and its office tools.")]
pub struct Cli {
    /// The data folder: the database, its key file and the certificate.
    #[arg(long, global = true, env = "SOTAY_SERVER_DATA", default_value = "sotay-data")]
    pub data: PathBuf,
    /// Keep the data in PostgreSQL rather than in the SQLite file in the data folder:
    /// postgres://user:password@host:port/database (the key file and the certificate stay in
    /// the data folder). Give it in the environment, not on the command line, where other
    /// users of the machine could read a password.
    #[arg(long, global = true, env = "SOTAY_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// With PostgreSQL: connections the server keeps at most. A request that finds none free
    /// for five seconds is answered "busy, try again" (503 with Retry-After).
    #[arg(long, global = true, env = "SOTAY_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: usize,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the device API and the office's pages (HTTPS).
    Serve(ServeArgs),
    /// The communes on this server.
    #[command(subcommand)]
    Commune(CommuneCmd),
    /// A commune's hamlets.
    #[command(subcommand)]
    Hamlet(HamletCmd),
    /// A commune's volunteers.
    #[command(subcommand)]
    Volunteer(VolunteerCmd),
    /// Office accounts (a commune's, or a province's).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The same as `admin add` (its earlier name).
    #[command(hide = true)]
    AddAdmin(AdminAdd),
    /// A one-time enrolment code for a device, with its QR code and link.
    EnrolCode(EnrolCodeArgs),
    /// The commune's enrolled devices: last sync, queued records.
    Devices(CommuneArg),
    /// Stop a device from sending (see `devices` for its id).
    Revoke {
        /// The device's id.
        device_id: String,
    },
    /// Back the data folder up into FILE, encrypted to a passphrase (works while serving).
    Backup(BackupArgs),
    /// Restore a backup into an empty data folder (`--data`).
    Restore(BackupArgs),
    /// Move this server's data (the SQLite file in `--data`) into a province's PostgreSQL,
    /// with its keys; stop this server first. Its tablets keep syncing without enrolling again.
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to move into: postgres://user:password@host:port/database
    /// (or `$SOTAY_MIGRATE_TO`).
    #[arg(long, env = "SOTAY_MIGRATE_TO", hide_env_values = true)]
    pub to: String,
    /// The data folder of the server that will serve from PostgreSQL (its key file takes in
    /// this server's keys); by default this same data folder.
    #[arg(long)]
    pub to_data: Option<PathBuf>,
}

#[derive(Args)]
pub struct CommuneArg {
    /// The commune's code (needed only when the server has more than one).
    #[arg(long, env = "SOTAY_COMMUNE")]
    pub commune: Option<String>,
}

#[derive(Args)]
pub struct TlsArgs {
    /// The certificate (PEM, full chain) to serve instead of the server's own.
    #[arg(long, env = "SOTAY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "SOTAY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Enrolment codes carry the given certificate's fingerprint for devices to pin.
    #[arg(long, env = "SOTAY_TLS_PIN", action = ArgAction::SetTrue, value_parser = FalseyValueParser::new())]
    pub tls_pin: bool,
    /// Plain HTTP on a loopback address, behind a reverse proxy that terminates TLS.
    #[arg(long, env = "SOTAY_PLAIN_HTTP", action = ArgAction::SetTrue, value_parser = FalseyValueParser::new())]
    pub plain_http: bool,
}

impl TlsArgs {
    pub fn pin(&self) -> bool {
        self.tls_pin
    }

    pub fn plain(&self) -> bool {
        self.plain_http
    }

    /// The certificate options that exclude each other or go together.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.plain_http && (self.tls_cert.is_some() || self.tls_key.is_some()) {
            bail!("--plain-http and a certificate (--tls-cert) exclude each other");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("--tls-cert and --tls-key go together (or $SOTAY_TLS_CERT and $SOTAY_TLS_KEY)");
        }
        Ok(())
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "SOTAY_SERVER_ADDR", default_value = "127.0.0.1:8443")]
    pub addr: String,
    /// The address devices enrol with (https://192.168.1.10:8443); `--server-url` is its old name.
    #[arg(long, alias = "server-url", env = "SOTAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Load the demo commune (Kon Braih, made-up hamlets) if the server has no commune.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Subcommand)]
pub enum CommuneCmd {
    /// List the communes with their province, devices, records and last sync.
    List,
    /// Add a real commune by its code in the list of units (23497 = Xã Kon Braih, tỉnh
    /// Quảng Ngãi), with its first office account.
    Add {
        /// The unit's five-digit code.
        code: String,
        /// The first office account's user name (asks for its password).
        #[arg(long)]
        admin: String,
        /// The commune's name, for a unit not in the list (then `--province` too).
        #[arg(long, requires = "province")]
        name: Option<String>,
        /// The province's two-digit code, for a unit not in the list.
        #[arg(long, requires = "name")]
        province: Option<String>,
    },
    /// Remove the demo commune and everything in it (records, devices, accounts).
    RemoveDemo,
}

#[derive(Subcommand)]
pub enum HamletCmd {
    /// Add or update hamlets from a CSV file (ma_thon, ten_thon, dan_so_truong_thanh, da_co_chu_ky).
    Import {
        file: PathBuf,
        #[command(flatten)]
        commune: CommuneArg,
    },
    /// Retire a hamlet: kept for its records, gone from coverage and from devices.
    Retire {
        /// The hamlet's id.
        id: String,
        #[command(flatten)]
        commune: CommuneArg,
    },
}

#[derive(Subcommand)]
pub enum VolunteerCmd {
    /// Add or update volunteers from a CSV file (ma, ho_ten, thon, to_truong).
    Import {
        file: PathBuf,
        #[command(flatten)]
        commune: CommuneArg,
    },
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Add an office account, or give an existing one a new password (asks for it).
    Add(AdminAdd),
    /// List the office accounts.
    List,
    /// Disable an account: its sessions end and it can no longer log in.
    Disable { username: String },
}

#[derive(Args)]
pub struct AdminAdd {
    pub username: String,
    /// The commune the account sees (needed only when the server has more than one).
    #[arg(long, env = "SOTAY_COMMUNE", conflicts_with = "province")]
    pub commune: Option<String>,
    /// A province account instead: it sees every commune of this province (two digits).
    #[arg(long)]
    pub province: Option<String>,
    /// Load the demo commune first if the server has no commune.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Args)]
pub struct EnrolCodeArgs {
    #[command(flatten)]
    pub commune: CommuneArg,
    /// How long the code is valid.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=24 * 30))]
    pub hours: i64,
    /// The server's address for devices (adds it, the fingerprint, a QR code and the link).
    #[arg(long, alias = "server-url", env = "SOTAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A user of the device (repeat for each); prints a first-PIN code for each.
    #[arg(long = "volunteer", value_name = "ID")]
    pub volunteers: Vec<String>,
    /// Load the demo commune first if the server has no commune.
    #[arg(long)]
    pub demo: bool,
    /// Also write the QR code as an SVG picture (to print, or to show on a screen).
    #[arg(long, value_name = "FILE.svg", requires = "public_url")]
    pub qr_svg: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args)]
pub struct BackupArgs {
    /// The backup file.
    pub file: PathBuf,
    /// A file whose first line is the passphrase (else $SOTAY_BACKUP_PASSPHRASE, or asked).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}
