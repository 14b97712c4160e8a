//! What every fuzz target shares: the limits parsers run under while fuzzed.

use ragway_ingest::ParseLimits;

/// The production defaults, with the inflate budget and text cap cut to 8 MiB so that one
/// input stays a few milliseconds even when it inflates to the limit (the limit logic is
/// the same at any size).
pub fn limits() -> ParseLimits {
    ParseLimits {
        max_inflated_bytes: 8 << 20,
        max_text_bytes: 8 << 20,
        ..ParseLimits::default()
    }
}
