//! The resource limits every parser obeys, so a hostile file fails alone and says which limit
//! it broke. The server exposes them as the config section `ingest.limits.*`.

use serde::{Deserialize, Serialize};

/// Upper bounds on the work and memory one document may cost. Each breach is a
/// [`ParseError::Limit`](super::ParseError::Limit) naming the limit and its config key.
///
/// The defaults sit well above real documents (a 2,000-page PDF, a 1,000-page DOCX, a
/// 100-level nested list) and far below what a hostile file would need to hurt the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParseLimits {
    /// Deepest nesting of HTML/XML elements, Markdown blocks (`> > >`, nested lists) and
    /// JSON values. Parsers walk with explicit stacks, so this bounds memory and time, not
    /// the call stack.
    pub max_depth: usize,
    /// Bytes inflated from compressed parts of one document (DOCX zip entries, PDF streams),
    /// counted while inflating, never taken from sizes the file declares.
    pub max_inflated_bytes: u64,
    /// Highest ratio of inflated to compressed bytes of one DOCX zip entry.
    pub max_compression_ratio: u64,
    /// Entries in a DOCX (zip) archive.
    pub max_archive_entries: usize,
    /// HTML/XML elements, PDF objects, JSON/JSONL records of one document.
    pub max_elements: usize,
    /// PDF pages.
    pub max_pages: usize,
    /// Bytes of text extracted from one document (the input of chunking and embedding).
    pub max_text_bytes: usize,
    /// Address-space limit of an isolated parser process, in MiB (`isolate` only).
    pub parser_memory_mb: u64,
    /// CPU seconds an isolated parser process may use (`isolate` only).
    pub parser_cpu_secs: u64,
    /// Wall-clock seconds before an isolated parser process is killed (`isolate` only).
    pub parse_timeout_secs: u64,
    /// Largest response an isolated parser may send back, in bytes (`isolate` only).
    pub max_response_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_depth: 512,
            max_inflated_bytes: 128 * 1024 * 1024,
            max_compression_ratio: 250,
            max_archive_entries: 10_000,
            max_elements: 1_000_000,
            max_pages: 5_000,
            max_text_bytes: 8 * 1024 * 1024,
            parser_memory_mb: 1024,
            parser_cpu_secs: 60,
            parse_timeout_secs: 90,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Which limit was broken; [`Limit::key`] is its config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    MaxDepth,
    MaxInflatedBytes,
    MaxCompressionRatio,
    MaxArchiveEntries,
    MaxElements,
    MaxPages,
    MaxTextBytes,
    ParserMemoryMb,
    ParserCpuSecs,
    ParseTimeoutSecs,
    MaxResponseBytes,
}

impl Limit {
    /// The config key, as the server documents it: `ingest.limits.max_depth`, ...
    pub fn key(self) -> &'static str {
        match self {
            Limit::MaxDepth => "ingest.limits.max_depth",
            Limit::MaxInflatedBytes => "ingest.limits.max_inflated_bytes",
            Limit::MaxCompressionRatio => "ingest.limits.max_compression_ratio",
            Limit::MaxArchiveEntries => "ingest.limits.max_archive_entries",
            Limit::MaxElements => "ingest.limits.max_elements",
            Limit::MaxPages => "ingest.limits.max_pages",
            Limit::MaxTextBytes => "ingest.limits.max_text_bytes",
            Limit::ParserMemoryMb => "ingest.limits.parser_memory_mb",
            Limit::ParserCpuSecs => "ingest.limits.parser_cpu_secs",
            Limit::ParseTimeoutSecs => "ingest.limits.parse_timeout_secs",
            Limit::MaxResponseBytes => "ingest.limits.max_response_bytes",
        }
    }

    /// The unit after the value in messages (" bytes", " s", ...), empty for counts.
    pub fn unit(self) -> &'static str {
        match self {
            Limit::MaxInflatedBytes | Limit::MaxTextBytes | Limit::MaxResponseBytes => " bytes",
            Limit::ParserMemoryMb => " MiB",
            Limit::ParserCpuSecs | Limit::ParseTimeoutSecs => " s",
            Limit::MaxCompressionRatio => ":1",
            _ => "",
        }
    }

    /// This limit's value in `limits`, as a number for messages.
    pub fn value(self, limits: &ParseLimits) -> u64 {
        match self {
            Limit::MaxDepth => limits.max_depth as u64,
            Limit::MaxInflatedBytes => limits.max_inflated_bytes,
            Limit::MaxCompressionRatio => limits.max_compression_ratio,
            Limit::MaxArchiveEntries => limits.max_archive_entries as u64,
            Limit::MaxElements => limits.max_elements as u64,
            Limit::MaxPages => limits.max_pages as u64,
            Limit::MaxTextBytes => limits.max_text_bytes as u64,
            Limit::ParserMemoryMb => limits.parser_memory_mb,
            Limit::ParserCpuSecs => limits.parser_cpu_secs,
            Limit::ParseTimeoutSecs => limits.parse_timeout_secs,
            Limit::MaxResponseBytes => limits.max_response_bytes as u64,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl ParseLimits {
    /// Every limit must be at least 1: a zero would reject every document.
    pub fn validate(&self) -> Result<(), String> {
        for limit in [
            Limit::MaxDepth,
            Limit::MaxInflatedBytes,
            Limit::MaxCompressionRatio,
            Limit::MaxArchiveEntries,
            Limit::MaxElements,
            Limit::MaxPages,
            Limit::MaxTextBytes,
            Limit::ParserMemoryMb,
            Limit::ParserCpuSecs,
            Limit::ParseTimeoutSecs,
            Limit::MaxResponseBytes,
        ] {
            if limit.value(self) == 0 {
                return Err(format!("{} must be at least 1", limit.key()));
            }
        }
        if self.parser_memory_mb < 64 {
            return Err(format!(
                "{} must be at least 64 (the parser itself needs that much)",
                Limit::ParserMemoryMb.key()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_deserialize_from_nothing_and_keys_are_checked() {
        let limits: ParseLimits = serde_json::from_str("{}").unwrap();
        assert_eq!(limits, ParseLimits::default());
        let one: ParseLimits = serde_json::from_str(r#"{"max_depth": 7}"#).unwrap();
        assert_eq!(one.max_depth, 7);
        assert!(serde_json::from_str::<ParseLimits>(r#"{"max_deep": 7}"#).is_err());
        let zero = ParseLimits {
            max_pages: 0,
            ..Default::default()
        };
        assert_eq!(
            zero.validate().unwrap_err(),
            "ingest.limits.max_pages must be at least 1"
        );
        assert!(ParseLimits::default().validate().is_ok());
    }
}
