// The console's browser suite: every flow of issue 13 in Debian's Chromium, driven by
// playwright-core. Run by tests/api/console.rs against a real ragway; prints `plan: N`, one
// line per check, and `N passed, M failed`; exits non-zero unless all passed.
// Env: RAGWAY_URL, RAGWAY_TOKEN (a PAT of user `dev`, project `default`), RAGWAY_LLM_MODEL,
// RAGWAY_FILES (otters.pdf, beavers.md, broken.pdf), SCREENSHOT_DIR.
import { chromium } from "playwright-core";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const URL = process.env.RAGWAY_URL;
const TOKEN = process.env.RAGWAY_TOKEN;
const LLM = process.env.RAGWAY_LLM_MODEL;
const FILES = process.env.RAGWAY_FILES;
const SHOTS = process.env.SCREENSHOT_DIR;
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 390, height: 844 };

const CHECKS = [];
const check = (name, fn) => CHECKS.push({ name, fn });
let passed = 0;
let failed = 0;

const profile = mkdtempSync(join(tmpdir(), "ragway-chromium-"));
// A fresh profile per run (--user-data-dir, which playwright passes for a persistent context).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: DESKTOP,
  baseURL: URL,
});
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const consoleErrors = [];
page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
page.on("pageerror", (e) => consoleErrors.push(String(e)));

const shot = async (name, p = page) => {
  await p.waitForTimeout(150);
  await p.screenshot({ path: join(SHOTS, `${name}-${p.viewportSize().width}x${p.viewportSize().height}.png`), fullPage: true });
};
const expect = (cond, msg) => {
  if (!cond) throw new Error(msg);
};
/** Press Tab until the focused element matches `selector` (as a keyboard user would). */
async function tabTo(selector, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}
async function focusRingVisible() {
  return page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
  });
}
const docRow = (name) => page.locator(`tr[data-doc="${name}"]`);
const file = (name, mimeType) => ({ name, mimeType, buffer: readFileSync(join(FILES, name)) });
let chatId = "";

check("a bad token shows the API's error, as written", async () => {
  await page.goto("/");
  await page.getByLabel("Token", { exact: true }).fill("not-a-real-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  const err = page.getByRole("alert");
  await err.waitFor();
  const text = await err.innerText();
  expect(text.includes("401") && text.includes("invalid or revoked token"), `error shown: ${text}`);
  await shot("signin-error");
});

check("sign in and pick the project with the keyboard only", async () => {
  await page.goto("/");
  await page.evaluate(() => document.activeElement?.blur());
  await tabTo('input[name="token"]');
  expect(await focusRingVisible(), "no visible focus ring on the token field");
  await page.keyboard.type(TOKEN);
  await page.keyboard.press("Enter");
  await page.locator('select[name="project"]').waitFor();
  await tabTo('select[name="project"]');
  expect((await page.locator('select[name="project"]').inputValue()) === "default", "project default not chosen");
  await shot("signin-project");
  await tabTo('form[aria-label="Choose the project"] button[type="submit"]');
  await page.keyboard.press("Enter");
  await page.getByTestId("who").waitFor();
  const who = await page.getByTestId("who").innerText();
  expect(who.includes("dev") && who.includes("default"), `header shows ${who}`);
  expect(await page.evaluate(() => document.cookie === ""), "a cookie was set");
  expect(await page.evaluate(() => !!sessionStorage.getItem("ragway.console.session")), "token not in session storage");
});

check("create a knowledge base with the keyboard only", async () => {
  await page.goto("/#/kbs");
  await page.getByRole("heading", { name: "Knowledge bases", level: 1 }).waitFor();
  await tabTo('input[name="id"]');
  await page.keyboard.type("handbook");
  await tabTo('input[name="name"]');
  await page.keyboard.type("Handbook");
  await tabTo('input[name="max_tokens"]');
  await page.keyboard.type("64");
  await tabTo('input[name="overlap_tokens"]');
  await page.keyboard.type("8");
  await tabTo('section[aria-labelledby="create-kb"] button[type="submit"]');
  expect(await focusRingVisible(), "no visible focus ring on the submit button");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/kbs\/handbook$/);
  await page.getByRole("heading", { name: "Handbook", level: 1 }).waitFor();
});

check("a bad create shows the API's message and parameter", async () => {
  await page.goto("/#/kbs");
  await page.locator('input[name="id"]').fill("bad id!");
  await page.getByRole("button", { name: "Create knowledge base" }).click();
  const err = page.getByTestId("create-kb-error");
  await err.waitFor();
  const text = await err.innerText();
  expect(text.includes("is not a valid id") && text.includes("parameter: id"), `error: ${text}`);
  await shot("kbs-error");
});

check("edit a knowledge base", async () => {
  await page.goto("/#/kbs/handbook");
  await page.locator('input[name="kb_description"]').fill("Animal facts for the tests");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByText("Saved.").waitFor();
  await page.getByText("Animal facts for the tests ·").waitFor();
});

check("upload a PDF (file input) and Markdown (drag and drop) with metadata, external id and progress per file", async () => {
  await page.evaluate(() => (window.__sameDocument = true));
  await page.locator("#file-input").setInputFiles([file("otters.pdf", "application/pdf"), file("broken.pdf", "application/pdf")]);
  // Drag and drop: a real DataTransfer with a File, dropped on the zone.
  const md = readFileSync(join(FILES, "beavers.md"), "utf8");
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], "beavers.md", { type: "text/markdown" }));
    return d;
  }, md);
  await page.getByTestId("dropzone").dispatchEvent("dragover", { dataTransfer: dt });
  await page.getByTestId("dropzone").dispatchEvent("drop", { dataTransfer: dt });
  const rows = page.locator("ul.uploads li");
  expect((await rows.count()) === 3, `staged ${await rows.count()} files`);
  await page.getByLabel("External id for beavers.md (optional)").fill("beavers-guide");
  await page.locator('textarea[name="metadata"]').fill('{"team": "zoo"}');
  await shot("kb-upload-staged");
  await page.getByRole("button", { name: "Upload 3 files" }).click();
  for (const name of ["otters.pdf", "broken.pdf", "beavers.md"]) {
    const li = page.locator(`ul.uploads li[data-file="${name}"]`);
    await li.locator('.state[data-state="sent"]').waitFor();
    const v = await li.locator("progress").getAttribute("value");
    expect(v === "100", `${name} progress ${v}`);
  }
});

check("documents become ready (and one fails, with its error) without a reload", async () => {
  await docRow("otters.pdf").and(page.locator('[data-status="ready"]')).waitFor({ timeout: 90000 });
  await docRow("beavers.md").and(page.locator('[data-status="ready"]')).waitFor({ timeout: 90000 });
  await docRow("broken.pdf").and(page.locator('[data-status="failed"]')).waitFor({ timeout: 90000 });
  const err = await docRow("broken.pdf").getByTestId("doc-error").innerText();
  expect(err.includes("cannot read PDF"), `error shown: ${err}`);
  expect(await page.evaluate(() => window.__sameDocument === true), "the page was reloaded");
  expect((await docRow("beavers.md").innerText()).includes("external id: beavers-guide"), "external id not shown");
  // The knowledge base's counts follow, also without a reload.
  await page.waitForFunction(() => {
    const t = document.querySelector("p.row .counts")?.textContent ?? "";
    return t.includes("2 ready") && t.includes("1 failed");
  });
  await shot("kb-documents");
});

check("retry a failed document: queued again, processed, failed again with its error", async () => {
  const retried = page.waitForResponse((r) => r.url().endsWith("/retry") && r.request().method() === "POST");
  await docRow("broken.pdf").getByRole("button", { name: /Retry/ }).click();
  const res = await retried;
  expect(res.status() === 202, `retry answered ${res.status()}`);
  const body = await res.json();
  expect(body.status === "queued" && body.attempts === 0 && body.error === null, `retry body ${JSON.stringify(body)}`);
  await docRow("broken.pdf").and(page.locator('[data-status="failed"]')).waitFor({ timeout: 30000 });
  await docRow("broken.pdf").getByTestId("doc-error").waitFor();
});

check("filter documents by status", async () => {
  await page.locator('select[name="status_filter"]').selectOption("failed");
  // The retried document may still be queued or parsing (its row showed the old `failed` a
  // moment ago): the live table shows it here once it has failed again.
  await page.waitForFunction(() => document.querySelectorAll("tr[data-doc]").length === 1, null, { timeout: 60000 });
  expect((await docRow("broken.pdf").count()) === 1, "the failed filter does not show broken.pdf");
  await page.locator('select[name="status_filter"]').selectOption("");
  await page.waitForFunction(() => document.querySelectorAll("tr[data-doc]").length === 3);
});

check("delete a document, with a confirmation", async () => {
  await docRow("broken.pdf").getByRole("button", { name: /Delete/ }).click();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await shot("kb-confirm-delete-doc");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  expect((await docRow("broken.pdf").count()) === 1, "cancel deleted it");
  await docRow("broken.pdf").getByRole("button", { name: /Delete/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete document" }).click();
  await docRow("broken.pdf").waitFor({ state: "detached" });
});

check("open a chunk and see its place in the document's text", async () => {
  await docRow("otters.pdf").getByRole("link").click();
  await page.getByRole("heading", { name: /^Chunks \(\d+\)$/ }).waitFor();
  const chunks = page.locator("li.chunk");
  const n = await chunks.count();
  expect(n >= 2, `${n} chunks`);
  const last = chunks.nth(n - 1);
  await last.getByRole("button", { name: /Show in text/ }).click();
  const mark = page.getByTestId("highlight");
  await mark.waitFor();
  const [marked, text, head] = [await mark.innerText(), await last.locator(".chunk-text").innerText(), await last.locator(".chunk-head").innerText()];
  expect(marked.trim() === text.trim(), `highlight "${marked}" is not chunk "${text}"`);
  expect(head.includes("page 2"), `the last chunk is not on page 2: ${head}`);
  const status = await page.locator(".text-panel [role=status]").innerText();
  expect(status.includes("page 2"), `text panel says ${status}`);
  await shot("document-chunk");
});

check("retrieval test: dense, sparse and fused scores side by side, with stage latencies", async () => {
  await page.goto("/#/search/handbook");
  await page.locator('input[name="query"]').fill("How do otters sleep without drifting apart");
  await page.locator('input[name="k"]').fill("3");
  await page.getByRole("button", { name: "Search" }).click();
  const results = page.getByTestId("results");
  await results.waitFor();
  const rows = results.locator("tbody tr");
  expect((await rows.count()) >= 2, "fewer than 2 hits");
  const first = rows.first();
  for (const leg of ["dense", "sparse", "fused"]) {
    const v = (await first.locator(`td[data-leg="${leg}"]`).innerText()).trim();
    expect(/^\d+\.\d{4}$/.test(v), `${leg} score of the top hit: ${v}`);
  }
  expect((await first.innerText()).includes("Otter facts"), "the top hit is not the otters PDF");
  const timings = await results.locator(".timings").innerText();
  for (const stage of ["embed", "search", "total"]) expect(timings.includes(stage), `no ${stage} timing: ${timings}`);
  await shot("retrieval");
});

check("a bad filter shows the API's error; an earlier query re-runs", async () => {
  await page.locator('textarea[name="filter"]').fill('{"year": {"between": 1}}');
  await page.getByRole("button", { name: "Search" }).click();
  const err = page.getByRole("alert");
  await err.waitFor();
  const msg = await err.innerText();
  expect(msg.includes("unknown operator `between`") && msg.includes("parameter: filter.year"), msg);
  await page.locator('textarea[name="filter"]').fill("");
  const rerun = page.waitForResponse((r) => r.url().endsWith("/search"));
  await page.locator("ul.history li").first().getByRole("button", { name: /Re-run/ }).click();
  expect((await rerun).status() === 200, "re-run failed");
  await page.getByTestId("results").waitFor();
  expect((await page.locator("ul.history li").count()) >= 2, "history did not grow");
});

check("chat with the llama.cpp model: references before the first token, the answer streams", async () => {
  await page.goto("/#/chat");
  await page.locator('select[name="model"]').selectOption(LLM);
  await page.locator('input[name="k"]').fill("2");
  await page.locator('input[name="max_tokens"]').fill("32");
  chatId = await page.locator('input[name="chat_id"]').inputValue();
  await page.locator('textarea[name="message"]').fill("How do sea otters sleep?");
  await page.getByRole("button", { name: "Send" }).click();
  const answer = page.getByTestId("answer").last();
  await page.getByTestId("references").first().waitFor({ timeout: 60000 });
  await answer.and(page.locator('[data-done="true"]')).waitFor({ timeout: 120000 });
  const before = await answer.getAttribute("data-refs-before-first-token");
  expect(before === "true", `references before the first token: ${before}`);
  const text = (await answer.locator(".answer-text").innerText()).trim();
  expect(text.length > 0, "empty answer");
  expect((await page.getByTestId("chat-error").count()) === 0, "chat error shown");
  const refs = await page.getByTestId("references").first().innerText();
  expect(refs.includes("How do sea otters sleep?"), `search query not shown: ${refs}`);
  // Each reference links to its chunk: knowledge base, document and ordinal from the chunk.
  const link = await page.getByTestId("references").first().getByRole("link").first().getAttribute("href");
  expect(/^#\/kbs\/[^/]+\/docs\/[^/]+\/\d+$/.test(link ?? "") && !link.includes("undefined"), `reference link: ${link}`);
});

check("clickable citations with the server's check (echo backend)", async () => {
  await page.locator('select[name="model"]').selectOption("echo");
  await page.locator('select[name="reranker"]').selectOption("words");
  await page.locator('textarea[name="message"]').fill("Where do beavers live?");
  await page.getByRole("button", { name: "Send" }).click();
  const answer = page.getByTestId("answer").last();
  await answer.and(page.locator('[data-done="true"]')).waitFor({ timeout: 30000 });
  const ok = answer.locator('button.cite-btn[data-verdict="supported"]');
  const bad = answer.locator('.cite-btn[data-verdict="unsupported"]');
  expect((await ok.count()) === 1 && (await bad.count()) === 1, "expected one supported and one unsupported citation");
  expect((await ok.innerText()).includes("@0") && (await bad.innerText()).includes("@7"), "wrong markers");
  const summary = await answer.getByTestId("check-summary").innerText();
  expect(summary.includes("1 of 2 citations point at a retrieved reference") && summary.includes("@7"), summary);
  await ok.click();
  const ref0 = page.locator(".turn").last().locator('li[data-ref="0"]');
  expect(await ref0.evaluate((el) => el === document.activeElement && el.classList.contains("focused")), "reference 0 not focused");
  expect((await ref0.innerText()).includes("cited ×1"), "reference 0 does not show its check");
  await shot("chat");
});

check("the chat log shows the query, retrieved chunks and per-stage timings", async () => {
  await page.getByTestId("chat-log-link").click();
  await page.waitForURL(new RegExp(`#/chats/${chatId}$`));
  const entries = page.getByTestId("log-entry");
  await entries.first().waitFor();
  expect((await entries.count()) === 2, `${await entries.count()} log entries`);
  const first = await entries.first().innerText();
  for (const s of ["How do sea otters sleep?", "retrieve", "generate", "total"]) expect(first.includes(s), `log lacks ${s}: ${first}`);
  await shot("chat-log");
});

check("re-index with live progress to completion", async () => {
  await page.goto("/#/jobs/handbook");
  await page.locator('input[name="max_tokens"]').fill("48");
  await page.locator('input[name="overlap_tokens"]').fill("4");
  await page.getByRole("button", { name: "Start re-index" }).click();
  const job = page.locator("li.job").first();
  await job.waitFor();
  await job.and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 120000 });
  const v = await job.locator("progress").getAttribute("value");
  expect(v === "100", `progress ${v}`);
  expect((await job.innerText()).includes("2/2 documents"), await job.innerText());
  await shot("jobs");
  await page.goto("/#/kbs/handbook");
  await page.getByText("48/4 tokens").first().waitFor();
});

check("create a service key (secret shown once, copy button) and revoke it", async () => {
  await page.goto("/#/access");
  const keys = page.getByTestId("keys");
  await keys.locator('input[name="key_name"]').fill("ci key");
  await keys.getByRole("button", { name: "Create service key" }).click();
  const secret = (await keys.getByTestId("secret-value").innerText()).trim();
  expect(secret.length > 20, `secret ${secret}`);
  await keys.getByRole("button", { name: /Copy secret/ }).click();
  await keys.getByText("copied").waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied === secret, "the clipboard does not hold the secret");
  const who = await page.evaluate(
    async (s) => (await fetch("/v1/whoami", { headers: { Authorization: `Bearer ${s}`, "X-USER-ID": "bot" } })).status,
    secret,
  );
  expect(who === 200, `the new key answered ${who}`);
  await shot("access-secret");
  await keys.getByRole("button", { name: "Done" }).click();
  expect((await keys.getByTestId("secret").count()) === 0, "the secret is still shown");
  await keys.locator('tr[data-token="ci key"]').getByRole("button", { name: /Revoke/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
  await keys.locator('tr[data-token="ci key"][data-revoked="true"]').waitFor();
  const after = await page.evaluate(
    async (s) => (await fetch("/v1/whoami", { headers: { Authorization: `Bearer ${s}`, "X-USER-ID": "bot" } })).status,
    secret,
  );
  expect(after === 401, `the revoked key answered ${after}`);
});

check("create and revoke a personal access token", async () => {
  const pats = page.getByTestId("tokens");
  await pats.locator('input[name="token_name"]').fill("laptop");
  await pats.getByRole("button", { name: "Create token" }).click();
  await pats.getByTestId("secret-value").waitFor();
  await pats.locator('tr[data-token="laptop"]').getByRole("button", { name: /Revoke/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
  await pats.locator('tr[data-token="laptop"][data-revoked="true"]').waitFor();
  await shot("access");
});

check("delete a knowledge base, with a confirmation", async () => {
  await page.goto("/#/kbs");
  await page.locator('input[name="id"]').fill("scratch");
  await page.getByRole("button", { name: "Create knowledge base" }).click();
  await page.waitForURL(/#\/kbs\/scratch$/);
  await page.getByRole("button", { name: "Delete knowledge base" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("dialog").waitFor({ state: "hidden" });
  expect(page.url().endsWith("#/kbs/scratch"), "cancel deleted it");
  await page.getByRole("button", { name: "Delete knowledge base" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete knowledge base" }).click();
  await page.waitForURL(/#\/kbs$/);
  await page.locator('tr[data-kb="handbook"]').waitFor();
  expect((await page.locator('tr[data-kb="scratch"]').count()) === 0, "scratch still listed");
  const row = await page.locator('tr[data-kb="handbook"]').innerText();
  expect(row.includes("2 ready"), `list counts: ${row}`);
  await shot("kbs");
});

check("every page at 390×844 (and the rest at 1280×800)", async () => {
  const docHref = await (async () => {
    await page.goto("/#/kbs/handbook");
    return docRow("otters.pdf").getByRole("link").getAttribute("href");
  })();
  await shot("kb");
  // The same tab, narrowed: the session lives in this tab's sessionStorage.
  const mobile = page;
  await mobile.setViewportSize(MOBILE);
  const overflowing = [];
  // A page wider than the screen scrolls sideways: broken on a phone.
  const noOverflow = async (name) => {
    const w = await mobile.evaluate(() => document.documentElement.scrollWidth);
    if (w > MOBILE.width + 1) overflowing.push(`${name} (${w} px)`);
  };
  const pages = [
    ["kbs", "/#/kbs"],
    ["kb", "/#/kbs/handbook"],
    ["document-chunk", `/${docHref}/1`],
    ["jobs", "/#/jobs"],
    ["access", "/#/access"],
    ["chat-log", `/#/chats/${chatId}`],
  ];
  for (const [name, path] of pages) {
    await mobile.goto(path);
    await mobile.locator("header.top").waitFor();
    await mobile.locator("h1").first().waitFor();
    await mobile.waitForLoadState("networkidle");
    await shot(name, mobile);
    await noOverflow(name);
  }
  await mobile.goto("/#/search/handbook");
  await mobile.locator('input[name="query"]').fill("beaver lodges");
  await mobile.getByRole("button", { name: "Search" }).click();
  await mobile.getByTestId("results").waitFor();
  await shot("retrieval", mobile);
  await noOverflow("retrieval");
  await mobile.goto("/#/chat");
  await mobile.getByText("Settings", { exact: true }).click();
  await mobile.locator('select[name="model"]').selectOption("echo");
  await mobile.locator('textarea[name="message"]').fill("Where do beavers live?");
  await mobile.getByRole("button", { name: "Send" }).click();
  await mobile.getByTestId("answer").and(mobile.locator('[data-done="true"]')).waitFor();
  await shot("chat", mobile);
  await noOverflow("chat");
  // Signed out: the sign-in page.
  await mobile.getByRole("button", { name: "Sign out" }).click();
  await mobile.getByRole("heading", { name: "Sign in to ragway" }).waitFor();
  await mobile.getByLabel("Token", { exact: true }).fill("not-a-real-token");
  await mobile.getByRole("button", { name: "Sign in" }).click();
  await mobile.getByRole("alert").waitFor();
  await shot("signin-error", mobile);
  await noOverflow("signin");
  await mobile.setViewportSize(DESKTOP);
  expect(overflowing.length === 0, `wider than the 390 px screen: ${overflowing.join(", ")}`);
});

check("no errors in the browser console (CSP, scripts)", async () => {
  const real = consoleErrors.filter((e) => !/status of (401|404|409)/.test(e) && !/the server responded with a status of 400/.test(e));
  expect(real.length === 0, real.join("\n"));
});

console.log(`plan: ${CHECKS.length}`);
const started = Date.now();
for (const c of CHECKS) {
  const t = Date.now();
  try {
    await c.fn();
    passed++;
    console.log(`ok - ${c.name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL - ${c.name}: ${String(e.message ?? e).split("\n").slice(0, 6).join(" | ")}`);
    try {
      await page.screenshot({ path: join(SHOTS, `FAILED-${CHECKS.indexOf(c)}.png`), fullPage: true });
    } catch {}
  }
}
await context.close();
rmSync(profile, { recursive: true, force: true });
console.log(`browser suite: ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
