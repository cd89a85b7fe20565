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
    /// With --explain: the URL to explain (http://HOST[:PORT]/PATH?QUERY).
    url: Option<String>,
    /// Check the configuration and exit (like `nginx -t`).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Check the configuration, print every file it reads (itself and each
    /// include, once) and exit, as `nginx -T`.
    #[arg(short = 'T')]
    dump_files: bool,
    /// Check the configuration, print it whole (includes pasted, inheritance and
    /// defaults applied) and exit.
    #[arg(long = "dump")]
    dump: bool,
    /// Explain which server and location would handle URL, with the effective
    /// directives, the file or script it maps to and the expected status:
    /// `webserv --explain CONFIG URL [--method M] [--host H]`.
    #[arg(long = "explain", requires = "url")]
    explain: bool,
    /// With --explain: the request method.
    #[arg(
        long = "method",
        value_name = "M",
        default_value = "GET",
        requires = "explain"
    )]
    method: String,
    /// With --explain: the Host header (default: the URL's host).
    #[arg(long = "host", value_name = "H", requires = "explain")]
    host: Option<String>,
    /// With --explain: a request header, `'Name: value'` (repeatable), e.g.
    /// `--header 'Accept-Encoding: br'` to see which encoding is chosen.
    #[arg(long = "header", value_name = "NAME: VALUE", requires = "explain")]
    header: Vec<String>,
    /// Fetch a `stub_status` page (http://HOST:PORT/PATH, or HOST:PORT/PATH;
    /// HOST defaults to 127.0.0.1) and print it in words.
    #[arg(long = "status", value_name = "URL")]
    status: Option<String>,
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
    if let Some(url) = &cli.status {
        return match webserv::metrics::client::status(url) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("webserv: {e}");
                ExitCode::from(1)
            }
        };
    }
    let prefix = match cli.prefix.clone() {
        Some(p) => p,
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let config = match webserv::config::load(&cli.config, &prefix) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("webserv: {e}");
            if cli.test || cli.dump || cli.dump_files {
                eprintln!(
                    "webserv: configuration file {} test failed",
                    cli.config.display()
                );
            }
            return ExitCode::from(1);
        }
    };
    let warnings = webserv::config::warnings(&config);
    if cli.explain {
        let url = cli.url.as_deref().unwrap_or("");
        return match webserv::explain::explain(
            &config,
            url,
            &cli.method,
            cli.host.as_deref(),
            &cli.header,
        ) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("webserv: {e}");
                ExitCode::from(1)
            }
        };
    }
    if cli.dump {
        print!("{}", webserv::explain::dump(&config));
    }
    if cli.test || cli.dump || cli.dump_files {
        for w in &warnings {
            eprintln!("webserv: warning: {w}");
        }
        eprintln!(
            "webserv: the configuration file {} syntax is ok",
            cli.config.display()
        );
        eprintln!(
            "webserv: configuration file {} test is successful",
            cli.config.display()
        );
        if cli.dump_files {
            return dump_files(&cli.config);
        }
        return ExitCode::SUCCESS;
    }
    let log_file = config.error_logs.iter().any(|e| e.path.is_some());
    if let Err(e) = webserv::logging::init(&config, cli.verbose, cli.quiet) {
        eprintln!("webserv: cannot open the error log: {e}");
        return ExitCode::from(1);
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    match webserv::server::run(config, prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once where the operator looks: `webserv: ...` on the terminal, and in
            // the error log too when that is a file.
            if log_file {
                log::error!("{e}");
            }
            eprintln!("webserv: {e}");
            ExitCode::from(1)
        }
    }
}

/// `-T`: each file the configuration reads, as nginx prints them.
fn dump_files(config: &std::path::Path) -> ExitCode {
    use std::io::Write;
    let files = match webserv::config::files(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("webserv: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    for (path, text) in files {
        let _ = write!(out, "# configuration file {}:\n{text}\n", path.display());
    }
    ExitCode::SUCCESS
}
