// `sqlx::migrate!` embeds the migrations at compile time: rebuild when one is added or changed.
//
// Tests that need a Qdrant server (or its binary) are compiled as `#[ignore = "…"]` unless
// `QDRANT_URL` (or `QDRANT_BIN`) is set: cargo then lists them as ignored with the reason,
// never as passed, and they run as soon as the variable is set, with no `--ignored` flag.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
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
