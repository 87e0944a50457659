// Odd inputs: texts of 0, 1 and 100,000 characters; emoji (ZWJ sequences, flags), Latin,
// ZWJ/ZWNJ inside Kannada, decomposed vowel signs, lone combining marks, lone surrogates,
// control and bidi characters; the caret at every UTF-16 offset of such a text; real keys
// (emoji, decomposed signs, Backspace through them). After each input settles: the box holds
// its NFC form, the page reports exactly the characters the model reads (checked against the
// shipped vocabulary here in Node), all 16 maps are drawn, nothing says NaN or undefined, no page
// error, and the page still answers.
// (viewer.test.mjs covers a decomposed ಕೊ, A/B/C/😀 as unknowns, 9,000 unknowns in a row,
// cropping at 300 characters and the empty text; perf.test.mjs a 100 KB Kannada paste.)

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { canvasImages, kannadaText, newPage, openViewer, problems, redrawCount, ROOT, settle, splitSafetensors, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

/** The shipped model's vocabulary, from its safetensors header. */
const VOCAB = new Set(JSON.parse(splitSafetensors(readFileSync(join(ROOT, "weights/kannada-gpt.safetensors"))).header.__metadata__.vocab));
const BLOCK = 128;
const nf = new Intl.NumberFormat("en");

/** What the box must hold for `text`: well-formed (lone surrogates → U+FFFD), then NFC. */
const expectedValue = (text) => text.toWellFormed().normalize("NFC");

/** Rejects if the page does not answer a round trip (two animation frames) within `ms`. */
async function responsive(page, what, ms = 5000) {
  let timer;
  const answered = page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))));
  const late = new Promise((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const ok = await Promise.race([answered, late]);
  clearTimeout(timer);
  assert.ok(ok, `${what}: the page did not answer within ${ms} ms`);
}

/**
 * The page shows what the model reads of the box's current value: token count, character
 * count, unknown and cropped notices, 16 drawn maps, no NaN/undefined anywhere.
 */
async function checkRendered(page, what, empty) {
  await responsive(page, what);
  const value = await page.inputValue("#text");
  const chars = [...value];
  const known = chars.filter((c) => VOCAB.has(c)).length;
  const unknown = chars.length - known;
  const t = Math.min(BLOCK, known);
  assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), String(t), `${what}: data-tokens`);
  assert.equal(await page.textContent("#text-info"), `${nf.format(chars.length)} character${chars.length === 1 ? "" : "s"} · the model reads ${nf.format(t)}`, what);
  if (unknown) {
    assert.match(await page.textContent("#unknown-notice"), new RegExp(`^${nf.format(unknown)} characters? (is|are) not in the model's vocabulary`), what);
  } else {
    assert.equal(await page.isVisible("#unknown-notice"), false, what);
  }
  if (known > BLOCK) assert.match(await page.textContent("#crop-notice"), new RegExp(`sees only the last ${BLOCK}; ${nf.format(known - BLOCK)} earlier`), what);
  else assert.equal(await page.isVisible("#crop-notice"), false, what);
  assert.match(await page.textContent("#draw-time"), new RegExp(`^${t} characters · forward [\\d.]+ ms`), what);
  const imgs = await canvasImages(page);
  assert.equal(Object.keys(imgs).length, 16, what);
  if (t && empty) for (const [k, img] of Object.entries(imgs)) assert.notEqual(img, empty[k], `${what}: map ${k} is drawn`);
  for (const sel of ["#next-char", "#next-context", "#draw-time", "#text-info", "#token-strip", "#unknown-notice", "#status"]) {
    assert.doesNotMatch(await page.textContent(sel), /NaN|undefined|Infinity|\[object/, `${what}: ${sel}`);
  }
  if (t) assert.equal(await page.locator("#next-char li").count(), 10, `${what}: next-character panel`);
  assert.equal(await page.isVisible("#error"), false, `${what}: #error`);
  assert.deepEqual(await problems(page), [], what);
  return value;
}

/** Replaces the text (one input event, like a paste) and waits for the matching redraw. */
async function paste(page, text) {
  if ((await page.inputValue("#text")) === text) return settle(page);
  const seq = await redrawCount(page);
  await page.fill("#text", text);
  await waitForRedraw(page, seq, 60000);
  await settle(page, 60000);
}

const repeatTo = (unit, n) => {
  const cps = [...unit];
  const out = [];
  for (let i = 0; i < n; i++) out.push(cps[i % cps.length]);
  return out.join("");
};

const CASES = [
  ["empty", ""],
  ["one Kannada character", "ಕ"],
  ["one unknown character", "A"],
  ["one emoji", "😀"],
  ["one space", " "],
  ["emoji and ZWJ sequences", "ಕನ್ನಡ 👩‍👩‍👧 ನಾಡು 👨🏽‍💻 🇮🇳 ❤️ 😀"],
  ["Latin", "Hello, World! The quick brown fox. ಕನ್ನಡ abc XYZ"],
  ["ZWJ/ZWNJ inside Kannada", "ಕ್\u200dಷ ಕ್\u200cಷ ನ\u200dನ ರ್\u200dಕ \u200c\u200d"],
  ["decomposed vowel signs", "ಕ\u0CC6\u0CD6 ಕ\u0CC6\u0CC2 ಕ\u0CC6\u0CC2\u0CD5 ಕ\u0CBF\u0CD5 ಕ\u0CC6\u0CD5"],
  ["lone combining marks", "\u0CCDಕನ್ನಡ \u0301ಕ ಾ \u0CCD\u0CCD\u0CCD \u0301\u0301 ಂಃ"],
  ["a lone combining mark", "\u0CCD"],
  ["a lone acute accent", "\u0301"],
  ["lone surrogates", "ಕ\uD83Dನ\uDC00ಡ\uD83D"],
  ["control and bidi characters", "ಕ\tನ\u0000ಡ\u0007 \u202eಕನ್ನಡ\u202c \u200f\uFEFF\u00AD"],
  ["100,000 characters of all of the above", repeatTo("ಕನ್ನಡ 👩‍👩‍👧 Hello ಕ್\u200dಷ ಕ\u0CC6\u0CD6 \u0301\u0CCD", 100000)],
  ["100,000 viramas", "\u0CCD".repeat(100000)],
  ["100,000 acute accents (nothing known)", "\u0301".repeat(100000)],
  ["100,000 emoji ZWJ sequences' code points", repeatTo("👩‍👩‍👧", 100000)],
  ["100,000 Kannada characters, one line, then an emoji", `${kannadaText(99999)}😀`],
];

describe("odd inputs", () => {
  test("every odd text renders, in both views, and the page stays responsive", { timeout: Infinity }, async (t) => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await paste(page, "");
    const empty = await canvasImages(page);
    for (const [what, text] of CASES) {
      const t0 = Date.now();
      await paste(page, text);
      const value = await checkRendered(page, what, empty);
      assert.equal(value, expectedValue(text), `${what}: the box holds the NFC form`);
      // the akshara view groups whatever the model read
      await page.click("#akshara-toggle");
      await page.waitForFunction(() => document.querySelector("#akshara-toggle").getAttribute("aria-pressed") === "true");
      await settle(page);
      const groups = Number(await page.getAttribute("#attention-grid", "data-groups"));
      const tokens = Number(await page.getAttribute("#attention-grid", "data-tokens"));
      assert.ok(groups <= tokens && (tokens === 0 || groups > 0), `${what}: ${groups} aksharas of ${tokens} characters`);
      await page.click("#akshara-toggle");
      await settle(page);
      await checkRendered(page, `${what} (back to characters)`, empty);
      t.diagnostic(`${what}: ${[...value].length} characters, model reads ${tokens}, ${groups} aksharas; ${Date.now() - t0} ms`);
    }
    await page.context().close();
  });

  test("the caret at every UTF-16 offset of an odd text (inside surrogate pairs and clusters)", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const text = "👩‍👩‍👧ಕ\u0CCDಷ\u0301ಕ\u200dನ😀 ಾ\u0CCD";
    await paste(page, text);
    await page.focus("#text");
    const n = (await page.inputValue("#text")).length;
    for (let i = 0; i <= n; i++) {
      await page.$eval("#text", (el, at) => el.setSelectionRange(at, at), i);
      await settle(page);
      const ctx = await page.textContent("#next-context");
      assert.doesNotMatch(ctx, /NaN|undefined|\uFFFD/, `caret ${i}: ${ctx}`);
      assert.ok(/^After “|^Place the cursor/.test(ctx), `caret ${i}: ${ctx}`);
    }
    await checkRendered(page, "after moving the caret");
    await page.context().close();
  });

  test("real keys: emoji, decomposed vowel signs, joiners and Backspace through them", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await paste(page, "");
    await page.click("#text");
    const steps = [
      ["👩‍👩‍👧"],
      ["Backspace"],
      ["ಕ", "\u0CC6", "\u0CD6"],
      ["Backspace"],
      ["\u0CCD", "ಕ", "\u200d", "ಷ"],
      ["Backspace", "Backspace"],
      ["\u0301", "A", "😀", " ", "ನ"],
      ["Backspace", "Backspace", "Backspace", "Backspace", "Backspace", "Backspace", "Backspace", "Backspace", "Backspace", "Backspace"],
    ];
    for (const keys of steps) {
      for (const k of keys) {
        if (k === "Backspace") await page.keyboard.press("Backspace");
        else await page.keyboard.type(k);
      }
      await settle(page);
      const value = await checkRendered(page, `after ${keys.map((k) => (k.length > 2 ? k : [...k].map((c) => `U+${c.codePointAt(0).toString(16)}`).join(" "))).join(", ")}`);
      assert.equal(value, value.normalize("NFC"));
    }
    assert.equal(await page.inputValue("#text"), "");
    await page.context().close();
  });
});
