//! Rows as the API shows them: each store row to its `ragway_protocol` view (internal fields
//! such as leases, collection names and raw JSON text stay behind).

use ragway_protocol::chat::ChatLogView;
use ragway_protocol::documents::{DocumentText, DocumentView, PutOutcome, TextSection};
use ragway_protocol::jobs::{JobProgress, JobStatus, JobView};
use ragway_protocol::knowledge::{
    ChunkingView, DocumentCounts, KnowledgeBaseDescription, KnowledgeBaseSummary, KnowledgeBaseView,
};
use serde_json::Value;

use crate::knowledge::Contents;
use crate::store::chats::ChatLog;
use crate::store::jobs::Job;
use crate::store::knowledge::{Document, KnowledgeBase};

pub fn job(j: &Job) -> JobView {
    let fraction = if j.docs_total > 0 {
        (j.docs_done as f64 / j.docs_total as f64).min(1.0)
    } else if j.status == JobStatus::Succeeded {
        1.0
    } else {
        0.0
    };
    JobView {
        object: "job",
        id: j.id.clone(),
        kind: j.kind,
        kb_id: j.kb_id.clone(),
        status: j.status,
        target_generation: j.target_generation,
        target_model: j.target_model.clone(),
        target_chunking: j.target_chunking().map(|c| ChunkingView {
            max_tokens: c.max_tokens as i64,
            overlap_tokens: c.overlap_tokens as i64,
            markdown: c.markdown,
        }),
        docs_total: j.docs_total,
        docs_done: j.docs_done,
        chunks_done: j.chunks_done,
        progress: JobProgress {
            documents_done: j.docs_done,
            documents_total: j.docs_total,
            chunks: j.chunks_done,
            fraction,
        },
        error: j.error.clone(),
        attempts: j.attempts,
        lease_expires_at: j.lease_expires_at,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
        updated_at: j.updated_at,
    }
}

pub fn knowledge_base(kb: &KnowledgeBase) -> KnowledgeBaseView {
    KnowledgeBaseView {
        project_id: kb.project_id.clone(),
        id: kb.id.clone(),
        name: kb.name.clone(),
        description: kb.description.clone(),
        embedding_model: kb.embedding_model.clone(),
        embedding_dim: kb.embedding_dim,
        chunk_max_tokens: kb.chunk_max_tokens,
        chunk_overlap: kb.chunk_overlap,
        chunking: ChunkingView {
            max_tokens: kb.chunk_max_tokens,
            overlap_tokens: kb.chunk_overlap,
            markdown: kb.markdown(),
        },
        generation: kb.generation,
        created_at: kb.created_at,
        updated_at: kb.updated_at,
    }
}

/// A knowledge base as listed: its document counts and chunks.
pub fn knowledge_base_summary(
    kb: &KnowledgeBase,
    documents: DocumentCounts,
    chunks: i64,
) -> KnowledgeBaseSummary {
    KnowledgeBaseSummary {
        kb: knowledge_base(kb),
        documents,
        chunks,
    }
}

/// A knowledge base with its document counts, chunks and running re-index.
pub fn description(kb: &KnowledgeBase, contents: &Contents) -> KnowledgeBaseDescription {
    KnowledgeBaseDescription {
        kb: knowledge_base(kb),
        documents: contents.documents,
        chunks: contents.chunks,
        reindex: contents.reindex.as_ref().map(job),
    }
}

/// A document as listed (no metadata, no outcome).
pub fn document(d: &Document) -> DocumentView {
    DocumentView {
        id: d.id.clone(),
        kb_id: d.kb_id.clone(),
        external_id: d.external_id.clone(),
        title: d.title.clone(),
        file_name: d.file_name.clone(),
        content_type: d.content_type.clone(),
        content_hash: d.content_hash.clone(),
        size_bytes: d.size_bytes,
        status: d.status,
        error: d.error.clone(),
        chunk_count: d.chunk_count,
        attempts: d.attempts,
        created_at: d.created_at,
        updated_at: d.updated_at,
        processed_at: d.processed_at,
        metadata: None,
        outcome: None,
    }
}

/// A document with its metadata (`GET …/documents/{id}`).
pub fn document_with_metadata(d: &Document) -> DocumentView {
    DocumentView {
        metadata: Some(d.metadata_value()),
        ..document(d)
    }
}

/// A document as an upload answers it: with what the upload did.
pub fn uploaded(d: &Document, outcome: PutOutcome) -> DocumentView {
    DocumentView {
        outcome: Some(outcome),
        ..document(d)
    }
}

pub fn chat_log(l: ChatLog) -> ChatLogView {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    ChatLogView {
        retrieved: parse(&l.retrieved),
        timings: parse(&l.timings),
        usage: l.usage.as_deref().map(parse),
        id: l.id,
        chat_id: l.chat_id,
        user_id: l.user_id,
        model: l.model,
        search_query: l.search_query,
        outcome: l.outcome,
        error: l.error,
        created_at: l.created_at,
    }
}

/// A document's parsed text with each section's page and span.
pub fn document_text(d: &Document, parsed: &ragway_ingest::parse::ParsedDocument) -> DocumentText {
    DocumentText {
        document_id: d.id.clone(),
        text: parsed.text(),
        sections: parsed
            .sections
            .iter()
            .zip(parsed.section_spans())
            .map(|(s, (char_start, char_end))| TextSection {
                page: s.page,
                char_start,
                char_end,
            })
            .collect(),
    }
}
