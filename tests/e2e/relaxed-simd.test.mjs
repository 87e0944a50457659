// The relaxed-SIMD wasm build (www/pkg-relaxed, kernel "wasm-simd128+relaxed"): the page picks it
// in Chromium and says so on the status line, `?kernel=simd128` forces the simd128 fallback, and
// the relaxed module matches the PyTorch fixtures (tests/fixtures, ≤ 1e-4) in Chromium and under
// Node 20 with --experimental-wasm-relaxed-simd, where the relaxed-SIMD probe must also fail
// without the flag. Training (gradients + AdamW) of the two builds agrees step by step; the
// PyTorch gradient and AdamW fixtures themselves (tests/parity.rs) are checked for the relaxed
// build by `wasm-pack test --headless --chrome` with the relaxed RUSTFLAGS (scripts/test-all.sh).
//
//   node --test tests/e2e/relaxed-simd.test.mjs      (after scripts/build-wasm.sh)

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { newPage, openViewer, problems, ROOT, useServerAndBrowser } from "./helpers.mjs";

const env = useServerAndBrowser();
const TOL = 1e-4;
const FIXTURES = join(ROOT, "tests/fixtures");
/** The fixture sets with forward cases (see tests/fixtures/README.md). */
const SETS = ["tiny_gpt", "tiny_stress", "product_gpt", "product_stress", "gptpy_state_dict"];

/** {name: {dtype, shape, data (Float32Array | number[])}} and metadata of a safetensors file. */
function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const data = t.dtype === "F32" ? new Float32Array(ab) : Array.from(new BigInt64Array(ab), Number);
    out[name] = { dtype: t.dtype, shape: t.shape, data };
  }
  return out;
}

/** The forward cases of one fixture set: [{ids, targets, logits, attention, loss}]. */
function cases(set) {
  const exp = readSafetensors(join(FIXTURES, `${set}.expected.safetensors`));
  const out = [];
  for (let k = 0; exp[`case${k}.ids`]; k++) {
    const t = (s) => exp[`case${k}.${s}`].data;
    out.push({ ids: t("ids"), targets: t("targets"), logits: Array.from(t("logits")), attention: Array.from(t("attention")), loss: t("loss")[0] });
  }
  return out;
}

/** What the browser or Node computes, per set: the inputs it needs. */
function parityInputs() {
  return SETS.map((set) => ({
    set,
    weights: readFileSync(join(FIXTURES, `${set}.safetensors`)).toString("base64"),
    vocabText: set === "gptpy_state_dict" ? readFileSync(join(FIXTURES, "gptpy_vocab.txt"), "utf8") : null,
    cases: cases(set).map(({ ids, targets }) => ({ ids, targets })),
  }));
}

/**
 * Runs in the page (or under Node): loads each set into `pkg` and returns, per set and case,
 * the logits, attention and mean cross-entropy loss of the eval forward, plus `pkg.kernelName()`.
 * Self-contained (it is serialised into the page).
 */
function computeForward(pkg, inputs) {
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const sets = inputs.map(({ set, weights, vocabText, cases }) => {
    const model = vocabText == null ? pkg.Model.fromSafetensors(b64(weights)) : pkg.Model.fromStateDict(b64(weights), vocabText);
    const v = JSON.parse(model.configJson()).vocab_size;
    const got = cases.map(({ ids, targets }) => {
      const f = model.forward(Uint32Array.from(ids));
      const logits = Array.from(f.logits());
      let loss = 0;
      for (let t = 0; t < ids.length; t++) {
        const row = logits.slice(t * v, (t + 1) * v);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        loss += lse - row[targets[t]];
      }
      return { logits, attention: Array.from(f.attention()), loss: loss / ids.length };
    });
    model.free();
    return { set, got };
  });
  return { kernel: pkg.kernelName(), sets };
}

/** Max |got − want| of every case of every set is ≤ TOL (logits, attention, loss). */
function assertMatchesFixtures(result, t) {
  const worst = { logits: 0, attention: 0, loss: 0 };
  for (const { set, got } of result.sets) {
    const want = cases(set);
    assert.equal(got.length, want.length, `${set}: cases`);
    got.forEach((g, k) => {
      for (const key of ["logits", "attention"]) {
        assert.equal(g[key].length, want[k][key].length, `${set} case${k} ${key} length`);
        let d = 0;
        g[key].forEach((x, i) => (d = Math.max(d, Math.abs(x - want[k][key][i]))));
        assert.ok(d <= TOL, `${set} case${k} ${key}: max abs diff ${d}`);
        worst[key] = Math.max(worst[key], d);
      }
      const dl = Math.abs(g.loss - want[k].loss);
      assert.ok(dl <= TOL, `${set} case${k} loss: ${g.loss} vs ${want[k].loss}`);
      worst.loss = Math.max(worst.loss, dl);
    });
  }
  t.diagnostic(`${result.kernel}: max abs diff vs PyTorch: logits ${worst.logits.toExponential(1)}, attention ${worst.attention.toExponential(1)}, loss ${worst.loss.toExponential(1)}`);
}

/**
 * Runs in the page (or under Node): four training steps (B8, lr 1e-3, seed 7, dropout on) of
 * the product_gpt fixture on `text` with `pkg`, then a forward; self-contained (serialised).
 */
function trainSteps(pkg, weightsB64, text) {
  const m = pkg.Model.fromSafetensors(Uint8Array.from(atob(weightsB64), (c) => c.charCodeAt(0)));
  m.setTrainingText(text, 7);
  const losses = [];
  for (let i = 0; i < 4; i++) losses.push(m.trainStep(8, 1e-3));
  const logits = Array.from(m.forward(Uint32Array.from({ length: 64 }, (_, i) => (i * 7) % 89)).logits());
  m.free();
  return { kernel: pkg.kernelName(), losses, logits };
}

/** The relaxed and simd128 runs of `trainSteps` agree to TOL, and training lowered the loss. */
function assertTrainingAgrees([relaxed, simd], t) {
  assert.deepEqual([relaxed.kernel, simd.kernel], ["wasm-simd128+relaxed", "wasm-simd128"]);
  relaxed.losses.forEach((l, i) => assert.ok(Math.abs(l - simd.losses[i]) <= TOL, `step ${i}: ${l} vs ${simd.losses[i]}`));
  let d = 0;
  relaxed.logits.forEach((x, i) => (d = Math.max(d, Math.abs(x - simd.logits[i]))));
  assert.ok(d <= TOL, `logits after 4 steps: max abs diff ${d}`);
  assert.ok(relaxed.losses[3] < relaxed.losses[0], `training lowers the loss: ${relaxed.losses}`);
  t.diagnostic(`losses relaxed ${relaxed.losses.map((l) => l.toFixed(6))}, simd128 ${simd.losses.map((l) => l.toFixed(6))}; logits max diff ${d.toExponential(1)}`);
}

/** A same-origin page without the viewer (no workers of its own), to import the packages into. */
async function blankPage() {
  const page = await newPage(env.browser);
  await page.goto(env.server.url + "data/proverbs.txt");
  return page;
}

describe("relaxed SIMD build", () => {
  test("Chromium runs the relaxed build: the probe validates, the status line says wasm-simd128+relaxed", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    assert.equal(await page.evaluate(async () => (await import("./wasm-build.js")).relaxedSimdValidates()), true);
    assert.match(await page.textContent("#status"), / · wasm-simd128\+relaxed$/);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("?kernel=simd128 forces the simd128 fallback (status line says wasm-simd128)", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url, "?kernel=simd128");
    assert.match(await page.textContent("#status"), / · wasm-simd128$/);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("the relaxed module matches the PyTorch fixtures in Chromium (logits, attention, loss ≤ 1e-4)", async (t) => {
    const page = await blankPage();
    await page.evaluate((inputs) => (window.parityInputs = inputs), parityInputs());
    // an expression evaluated through the DevTools protocol (the page's CSP forbids eval itself)
    const result = await page.evaluate(`(async () => {
      const pkg = await import("/pkg-relaxed/kgpt.js");
      await pkg.default();
      return (${computeForward.toString()})(pkg, window.parityInputs);
    })()`);
    assert.equal(result.kernel, "wasm-simd128+relaxed");
    assertMatchesFixtures(result, t);
    await page.context().close();
  });

  test("training: the relaxed and simd128 builds agree step by step in Chromium (losses, logits ≤ 1e-4)", async (t) => {
    const page = await blankPage();
    await page.evaluate((w) => (window.trainingWeights = w), readFileSync(join(FIXTURES, "product_gpt.safetensors")).toString("base64"));
    const runs = await page.evaluate(`(async () => {
      const text = await (await fetch("/data/proverbs.txt")).text();
      const out = [];
      for (const path of ["/pkg-relaxed/kgpt.js", "/pkg/kgpt.js"]) {
        const pkg = await import(path);
        await pkg.default();
        out.push((${trainSteps.toString()})(pkg, window.trainingWeights, text));
      }
      return out;
    })()`);
    assertTrainingAgrees(runs, t);
    await page.context().close();
  });
});

describe("relaxed SIMD build under Node (--experimental-wasm-relaxed-simd)", () => {
  /** Runs `script` (an ES module reading JSON input on stdin) in a child Node with `flags`. */
  const node = (flags, script, input = "") =>
    execFileSync(process.execPath, [...flags, "--input-type=module", "-e", script], { cwd: ROOT, input, encoding: "utf8", maxBuffer: 256 << 20 });
  const needsFlag = Number(process.versions.node.split(".")[0]) < 22;
  const flags = needsFlag ? ["--experimental-wasm-relaxed-simd"] : [];

  test("the probe module validates only with relaxed SIMD on", { skip: !needsFlag && "Node ≥ 22 has relaxed SIMD on by default" }, () => {
    const probe = `import { relaxedSimdValidates } from "./www/wasm-build.js"; console.log(relaxedSimdValidates());`;
    assert.equal(node([], probe).trim(), "false");
    assert.equal(node(flags, probe).trim(), "true");
  });

  test("the relaxed module matches the PyTorch fixtures under Node (logits, attention, loss ≤ 1e-4)", (t) => {
    const script = `
      import { readFileSync } from "node:fs";
      const pkg = await import("./www/pkg-relaxed/kgpt.js");
      await pkg.default({ module_or_path: readFileSync("www/pkg-relaxed/kgpt_bg.wasm") });
      const inputs = JSON.parse(readFileSync(0, "utf8"));
      const computeForward = ${computeForward.toString()};
      process.stdout.write(JSON.stringify(computeForward(pkg, inputs)));`;
    const result = JSON.parse(node(flags, script, JSON.stringify(parityInputs())));
    assert.equal(result.kernel, "wasm-simd128+relaxed");
    assertMatchesFixtures(result, t);
  });

  test("training: the relaxed and simd128 builds agree step by step under Node (losses, logits ≤ 1e-4)", (t) => {
    const script = `
      import { readFileSync } from "node:fs";
      const weights = readFileSync("tests/fixtures/product_gpt.safetensors").toString("base64");
      const text = readFileSync("www/data/proverbs.txt", "utf8");
      const trainSteps = ${trainSteps.toString()};
      const out = [];
      for (const dir of ["www/pkg-relaxed", "www/pkg"]) {
        const pkg = await import("./" + dir + "/kgpt.js");
        await pkg.default({ module_or_path: readFileSync(dir + "/kgpt_bg.wasm") });
        out.push(trainSteps(pkg, weights, text));
      }
      process.stdout.write(JSON.stringify(out));`;
    assertTrainingAgrees(JSON.parse(node(flags, script)), t);
  });
});
