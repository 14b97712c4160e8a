use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = ragway::cli::Cli::parse();
    match ragway::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
