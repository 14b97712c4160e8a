//! The `ragway` binary: parse the command line, run it. Everything else is the server library
//! (`ragway`) and the operator tools (`cli`, compiled into this binary only).

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // The isolated parser child (`ragway parse`, started once per document by the ingest
    // worker) needs no runtime and no configuration: it starts lean and exits.
    if matches!(args.command, cli::Command::Parse) {
        let code = ragway_ingest::isolate::serve_stdio();
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = runtime.block_on(cli::run(args));
    // Work left on the blocking pool (an index being built, a batch being embedded) is safe to
    // cut: it is redone on the next start. Waiting for it could hold up a stop for minutes.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
