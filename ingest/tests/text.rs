//! Chunking with the real tokenizer, BM25 encoding and ONNX Runtime loading errors.
//! This binary never loads ONNX Runtime successfully, so the missing-library path is testable.

mod common;

use common::{count_tokens, tokenizer};
use ragway_ingest::sparse::term_id;
use ragway_ingest::{
    init_onnxruntime, Bm25, Bm25Config, Chunk, ChunkSettings, Chunker, Format, ParsedDocument,
    Section,
};

fn doc(sections: Vec<Section>, structured: bool) -> ParsedDocument {
    ParsedDocument {
        title: None,
        format: if structured {
            Format::Markdown
        } else {
            Format::Text
        },
        structured,
        sections,
    }
}

/// ~1,200 words of varied prose with accents and emoji, so byte and char offsets differ.
fn long_text() -> String {
    let sentences = [
        "Qdrant stores dense vectors next to sparse ones for hybrid search.",
        "Café owners in Zürich measure naïve Bayes baselines against transformers 🚀.",
        "A chunk must never be longer than the model's context window, or its tail is lost.",
        "Overlap repeats a little text at each boundary so no sentence is cut in half for good.",
        "日本語のテキストも正しく分割されるべきです。",
        "Reciprocal rank fusion merges the dense and the sparse result lists.",
    ];
    let mut text = String::new();
    for i in 0..60 {
        text.push_str(sentences[i % sentences.len()]);
        text.push(if i % 5 == 4 { '\n' } else { ' ' });
        if i % 10 == 9 {
            text.push('\n');
        }
    }
    text
}

fn chunker() -> Chunker {
    Chunker::new(tokenizer())
}

fn slice_chars(text: &str, start: usize, end: usize) -> String {
    text.chars().skip(start).take(end - start).collect()
}

fn assert_offsets(doc: &ParsedDocument, chunks: &[Chunk]) {
    let text = doc.text();
    let spans = doc.section_spans();
    for chunk in chunks {
        let (start, end) = spans[chunk.section as usize];
        assert!(
            start <= chunk.char_start && chunk.char_end <= end,
            "chunk {} lies outside its section",
            chunk.ordinal
        );
        assert_eq!(
            slice_chars(&text, chunk.char_start, chunk.char_end),
            chunk.text,
            "chunk {} offsets",
            chunk.ordinal
        );
    }
}

#[test]
fn tokenizer_has_truncation_and_padding_off() {
    // tokenizer.json ships truncation=128 and padding=Fixed(128).
    let text = "word ".repeat(300);
    assert_eq!(count_tokens(&text), 300);
    assert_eq!(count_tokens("short text"), 2);
}

#[test]
fn chunks_never_exceed_max_tokens() {
    let document = doc(vec![Section::new(long_text())], false);
    for (max_tokens, overlap_tokens) in [(40, 8), (64, 0), (254, 32)] {
        let settings = ChunkSettings {
            max_tokens,
            overlap_tokens,
            markdown: false,
        };
        let chunks = chunker().chunk(&document, &settings).unwrap();
        assert!(chunks.len() > 1, "max {max_tokens}: one chunk only");
        for chunk in &chunks {
            let recount = count_tokens(&chunk.text);
            assert_eq!(chunk.token_count, recount);
            assert!(
                recount <= max_tokens,
                "chunk {} has {recount} > {max_tokens} tokens",
                chunk.ordinal
            );
            assert!(!chunk.text.trim().is_empty());
        }
        assert_offsets(&document, &chunks);
        let ordinals: Vec<u32> = chunks.iter().map(|c| c.ordinal).collect();
        assert_eq!(ordinals, (0..chunks.len() as u32).collect::<Vec<_>>());
    }
}

#[test]
fn overlap_repeats_text_between_neighbours() {
    let document = doc(vec![Section::new(long_text())], false);
    let with = ChunkSettings {
        max_tokens: 48,
        overlap_tokens: 16,
        markdown: false,
    };
    let without = ChunkSettings {
        overlap_tokens: 0,
        ..with.clone()
    };
    let overlapping = chunker().chunk(&document, &with).unwrap();
    let disjoint = chunker().chunk(&document, &without).unwrap();
    let text = &document.sections[0].text;
    // text-splitter overlaps with whole semantic units (here sentences) that fit in the
    // overlap budget, so not every boundary overlaps, but the ones that do stay in budget.
    let mut shared_count = 0;
    for pair in overlapping.windows(2) {
        if pair[1].char_start < pair[0].char_end {
            shared_count += 1;
            let shared = slice_chars(text, pair[1].char_start, pair[0].char_end);
            assert!(pair[0].text.ends_with(&shared) && pair[1].text.starts_with(&shared));
            assert!(
                count_tokens(&shared) <= 16,
                "overlap of {} tokens: {shared:?}",
                count_tokens(&shared)
            );
        }
    }
    assert!(
        shared_count >= 3,
        "only {shared_count} overlapping boundaries"
    );
    for pair in disjoint.windows(2) {
        assert!(pair[1].char_start >= pair[0].char_end);
    }
    assert!(overlapping.len() > disjoint.len());
}

#[test]
fn markdown_splitting_keeps_headings_with_their_sections() {
    let mut md = String::from("# Guide\n\n");
    for i in 1..=6 {
        md.push_str(&format!("## Section {i}\n\n"));
        md.push_str(&format!(
            "Paragraph {i} explains one idea in a few short sentences. It stays together. \
             Retrieval works best when a chunk holds one topic.\n\n"
        ));
    }
    let document = doc(vec![Section::new(md.clone())], true);
    let settings = ChunkSettings {
        max_tokens: 48,
        overlap_tokens: 0,
        markdown: true,
    };
    let chunks = chunker().chunk(&document, &settings).unwrap();
    for i in 1..=6 {
        let heading = format!("## Section {i}");
        let holder = chunks
            .iter()
            .find(|c| c.text.contains(&heading))
            .unwrap_or_else(|| panic!("{heading} lost"));
        assert!(
            holder.text.starts_with(&heading) || holder.text.starts_with("# Guide"),
            "{heading} is not at the start of its chunk: {:?}",
            holder.text
        );
        assert!(
            holder.text.contains(&format!("Paragraph {i} explains")),
            "{heading} separated from its text: {:?}",
            holder.text
        );
    }
    assert_offsets(&document, &chunks);

    // The same text split as plain text cuts through sections instead.
    let plain = chunker()
        .chunk(
            &document,
            &ChunkSettings {
                markdown: false,
                ..settings.clone()
            },
        )
        .unwrap();
    let starts_at_heading = |c: &Chunk| c.text.starts_with('#');
    assert!(chunks.iter().all(starts_at_heading));
    assert!(!plain.iter().all(starts_at_heading));
}

#[test]
fn markdown_setting_is_ignored_for_unstructured_documents() {
    let text = "## Not a heading in plain text\n\n".repeat(20);
    let structured = doc(vec![Section::new(text.clone())], true);
    let unstructured = doc(vec![Section::new(text.clone())], false);
    let settings = ChunkSettings {
        max_tokens: 30,
        overlap_tokens: 0,
        markdown: true,
    };
    let plain = ChunkSettings {
        markdown: false,
        ..settings.clone()
    };
    assert_eq!(
        chunker().chunk(&unstructured, &settings).unwrap(),
        chunker().chunk(&unstructured, &plain).unwrap()
    );
    assert!(!chunker().chunk(&structured, &settings).unwrap().is_empty());
}

#[test]
fn sections_pages_and_ordinals() {
    let mut page_one = Section::new("First page. ".repeat(30).trim());
    page_one.page = Some(1);
    let mut page_two = Section::new("Second page, with ünïcödé. ".repeat(30).trim());
    page_two.page = Some(2);
    let document = doc(vec![page_one, page_two], false);
    let settings = ChunkSettings {
        max_tokens: 32,
        overlap_tokens: 4,
        markdown: false,
    };
    let chunks = chunker().chunk(&document, &settings).unwrap();
    let first_of_two = chunks.iter().position(|c| c.section == 1).unwrap();
    assert!(first_of_two > 0);
    assert!(chunks[..first_of_two]
        .iter()
        .all(|c| c.section == 0 && c.page == Some(1)));
    assert!(chunks[first_of_two..]
        .iter()
        .all(|c| c.section == 1 && c.page == Some(2)));
    assert_eq!(
        chunks[first_of_two].char_start,
        document.section_spans()[1].0,
        "the second page's first chunk starts where that page starts in the whole text"
    );
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.ordinal as usize, i);
    }
    assert_offsets(&document, &chunks);
}

#[test]
fn invalid_settings_are_rejected_by_name() {
    let document = doc(vec![Section::new("text")], false);
    let err = chunker()
        .chunk(
            &document,
            &ChunkSettings {
                max_tokens: 100,
                overlap_tokens: 60,
                markdown: false,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("'overlap_tokens'"), "{err}");
}

#[test]
fn bm25_term_ids_are_stable() {
    let bm25 = Bm25::new(Bm25Config::default());
    // Persisted in vector stores: these literals must never change.
    assert_eq!(term_id("retriev"), 0x3039_6b56);
    assert_eq!(term_id("vector"), 0x8f89_e802);
    let query = bm25.encode_query("Retrieving vectors; retrieval VECTOR!");
    assert_eq!(query.indices, {
        let mut ids = vec![term_id("retriev"), term_id("vector")];
        ids.sort();
        ids
    });
    assert_eq!(query.values, vec![1.0, 1.0]);
}

#[test]
fn bm25_drops_stop_words_and_odd_tokens() {
    let bm25 = Bm25::new(Bm25Config::default());
    assert!(bm25.encode_query("The and of it is to be").is_empty());
    let long = "x".repeat(41);
    let forty = "z".repeat(40);
    let terms = bm25.terms(&format!("a b the cats {long} {forty} running_fast café"));
    assert_eq!(
        terms,
        vec![
            "cat".to_string(),
            forty,
            "run".into(),
            "fast".into(),
            "café".into()
        ]
    );

    let raw = Bm25::new(Bm25Config {
        stem: false,
        stopwords: false,
        ..Default::default()
    });
    assert_eq!(raw.terms("The cats"), vec!["the", "cats"]);
}

#[test]
fn bm25_document_weights() {
    let cfg = Bm25Config::default();
    let bm25 = Bm25::new(cfg.clone());
    let doc = bm25.encode_document("cat cat cat dog the");
    // Terms kept: cat ×3, dog ×1 → len 4.
    let norm = cfg.k1 * (1.0 - cfg.b + cfg.b * 4.0 / cfg.avg_len);
    let weight = |tf: f32| tf * (cfg.k1 + 1.0) / (tf + norm);
    let mut expected = vec![(term_id("cat"), weight(3.0)), (term_id("dog"), weight(1.0))];
    expected.sort_by_key(|&(id, _)| id);
    assert_eq!(
        doc.indices,
        expected.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    for (got, (_, want)) in doc.values.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert!(doc.indices.windows(2).all(|w| w[0] < w[1]));
    // Saturation: more occurrences weigh more, but less than proportionally.
    assert!(weight(3.0) > weight(1.0) && weight(3.0) < 3.0 * weight(1.0));
    assert!(bm25.encode_document("").is_empty());
}

#[test]
fn onnxruntime_missing_library_names_the_path() {
    let err = init_onnxruntime(std::path::Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("/nonexistent/libonnxruntime.so"),
        "{message}"
    );
    assert!(message.contains("scripts/setup"), "{message}");
}
