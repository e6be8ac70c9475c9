//! Compiles `proto/` with protox (pure Rust, no protoc) and writes the descriptor set that
//! gRPC reflection serves; lists `migrations/` for `store::migrations` to embed.
use prost::Message;
use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "endocarp/v1/decision.proto",
        "endocarp/v1/events.proto",
        "endocarp/v1/admin.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out.join("endocarp_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    std::fs::write(out.join("migrations.rs"), migrations_source()?)?;
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}

/// `SQLITE` and `POSTGRES`: every `*.sql` file of `migrations/<backend>` as (file name,
/// `include_str!` of it), in file-name order. (sqlx's `migrate!` would embed them too, but
/// its macro crate compiles both database drivers a second time, for the host: a minute
/// of every cold build.)
fn migrations_source() -> Result<String, Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("migrations");
    let mut src = String::new();
    for (name, dir) in [("SQLITE", "sqlite"), ("POSTGRES", "postgres")] {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            if path.is_file() && file.ends_with(".sql") {
                files.push((file.to_string(), path.canonicalize()?));
            }
        }
        files.sort();
        src.push_str(&format!("pub const {name}: &[(&str, &str)] = &[\n"));
        for (file, path) in files {
            src.push_str(&format!(
                "    ({file:?}, include_str!({:?})),\n",
                path.display().to_string()
            ));
        }
        src.push_str("];\n");
    }
    Ok(src)
}
