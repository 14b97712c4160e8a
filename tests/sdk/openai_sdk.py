"""The official `openai` Python SDK, unmodified, against a running ragway: the scenarios of
scenarios.txt through `chat.completions.create` (ragway's fields via `extra_body`, read back
from `model_extra`) and `models.list`. Run by tests/api/sdk_compat.rs with tests/sdk/.venv
(scripts/sdk setup); by hand, see harness.py for the environment.
"""

import json
import sys
import time

from harness import DOC_WORDS, FOLLOW_UP, QUESTION, CheckFailed, env, expect, run

try:
    import openai
except ImportError as e:  # a broken venv must fail loudly, never pass
    print(f"FAIL import openai: {e} (run `scripts/sdk setup`)")
    print("0 passed, 1 failed")
    sys.exit(1)

E = env()
KB, MODEL = E["RAGWAY_KB"], E["RAGWAY_MODEL"]


def client(base_url):
    # No retries: a retried failure would hide what the server did the first time.
    return openai.OpenAI(base_url=base_url, api_key=E["RAGWAY_TOKEN"], max_retries=0, timeout=120.0)


ROOT = client(E["RAGWAY_URL"] + "/v1")
PREFIXED = client(E["RAGWAY_URL"] + "/api/v1")
CITATION_KEYS = ("choice_index", "chunk_index", "valid", "start", "end")


def extra(model, key):
    return (model.model_extra or {}).get(key)


def create(via=ROOT, model=MODEL, messages=None, rag=True, k=2, rag_extra=None, **kw):
    body = {}
    if rag:
        body["rag_params"] = {"table_id": KB, "k": k, **(rag_extra or {})}
    msgs = messages or [{"role": "user", "content": QUESTION}]
    return via.chat.completions.create(model=model, messages=msgs, max_tokens=kw.pop("max_tokens", 48), extra_body=body, **kw)


def check_references(refs, where, k=2):
    expect(isinstance(refs, dict), f"{where}: `references` missing or not an object: {refs!r}")
    expect(refs.get("object") == "chat.references", f"{where}: references.object is {refs.get('object')!r}")
    chunks = refs.get("chunks") or []
    expect(1 <= len(chunks) <= k, f"{where}: {len(chunks)} chunks for k={k}")
    for c in chunks:
        expect(any(w in c.get("text", "") for w in DOC_WORDS), f"{where}: not one of our chunks: {c!r}")
        expect(c.get("chunk_id"), f"{where}: chunk without chunk_id: {c!r}")
    return refs


def check_citations(citations, n_chunks, where):
    expect(isinstance(citations, list), f"{where}: `citations` missing or not a list: {citations!r}")
    for c in citations:
        for key in CITATION_KEYS:
            expect(key in c, f"{where}: citation lacks `{key}`: {c!r}")
        if c["valid"]:
            expect(0 <= c["chunk_index"] < n_chunks, f"{where}: a valid citation points outside the chunks: {c!r}")
    return citations


def stream(**kw):
    """Every chunk of a streamed answer, each with the seconds since the request."""
    started = time.monotonic()
    return [(c, time.monotonic() - started) for c in create(stream=True, **kw)]


def content_of(chunks):
    return "".join(ch.delta.content or "" for c in chunks for ch in c.choices)


# --- the scenarios ----------------------------------------------------------------------


def rag():
    resp = create()
    expect(resp.object == "chat.completion", f"object is {resp.object!r}")
    content = resp.choices[0].message.content
    expect(isinstance(content, str) and content.strip(), f"empty answer: {resp.choices[0].message!r}")
    refs = check_references(extra(resp, "references"), "references")
    cits = check_citations(extra(resp, "citations"), len(refs["chunks"]), "citations")
    return f"{len(refs['chunks'])} chunks, {len(cits)} citations, answer {content[:50]!r}"


def rag_stream():
    chunks = [c for c, _ in stream()]
    first = chunks[0]
    expect(first.object == "chat.completion.chunk", f"first event object is {first.object!r}")
    refs = check_references(extra(first, "references"), "first chunk")
    finished = [c for c in chunks if any(ch.finish_reason for ch in c.choices)]
    expect(finished, "no chunk carries a finish_reason")
    for c in finished:
        check_citations(extra(c, "citations"), len(refs["chunks"]), "finish_reason chunk")
    content = content_of(chunks)
    expect(content.strip(), "the streamed content is empty")
    return f"{len(chunks)} chunks, references first, content {content[:50]!r}"


def search_query_given():
    resp = create(k=1, rag_extra={"search_query": "beaver dams"})
    refs = check_references(extra(resp, "references"), "references", k=1)
    expect(refs["search_query"] == "beaver dams", f"search_query is {refs['search_query']!r}")
    expect("Beavers" in refs["chunks"][0]["text"], f"retrieved {refs['chunks'][0]['text']!r}")
    return f"searched {refs['search_query']!r}"


def search_query_generated():
    msgs = [{"role": r, "content": t} for r, t in FOLLOW_UP]
    resp = create(messages=msgs)
    q = check_references(extra(resp, "references"), "references")["search_query"]
    expect(isinstance(q, str) and q.strip(), f"search_query is {q!r}")
    expect(q != FOLLOW_UP[-1][1], "the last message was searched as is, not a query written from the conversation")
    return f"generated {q!r}"


def inline_citations_off():
    resp = create(rag_extra={"inline_citations": False})
    refs = check_references(extra(resp, "references"), "references")
    check_citations(extra(resp, "citations"), len(refs["chunks"]), "citations")
    expect(resp.choices[0].message.content.strip(), "empty answer")
    return f"answer {resp.choices[0].message.content[:50]!r}"


def tools():
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    resp = create(model=E["RAGWAY_TOOL_MODEL"], messages=[{"role": "user", "content": "Weather in Oslo?"}], rag=False, tools=[weather])
    msg = resp.choices[0].message
    expect(msg.tool_calls, f"no tool_calls: {msg!r}")
    call = msg.tool_calls[0]
    expect(call.function.name == "get_weather", f"tool name {call.function.name!r}")
    json.loads(call.function.arguments)
    expect(resp.choices[0].finish_reason == "tool_calls", f"finish_reason {resp.choices[0].finish_reason!r}")
    return f"{call.function.name}({call.function.arguments})"


def n2():
    resp = create(n=2, max_tokens=32)
    expect(sorted(c.index for c in resp.choices) == [0, 1], f"choices {[c.index for c in resp.choices]}")
    refs = check_references(extra(resp, "references"), "references")
    check_citations(extra(resp, "citations"), len(refs["chunks"]), "citations")
    return "2 choices"


def n2_stream():
    chunks = [c for c, _ in stream(n=2, max_tokens=24)]
    check_references(extra(chunks[0], "references"), "first chunk")
    texts = {}
    for c in chunks:
        for ch in c.choices:
            texts[ch.index] = texts.get(ch.index, "") + (ch.delta.content or "")
    expect(sorted(texts) == [0, 1] and all(t.strip() for t in texts.values()), f"texts per choice: {texts!r}")
    return f"{len(chunks)} chunks for choices 0 and 1"


def slow_stream():
    items = stream(model=E["RAGWAY_SLOW_MODEL"], max_tokens=24)
    check_references(extra(items[0][0], "references"), "first chunk")
    first = next((t for c, t in items if content_of([c])), None)
    expect(first is not None, "no content streamed")
    keep_alives = [c for c, t in items[1:] if t < first and content_of([c]) == "" and all(ch.delta.content == "" for ch in c.choices)]
    expect(first > 2.0, f"first token after {first:.1f} s: the backend was not slow")
    expect(len(keep_alives) >= 2, f"{len(keep_alives)} keep-alives before the first token at {first:.1f} s")
    return f"first token after {first:.1f} s, {len(keep_alives)} keep-alives before it"


def api_prefix():
    resp = create(via=PREFIXED)
    check_references(extra(resp, "references"), "references")
    return f"answer via {E['RAGWAY_URL']}/api/v1"


def models():
    ids = [m.id for m in ROOT.models.list()]
    expect(MODEL in ids, f"{MODEL} not in {ids}")
    prefixed = [m.id for m in PREFIXED.models.list()]
    expect(prefixed == ids, f"/api/v1/models lists {prefixed}, /v1/models {ids}")
    return f"{len(ids)} models"


def error_bad_param():
    try:
        create(presence_penalty=3)
    except openai.BadRequestError as e:
        body = e.body if isinstance(e.body, dict) else {}
        expect(body.get("param") == "presence_penalty", f"error param is {body.get('param')!r}: {e.body!r}")
        return f"BadRequestError: {body.get('message')!r}"
    raise CheckFailed("no BadRequestError for presence_penalty=3")


def error_unknown_model():
    try:
        create(model="nobody/none")
    except openai.NotFoundError as e:
        body = e.body if isinstance(e.body, dict) else {}
        expect(body.get("code") == "model_not_found", f"error code is {body.get('code')!r}: {e.body!r}")
        return f"NotFoundError: {body.get('message')!r}"
    raise CheckFailed("no NotFoundError for an unknown model")


if __name__ == "__main__":
    sys.exit(run(f"openai (Python) {openai.__version__} against {E['RAGWAY_URL']}", dict(globals())))
