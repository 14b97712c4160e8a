//! Build-time inputs of the ragway crate:
//! - `sqlx::migrate!` embeds the migrations: rebuild when one is added or changed.
//! - The web console's built files (`web/dist`, made by `scripts/web`) are embedded with
//!   `include_bytes!` through a generated table (`$OUT_DIR/console_assets.rs`), so one binary
//!   is the whole product. Without `web/dist` the table is empty and the binary serves a page
//!   saying how to build the console: `cargo build` never needs Node.
//! - Tests that need a Qdrant server (or its binary) are compiled as `#[ignore = "…"]` unless
//!   `QDRANT_URL` (or `QDRANT_BIN`) is set: cargo then lists them as ignored with the reason,
//!   never as passed, and they run as soon as the variable is set, with no `--ignored` flag.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    qdrant_cfgs();
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = root.join("web/dist");
    // A directory is watched recursively. Watching `web` itself while `dist` is missing
    // notices when it appears, without rerunning on every build.
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=web/dist");
    } else {
        println!("cargo:rerun-if-changed=web/package.json");
        println!("cargo:rerun-if-changed=web");
    }
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &mut files);
    }
    files.sort();
    let mut table = String::from("/// (URL path, bytes) of every file of `web/dist`.\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let rel = file.strip_prefix(&dist).expect("collected under dist");
        let url: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        writeln!(
            table,
            "    ({:?}, include_bytes!({:?})),",
            format!("/{}", url.join("/")),
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("console_assets.rs"), table).expect("writing console_assets.rs");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading web/dist") {
        let path = entry.expect("reading web/dist").path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `cfg(qdrant_server)` / `cfg(qdrant_bin)` when `QDRANT_URL` / `QDRANT_BIN` are set.
fn qdrant_cfgs() {
    println!("cargo::rustc-check-cfg=cfg(qdrant_server)");
    println!("cargo::rustc-check-cfg=cfg(qdrant_bin)");
    for (var, cfg) in [
        ("QDRANT_URL", "qdrant_server"),
        ("QDRANT_BIN", "qdrant_bin"),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
