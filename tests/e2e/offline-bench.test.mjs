// Works offline once loaded (service worker), and the Benchmark button runs `runBench` in a
// worker and shows the figures (same keys as `kgpt bench`).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { newPage, openViewer, problems, redrawCount, ROOT, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

describe("offline and benchmark", () => {
  test("after one visit the viewer works offline (service worker cache)", async () => {
    const page = await newPage(env.browser, { serviceWorkers: "allow" });
    await openViewer(page, env.server.url);
    await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null, { timeout: 30000 });
    const cached = await page.evaluate(async () => {
      const keys = await (await caches.open("kgpt-viewer-v1")).keys();
      return keys.map((r) => new URL(r.url).pathname);
    });
    // every module of the page and its workers (a file missing from sw.js's list would break the offline reload)
    const modules = (dir) => readdirSync(join(ROOT, "www", dir)).filter((f) => f.endsWith(".js")).map((f) => `/${dir ? `${dir}/` : ""}${f}`);
    const pageModules = [...modules(""), ...modules("panels")].filter((p) => p !== "/sw.js");
    assert.ok(pageModules.includes("/panels/heads.js") && pageModules.includes("/protocol.js"), pageModules.join(" "));
    for (const p of ["/", ...pageModules, "/pkg/kgpt.js", "/pkg/kgpt_bg.wasm", "/pkg-relaxed/kgpt.js", "/pkg-relaxed/kgpt_bg.wasm", "/weights/kannada-gpt.safetensors", "/fonts/noto-sans-kannada-kannada-400-normal.woff2"]) {
      assert.ok(cached.includes(p), `${p} cached (have ${cached.join(" ")})`);
    }
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 30000 });
    await waitForRedraw(page, 0);
    assert.match(await page.textContent("#status"), /218,969 parameters/);
    const seq = await redrawCount(page);
    await page.click("#text");
    await page.keyboard.press("End");
    await page.keyboard.type("ಕ");
    await waitForRedraw(page, seq);
    await settle(page);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "16");
    // the built-in training text is available offline too
    const proverbs = await page.evaluate(async () => (await fetch("data/proverbs.txt")).text());
    assert.match(proverbs, /ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ/);
    const found = await problems(page);
    // going offline makes nothing fail: no console errors at all
    assert.deepEqual(found, []);
    await page.context().close();
  });

  test("the Benchmark button runs the wasm benchmark and shows the figures", async (t) => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.click("#bench");
    assert.equal(await page.isDisabled("#bench"), true);
    // the page stays usable while the benchmark runs in its own worker
    const seq = await redrawCount(page);
    await page.click("#text");
    await page.keyboard.press("End");
    await page.keyboard.type("ಕ");
    await waitForRedraw(page, seq);
    await page.waitForFunction(() => document.body.dataset.bench === "done", null, { timeout: 240000 });
    const rows = await page.$$eval("#bench-output tr[data-key]", (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.key, tr.cells[1].textContent])));
    for (const k of ["forward_b1_t128_ms", "gen_from_1tok_chars_per_s", "gen_from_128tok_chars_per_s", "train_b16_tokens_per_s", "train_b32_tokens_per_s"]) {
      assert.ok(rows[k], `${k} shown`);
    }
    const report = JSON.parse(await page.textContent("#bench-json"));
    assert.equal(report.impl, "kgpt-wasm");
    assert.equal(report.quick, true);
    assert.ok(report.runs[0].forward_b1_t128_ms > 0);
    // Chromium has relaxed SIMD: both builds ran, the relaxed one first (the one the page uses)
    const kernels = await page.$$eval("#bench-output thead th", (ths) => ths.map((th) => th.textContent));
    assert.deepEqual(kernels, ["Measurement", "wasm-simd128+relaxed", "wasm-simd128"]);
    const second = await page.$$eval("#bench-output tr[data-key]", (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.key, tr.cells[2].textContent])));
    for (const [kernel, r] of [[kernels[1], rows], [kernels[2], second]]) {
      const line = `in-page benchmark (quick, ${kernel}): forward ${r.forward_b1_t128_ms}, generation ${r.gen_from_1tok_chars_per_s}, training b16 ${r.train_b16_tokens_per_s}`;
      t.diagnostic(line);
      console.log(line);
    }
    assert.equal(await page.isDisabled("#bench"), false);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });
});
