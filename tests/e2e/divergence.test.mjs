// Training divergence in the page: the largest learning rate the panel allows (it clamps, and
// says so), and — through the worker's message API — learning rates whose first update would
// overflow (the library refuses it as non-finite) or move the weights by more than twice their
// norm (the library's divergence check refuses it). In every case: the message in #error and
// the training status, training stopped (Continue/Reset usable), and the model keeps working on
// the last good weights — heatmaps drawn, probabilities finite. A loaded file whose weights
// overflow is reported instead of drawn as NaN; a training text without usable characters says
// why training did not start.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { canvasImages, newPage, openViewer, problems, redrawCount, ROOT, settle, splitSafetensors, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

const STOPPED = /^(Done|Paused|Stopped)/;

async function waitStopped(page) {
  await page.waitForFunction((re) => new RegExp(re).test(document.querySelector("#train-status").textContent), STOPPED.source, { timeout: 120000 });
  await settle(page);
  return page.textContent("#train-status");
}

/** Trains through the panel (built-in proverbs, fine-tune). */
async function uiTrain(page, { steps, lr, batch = "8" }) {
  await page.check('input[name="train-source"][value="builtin"]');
  await page.fill("#train-steps", String(steps));
  await page.fill("#train-batch", batch);
  await page.fill("#train-lr", String(lr));
  // the status before the click must not look stopped: a short run can start and stop between
  // two polls of a "wait until it no longer looks stopped" (it did, under load)
  await page.evaluate(() => {
    document.querySelector("#train-status").textContent = "(starting)";
  });
  await page.click("#train-start");
  return waitStopped(page);
}

/** Trains through the worker's message API (no clamping by the page). */
async function apiTrain(page, { steps, lr, batch = 8 }) {
  await page.evaluate(
    async ({ steps, lr, batch }) => {
      const text = await (await fetch("data/proverbs.txt")).text();
      document.querySelector("#train-status").textContent = "(sent through the message API)";
      window.kgptViewer.worker.postMessage({ type: "train-start", text: text.normalize("NFC"), sourceName: "the message API", mode: "finetune", preset: "loaded", steps, batch, lr, seed: 1337 });
    },
    { steps, lr, batch },
  );
  return waitStopped(page);
}

/** The next-character panel's probabilities (percent). */
const nextProbs = (page) => page.$$eval("#next-char li .next-prob", (els) => els.map((e) => Number.parseFloat(e.textContent)));

/** The model still works: typing redraws all 16 maps, every probability is a finite number. */
async function stillWorks(page, what) {
  const before = await canvasImages(page);
  const seq = await redrawCount(page);
  await page.click("#text");
  await page.keyboard.press("Control+End");
  await page.keyboard.type("ಕ");
  await waitForRedraw(page, seq);
  await settle(page);
  const after = await canvasImages(page);
  assert.equal(Object.keys(after).length, 16, what);
  assert.ok(Object.keys(after).some((k) => after[k] !== before[k]), `${what}: the maps follow the text`);
  const probs = await nextProbs(page);
  assert.equal(probs.length, 10, what);
  assert.ok(probs.every(Number.isFinite), `${what}: probabilities ${probs}`);
  const sum = probs.reduce((a, b) => a + b, 0);
  assert.ok(sum > 0 && sum <= 100.5, `${what}: probabilities sum to ${sum}`);
  for (const sel of ["#next-char", "#loss-value", "#loss-smoothed", "#draw-time"]) assert.doesNotMatch(await page.textContent(sel), /NaN|Infinity|undefined/, `${what}: ${sel}`);
  // the text goes back, for the next check
  const seq2 = await redrawCount(page);
  await page.keyboard.press("Backspace");
  await waitForRedraw(page, seq2);
  await settle(page);
}

/** Training stopped by an error: the message in #error and in the status, Continue and Reset usable. */
async function assertStoppedByError(page, status, pattern, what) {
  assert.match(status, /^Stopped by an error at step \d+ of [\d,]+: Training step \d+ /, `${what}: ${status}`);
  assert.match(status, pattern, `${what}: ${status}`);
  await page.waitForSelector("#error", { state: "visible" });
  const error = await page.textContent("#error");
  assert.match(error, pattern, `${what}: ${error}`);
  assert.match(error, /the weights are those (of the last good step \(\d+\)|from before training)\. Lower the learning rate and press Continue, or Reset\.$/i, `${what}: ${error}`);
  assert.equal(await page.textContent("#train-start"), "Continue");
  assert.equal(await page.isDisabled("#train-start"), false);
  assert.equal(await page.isDisabled("#train-pause"), true);
  assert.equal(await page.isDisabled("#train-reset"), false);
  return error;
}

/** Parameters of the shipped model (its AdamW's first step moves every weight by about lr). */
const PARAMS = 218969;

/**
 * The library's divergence check refuses a step that would move the weights by more than 2 ×
 * their norm. AdamW's first update is lr · m̂ / (√v̂ + ε) ≈ ±lr for every parameter with a
 * gradient, so it moves the weights by ≈ lr · √PARAMS whatever the data: from the shipped
 * model (norm ≈ 82) every lr above ≈ 0.35 is refused at the first step. Checks that the message
 * says so, with that figure.
 */
function assertRefusedFirstStep(status, lr, what) {
  assert.match(status, /^Stopped by an error at step 0 of 30: Training step 1 failed: training diverged: this step would move the weights by /, `${what}: ${status}`);
  const moved = Number(/would move the weights by ([\d.e+-]+)/.exec(status)[1]);
  const expected = lr * Math.sqrt(PARAMS);
  assert.ok(moved > 0.9 * expected && moved < 1.05 * expected, `${what}: moved ${moved}, AdamW's first step ≈ ${expected}`);
  assert.match(status, /the update was not applied/, what);
}

describe("training divergence in the page", () => {
  test("the panel's largest learning rate: clamped to 1 and said; the library refuses the first step; the model is untouched", async (t) => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    assert.equal(await page.getAttribute("#train-lr", "max"), "1");
    const imgsBefore = await canvasImages(page);
    // every text the training status shows (some only for a moment)
    await page.evaluate(() => {
      window.__statuses = [];
      const el = document.querySelector("#train-status");
      new MutationObserver(() => window.__statuses.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    });
    const status = await uiTrain(page, { steps: 30, lr: "1000" });
    t.diagnostic(`lr 1000 in the panel → ${status}`);
    const said = await page.evaluate(() => window.__statuses);
    assert.ok(said.some((s) => /learning rate 1000 is outside 0\.000001…1: using 1\)/.test(s)), said.join(" | "));
    const error = await assertStoppedByError(page, status, /diverg/i, "lr 1 (clamped)");
    assertRefusedFirstStep(status, 1, "lr 1 (clamped)");
    assert.match(error, /the weights are those from before training/i);
    assert.deepEqual(await canvasImages(page), imgsBefore, "nothing was applied: the maps are those of the untouched model");
    await stillWorks(page, "after lr 1");
    // an empty learning rate: the default, and said
    await page.click("#train-reset");
    await page.waitForFunction(() => document.querySelector("#train-start").textContent === "Start");
    await page.evaluate(() => {
      window.__statuses = [];
    });
    assert.match(await uiTrain(page, { steps: 1, lr: "" }), /^Done at step 1\./);
    const said2 = await page.evaluate(() => window.__statuses);
    assert.ok(said2.some((s) => /learning rate “” is not a number: using 0\.002\)/.test(s)), said2.join(" | "));
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  for (const [lr, expect, check] of [
    [1e38, "the update overflows: the library refuses it as non-finite", (status) => assert.match(status, /^Stopped by an error at step 0 of 30: Training step 1 failed: non-finite loss or gradient .*the update was not applied/, status)],
    [1e30, "the library's divergence check refuses the first step (it would move the weights by ≈ lr · √parameters)", (status) => assertRefusedFirstStep(status, 1e30, "lr 1e30")],
    [1000, "the library's divergence check refuses the first step", (status) => assertRefusedFirstStep(status, 1000, "lr 1000")],
  ]) {
    test(`lr ${lr} through the message API: ${expect}; the model is untouched, Continue at 0.002 trains, Reset restores`, async (t) => {
      const page = await newPage(env.browser);
      await openViewer(page, env.server.url);
      const imgsBefore = await canvasImages(page);
      const nextBefore = await page.textContent("#next-char");
      const status = await apiTrain(page, { steps: 30, lr });
      t.diagnostic(`lr ${lr}: ${status}`);
      const error = await assertStoppedByError(page, status, /non-finite|diverg/i, `lr ${lr}`);
      check(status);
      // nothing was applied: exactly the model from before
      assert.deepEqual(await canvasImages(page), imgsBefore, `lr ${lr}: the maps are those of the untouched model`);
      assert.equal(await page.textContent("#next-char"), nextBefore);
      assert.match(error, /the weights are those from before training/i);
      await stillWorks(page, `lr ${lr}`);
      // Continue at a sane learning rate: the session goes on to its target (30 steps)
      const cont = await uiTrain(page, { steps: 3, lr: "0.002" });
      t.diagnostic(`lr ${lr}, Continue at 0.002: ${cont}`);
      assert.match(cont, /^Done at step 30\./, cont);
      assert.doesNotMatch(await page.textContent("#loss-value"), /NaN|Infinity/);
      await stillWorks(page, `lr ${lr}, then Continue at 0.002`);
      // Reset: back to the shipped weights
      await page.click("#train-reset");
      await page.waitForFunction(() => document.querySelector("#train-start").textContent === "Start");
      await settle(page);
      assert.deepEqual(await canvasImages(page), imgsBefore);
      assert.deepEqual(await problems(page), []);
      await page.context().close();
    });
  }

  test("a loaded file whose weights overflow is reported, not drawn as NaN; the shipped model comes back", async (t) => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    // the tiny fixture with ln_f.weight and lm_head.weight × 1e38 (clamped to f32's range):
    // finite, so the loader accepts it, but the logits overflow to ±∞ and softmax gives NaN
    const bytes = await readFile(join(ROOT, "tests/fixtures/tiny_gpt.safetensors"));
    const { header, data } = splitSafetensors(bytes);
    const dataStart = bytes.length - data.length;
    const huge = Buffer.from(bytes);
    for (const name of ["ln_f.weight", "lm_head.weight"]) {
      const [a, b] = header[name].data_offsets;
      for (let off = dataStart + a; off < dataStart + b; off += 4) huge.writeFloatLE(Math.max(-3.4e38, Math.min(3.4e38, huge.readFloatLE(off) * 1e38)), off);
    }
    const seq = await redrawCount(page);
    await page.setInputFiles("#weights-file", { name: "huge.safetensors", mimeType: "application/octet-stream", buffer: huge });
    await page.waitForFunction(() => /huge\.safetensors/.test(document.querySelector("#status").textContent));
    await waitForRedraw(page, seq);
    await settle(page);
    await page.fill("#text", "ಕನ್ನಡ ನಾಡು");
    await settle(page);
    await page.waitForSelector("#error", { state: "visible" });
    assert.match(await page.textContent("#error"), /not finite \(NaN or ∞\): its weights overflow/);
    for (const sel of ["#next-char", "#next-context", "#draw-time", "#text-info", "#token-strip"]) assert.doesNotMatch(await page.textContent(sel), /NaN|Infinity|undefined/, sel);
    // generating from it ends (with whatever the sampler makes of it, or a message), no crash
    await page.fill("#gen-length", "20");
    await page.click("#generate");
    await page.waitForFunction(() => /^(Generated|Stopped|Failed)/.test(document.querySelector("#gen-status").textContent), null, { timeout: 60000 });
    t.diagnostic(`generation on overflowing weights: ${await page.textContent("#gen-status")} ${await page.isVisible("#error") ? await page.textContent("#error") : ""}`);
    await settle(page);
    await page.click("#reload-model");
    await page.waitForFunction(() => document.querySelectorAll("#attention-grid canvas").length === 16);
    await settle(page);
    assert.equal(await page.isVisible("#error"), false, "a finite analysis clears the message");
    await stillWorks(page, "the shipped model again");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("a training text with no usable characters: training does not start, and says why", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.fill("#text", "ABC 😀");
    await settle(page);
    await page.check('input[name="train-source"][value="textbox"]');
    await page.click("#train-start");
    await page.waitForFunction(() => /^Training did not start: /.test(document.querySelector("#train-status").textContent));
    assert.match(await page.textContent("#train-status"), /at least 2 characters of the model's vocabulary/);
    assert.match(await page.textContent("#error"), /at least 2 characters of the model's vocabulary/);
    assert.equal(await page.isDisabled("#train-start"), false);
    await stillWorks(page, "after a refused start");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });
});
