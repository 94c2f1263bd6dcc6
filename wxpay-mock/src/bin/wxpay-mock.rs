//! `wxpay-mock`: runs the red-packet emulator until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wxpay_mock::{ClockMode, MockConfig, MockServer};

/// An offline emulator of the WeChat Pay v2 cash red-packet APIs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The HTTPS address of the API.
    #[arg(long, default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// The admin API address (loopback only).
    #[arg(long, default_value = "127.0.0.1:7444")]
    admin: SocketAddr,
    /// Certificates, merchant.toml and the persistent ledger.
    #[arg(long, default_value = ".wxpay-mock")]
    data_dir: PathBuf,
    /// Seeds group splits.
    #[arg(long)]
    seed: Option<u64>,
    /// `real` or `frozen`.
    #[arg(long)]
    clock: Option<ClockMode>,
    /// A TOML config file (merchants, limits, behaviour); flags given on the command line win.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("wxpay-mock: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), wxpay_mock::Error> {
    let mut builder = MockServer::builder();
    if let Some(path) = &args.config {
        builder = builder.config(MockConfig::from_path(path)?);
    }
    builder = builder
        .listen(args.listen)
        .admin_listen(args.admin)
        .data_dir(args.data_dir);
    if let Some(seed) = args.seed {
        builder = builder.seed(seed);
    }
    if let Some(clock) = args.clock {
        builder = builder.clock(clock);
    }
    let mock = builder.start().await?;
    let merchant = mock.default_merchant();
    #[allow(
        clippy::print_stdout,
        reason = "the binary's one job is to say where it listens"
    )]
    {
        println!("wxpay-mock listening");
        println!("  HTTPS API : {}", mock.base_url());
        println!("  admin API : {}", mock.admin_url());
        println!("  CA        : {}", mock.ca_pem_path().display());
        println!(
            "  merchant  : {} ({})",
            merchant.mch_id,
            merchant.merchant_toml_path.display()
        );
        println!("Ctrl-C to stop.");
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("wxpay-mock: cannot wait for Ctrl-C: {e}");
    }
    mock.shutdown().await;
    Ok(())
}
