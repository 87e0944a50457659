// Bring your own weights: bad files show #error and keep the current model working; a gpt.py
// state_dict loads with its vocabulary text and the grid follows its config; file names stay
// text (no HTML injection); "Back to the shipped model" restores it.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { canvasImages, newPage, openViewer, problems, redrawCount, ROOT, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

const file = (name, buffer) => ({ name, mimeType: "application/octet-stream", buffer });

async function expectLoadError(page, payload, pattern) {
  await page.setInputFiles("#weights-file", payload);
  await page.waitForSelector("#error", { state: "visible" });
  const msg = await page.textContent("#error");
  assert.match(msg, pattern);
  assert.match(msg, /The current model is still loaded\.$/);
  await page.click("#error-dismiss");
  await page.waitForSelector("#error", { state: "hidden" });
  return msg;
}

/** The model still answers: typing redraws all 16 maps with new pictures. */
async function stillWorks(page, ch) {
  const before = await canvasImages(page);
  const seq = await redrawCount(page);
  await page.click("#text");
  await page.keyboard.press("End");
  await page.keyboard.type(ch);
  await waitForRedraw(page, seq);
  await settle(page);
  const after = await canvasImages(page);
  assert.equal(Object.keys(after).length, 16);
  for (const k of Object.keys(after)) assert.notEqual(after[k], before[k], `canvas ${k}`);
}

describe("bring your own weights", () => {
  test("a terminated model worker is noticed: #error, and the page recovers with the shipped model", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const mem = await page.evaluate(() => window.kgptViewer.stats());
    assert.ok(mem.wasmMemoryBytes > 1e6, JSON.stringify(mem));
    await page.evaluate(() => window.kgptViewer.worker.terminate());
    const seq = await redrawCount(page);
    await page.click("#text");
    await page.keyboard.press("End");
    await page.keyboard.type("ಕ");
    await page.waitForSelector("#error", { state: "visible", timeout: 30000 });
    assert.match(await page.textContent("#error"), /The model worker stopped \(it stopped answering\)\. It was restarted with the shipped model/);
    await waitForRedraw(page, seq);
    await settle(page);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "16");
    await stillWorks(page, "ನ");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("no shipped weights: #error says so and an untrained model keeps every panel working", async () => {
    const page = await newPage(env.browser);
    await page.context().route("**/weights/kannada-gpt.safetensors", (route) => route.fulfill({ status: 404, body: "not found" }));
    await openViewer(page, env.server.url);
    assert.match(await page.textContent("#error"), /Could not download the model from .*kannada-gpt\.safetensors: HTTP 404/);
    assert.match(await page.textContent("#status"), /4 layers × 4 heads .* untrained model \(no weights found\)/);
    assert.equal(await page.locator("#attention-grid canvas").count(), 16);
    await stillWorks(page, "ಕ");
    const found = (await problems(page)).filter((p) => !/status of 404/.test(p));
    assert.deepEqual(found, []);
    await page.context().close();
  });

  test("corrupted, truncated and foreign files show #error and the old model keeps working", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const status = await page.textContent("#status");
    const shipped = await readFile(join(ROOT, "weights/kannada-gpt.safetensors"));

    await expectLoadError(page, file("broken.safetensors", Buffer.from("this is not a safetensors file at all")), /^Could not load “broken\.safetensors”: .+/);
    assert.doesNotMatch(await page.textContent("#error"), /Vocabulary \(\.txt\)/, "the vocabulary hint is only for a file without vocabulary");
    await stillWorks(page, "ಕ");
    await expectLoadError(page, file("truncated.safetensors", shipped.subarray(0, 5000)), /^Could not load “truncated\.safetensors”: .+/);
    // flip bytes in the header: invalid JSON
    const flipped = Buffer.from(shipped);
    for (let i = 10; i < 40; i++) flipped[i] ^= 0x5a;
    await expectLoadError(page, file("flipped.safetensors", flipped), /^Could not load “flipped\.safetensors”: .+/);
    await expectLoadError(page, file("empty.safetensors", Buffer.alloc(0)), /^Could not load “empty\.safetensors”: .+/);
    // a gpt.py state_dict without its vocabulary: the message says what to add
    const stateDict = await readFile(join(ROOT, "tests/fixtures/gptpy_state_dict.safetensors"));
    await expectLoadError(page, file("gpt_state_dict.safetensors", stateDict), /vocab.*If it is a gpt\.py state_dict, also choose its training text under “Vocabulary \(\.txt\)”/);
    // file names are text, never markup
    const evil = '<img src=x onerror="window.__pwned=1">.safetensors';
    const msg = await expectLoadError(page, file(evil, Buffer.from("nope")), /^Could not load “<img src=x onerror="window\.__pwned=1">\.safetensors”/);
    assert.ok(msg.includes("<img"));
    assert.equal(await page.locator("#error-box img").count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);

    assert.equal(await page.textContent("#status"), status, "the status still describes the old model");
    await stillWorks(page, "ನ");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("a gpt.py state_dict with its vocabulary text; back to the shipped model", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const stateDict = await readFile(join(ROOT, "tests/fixtures/gptpy_state_dict.safetensors"));
    const vocab = await readFile(join(ROOT, "tests/fixtures/gptpy_vocab.txt"));
    await page.setInputFiles("#vocab-file", { name: "gptpy_vocab.txt", mimeType: "text/plain", buffer: vocab });
    await page.waitForFunction(() => /11 distinct characters/.test(document.querySelector("#weights-status").textContent));
    const seq = await redrawCount(page);
    await page.setInputFiles("#weights-file", file("gptpy_state_dict.safetensors", stateDict));
    await page.waitForFunction(() => /2 layers × 2 heads/.test(document.querySelector("#status").textContent));
    assert.match(await page.textContent("#status"), /6,987 parameters · vocabulary 11 · gptpy_state_dict\.safetensors \+ gptpy_vocab\.txt \(gpt\.py state_dict\)/);
    await waitForRedraw(page, seq);
    await settle(page);
    // config-driven grid: 2 layers × 2 heads now
    assert.equal(await page.locator("#attention-grid canvas").count(), 4);
    assert.equal(await page.locator("#attention-grid .grid-col-head").count(), 2);
    // the default text has characters outside this 11-character vocabulary: skipped and counted
    await page.fill("#text", "ಕನ್ನಡ ನಾಡು ಜ್ಞಾನ");
    // 14 known characters; this model's block_size is 8
    await page.waitForFunction(() => /2 characters are not/.test(document.querySelector("#unknown-notice").textContent));
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "8");
    assert.match(await page.textContent("#crop-notice"), /block size \(8 characters\): it sees only the last 8; 6 earlier characters are not used/);
    assert.match(await page.textContent("#unknown-notice"), /^2 characters are not in the model's vocabulary and were skipped: “ಜ” “ಞ”/);
    assert.equal(await page.isVisible("#error"), false);

    // a bad file now keeps the state_dict model
    await page.setInputFiles("#vocab-file", []);
    await expectLoadError(page, file("junk.safetensors", Buffer.from("junk")), /junk\.safetensors/);
    assert.equal(await page.locator("#attention-grid canvas").count(), 4);

    await page.click("#reload-model");
    await page.waitForFunction(() => document.querySelectorAll("#attention-grid canvas").length === 16);
    assert.match(await page.textContent("#status"), /4 layers × 4 heads .* kannada-gpt\.safetensors \(shipped\)/);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });
});
