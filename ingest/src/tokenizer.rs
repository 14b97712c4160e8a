//! Loads the model's `tokenizer.json` for sizing chunks in model tokens.
//! The embedder has its own copy (configured by fastembed); this one counts, never pads.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tokenizers::Tokenizer;

/// Reads a HuggingFace `tokenizer.json` with truncation and padding turned off.
///
/// The all-MiniLM-L6-v2 file ships `truncation = 128` and `padding = Fixed(128)`: left on,
/// every count would be capped at 128 (and padded up to it), so chunks could not be sized.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read tokenizer '{}': run scripts/setup first",
            path.display()
        )
    })?;
    tokenizer_from_bytes(&bytes).with_context(|| format!("invalid tokenizer '{}'", path.display()))
}

/// Same as [`load_tokenizer`], from the file's bytes.
pub fn tokenizer_from_bytes(bytes: &[u8]) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| anyhow!("{e}"))?;
    tokenizer
        .with_truncation(None)
        .map_err(|e| anyhow!("cannot turn truncation off: {e}"))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

/// Number of model tokens in `text`, without the [CLS]/[SEP] the model adds around it.
pub fn count_tokens(tokenizer: &Tokenizer, text: &str) -> Result<usize> {
    let encoding = tokenizer
        .encode_fast(text, false)
        .map_err(|e| anyhow!("cannot tokenize: {e}"))?;
    Ok(encoding.len())
}
