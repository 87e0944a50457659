// HTML injection: markup in every user-controlled string must stay text. The vectors go into
// (a) the typed text, the link's #text and the phonetic box, (b) a training .txt file's name and
// content (and a model trained from scratch on it, whose vocabulary is then markup characters),
// (c) a weights file's name, (d) a safetensors file's __metadata__ (extra keys, the config and
// vocab JSON strings), and (e) vocabulary characters of a loaded model. After each step: no
// handler ran (`window.__xss`), no element was injected, no console error, page error or CSP
// violation.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { joinSafetensors, newPage, openViewer, problems, redrawCount, ROOT, setText, settle, splitSafetensors, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

const VECTORS = [
  '<img src=x onerror="window.__xss=1">',
  "<script>window.__xss=2</script>",
  '"><svg onload="window.__xss=3"><img src=x onerror=window.__xss=4>',
  "</textarea><iframe srcdoc=\"<script>parent.__xss=5</script>\"></iframe>",
];

/** Counts of elements that only an injection could create, and whether any handler ran. */
function injected(page) {
  return page.evaluate(() => ({
    xss: window.__xss,
    img: document.querySelectorAll('img[src="x"]').length,
    svg: document.querySelectorAll("svg").length,
    iframe: document.querySelectorAll("iframe").length,
    scripts: document.querySelectorAll("script").length,
    handlers: document.querySelectorAll("[onerror], [onload]").length,
  }));
}

const CLEAN = { xss: undefined, img: 0, svg: 0, iframe: 0, scripts: 1, handlers: 0 };

async function assertClean(page, where, expectedProblems = []) {
  // give any injected image / svg a chance to fire its handler first
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50))));
  assert.deepEqual(await injected(page), CLEAN, where);
  const found = (await problems(page)).filter((p) => !expectedProblems.some((re) => re.test(p)));
  assert.deepEqual(found, [], where);
}

/** The tiny fixture (V=11, C=16, H=2, L=2, T=8) split into its header and data. */
async function tinyFixture() {
  return splitSafetensors(await readFile(join(ROOT, "tests/fixtures/tiny_gpt.safetensors")));
}

/** The same tensors with other metadata. */
async function tinyWith(metadata) {
  const { header, data } = await tinyFixture();
  return joinSafetensors({ ...header, __metadata__: { ...header.__metadata__, ...metadata } }, data);
}

const file = (name, buffer, mimeType = "application/octet-stream") => ({ name, mimeType, buffer });

/** The name the browser gives the chosen file (it may drop path separators). */
const chosenName = (page, sel) => page.$eval(sel, (el) => (el.files[0] ? el.files[0].name : null));

async function loadWeights(page, payload) {
  await page.setInputFiles("#weights-file", payload);
  await page.waitForFunction(() => !/^Loading/.test(document.querySelector("#weights-status").textContent));
}

describe("markup in user input stays text", () => {
  test("(a) typed text, the link's #text and the phonetic box", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, "");
    await page.click("#text");
    for (const v of VECTORS) {
      const seq = await redrawCount(page);
      await page.keyboard.type(v); // real key presses (ASCII)
      await page.keyboard.type(" ಕನ್ನಡ ");
      await waitForRedraw(page, seq);
      await settle(page);
      await assertClean(page, `typed ${v}`);
    }
    const typed = await page.inputValue("#text");
    assert.equal(typed, VECTORS.map((v) => `${v} ಕನ್ನಡ `).join(""));
    // unknown characters are listed in the notice, the rest in the strip: as text
    assert.match(await page.textContent("#unknown-notice"), /“<” “i” “m” “g”/);
    assert.ok((await page.textContent("#token-strip")).includes('"'));
    // hover a cell: the tooltip carries characters of the text
    await page.locator('canvas[data-layer="0"][data-head="0"]').scrollIntoViewIfNeeded();
    const box = await page.locator('canvas[data-layer="0"][data-head="0"]').boundingBox();
    await page.mouse.move(box.x + box.width - 4, box.y + box.height - 4);
    await page.waitForSelector("#tooltip:not([hidden])");
    // the large view and its values table label rows and columns with the characters
    await page.click('canvas[data-layer="0"][data-head="0"]');
    await page.waitForSelector("#head-dialog[open]");
    await page.click("#values-details summary");
    await page.waitForFunction(() => document.querySelectorAll("#values-table tbody tr").length > 0);
    await page.keyboard.press("Escape");
    await assertClean(page, "typed text: tooltip, large view, values table");

    // the link carries text into the box (and the share field): still text
    for (const v of VECTORS) {
      const p2 = await newPage(env.browser);
      await openViewer(p2, env.server.url, `#${new URLSearchParams({ text: `ಕನ್ನಡ ${v}`, view: v, scale: v, head: v }).toString()}`);
      assert.equal(await p2.inputValue("#text"), `ಕನ್ನಡ ${v}`);
      await assertClean(p2, `#text=${v}`);
      await p2.context().close();
    }

    // the phonetic box: Latin markup goes through the transliterator into the box
    await page.check("#phonetic-toggle");
    for (const v of VECTORS) {
      await page.fill("#latin", v);
      await page.waitForFunction(() => document.querySelector("#latin-preview").textContent.length > 0);
      await settle(page);
    }
    await assertClean(page, "phonetic box");
    await page.context().close();
  });

  test("(b) a training .txt file's name and content; (e) a model trained from scratch on it", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const content = `${VECTORS.join("\n")}\nಕನ್ನಡ ನಾಡು ನುಡಿ ${VECTORS.join(" ")}\n`;
    for (const v of VECTORS) {
      await page.setInputFiles("#train-file", file(`${v}.txt`, Buffer.from(content), "text/plain"));
      const name = await chosenName(page, "#train-file");
      await page.waitForFunction((n) => document.querySelector("#train-file-name").textContent.includes(n), name);
      await assertClean(page, `training file ${v}`);
    }
    const name = await chosenName(page, "#train-file");
    // fine-tune on it: the file name appears in the training status
    await page.check('input[name="train-source"][value="file"]');
    await page.fill("#train-steps", "2");
    await page.click("#train-start");
    await page.waitForFunction(() => /^Done at step 2/.test(document.querySelector("#train-status").textContent));
    assert.equal(await page.isVisible("#error"), false);
    await assertClean(page, "fine-tuned on the file");
    await page.click("#train-reset");
    await page.waitForFunction(() => document.querySelector("#train-start").textContent === "Start");

    // from scratch: the vocabulary is the file's characters, markup characters included; the
    // model's name (in #status) carries the file name
    await page.check('input[name="train-mode"][value="scratch"]');
    await page.selectOption("#train-size", "small");
    await page.fill("#train-steps", "3");
    await page.click("#train-start");
    await page.waitForFunction(() => /^Done at step 3/.test(document.querySelector("#train-status").textContent));
    const status = await page.textContent("#status");
    assert.ok(status.includes(`trained from scratch (“${name}”)`), status);
    assert.match(status, new RegExp(`vocabulary ${new Set(content).size} `));
    // markup characters are now known: they reach the strip, the axis labels and the next panel
    await setText(page, `${VECTORS[0]} ${VECTORS[2]}`);
    assert.equal(await page.isVisible("#unknown-notice"), false);
    const strip = await page.$$eval("#token-strip .tok", (els) => els.map((e) => e.textContent).join(""));
    assert.ok(strip.includes("<img") && strip.includes("onerror"), strip);
    await page.click("#text");
    await page.keyboard.press("Control+End");
    const items = await page.$$eval("#next-char li .next-char", (els) => els.map((e) => e.textContent));
    assert.equal(items.length, 10);
    await page.locator("#next-char li button").first().click();
    // generation writes vocabulary characters (markup among them) into the box
    await page.fill("#gen-length", "60");
    await page.click("#generate");
    await page.waitForFunction(() => /^Generated/.test(document.querySelector("#gen-status").textContent), null, { timeout: 60000 });
    await settle(page);
    await page.click('canvas[data-layer="1"][data-head="1"]');
    await page.waitForSelector("#head-dialog[open]");
    await page.click("#values-details summary");
    await page.waitForFunction(() => document.querySelectorAll("#values-table tbody tr").length > 0);
    await page.keyboard.press("Escape");
    // the download name is made safe
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-weights")]);
    assert.doesNotMatch(dl.suggestedFilename(), /[<>"/\\]/);
    await assertClean(page, "scratch model with a markup vocabulary");
    await page.context().close();
  });

  test("(c) weights file names, (d) safetensors __metadata__, (e) markup vocabulary characters", async (t) => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    // (c) a file that does not load: the name is in #error
    for (const v of VECTORS) {
      await page.setInputFiles("#weights-file", file(`${v}.safetensors`, Buffer.from("not a model")));
      await page.waitForSelector("#error", { state: "visible" });
      const name = await page.evaluate(() => document.querySelector("#error").textContent);
      assert.match(name, /^Could not load “.*\.safetensors”: /);
      await page.click("#error-dismiss");
      await assertClean(page, `bad weights file ${v}`);
    }
    // (c) + (d) a file that loads: the name in #status and #weights-status; metadata keys and
    // values the model does not use are ignored
    const extra = Object.fromEntries(VECTORS.map((v, i) => [v, `${v} ${i}`]));
    const good = await tinyWith({ note: VECTORS[0], description: VECTORS[1], ...extra });
    await loadWeights(page, file(`${VECTORS[0]}.safetensors`, good));
    await page.waitForFunction(() => /2 layers × 2 heads/.test(document.querySelector("#status").textContent));
    const loadedName = await page.evaluate(() => document.querySelector("#status").textContent);
    assert.ok(loadedName.includes("<img src=x"), loadedName);
    assert.ok((await page.textContent("#weights-status")).includes("<img src=x"));
    await assertClean(page, "weights with markup metadata loaded");

    // (d) markup inside the config and vocab JSON strings: refused, echoed as text in #error
    const { header } = await tinyFixture();
    const config = JSON.parse(header.__metadata__.config);
    const vocab = JSON.parse(header.__metadata__.vocab);
    const bad = [
      ["config key", { config: JSON.stringify({ ...config, [VECTORS[0]]: 1 }) }],
      ["config value", { config: JSON.stringify({ ...config, n_embd: VECTORS[2] }) }],
      ["config not JSON", { config: VECTORS[1] }],
      ["vocab entry", { vocab: JSON.stringify([VECTORS[0], ...vocab.slice(1)]) }],
      ["vocab entry 2", { vocab: JSON.stringify([...vocab.slice(0, 10), VECTORS[2]]) }],
      ["vocab not JSON", { vocab: VECTORS[3] }],
      ["vocab object", { vocab: JSON.stringify({ [VECTORS[0]]: VECTORS[1] }) }],
    ];
    for (const [what, metadata] of bad) {
      await page.setInputFiles("#weights-file", file(`${what}.safetensors`, await tinyWith(metadata)));
      await page.waitForSelector("#error", { state: "visible" });
      const msg = await page.textContent("#error");
      assert.match(msg, /^Could not load “.*”: .*The current model is still loaded\.$/s, `${what}: ${msg}`);
      t.diagnostic(`${what}: ${msg}`);
      // the markup is echoed in the message: as text
      if (/config key|config value|vocab entry/.test(what)) assert.match(msg, /<img src=x onerror=/);
      await page.click("#error-dismiss");
      await assertClean(page, `metadata: ${what}`);
    }
    // a tensor named with markup (an unexpected tensor): refused, the name echoed as text
    const { data } = await tinyFixture();
    const renamed = { ...header, [VECTORS[0]]: header["ln_f.bias"] };
    delete renamed["ln_f.bias"];
    await page.setInputFiles("#weights-file", file("tensor-name.safetensors", joinSafetensors(renamed, data)));
    await page.waitForSelector("#error", { state: "visible" });
    assert.ok((await page.textContent("#error")).includes("<img"), await page.textContent("#error"));
    await page.click("#error-dismiss");
    await assertClean(page, "tensor named with markup");

    // (e) a model whose vocabulary is markup characters: labels on the axes, in the strip, the
    // tooltip, the next panel, the values table, the export
    const markupVocab = [" ", "\"", "&", "'", "/", "<", "=", ">", "\\", "`", "x"];
    await loadWeights(page, file("markup-vocab.safetensors", await tinyWith({ vocab: JSON.stringify(markupVocab) })));
    await page.waitForFunction(() => /markup-vocab\.safetensors/.test(document.querySelector("#status").textContent));
    await setText(page, `<x x='&'/>"\`<\\x>`);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "8", "block_size 8");
    const strip = await page.$$eval("#token-strip .tok:not(.cropped)", (els) => els.map((e) => e.textContent).join(""));
    assert.equal(strip, `'&'/>"\`<\\x>`.slice(-8).replace(/ /g, "␣"));
    await page.locator('canvas[data-layer="1"][data-head="0"]').scrollIntoViewIfNeeded();
    const box = await page.locator('canvas[data-layer="1"][data-head="0"]').boundingBox();
    await page.mouse.move(box.x + box.width - 4, box.y + box.height - 4);
    await page.waitForSelector("#tooltip:not([hidden])");
    assert.match(await page.textContent("#tooltip"), /“>” → “>”/);
    const next = await page.$$eval("#next-char li .next-char", (els) => els.map((e) => e.textContent));
    assert.equal(next.length, 10);
    assert.ok(next.every((c) => markupVocab.includes(c) || c === "␣"), next.join(" "));
    await page.click('canvas[data-layer="0"][data-head="1"]');
    await page.waitForSelector("#head-dialog[open]");
    await page.click("#values-details summary");
    await page.waitForFunction(() => document.querySelectorAll("#values-table tbody tr").length === 8);
    assert.equal(await page.textContent("#values-table tbody tr:last-child th"), ">");
    await page.keyboard.press("Escape");
    const [json] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
    assert.equal(JSON.parse(await readFile(await json.path(), "utf8")).tokens.join(""), `'&'/>"\`<\\x>`.slice(-8));
    await assertClean(page, "markup vocabulary");
    await page.context().close();
  });
});
