use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// webserv: an nginx-style HTTP/1.1 web server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Configuration file.
    #[arg(default_value = "conf/default.conf")]
    config: PathBuf,
    /// Check the configuration and exit (like `nginx -t`).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Directory that relative paths in the configuration are resolved against.
    #[arg(short = 'p', long = "prefix", value_name = "DIR")]
    prefix: Option<PathBuf>,
    /// More logging (repeat for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less logging (repeat for less).
    #[arg(short = 'q', action = clap::ArgAction::Count)]
    quiet: u8,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let prefix = match cli.prefix.clone() {
        Some(p) => p,
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let config = match webserv::config::load(&cli.config, &prefix) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("webserv: {e}");
            if cli.test {
                eprintln!(
                    "webserv: configuration file {} test failed",
                    cli.config.display()
                );
            }
            return ExitCode::from(1);
        }
    };
    if cli.test {
        eprintln!(
            "webserv: the configuration file {} syntax is ok",
            cli.config.display()
        );
        eprintln!(
            "webserv: configuration file {} test is successful",
            cli.config.display()
        );
        return ExitCode::SUCCESS;
    }
    let base = config
        .error_log
        .as_ref()
        .map_or(log::LevelFilter::Info, |e| e.level);
    let level = webserv::logging::adjust(base, cli.verbose, cli.quiet);
    let log_file = config.error_log.as_ref().and_then(|e| e.path.clone());
    if let Err(e) = webserv::logging::init(level, log_file.as_deref()) {
        eprintln!("webserv: cannot open the error log: {e}");
        return ExitCode::from(1);
    }
    match webserv::server::run(config, prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("webserv: {e}");
            ExitCode::from(1)
        }
    }
}
