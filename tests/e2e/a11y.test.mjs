// Accessibility audit: npm axe-core, run inside the page by playwright-core, must report zero
// violations of any impact for the rules tagged wcag2a, wcag2aa, wcag21a, wcag21aa and
// best-practice, at 1366 px and 360 px, in each of the page's main states (loaded, akshara view,
// a head's large view, the phonetic-typing help, during generation, during training, with a
// layer knocked out and the heads table sorted, after an error message).
//
// The states are reached through the stable hooks only (#text-input, #attention-grid,
// #generate-button, #train-button, #weights-file, #error, body[data-ready], and issue 11's
// [data-knockout-layer], #heads-table, #embedding-map, #text-bpc), so the audit keeps
// working when the page's panels move between modules. A new panel is audited automatically:
// axe checks the whole document in every state.
//
// axe.min.js is injected as an inline <script> (page.addScriptTag({path})); the page's CSP
// (script-src 'self', from its <meta> tag and serve.mjs's header) would block that, so these
// contexts bypass the CSP (Playwright's bypassCSP = CDP Page.setBypassCSP). The other e2e tests
// check the page under its CSP.
//
//   node --test tests/e2e/a11y.test.mjs      (A11Y_REPORT=FILE writes every state's violations)

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, describe, test } from "node:test";
import { newPage, openViewer, problems, redrawCount, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();
const AXE_PATH = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];
const WIDTHS = [
  { name: "desktop", width: 1366, height: 900 },
  { name: "phone", width: 360, height: 780 },
];

/** Injects axe-core and runs it on the whole document; resolves to the violations. */
async function audit(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ path: AXE_PATH });
    assert.equal(await page.evaluate(() => typeof window.axe?.run), "function", "axe-core was injected");
  }
  return page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      rule: v.id,
      impact: v.impact,
      count: v.nodes.length,
      help: v.help,
      targets: v.nodes.slice(0, 6).map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\s+/g, " ").slice(0, 200)}`),
    }));
  }, TAGS);
}

/** The page's main states: each `enter(page)` starts from a freshly loaded viewer. */
const STATES = [
  { name: "loaded", enter: async () => {} },
  {
    name: "akshara view on",
    enter: async (page) => {
      await page.click("#akshara-toggle");
      await page.waitForFunction(() => Number(document.querySelector("#attention-grid").dataset.groups) > 0);
      await settle(page);
    },
  },
  {
    name: "a head's large view open (with its values table)",
    enter: async (page) => {
      await page.locator("#attention-grid canvas").nth(5).click();
      await page.waitForSelector("dialog[open]");
      await page.click("dialog[open] details summary");
      await page.waitForFunction(() => document.querySelectorAll("dialog[open] table tbody tr").length > 0);
    },
  },
  {
    name: "phonetic typing and its help open",
    enter: async (page) => {
      await page.check("#phonetic-toggle");
      await page.click("#translit-help summary");
      await page.waitForFunction(() => document.querySelector("#translit-help").open && document.querySelectorAll("#translit-help tbody tr").length > 50);
      const seq = await redrawCount(page);
      await page.fill("#latin", "kannaDa");
      await page.keyboard.press("Enter");
      await waitForRedraw(page, seq);
      await settle(page);
    },
  },
  {
    name: "during generation",
    enter: async (page) => {
      // 5000 characters stream for tens of seconds (the maps follow each one), far longer than
      // the audit; that it was still running when the audit ended is checked after it
      await page.fill("#gen-length", "5000");
      await page.click("#generate-button");
      await page.waitForFunction(() => document.querySelector("#generate").disabled && !document.querySelector("#stop").disabled);
    },
    check: async (page) => {
      assert.equal(await page.isDisabled("#stop"), false, "generation was still running when the audit ended");
      await page.click("#stop");
      await page.waitForFunction(() => !document.querySelector("#generate").disabled, null, { timeout: 60000 });
    },
  },
  {
    name: "during training",
    enter: async (page) => {
      await page.fill("#train-steps", "100000");
      await page.click("#train-button");
      await page.waitForFunction(() => Number.isFinite(Number.parseFloat(document.querySelector("#loss-value").textContent)), null, { timeout: 60000 });
    },
    check: async (page) => {
      assert.equal(await page.isDisabled("#train-pause"), false, "training was still running when the audit ended");
      await page.click("#train-pause");
      await page.waitForFunction(() => /^(Paused|Stopped|Done)/.test(document.querySelector("#train-status").textContent), null, { timeout: 60000 });
    },
  },
  {
    name: "a layer knocked out, the heads table sorted, the embedding map focused",
    enter: async (page) => {
      await page.click('[data-knockout-layer="1"]');
      await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.knockedOut === "1.0,1.1,1.2,1.3" && document.querySelector("#text-bpc").dataset.knockedOut === "1.0,1.1,1.2,1.3");
      await page.waitForFunction(() => document.querySelectorAll("#heads-table tbody tr[data-layer]").length > 0, null, { timeout: 60000 });
      await page.click('#heads-table button[data-sort="knockout_bits"]');
      await page.waitForFunction(() => document.querySelector("#embedding-map").dataset.points !== undefined);
      await page.focus("#embedding-map");
      await page.keyboard.press("ArrowRight");
    },
  },
  {
    name: "after an error message",
    enter: async (page) => {
      await page.setInputFiles("#weights-file", { name: "not-weights.safetensors", mimeType: "application/octet-stream", buffer: Buffer.from("this is not a safetensors file") });
      await page.waitForSelector("#error", { state: "visible" });
    },
  },
];

const report = [];
after(() => {
  if (process.env.A11Y_REPORT) writeFileSync(process.env.A11Y_REPORT, JSON.stringify(report, null, 2) + "\n");
});

describe("accessibility (axe-core, WCAG 2.1 A/AA + best practices)", () => {
  for (const w of WIDTHS) {
    for (const state of STATES) {
      test(`${w.width} px: ${state.name}: 0 violations`, async (t) => {
        const page = await newPage(env.browser, { width: w.width, height: w.height, bypassCSP: true });
        await openViewer(page, env.server.url);
        await state.enter(page);
        const violations = await audit(page);
        if (state.check) await state.check(page);
        report.push({ width: w.width, state: state.name, violations });
        for (const v of violations) t.diagnostic(`${v.rule} (${v.impact}) × ${v.count}: ${v.targets.join(" | ")}`);
        assert.deepEqual(
          violations.map((v) => `${v.rule} (${v.impact}) × ${v.count}`),
          [],
          violations.map((v) => `${v.rule}: ${v.help}\n  ${v.targets.join("\n  ")}`).join("\n"),
        );
        assert.deepEqual(await problems(page), []);
        await page.context().close();
      });
    }
  }
});
