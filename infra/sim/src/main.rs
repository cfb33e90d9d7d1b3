//! `cosell-sim`: the simulators on one loopback port, for the sandbox and for poking by hand.

use clap::Parser;
use cosell_sim::{Sim, SimConfig};

#[derive(Parser)]
#[command(
    version,
    about = "Partner Center, Dataverse and token endpoint simulators"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070", env = "COSELL_SIM_BIND")]
    bind: std::net::SocketAddr,
    /// Seed of the fault dice.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// A JSON file with a full `SimConfig` (fields left out keep their defaults).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Serve a new Dynamics 365 environment: Microsoft's standard tables only, no co-sell
    /// columns, change tracking off, no service endpoints or steps.
    #[arg(long)]
    bare: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut config: SimConfig = match &args.config {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
        None => SimConfig::default(),
    };
    config.bind = args.bind;
    config.seed = args.seed;
    if args.bare {
        config.dataverse = cosell_sim::dataverse::DvConfig::bare();
    }
    let sim = Sim::start(config).await?;
    println!("cosell-sim listening on {}", sim.base_url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
