//! The `endocarp` binary: parses the command line and hands over to [`endocarp::cli`].

#[global_allocator]
static ALLOCATOR: endocarp::alloc::Allocator = endocarp::alloc::Allocator;

fn main() -> std::process::ExitCode {
    match endocarp::startup::runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    // Flags, then ENDOCARP_* variables, then the optional TOML file (--config).
    let cli = match endocarp::cli::config_file::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: invalid configuration: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match endocarp::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(s) => eprintln!("error: {:?}: {}", s.code(), s.message()),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}
