//! The `endocarp` binary: parses the command line and hands over to [`endocarp::cli`].

#[global_allocator]
static ALLOCATOR: endocarp::alloc::Allocator = endocarp::alloc::Allocator;

fn main() -> std::process::ExitCode {
    match endocarp::startup::runtime() {
        // The thread blocked here builds the index at start-up (its heap keeps the index
        // apart from the pages a worker's calls allocate from), so it collects its heap
        // when a release asks, as the workers do when they park.
        Ok(runtime) => runtime.block_on(async {
            tokio::select! {
                code = run() => code,
                never = endocarp::alloc::collect_when_asked() => match never {},
            }
        }),
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
