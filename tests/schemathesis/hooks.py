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
    if isinstance(rag, dict):
        ids = {rag.get("table_id") or ""} | set(rag.get("knowledge_base_ids") or [])
        if len(ids - {""}) > 16:
            return False  # at most 16 distinct knowledge bases
    return True


@schemathesis.hook
def filter_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return True
    if case.operation.path == "/v1/chat/completions":
        return _chat_ok(body)
    return _chunking_ok(body.get("chunking"))
