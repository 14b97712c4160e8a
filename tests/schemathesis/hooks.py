"""Schemathesis hooks: the few request rules that span several fields, which JSON Schema cannot
state and docs/openapi.json states in its descriptions instead. Positive (schema-valid) cases
that break one are dropped, so `positive_data_acceptance` judges only what the document can
promise. Negative cases are left alone. Nothing else is filtered or changed.
"""

import schemathesis

# The fake backend's model is configured with ragway's default context length.
CONTEXT_LENGTH = 8192


def _chunking_ok(chunking):
    """overlap_tokens < max_tokens / 2 is checked after the knowledge base's current settings
    fill in what is left out, so a positive case must send both (or neither)."""
    if not isinstance(chunking, dict):
        return True
    size, overlap = chunking.get("max_tokens"), chunking.get("overlap_tokens")
    if size is None and overlap is None:
        return True
    return size is not None and overlap is not None and overlap * 2 < size


def _last_user_text(messages):
    """The text of the last user message: its string, or its text parts joined."""
    for m in reversed(messages if isinstance(messages, list) else []):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
            return ""
    return ""


def _chat_ok(body):
    if not isinstance(body, dict):
        return True
    sent = [body.get("id"), body.get("chat_id")]
    if None not in sent and sent[0] != sent[1]:
        return False  # id and chat_id name one chat
    for field in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(field), int) and body[field] >= CONTEXT_LENGTH - 1:
            return False  # less than the model's context length
    rag = body.get("rag_params")
    if isinstance(rag, dict) and not (rag.get("search_query") or "").strip():
        if not _last_user_text(body.get("messages")).strip():
            return False  # without a search_query, the last user message is searched for
    if isinstance(rag, dict):
        ids = {rag.get("table_id") or ""} | set(rag.get("knowledge_base_ids") or [])
        if len(ids - {""}) > 16:
            return False  # at most 16 distinct knowledge bases
    return True


def _upload_ok(case, body):
    """A multipart upload's parts go out in an order the client picks (requests sends the
    fields before the files), and external_id and title must follow their file; a file is not
    empty. A JSON document PUT names its external id in the path, so the body's must match."""
    if case.media_type and case.media_type.startswith("multipart/"):
        if "external_id" in body or "title" in body:
            return False
        data = body.get("file")
        return not (isinstance(data, (bytes, str)) and len(data) == 0)
    ext = body.get("external_id")
    return case.method.upper() != "PUT" or ext is None or ext == (case.path_parameters or {}).get("doc")


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return True
    path = case.operation.path
    if path == "/v1/chat/completions":
        return _chat_ok(body)
    if path.startswith("/v1/knowledge_bases/{kb_id}/documents"):
        return _upload_ok(case, body)
    return _chunking_ok(body.get("chunking"))


@schemathesis.hook
def map_case(context, case):
    """A service key belongs to the path's project, and a body naming another is refused: a
    positive case that names one names the path's (filtering would drop nearly all of them)."""
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and case.operation.path == "/v1/projects/{project_id}/keys" and isinstance(case.body, dict):
        if case.body.get("project_id") is not None:
            case.body["project_id"] = (case.path_parameters or {}).get("project_id")
    return case
