// The official `openai` Node package, unmodified, against a running ragway: the scenarios of
// scenarios.txt through `chat.completions.create` (ragway's fields as extra body fields, read
// back from the parsed JSON) and `models.list`. Run by tests/api/sdk_compat.rs with
// tests/sdk/node_modules (scripts/sdk setup); the environment is harness.py's. One line per
// scenario, then `N passed, M failed`; exit status 0 only when every scenario passed.
import { readFileSync } from "node:fs";

let OpenAI;
try {
  ({ default: OpenAI } = await import("openai"));
} catch (e) {
  // A missing install must fail loudly, never pass.
  console.log(`FAIL import openai: ${e.message} (run \`scripts/sdk setup\`)`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const REQUIRED = ["RAGWAY_URL", "RAGWAY_TOKEN", "RAGWAY_PROJECT", "RAGWAY_KB", "RAGWAY_MODEL", "RAGWAY_SLOW_MODEL", "RAGWAY_TOOL_MODEL"];
const missing = REQUIRED.filter((n) => !process.env[n]);
if (missing.length) {
  console.log(`FAIL environment: ${missing.join(", ")} not set`);
  console.log("0 passed, 1 failed");
  process.exit(2);
}
const E = process.env;
const KB = E.RAGWAY_KB;
const MODEL = E.RAGWAY_MODEL;
const QUESTION = "How do sea otters sleep? One sentence.";
const FOLLOW_UP = [
  ["user", "Tell me one fact about sea otters."],
  ["assistant", "Sea otters hold hands while they sleep."],
  ["user", "And what do beavers build?"],
];
const DOC_WORDS = ["otters", "Beavers", "Owls"];
const CITATION_KEYS = ["choice_index", "chunk_index", "valid", "start", "end"];

// No retries: a retried failure would hide what the server did the first time.
const client = (baseURL) => new OpenAI({ baseURL, apiKey: E.RAGWAY_TOKEN, maxRetries: 0, timeout: 120_000 });
const ROOT = client(`${E.RAGWAY_URL}/v1`);
const PREFIXED = client(`${E.RAGWAY_URL}/api/v1`);

class CheckFailed extends Error {}
function expect(cond, message) {
  if (!cond) throw new CheckFailed(message);
}
const show = (v) => JSON.stringify(v)?.slice(0, 300);

function create({ via = ROOT, model = MODEL, messages, rag = true, k = 2, ragExtra = {}, max_tokens = 48, ...rest } = {}) {
  const body = { model, messages: messages ?? [{ role: "user", content: QUESTION }], max_tokens, ...rest };
  if (rag) body.rag_params = { table_id: KB, k, ...ragExtra };
  return via.chat.completions.create(body);
}

function checkReferences(refs, where, k = 2) {
  expect(refs && typeof refs === "object", `${where}: \`references\` missing: ${show(refs)}`);
  expect(refs.object === "chat.references", `${where}: references.object is ${show(refs.object)}`);
  const chunks = refs.chunks ?? [];
  expect(chunks.length >= 1 && chunks.length <= k, `${where}: ${chunks.length} chunks for k=${k}`);
  for (const c of chunks) {
    expect(DOC_WORDS.some((w) => (c.text ?? "").includes(w)), `${where}: not one of our chunks: ${show(c)}`);
    expect(c.chunk_id, `${where}: chunk without chunk_id: ${show(c)}`);
  }
  return refs;
}

function checkCitations(citations, nChunks, where) {
  expect(Array.isArray(citations), `${where}: \`citations\` missing or not a list: ${show(citations)}`);
  for (const c of citations) {
    for (const key of CITATION_KEYS) expect(key in c, `${where}: citation lacks \`${key}\`: ${show(c)}`);
    if (c.valid) expect(c.chunk_index >= 0 && c.chunk_index < nChunks, `${where}: a valid citation points outside the chunks: ${show(c)}`);
  }
  return citations;
}

/** Every chunk of a streamed answer, each with the seconds since the request. */
async function stream(opts = {}) {
  const started = performance.now();
  const out = [];
  for await (const chunk of await create({ ...opts, stream: true })) out.push([chunk, (performance.now() - started) / 1000]);
  return out;
}

const contentOf = (chunks) => chunks.flatMap((c) => c.choices ?? []).map((ch) => ch.delta?.content ?? "").join("");

const scenarios = {
  async rag() {
    const resp = await create();
    expect(resp.object === "chat.completion", `object is ${show(resp.object)}`);
    const content = resp.choices[0].message.content;
    expect(typeof content === "string" && content.trim(), `empty answer: ${show(resp.choices[0])}`);
    const refs = checkReferences(resp.references, "references");
    const cits = checkCitations(resp.citations, refs.chunks.length, "citations");
    return `${refs.chunks.length} chunks, ${cits.length} citations, answer ${show(content.slice(0, 50))}`;
  },

  async rag_stream() {
    const chunks = (await stream()).map(([c]) => c);
    expect(chunks[0].object === "chat.completion.chunk", `first event object is ${show(chunks[0].object)}`);
    const refs = checkReferences(chunks[0].references, "first chunk");
    const finished = chunks.filter((c) => (c.choices ?? []).some((ch) => ch.finish_reason));
    expect(finished.length, "no chunk carries a finish_reason");
    for (const c of finished) checkCitations(c.citations, refs.chunks.length, "finish_reason chunk");
    const content = contentOf(chunks);
    expect(content.trim(), "the streamed content is empty");
    return `${chunks.length} chunks, references first, content ${show(content.slice(0, 50))}`;
  },

  async search_query_given() {
    const resp = await create({ k: 1, ragExtra: { search_query: "beaver dams" } });
    const refs = checkReferences(resp.references, "references", 1);
    expect(refs.search_query === "beaver dams", `search_query is ${show(refs.search_query)}`);
    expect(refs.chunks[0].text.includes("Beavers"), `retrieved ${show(refs.chunks[0].text)}`);
    return `searched ${show(refs.search_query)}`;
  },

  async search_query_generated() {
    const resp = await create({ messages: FOLLOW_UP.map(([role, content]) => ({ role, content })) });
    const q = checkReferences(resp.references, "references").search_query;
    expect(typeof q === "string" && q.trim(), `search_query is ${show(q)}`);
    expect(q !== FOLLOW_UP[2][1], "the last message was searched as is, not a query written from the conversation");
    return `generated ${show(q)}`;
  },

  async inline_citations_off() {
    const resp = await create({ ragExtra: { inline_citations: false } });
    const refs = checkReferences(resp.references, "references");
    checkCitations(resp.citations, refs.chunks.length, "citations");
    expect(resp.choices[0].message.content.trim(), "empty answer");
    return `answer ${show(resp.choices[0].message.content.slice(0, 50))}`;
  },

  async tools() {
    const weather = {
      type: "function",
      function: {
        name: "get_weather",
        description: "The current weather in a city.",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      },
    };
    const resp = await create({ model: E.RAGWAY_TOOL_MODEL, messages: [{ role: "user", content: "Weather in Oslo?" }], rag: false, tools: [weather] });
    const call = resp.choices[0].message.tool_calls?.[0];
    expect(call, `no tool_calls: ${show(resp.choices[0].message)}`);
    expect(call.function.name === "get_weather", `tool name ${show(call.function.name)}`);
    JSON.parse(call.function.arguments);
    expect(resp.choices[0].finish_reason === "tool_calls", `finish_reason ${show(resp.choices[0].finish_reason)}`);
    return `${call.function.name}(${call.function.arguments})`;
  },

  async n2() {
    const resp = await create({ n: 2, max_tokens: 32 });
    const idx = resp.choices.map((c) => c.index).sort();
    expect(show(idx) === "[0,1]", `choices ${show(idx)}`);
    const refs = checkReferences(resp.references, "references");
    checkCitations(resp.citations, refs.chunks.length, "citations");
    return "2 choices";
  },

  async n2_stream() {
    const chunks = (await stream({ n: 2, max_tokens: 24 })).map(([c]) => c);
    checkReferences(chunks[0].references, "first chunk");
    const texts = {};
    for (const c of chunks) for (const ch of c.choices ?? []) texts[ch.index] = (texts[ch.index] ?? "") + (ch.delta?.content ?? "");
    expect(show(Object.keys(texts).sort()) === '["0","1"]' && Object.values(texts).every((t) => t.trim()), `texts per choice: ${show(texts)}`);
    return `${chunks.length} chunks for choices 0 and 1`;
  },

  async slow_stream() {
    const items = await stream({ model: E.RAGWAY_SLOW_MODEL, max_tokens: 24 });
    checkReferences(items[0][0].references, "first chunk");
    const first = items.find(([c]) => contentOf([c]))?.[1];
    expect(first !== undefined, "no content streamed");
    const keepAlives = items.slice(1).filter(([c, t]) => t < first && (c.choices ?? []).every((ch) => ch.delta?.content === "") && c.choices?.length);
    expect(first > 2.0, `first token after ${first.toFixed(1)} s: the backend was not slow`);
    expect(keepAlives.length >= 2, `${keepAlives.length} keep-alives before the first token at ${first.toFixed(1)} s`);
    return `first token after ${first.toFixed(1)} s, ${keepAlives.length} keep-alives before it`;
  },

  async api_prefix() {
    const resp = await create({ via: PREFIXED });
    checkReferences(resp.references, "references");
    return `answer via ${E.RAGWAY_URL}/api/v1`;
  },

  async models() {
    const ids = [];
    for await (const m of ROOT.models.list()) ids.push(m.id);
    expect(ids.includes(MODEL), `${MODEL} not in ${show(ids)}`);
    const prefixed = [];
    for await (const m of PREFIXED.models.list()) prefixed.push(m.id);
    expect(show(prefixed) === show(ids), `/api/v1/models lists ${show(prefixed)}, /v1/models ${show(ids)}`);
    return `${ids.length} models`;
  },

  async error_bad_param() {
    try {
      await create({ presence_penalty: 3 });
    } catch (e) {
      expect(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
      expect(e.param === "presence_penalty", `error param is ${show(e.param)}: ${show(e.error)}`);
      return `BadRequestError: ${show(e.error?.message)}`;
    }
    throw new CheckFailed("no BadRequestError for presence_penalty=3");
  },

  async error_unknown_model() {
    try {
      await create({ model: "nobody/none" });
    } catch (e) {
      expect(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
      expect(e.code === "model_not_found", `error code is ${show(e.code)}: ${show(e.error)}`);
      return `NotFoundError: ${show(e.error?.message)}`;
    }
    throw new CheckFailed("no NotFoundError for an unknown model");
  },
};

const names = readFileSync(new URL("./scenarios.txt", import.meta.url), "utf8")
  .split("\n")
  .map((l) => l.split("#")[0].trim())
  .filter(Boolean);
const version = JSON.parse(readFileSync(new URL("./node_modules/openai/package.json", import.meta.url), "utf8")).version;
console.log(`openai (Node) ${version} against ${E.RAGWAY_URL}`);
let passed = 0;
let failed = 0;
for (const name of names) {
  const started = performance.now();
  const took = () => `[${((performance.now() - started) / 1000).toFixed(1)} s]`;
  try {
    const fn = scenarios[name];
    if (!fn) throw new CheckFailed("not implemented by this client");
    const detail = await fn();
    passed += 1;
    console.log(`ok   ${name}: ${detail} ${took()}`);
  } catch (e) {
    failed += 1;
    const what = e instanceof CheckFailed ? e.message : `${e.constructor.name}: ${e.message}\n${e.stack}`;
    console.log(`FAIL ${name}: ${what} ${took()}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
