// Soak: many real keystrokes (Kannada characters and Backspace, the text kept around and beyond
// the 128-character block so cropping happens all the time) while the page's training UI runs
// many steps, in rounds. After every round the page's JS heap and the worker's JS heap are
// measured after a forced GC (Chrome DevTools Protocol), and the worker's wasm memory through
// `kgptViewer.stats()`. Everything must stay flat after the warm-up round.
//
//   node --test tests/e2e/soak.test.mjs                                         # CI size
//   KGPT_SOAK_KEYS=10000 KGPT_SOAK_STEPS=1000 node --test tests/e2e/soak.test.mjs  # full size
//
// Sizes are not timed: the assertions are about memory (with a generous margin), the final text
// and the final heatmaps. The figures are printed (t.diagnostic and console.log) and written to
// tests/e2e/screenshots/soak.json.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { kannadaText, newPage, openViewer, problems, redrawCount, screenshotPath, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const envInt = (name, fallback) => {
  const v = Number.parseInt(process.env[name] ?? "", 10);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const KEYS = envInt("KGPT_SOAK_KEYS", 400);
const STEPS = envInt("KGPT_SOAK_STEPS", 40);
const ROUNDS = Math.max(2, Math.min(10, envInt("KGPT_SOAK_ROUNDS", 10)));
/** Growth allowed after the warm-up round (JS heaps, after a forced GC). */
const HEAP_MARGIN = 4 * 1024 * 1024;

const env = useServerAndBrowser();

/** Deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters of the shipped vocabulary, all BMP, no two of which compose under NFC (U+0CC6 is
// left out: ೆ + ೂ would become ೊ), so the box must end up exactly as the keys say.
const ALPHABET = [...new Set(kannadaText(80))].filter((c) => c !== "\u0CC6");
const LOW = 100; // keep the text between LOW and HIGH characters: cropped at 128 most of the time
const HIGH = 220;

/**
 * The key sequence: a character typed, or Backspace. Also returns the text the box must hold at
 * the end when it starts with `start` and the caret stays at the end.
 */
function keyPlan(n, start, seed = 1) {
  const r = rng(seed);
  const keys = [];
  let len = start.length;
  let text = start;
  for (let i = 0; i < n; i++) {
    const back = len > HIGH ? r() < 0.9 : len < LOW ? r() < 0.05 : r() < 0.3;
    if (back && len > 0) {
      keys.push("Backspace");
      text = text.slice(0, -1);
      len--;
    } else {
      const ch = ALPHABET[Math.floor(r() * ALPHABET.length)];
      keys.push(ch);
      text += ch;
      len++;
    }
  }
  return { keys, text };
}

/**
 * JS heap of the page's dedicated model worker through the browser's CDP connection (the
 * worker target is attached without flattening; commands go through Target.sendMessageToTarget).
 * Returns null if the worker target cannot be reached.
 */
async function workerProbe(browserSession, workerUrl) {
  const { targetInfos } = await browserSession.send("Target.getTargets");
  const target = targetInfos.find((t) => t.type === "worker" && t.url === workerUrl);
  if (!target) return null;
  let sessionId;
  try {
    ({ sessionId } = await browserSession.send("Target.attachToTarget", { targetId: target.targetId, flatten: false }));
  } catch {
    return null;
  }
  let nextId = 0;
  const pending = new Map();
  browserSession.on("Target.receivedMessageFromTarget", (ev) => {
    if (ev.sessionId !== sessionId) return;
    const msg = JSON.parse(ev.message);
    const done = pending.get(msg.id);
    if (!done) return;
    pending.delete(msg.id);
    done(msg);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker CDP ${method} timed out`));
      }, 30000);
      pending.set(id, (msg) => {
        clearTimeout(timer);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve(msg.result);
      });
      browserSession.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });
  return {
    async heapAfterGc() {
      await send("HeapProfiler.collectGarbage");
      return (await send("Runtime.getHeapUsage")).usedSize;
    },
  };
}

/** One memory sample: page JS heap and DOM counters after GC, worker JS heap after GC, wasm memory. */
async function sample(page, pageSession, worker) {
  await pageSession.send("HeapProfiler.collectGarbage");
  const { metrics } = await pageSession.send("Performance.getMetrics");
  const m = Object.fromEntries(metrics.map(({ name, value }) => [name, value]));
  const stats = await page.evaluate(() => window.kgptViewer.stats());
  return {
    pageHeap: (await pageSession.send("Runtime.getHeapUsage")).usedSize,
    nodes: m.Nodes,
    listeners: m.JSEventListeners,
    workerHeap: worker ? await worker.heapAfterGc() : null,
    wasmBytes: stats.wasmMemoryBytes,
    pageWasmBytes: stats.pageWasmMemoryBytes,
  };
}

const MB = (b) => (b == null ? "n/a" : `${(b / 1048576).toFixed(2)} MB`);

async function typeKeys(page, keys) {
  for (const k of keys) {
    if (k === "Backspace") await page.keyboard.press("Backspace");
    else await page.keyboard.type(k);
  }
}

async function trainRound(page, steps) {
  // the UI's own controls: built-in proverbs, fine-tune, batch 8, the default learning rate
  await page.fill("#train-steps", String(steps));
  await page.click("#train-start");
  await page.waitForFunction(() => document.querySelector("#train-start").disabled);
}

async function waitTrainingDone(page, step) {
  await page.waitForFunction(
    (s) => {
      const t = document.querySelector("#train-status").textContent;
      if (/^(Paused|Stopped)/.test(t)) return true;
      return t.startsWith(`Done at step ${s.toLocaleString("en")}.`);
    },
    step,
    { timeout: 0, polling: 250 },
  );
  const status = await page.textContent("#train-status");
  assert.match(status, /^Done at step/, status);
}

describe("soak", () => {
  test(`${KEYS} keystrokes and ${STEPS} training steps: memory stays flat`, { timeout: Infinity }, async (t) => {
    const t0 = Date.now();
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const pageSession = await page.context().newCDPSession(page);
    await pageSession.send("Performance.enable");
    const browserSession = await env.browser.newBrowserCDPSession();
    const worker = await workerProbe(browserSession, `${env.server.url}worker.js`);
    if (!worker) t.diagnostic("the worker's CDP target was not reachable: its JS heap is not measured");

    const startText = kannadaText(120);
    const seq0 = await redrawCount(page);
    await page.fill("#text", startText);
    await waitForRedraw(page, seq0);
    await settle(page);
    await page.check('input[name="train-source"][value="builtin"]');
    await page.fill("#train-batch", "8");
    await page.fill("#train-lr", "0.002");
    const start = await sample(page, pageSession, worker);

    const plan = keyPlan(KEYS, startText);
    const rounds = [];
    let key = 0;
    let step = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const keys = plan.keys.slice(key, Math.round(((r + 1) * KEYS) / ROUNDS));
      const steps = Math.round(((r + 1) * STEPS) / ROUNDS) - step;
      const tr = Date.now();
      if (steps > 0) await trainRound(page, steps);
      // type while the worker trains: the caret at the very end of the box
      await page.focus("#text");
      await page.keyboard.press("Control+End");
      await typeKeys(page, keys);
      key += keys.length;
      step += steps;
      if (steps > 0) await waitTrainingDone(page, step);
      await settle(page);
      const s = { round: r + 1, keys: key, steps: step, ms: Date.now() - tr, ...(await sample(page, pageSession, worker)) };
      rounds.push(s);
      const line = `round ${s.round}: ${s.keys} keys, ${s.steps} steps, ${(s.ms / 1000).toFixed(1)} s; page heap ${MB(s.pageHeap)}, worker heap ${MB(s.workerHeap)}, wasm ${MB(s.wasmBytes)}, DOM nodes ${s.nodes}, listeners ${s.listeners}`;
      t.diagnostic(line);
    }
    const totalMs = Date.now() - t0;

    // the page ends up where the keys say, and the heatmaps show the end of it
    const final = await page.inputValue("#text");
    assert.equal(final, plan.text, "the text box holds exactly what was typed");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), String(Math.min(128, [...final].length)));
    assert.match(await page.textContent("#train-status"), new RegExp(`^Done at step ${STEPS.toLocaleString("en")}\\.`));
    assert.equal(await page.locator("#attention-grid canvas").count(), 16);

    const warm = rounds[0];
    const end = rounds[rounds.length - 1];
    const peak = (k) => Math.max(...rounds.map((s) => s[k] ?? 0));
    const result = {
      keys: KEYS,
      steps: STEPS,
      rounds: ROUNDS,
      seconds: totalMs / 1000,
      finalChars: [...final].length,
      start,
      warm,
      end,
      peak: { pageHeap: peak("pageHeap"), workerHeap: peak("workerHeap"), wasmBytes: peak("wasmBytes"), nodes: peak("nodes") },
      samples: rounds,
      userAgent: await page.evaluate(() => navigator.userAgent),
      date: new Date().toISOString(),
    };
    writeFileSync(screenshotPath(KEYS === 400 && STEPS === 40 ? "soak.json" : `soak-${KEYS}-${STEPS}.json`), `${JSON.stringify(result, null, 2)}\n`);
    const summary =
      `soak: ${KEYS} keystrokes + ${STEPS} training steps in ${(totalMs / 1000).toFixed(1)} s; ` +
      `page JS heap start ${MB(start.pageHeap)} / warm ${MB(warm.pageHeap)} / end ${MB(end.pageHeap)} (peak ${MB(result.peak.pageHeap)}); ` +
      `worker JS heap start ${MB(start.workerHeap)} / warm ${MB(warm.workerHeap)} / end ${MB(end.workerHeap)}; ` +
      `worker wasm memory start ${MB(start.wasmBytes)} / warm ${MB(warm.wasmBytes)} / end ${MB(end.wasmBytes)}; ` +
      `page wasm memory ${MB(end.pageWasmBytes)}; DOM nodes warm ${warm.nodes} / end ${end.nodes}`;
    t.diagnostic(summary);
    console.log(summary);

    // flat after the warm-up round (after a forced GC)
    assert.ok(end.pageHeap <= warm.pageHeap + HEAP_MARGIN, `page heap grew: ${summary}`);
    if (worker) assert.ok(end.workerHeap <= warm.workerHeap + HEAP_MARGIN, `worker heap grew: ${summary}`);
    assert.ok(end.wasmBytes <= warm.wasmBytes, `the worker's wasm memory grew after the warm-up: ${summary}`);
    assert.ok(end.pageWasmBytes <= warm.pageWasmBytes, `the page's wasm memory grew after the warm-up: ${summary}`);
    assert.ok(end.nodes <= warm.nodes + 2000, `DOM nodes grew: ${summary}`);
    assert.deepEqual(await problems(page), []);
    await browserSession.detach();
    await page.context().close();
  });
});
