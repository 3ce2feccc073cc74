//! The `citadel` binary: `citadel [--config FILE]` serves; `check-config` validates;
//! `admin …` manages users and registration tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use citadel::admin::Action;
use citadel::config::Config;

#[derive(Parser)]
#[command(name = "citadel", version, about = "Citadel, a Matrix homeserver")]
struct Cli {
    /// Configuration file; without one the documented defaults apply
    /// (see config.example.toml).
    #[arg(long, short, global = true, env = "CITADEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Check the configuration and list every problem.
    CheckConfig,
    /// Administer users and registration tokens (works while the server runs).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user; the password is read from --password-file, a prompt or stdin.
    CreateUser {
        name: String,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set a user's password and log out all its devices.
    ResetPassword {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Make a user a server admin (`--revoke`: take the flag away).
    SetAdmin {
        name: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Create a registration token (printed on success).
    CreateRegistrationToken {
        /// The token itself; random when omitted.
        #[arg(long)]
        token: Option<String>,
        /// How many registrations it allows; unlimited when omitted.
        #[arg(long)]
        uses: Option<u64>,
        /// Hours until it expires; never when omitted.
        #[arg(long)]
        expires_in_hours: Option<u64>,
    },
    /// Forget media of other servers cached more than N days ago.
    PurgeRemoteMedia {
        #[arg(long, default_value_t = 30)]
        older_than_days: u64,
    },
    /// The audit trail: `verify` proves no entry was altered, reordered or removed;
    /// `export` prints every entry as a JSON line.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    Verify,
    Export,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::CheckConfig => {
            println!("configuration is valid");
            Ok(())
        }
        Command::Admin(command) => admin(config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn serve(config: Config) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let running = citadel::start(config)?;
        running.wait().await.map_err(|e| e.to_string())
    })
}

fn admin(config: Config, command: AdminCommand) -> Result<(), String> {
    let action = match command {
        AdminCommand::CreateUser {
            name,
            admin,
            password_file,
        } => Action::CreateUser {
            username: name,
            password: citadel::cli::read_password(password_file.as_deref())?,
            admin,
        },
        AdminCommand::ResetPassword {
            name,
            password_file,
        } => Action::ResetPassword {
            username: name,
            password: citadel::cli::read_password(password_file.as_deref())?,
        },
        AdminCommand::Audit(AuditCommand::Verify) => Action::AuditVerify,
        AdminCommand::Audit(AuditCommand::Export) => Action::AuditExport,
        AdminCommand::SetAdmin { name, revoke } => Action::SetAdmin {
            username: name,
            admin: !revoke,
        },
        AdminCommand::CreateRegistrationToken {
            token,
            uses,
            expires_in_hours,
        } => Action::CreateRegistrationToken {
            token,
            uses_allowed: uses,
            expiry_time: expires_in_hours.map(|h| citadel_storage::now_ms() + h * 3_600_000),
        },
        AdminCommand::PurgeRemoteMedia { older_than_days } => Action::PurgeRemoteMedia {
            older_than_ms: older_than_days * 86_400_000,
        },
    };
    citadel::init_crypto();
    let message = actix_web::rt::System::new().block_on(citadel::cli::run(config, action))?;
    println!("{message}");
    Ok(())
}
