//! Shared by the integration tests: where the model files are, loaded once per test binary.
//! Missing files fail the test with what to do; they are never a reason to skip.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ragway_ingest::{load_tokenizer, Embedder, EmbedderConfig};
use tokenizers::Tokenizer;

/// `RAGWAY_TEST_DATA_DIR`, else the workspace's `data/` that `scripts/setup` fills.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("RAGWAY_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data")));
    let cfg = EmbedderConfig::from_data_dir(&dir);
    for file in [
        cfg.onnxruntime_path.clone(),
        cfg.model_dir.join("model.onnx"),
        cfg.model_dir.join("tokenizer.json"),
    ] {
        assert!(
            file.is_file(),
            "{} is missing: run scripts/setup first (or set RAGWAY_TEST_DATA_DIR)",
            file.display()
        );
    }
    dir
}

pub fn model_dir() -> PathBuf {
    EmbedderConfig::from_data_dir(&data_dir()).model_dir
}

pub fn tokenizer() -> Arc<Tokenizer> {
    static TOKENIZER: OnceLock<Arc<Tokenizer>> = OnceLock::new();
    TOKENIZER
        .get_or_init(|| Arc::new(load_tokenizer(&model_dir().join("tokenizer.json")).unwrap()))
        .clone()
}

/// One embedder per test binary (2 instances, batches of 3 so 4 texts take two batches).
pub fn embedder() -> Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let mut cfg = EmbedderConfig::from_data_dir(&data_dir());
            cfg.threads = 2;
            cfg.max_batch = 3;
            Embedder::load(cfg).expect("load the embedder")
        })
        .clone()
}

pub fn count_tokens(text: &str) -> usize {
    tokenizer().encode(text, false).unwrap().len()
}

pub fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}
