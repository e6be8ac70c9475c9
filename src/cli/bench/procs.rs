//! The servers `endocarp bench` drives: this binary started as `serve` or `bench-echo`,
//! pinned to core 0 with one worker thread when the machine allows, and stopped.

use crate::engine::EngineKind;
use anyhow::{Context, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A child server process and where it listens.
pub(super) struct Child {
    pub(super) child: std::process::Child,
    pub(super) url: String,
    pub(super) admin_url: String,
    /// The operations port (`host:port`; the echo server has none of its own).
    pub(super) ops: std::net::SocketAddr,
    /// The AuthZEN API (`http://host:port`), when it listens.
    pub(super) authzen: Option<String>,
}

impl Child {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(super) fn pinnable() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Starts this binary with `args` (and a ready file), pinned to core 0 with one worker
/// thread when `pin`, and waits until it is ready; the time that took is start-up.
pub(super) fn spawn(args: &[String], pin: bool, dir: &std::path::Path) -> anyhow::Result<(Child, Duration)> {
    spawn_with(args, &[], pin, dir)
}

/// The echo floor: `bench-echo` on the system allocator, as a tonic hello-world has it.
pub(super) fn spawn_echo(pin: bool, dir: &std::path::Path) -> anyhow::Result<(Child, Duration)> {
    spawn_with(
        &["bench-echo".to_string()],
        &[(crate::alloc::SYSTEM_ALLOCATOR_ENV, "1")],
        pin,
        dir,
    )
}

fn spawn_with(
    args: &[String],
    env: &[(&str, &str)],
    pin: bool,
    dir: &std::path::Path,
) -> anyhow::Result<(Child, Duration)> {
    let exe = std::env::current_exe()?;
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe).env("TOKIO_WORKER_THREADS", "1");
        c
    } else {
        Command::new(&exe)
    };
    let ready = dir.join(format!("ready-{}.json", ulid::Ulid::generate()));
    let started = Instant::now();
    let mut child = cmd
        .args(args)
        .envs(env.iter().copied())
        .arg("--ready-file")
        .arg(&ready)
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start a server")?;
    let addresses: crate::startup::Addresses = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break serde_json::from_str(&text).with_context(|| format!("ready file {text:?}"))?;
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited before it was ready ({status})");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let url = format!("http://{}", addresses.decision);
    let admin_url = format!("http://{}", addresses.admin);
    let ops = addresses.ops;
    let authzen = addresses.authzen.map(|a| format!("http://{a}"));
    Ok((
        Child {
            child,
            url,
            admin_url,
            ops,
            authzen,
        },
        took,
    ))
}

pub(super) fn server_args(database_url: &str, engine: EngineKind) -> Vec<String> {
    let engine = engine.as_str();
    [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--ops-listen",
        "127.0.0.1:0",
        "--authzen-listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--engine",
        engine,
        // Seeding writes thousands of batches a second from one caller.
        "--admin-writes-per-second",
        "1000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
