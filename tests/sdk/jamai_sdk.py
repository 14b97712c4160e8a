"""JamAI Base's own Python SDK, `jamaibase` 1.0.5, unmodified, against a running ragway: the
scenarios of scenarios.txt through `JamAI.generate_chat_completions`, `model_ids`,
`model_info` and `health`. Run by tests/api/sdk_compat.rs with tests/sdk/.venv (scripts/sdk
setup); by hand, see harness.py for the environment.
"""

import sys
import time

from harness import DOC_WORDS, FOLLOW_UP, QUESTION, CheckFailed, env, expect, run

try:
    import jamaibase
    from jamaibase import JamAI
    from jamaibase.types import (
        ChatCompletionChunkResponse,
        ChatCompletionResponse,
        ChatEntry,
        ChatRequest,
        Function,
        FunctionParameters,
        RAGParams,
        References,
    )
    from jamaibase.types.lm import FunctionParameter, FunctionTool
    from jamaibase.utils.exceptions import BadInputError, ResourceNotFoundError
except ImportError as e:  # a broken venv must fail loudly, never pass
    print(f"FAIL import jamaibase: {e} (run `scripts/sdk setup`)")
    print("0 passed, 1 failed")
    sys.exit(1)

E = env()
KB, MODEL = E["RAGWAY_KB"], E["RAGWAY_MODEL"]


def client(api_base):
    return JamAI(project_id=E["RAGWAY_PROJECT"], token=E["RAGWAY_TOKEN"], api_base=api_base, timeout=120)


ROOT = client(E["RAGWAY_URL"])
PREFIXED = client(E["RAGWAY_URL"] + "/api")


def request(model=MODEL, messages=None, rag=True, k=2, rag_extra=None, **kw):
    rag_params = None
    if rag:
        rag_params = RAGParams(table_id=KB, k=k, **(rag_extra or {}))
    msgs = messages or [ChatEntry.user(QUESTION)]
    return ChatRequest(model=model, messages=msgs, rag_params=rag_params, max_tokens=kw.pop("max_tokens", 48), **kw)


def check_references(refs, where, k=2):
    expect(isinstance(refs, References), f"{where}: references are {type(refs).__name__}: {refs!r}")
    expect(1 <= len(refs.chunks) <= k, f"{where}: {len(refs.chunks)} chunks for k={k}")
    for c in refs.chunks:
        expect(any(w in c.text for w in DOC_WORDS), f"{where}: not one of our chunks: {c.text!r}")
        expect(c.chunk_id and c.document_id, f"{where}: chunk without ids: {c!r}")
        expect(all(isinstance(v, str) for v in c.context.values()), f"{where}: context {c.context!r}")
    return refs


def complete(req, via=ROOT):
    resp = via.generate_chat_completions(req)
    expect(isinstance(resp, ChatCompletionResponse), f"got {type(resp).__name__}")
    return resp


def stream(req):
    """Every item of a streamed answer, each with the seconds since the request."""
    started = time.monotonic()
    return [(item, time.monotonic() - started) for item in ROOT.generate_chat_completions(req)]


def split_stream(items, where):
    """The References that opens a stream, and the chunks after it."""
    expect(items, f"{where}: nothing streamed")
    refs = check_references(items[0][0], f"{where}: first item")
    chunks = [i for i, _ in items[1:]]
    for c in chunks:
        expect(isinstance(c, ChatCompletionChunkResponse), f"{where}: a {type(c).__name__} after the references")
    return refs, chunks


# --- the scenarios ----------------------------------------------------------------------


def rag():
    resp = complete(request())
    expect(resp.content.strip(), f"empty answer: {resp!r}")
    refs = check_references(resp.references, "references")
    return f"{len(refs.chunks)} chunks, answer {resp.content[:50]!r}"


def rag_stream():
    refs, chunks = split_stream(stream(request(stream=True)), "stream")
    content = "".join(c.content for c in chunks)
    expect(content.strip(), "the streamed content is empty")
    expect(any(c.finish_reason for c in chunks), "no chunk carries a finish_reason")
    return f"References + {len(chunks)} chunks, content {content[:50]!r}"


def search_query_given():
    resp = complete(request(k=1, rag_extra={"search_query": "beaver dams"}))
    refs = check_references(resp.references, "references", k=1)
    expect(refs.search_query == "beaver dams", f"search_query is {refs.search_query!r}")
    expect("Beavers" in refs.chunks[0].text, f"retrieved {refs.chunks[0].text!r}")
    return f"searched {refs.search_query!r}"


def search_query_generated():
    msgs = [ChatEntry(role=r, content=t) for r, t in FOLLOW_UP]
    resp = complete(request(messages=msgs))
    refs = check_references(resp.references, "references")
    q = refs.search_query
    expect(isinstance(q, str) and q.strip(), f"search_query is {q!r}")
    expect(q != FOLLOW_UP[-1][1], "the last message was searched as is, not a query written from the conversation")
    return f"generated {q!r}"


def inline_citations_off():
    resp = complete(request(rag_extra={"inline_citations": False}))
    check_references(resp.references, "references")
    expect(resp.content.strip(), "empty answer")
    return f"answer {resp.content[:50]!r}"


def tools():
    weather = FunctionTool(
        function=Function(
            name="get_weather",
            description="The current weather in a city.",
            parameters=FunctionParameters(
                properties={"city": FunctionParameter(type="string", description="A city")},
                required=["city"],
            ),
        )
    )
    resp = complete(request(model=E["RAGWAY_TOOL_MODEL"], messages=[ChatEntry.user("Weather in Oslo?")], rag=False, tools=[weather]))
    calls = resp.message.tool_calls
    expect(calls, f"no tool_calls: {resp.message!r}")
    expect(calls[0].function.name == "get_weather", f"tool name {calls[0].function.name!r}")
    expect(resp.finish_reason == "tool_calls", f"finish_reason {resp.finish_reason!r}")
    return f"{calls[0].function.name}({calls[0].function.arguments})"


def n2():
    resp = complete(request(n=2, max_tokens=32))
    expect(sorted(c.index for c in resp.choices) == [0, 1], f"choices {[c.index for c in resp.choices]}")
    check_references(resp.references, "references")
    return "2 choices"


def n2_stream():
    refs, chunks = split_stream(stream(request(n=2, max_tokens=24, stream=True)), "stream")
    texts = {}
    for c in chunks:
        for ch in c.choices:
            texts[ch.index] = texts.get(ch.index, "") + ch.text
    expect(sorted(texts) == [0, 1] and all(t.strip() for t in texts.values()), f"texts per choice: {texts!r}")
    return f"{len(chunks)} chunks for choices 0 and 1"


def slow_stream():
    items = stream(request(model=E["RAGWAY_SLOW_MODEL"], stream=True, max_tokens=24))
    refs, _ = split_stream(items, "stream")
    first = next((t for i, t in items[1:] if i.content), None)
    expect(first is not None, "no content streamed")
    before = [i for i, t in items[1:] if t < first]
    keep_alives = [i for i in before if i.content == "" and not i.finish_reason]
    expect(first > 2.0, f"first token after {first:.1f} s: the backend was not slow")
    expect(len(keep_alives) >= 2, f"{len(keep_alives)} keep-alives before the first token at {first:.1f} s")
    return f"first token after {first:.1f} s, {len(keep_alives)} keep-alives before it"


def api_prefix():
    resp = complete(request(), via=PREFIXED)
    check_references(resp.references, "references")
    return f"answer via {E['RAGWAY_URL']}/api"


def models():
    ids = ROOT.model_ids()
    expect(MODEL in ids, f"{MODEL} not in {ids}")
    preferred = PREFIXED.model_ids(prefer=E["RAGWAY_SLOW_MODEL"])
    expect(preferred[0] == E["RAGWAY_SLOW_MODEL"], f"prefer ignored: {preferred}")
    info = ROOT.model_info(capabilities=["chat"])
    expect(MODEL in [m.id for m in info.data], f"model_info: {info!r}")
    health = ROOT.health()
    expect(health.get("status") == "ok", f"health {health!r}")
    return f"{len(ids)} models, health {health}"


def error_bad_param():
    try:
        complete(request(presence_penalty=3))
    except BadInputError as e:
        expect("presence_penalty" in str(e), f"message does not name the parameter: {e}")
        return f"BadInputError: {e}"
    raise CheckFailed("no BadInputError for presence_penalty=3")


def error_unknown_model():
    try:
        complete(request(model="nobody/none"))
    except ResourceNotFoundError as e:
        expect("nobody/none" in str(e), f"message does not name the model: {e}")
        return f"ResourceNotFoundError: {e}"
    raise CheckFailed("no ResourceNotFoundError for an unknown model")


if __name__ == "__main__":
    sys.exit(run(f"jamaibase {jamaibase.__version__} against {E['RAGWAY_URL']}", dict(globals())))
