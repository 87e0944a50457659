// Benchmark-style (prints figures, asserts no timing): in-page training throughput with 1, 2
// and 4 training workers (#train-workers; data-parallel, www/data-parallel.js) in headless
// Chromium, interleaved over rounds, beside PyTorch's native training step on 1 thread
// (../shared/reference/torch_gpt.py bench, when its venv is installed), the same model shape
// and batch. It asserts what must hold whatever the machine: every run trains, and every worker
// count gives the same losses bit for bit.
//
//     node --test tests/e2e/train-scaling.test.mjs     (ROUNDS=5 for more rounds)

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { newPage, openViewer, problems, ROOT, useServerAndBrowser } from "./helpers.mjs";

const env = useServerAndBrowser();

const ROUNDS = Number(process.env.ROUNDS || 3);
const WORKERS = [1, 2, 4];
const BATCH = 16;
/** Characters per row: the shipped model's block_size (the proverbs are longer). */
const WINDOW = 128;
const STEPS = 12;
/** Steps left out of the timing (worker start-up, first allocations). */
const WARMUP = 2;
const TORCH_PY = process.env.TORCH_PY || "/opt/torch-venv/bin/python";
const TORCH_GPT = join(ROOT, "../shared/reference/torch_gpt.py");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString("en");

/** Trains STEPS steps with `workers` workers on a fresh page: {tokensPerSec, losses}. */
async function trainRun(workers) {
  const page = await newPage(env.browser);
  try {
    await openViewer(page, env.server.url);
    await page.evaluate(() => {
      window.__steps = [];
      const el = document.querySelector("#loss-value");
      new MutationObserver(() => {
        const timing = document.querySelector("#train-workers-used").dataset.timing;
        if (el.dataset.loss) window.__steps.push([Number(el.dataset.step), Number(el.dataset.loss), performance.now(), timing ? JSON.parse(timing) : null]);
      }).observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
    });
    await page.check('input[name="train-source"][value="builtin"]');
    await page.fill("#train-steps", String(STEPS));
    await page.fill("#train-batch", String(BATCH));
    await page.fill("#train-lr", "0.001");
    await page.fill("#train-workers", String(workers));
    await page.click("#train-start");
    await page.waitForFunction(() => /^(Done|Stopped)/.test(document.querySelector("#train-status").textContent), null, { timeout: 300000 });
    assert.match(await page.textContent("#train-status"), new RegExp(`^Done at step ${STEPS}`));
    assert.equal(await page.textContent("#train-workers-used"), String(workers));
    const seen = new Map((await page.evaluate(() => window.__steps)).map(([step, loss, t, timing]) => [step, { loss, t, timing }]));
    const losses = Array.from({ length: STEPS }, (_, i) => seen.get(i + 1).loss);
    const ms = seen.get(STEPS).t - seen.get(WARMUP).t;
    assert.deepEqual(await problems(page), []);
    // the median step's breakdown over the timed steps (workers > 1)
    const timings = Array.from({ length: STEPS - WARMUP }, (_, i) => seen.get(WARMUP + 1 + i).timing).filter(Boolean);
    const timing = timings.length ? Object.fromEntries(Object.keys(timings[0]).map((k) => [k, median(timings.map((x) => x[k]))])) : null;
    return { tokensPerSec: ((STEPS - WARMUP) * BATCH * WINDOW * 1000) / ms, stepMs: ms / (STEPS - WARMUP), losses, timing };
  } finally {
    await page.context().close();
  }
}

/** PyTorch's training tokens/s at batch 16 on 1 thread, or null without the venv. */
function torchTrainTokensPerSec() {
  if (!existsSync(TORCH_PY) || !existsSync(TORCH_GPT)) return null;
  const out = execFileSync(TORCH_PY, [TORCH_GPT, "bench", "--vocab-size", "89", "--threads", "1", "--quick"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 300000 });
  return JSON.parse(out).runs[0][`train_b${BATCH}_tokens_per_s`];
}

test(`training throughput in the page: ${WORKERS.join(", ")} workers × ${ROUNDS} rounds, batch ${BATCH}, beside PyTorch 1 thread`, { timeout: 1800000 }, async (t) => {
  const runs = Object.fromEntries(WORKERS.map((k) => [k, []]));
  const torch = [];
  const breakdowns = Object.fromEntries(WORKERS.map((k) => [k, []]));
  let reference = null;
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of WORKERS) {
      const run = await trainRun(k);
      if (reference === null) reference = run.losses;
      assert.deepEqual(run.losses, reference, `${k} workers: the losses differ from one worker's`);
      runs[k].push(run.tokensPerSec);
      breakdowns[k].push({ stepMs: run.stepMs, ...run.timing });
    }
    const tps = torchTrainTokensPerSec();
    if (tps !== null) torch.push(tps);
  }
  const lines = [`in-page training, batch ${BATCH} × 128, shipped model, ${ROUNDS} rounds (median [min–max] tokens/s; speed-up against 1 worker, per round):`];
  for (const k of WORKERS) {
    const ratios = runs[k].map((x, i) => x / runs[1][i]);
    lines.push(`  ${k} worker${k > 1 ? "s" : " "}: ${fmt(median(runs[k]))} [${fmt(Math.min(...runs[k]))}–${fmt(Math.max(...runs[k]))}]` + (k > 1 ? `, × ${median(ratios).toFixed(2)} [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]` : ""));
  }
  lines.push("  a step's milliseconds (median over rounds of each run's median step): step / the slowest worker computing / round trip to the workers (including adding the replies) / adding the replies / applying AdamW");
  for (const k of WORKERS) {
    const keys = ["stepMs", "workerMs", "roundTripMs", "addMs", "applyMs"];
    const med = keys.map((key) => {
      const xs = breakdowns[k].map((b) => b[key]).filter((x) => x !== undefined);
      return xs.length ? median(xs).toFixed(1) : "–";
    });
    lines.push(`    ${k} worker${k > 1 ? "s" : " "}: ${med.join(" / ")}`);
  }
  if (torch.length) {
    lines.push(`  PyTorch native, 1 thread (torch_gpt.py bench, batch ${BATCH}): ${fmt(median(torch))} [${fmt(Math.min(...torch))}–${fmt(Math.max(...torch))}]`);
    for (const k of WORKERS) {
      const ratios = runs[k].map((x, i) => x / torch[i]);
      lines.push(`  ${k} worker${k > 1 ? "s" : " "} ÷ PyTorch 1 thread: × ${median(ratios).toFixed(2)} [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`);
    }
  } else {
    lines.push("  PyTorch: not installed here (bash scripts/setup-torch.sh), not compared");
  }
  lines.push(`  cores the browser reports: ${await (async () => {
    const page = await newPage(env.browser);
    await page.goto(env.server.url + "data/proverbs.txt");
    const n = await page.evaluate(() => navigator.hardwareConcurrency);
    await page.context().close();
    return n;
  })()}`);
  for (const line of lines) t.diagnostic(line);
  console.log(lines.join("\n"));
  assert.ok(WORKERS.every((k) => runs[k].every((x) => Number.isFinite(x) && x > 0)));
});
