"""The official `openai` Python SDK, unmodified, against a running ragway.

A plain script (no pytest): one line per check, then `N passed, M failed`; exit status 0
only when every check passed. Run by `tests/api/llm_e2e.rs` with the venv of
`scripts/llm setup`, or by hand:

    RAGWAY_BASE_URL=http://127.0.0.1:8080/v1 RAGWAY_TOKEN=<PAT> RAGWAY_KB=<kb id> \
    RAGWAY_MODEL=smollm2-135m-instruct RAGWAY_TOOL_MODEL=tooler \
    data/.venv/bin/python tests/python/test_openai_sdk.py

RAGWAY_MODEL is a real model (llama.cpp); RAGWAY_TOOL_MODEL a model whose backend answers
with a `get_weather` tool call; RAGWAY_KB a knowledge base of the token's project holding
some documents.
"""

import json
import os
import sys
import time
import traceback

try:
    import openai
except ImportError as e:  # a broken venv must fail loudly, never pass
    print(f"FAIL import openai: {e} (run `scripts/llm setup`)")
    print("0 passed, 1 failed")
    sys.exit(1)

REQUIRED = ["RAGWAY_BASE_URL", "RAGWAY_TOKEN", "RAGWAY_KB", "RAGWAY_MODEL", "RAGWAY_TOOL_MODEL"]
missing = [name for name in REQUIRED if not os.environ.get(name)]
if missing:
    print(f"FAIL environment: {', '.join(missing)} not set")
    print("0 passed, 1 failed")
    sys.exit(2)

BASE_URL = os.environ["RAGWAY_BASE_URL"]
KB = os.environ["RAGWAY_KB"]
MODEL = os.environ["RAGWAY_MODEL"]
TOOL_MODEL = os.environ["RAGWAY_TOOL_MODEL"]

# No retries: a retried failure would hide what the server did the first time.
client = openai.OpenAI(base_url=BASE_URL, api_key=os.environ["RAGWAY_TOKEN"], max_retries=0, timeout=120.0)

MESSAGES = [{"role": "user", "content": "How do sea otters sleep? One sentence."}]
RAG = {"rag_params": {"table_id": KB, "k": 2}}
CITATION_KEYS = ("choice_index", "chunk_index", "valid", "start", "end")


class CheckFailed(AssertionError):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def check_references(refs, where):
    expect(isinstance(refs, dict), f"{where}: `references` missing or not an object: {refs!r}")
    expect(refs.get("object") == "chat.references", f"{where}: references.object is {refs.get('object')!r}")
    chunks = refs.get("chunks")
    expect(isinstance(chunks, list) and chunks, f"{where}: references.chunks empty or missing: {refs!r}")
    expect(len(chunks) <= 2, f"{where}: k=2 but {len(chunks)} chunks came back")
    for i, chunk in enumerate(chunks):
        expect(isinstance(chunk, dict), f"{where}: chunk {i} is not an object: {chunk!r}")
        text = chunk.get("text")
        expect(isinstance(text, str) and text.strip(), f"{where}: chunk {i} has no text: {chunk!r}")
        expect(chunk.get("chunk_id"), f"{where}: chunk {i} has no chunk_id: {chunk!r}")
    return chunks


def check_citations(citations, n_chunks, where):
    expect(isinstance(citations, list), f"{where}: `citations` missing or not a list: {citations!r}")
    for c in citations:
        expect(isinstance(c, dict), f"{where}: citation is not an object: {c!r}")
        for key in CITATION_KEYS:
            expect(key in c, f"{where}: citation lacks `{key}`: {c!r}")
        expect(isinstance(c["valid"], bool), f"{where}: citation.valid is not a bool: {c!r}")
        if c["valid"]:
            expect(0 <= c["chunk_index"] < n_chunks, f"{where}: a valid citation points outside the chunks: {c!r}")
    return citations


def extra(model, key):
    return (model.model_extra or {}).get(key)


# --- the checks -------------------------------------------------------------------------


def rag_completion():
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=48, extra_body=RAG)
    expect(resp.object == "chat.completion", f"object is {resp.object!r}")
    expect(len(resp.choices) == 1, f"{len(resp.choices)} choices")
    content = resp.choices[0].message.content
    expect(isinstance(content, str) and content.strip(), f"empty answer: {resp.choices[0].message!r}")
    chunks = check_references(extra(resp, "references"), "non-streaming")
    cits = check_citations(extra(resp, "citations"), len(chunks), "non-streaming")
    return f"{len(chunks)} chunks, {len(cits)} citations, answer {content[:60]!r}"


def rag_streaming():
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=48, stream=True, extra_body=RAG
    )
    chunks = list(stream)  # any SDK error (bad SSE, bad JSON, error event) raises here
    expect(chunks, "no chunk streamed")
    first = chunks[0]
    expect(first.object == "chat.completion.chunk", f"first event object is {first.object!r}")
    refs = check_references(extra(first, "references"), "first streamed chunk")
    finished = [c for c in chunks if any(ch.finish_reason for ch in c.choices)]
    expect(finished, "no chunk carries a finish_reason")
    n_cits = 0
    for c in finished:
        n_cits += len(check_citations(extra(c, "citations"), len(refs), "finish_reason chunk"))
    content = "".join(ch.delta.content or "" for c in chunks for ch in c.choices)
    expect(content.strip(), "the streamed content is empty")
    return f"{len(chunks)} chunks, {len(refs)} references, {n_cits} citations, content {content[:60]!r}"


def rag_n2():
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=32, n=2, extra_body=RAG)
    expect(len(resp.choices) == 2, f"{len(resp.choices)} choices, want 2")
    expect(sorted(c.index for c in resp.choices) == [0, 1], f"choice indexes {[c.index for c in resp.choices]}")
    for c in resp.choices:
        expect(isinstance(c.message.content, str), f"choice {c.index} has no content: {c.message!r}")
    chunks = check_references(extra(resp, "references"), "n=2")
    check_citations(extra(resp, "citations"), len(chunks), "n=2")
    return f"2 choices sharing {len(chunks)} references"


def tool_calls():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    resp = client.chat.completions.create(
        model=TOOL_MODEL,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        max_tokens=48,
        tools=tools,
    )
    msg = resp.choices[0].message
    expect(msg.tool_calls, f"no tool_calls: {msg!r}")
    call = msg.tool_calls[0]
    expect(call.function.name == "get_weather", f"tool name is {call.function.name!r}")
    json.loads(call.function.arguments)  # the arguments come back as JSON text
    expect(resp.choices[0].finish_reason == "tool_calls", f"finish_reason {resp.choices[0].finish_reason!r}")
    return f"{call.function.name}({call.function.arguments})"


def unknown_model_is_404():
    try:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=8)
    except openai.NotFoundError as e:
        body = e.body if isinstance(e.body, dict) else {}
        expect(body.get("code") == "model_not_found", f"error code is {body.get('code')!r}: {e.body!r}")
        return f"NotFoundError: {body.get('message')!r}"
    raise CheckFailed("no error raised for an unknown model")


def max_tokens_zero_is_400():
    try:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=0)
    except openai.BadRequestError as e:
        body = e.body if isinstance(e.body, dict) else {}
        expect(body.get("param") == "max_tokens", f"error param is {body.get('param')!r}: {e.body!r}")
        return f"BadRequestError: {body.get('message')!r}"
    raise CheckFailed("no error raised for max_tokens=0")


CHECKS = [
    ("(a) chat completion with rag_params: references and citations", rag_completion),
    ("(b) streamed chat completion with rag_params", rag_streaming),
    ("(c) n=2 with rag_params", rag_n2),
    ("(d) tools: tool_calls passed back", tool_calls),
    ("(e1) unknown model -> openai.NotFoundError", unknown_model_is_404),
    ("(e2) max_tokens=0 -> openai.BadRequestError", max_tokens_zero_is_400),
]


def main():
    print(f"openai {openai.__version__} against {BASE_URL} (model {MODEL}, tool model {TOOL_MODEL}, kb {KB})")
    passed = failed = 0
    for name, fn in CHECKS:
        started = time.monotonic()
        try:
            detail = fn()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e} [{time.monotonic() - started:.1f} s]")
        except Exception as e:  # an SDK error where none was expected is a failure too
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e} [{time.monotonic() - started:.1f} s]")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}: {detail} [{time.monotonic() - started:.1f} s]")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
