//! Putting retrieved chunks into the conversation: numbered sources in a system message (the
//! caller's own system prompt kept, ours appended to it so chat templates that want one
//! leading system message still work), and a token budget that drops the lowest-ranked
//! chunks first instead of overflowing the model's context.

use serde_json::{json, Value};

use crate::retrieval::RetrievedChunk;
use ragway_protocol::chat::{content_text, OnNoResults, RagParams};

/// One numbered source, as the model sees it.
fn source(i: usize, c: &RetrievedChunk) -> String {
    let mut head = format!("[@{i}]");
    if let Some(t) = c.title.as_deref().or(c.file_name.as_deref()) {
        head.push_str(&format!(" {t}"));
    }
    if let Some(p) = c.page {
        head.push_str(&format!(" (page {p})"));
    }
    format!("{head}\n{}", c.text.trim())
}

/// The sources block: `[@0] title\ntext`, blank-line separated.
pub fn format_sources(chunks: &[RetrievedChunk]) -> String {
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| source(i, c))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The system text to inject.
pub fn system_block(rag: &RagParams, chunks: &[RetrievedChunk]) -> String {
    let sources = format_sources(chunks);
    if let Some(t) = &rag.prompt_template {
        return t.replace("{{context}}", &sources);
    }
    if chunks.is_empty() {
        return match rag.on_no_results {
            OnNoResults::Refuse => "No relevant sources were found in the knowledge base for this question. \
                Tell the user you could not find this in the knowledge base, and do not answer from general knowledge."
                .into(),
            _ => "No relevant sources were found in the knowledge base for this question. \
                Say so, then answer only if you are sure."
                .into(),
        };
    }
    let cite = if rag.inline_citations {
        "Cite the sources you use inline, right after the statement they support, as [@n] with the source's number \
         (several: [@0; @2]). Cite only numbers listed below."
    } else {
        "Do not add citation markers."
    };
    format!(
        "Answer the user's question using the numbered sources below. If they do not contain the answer, say so. {cite}\n\n\
         Sources:\n\n{sources}"
    )
}

/// The conversation with `block` added to its leading system message (or a new one).
pub fn inject(messages: &[Value], block: &str) -> Vec<Value> {
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(first) if first["role"] == "system" => {
            let own = content_text(&first["content"]);
            first["content"] = Value::String(format!("{own}\n\n{block}"));
        }
        _ => out.insert(0, json!({"role": "system", "content": block})),
    }
    out
}

/// Keep the best-ranked chunks whose sources fit in `budget` tokens (as counted by `count`);
/// the first chunk that does not fit and all after it are dropped.
pub fn fit_budget(
    chunks: Vec<RetrievedChunk>,
    budget: usize,
    count: impl Fn(&str) -> usize,
) -> Vec<RetrievedChunk> {
    let mut used = 0;
    let mut kept = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.into_iter().enumerate() {
        let cost = count(&source(i, &c)) + 2;
        if used + cost > budget {
            break;
        }
        used += cost;
        kept.push(c);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> RetrievedChunk {
        RetrievedChunk {
            chunk_id: text.into(),
            score: 1.0,
            kb_id: "kb".into(),
            generation: None,
            document_id: "d".into(),
            external_id: None,
            title: Some("T".into()),
            file_name: None,
            page: Some(2),
            ordinal: 0,
            char_start: None,
            char_end: None,
            section: None,
            text: text.into(),
            metadata: json!({}),
        }
    }

    #[test]
    fn injection_keeps_the_callers_system_prompt() {
        let msgs = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "q"}),
        ];
        let out = inject(&msgs, "SOURCES");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["content"], "Be brief.\n\nSOURCES");
        let out = inject(&msgs[1..], "SOURCES");
        assert_eq!(out[0], json!({"role": "system", "content": "SOURCES"}));
        assert_eq!(format_sources(&[chunk("alpha")]), "[@0] T (page 2)\nalpha");
    }

    #[test]
    fn budget_drops_lowest_ranked_first() {
        let chunks = vec![chunk("one two"), chunk("three four"), chunk("five six")];
        let count = |s: &str| s.split_whitespace().count();
        // Each source costs 6 words ("[@i] T (page 2)" + 2 words of text) + 2.
        let kept = fit_budget(chunks.clone(), 16, count);
        assert_eq!(
            kept.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            vec!["one two", "three four"]
        );
        assert_eq!(fit_budget(chunks.clone(), 24, count).len(), 3);
        assert!(fit_budget(chunks, 7, count).is_empty());
    }
}
