//! Loads the ONNX Runtime shared library (installed by `scripts/setup`) once per process.
//! fastembed is built with `ort-load-dynamic`, so nothing can run a model before this.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::{anyhow, bail, Result};
use ort::environment::Environment;

/// The process-wide environment and the library path it came from. ort allows exactly one
/// environment per process and can load only one library, so both are kept for good.
static ENVIRONMENT: OnceLock<(PathBuf, Environment)> = OnceLock::new();
/// Serialises first-time initialisation: `OnceLock::get_or_try_init` is not stable yet and a
/// failed attempt (missing file) must leave the cell empty so a later call can retry.
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from `path` (e.g. `data/runtime/libonnxruntime.so`) and creates the
/// process's ONNX Runtime environment.
///
/// Idempotent and thread-safe: later calls return `Ok(())` at once. A later call with a
/// different path is logged and ignored, because a loaded library cannot be swapped.
pub fn init_onnxruntime(path: &Path) -> Result<()> {
    if let Some((loaded, _)) = ENVIRONMENT.get() {
        warn_if_other(loaded, path);
        return Ok(());
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((loaded, _)) = ENVIRONMENT.get() {
        warn_if_other(loaded, path);
        return Ok(());
    }
    if !path.is_file() {
        bail!(
            "ONNX Runtime library not found at '{}': run scripts/setup first",
            path.display()
        );
    }
    let builder = ort::init_from(path)
        .map_err(|e| anyhow!("cannot load ONNX Runtime from '{}': {e}", path.display()))?;
    let environment = builder
        .with_name("ragway")
        .with_telemetry(false)
        .build()
        .map_err(|e| {
            anyhow!(
                "cannot create the ONNX Runtime environment from '{}': {e}",
                path.display()
            )
        })?;
    tracing::info!(path = %path.display(), "loaded ONNX Runtime");
    // Cannot fail: the lock is held and the cell was checked empty.
    let _ = ENVIRONMENT.set((path.to_path_buf(), environment));
    Ok(())
}

/// The environment created by [`init_onnxruntime`], if it was called successfully.
pub(crate) fn environment() -> Option<Environment> {
    ENVIRONMENT.get().map(|(_, env)| env.clone())
}

fn warn_if_other(loaded: &Path, requested: &Path) {
    if loaded != requested {
        tracing::warn!(
            loaded = %loaded.display(),
            requested = %requested.display(),
            "ONNX Runtime is already loaded from another path; keeping the first one"
        );
    }
}
