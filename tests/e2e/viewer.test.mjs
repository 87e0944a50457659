// The viewer in a real browser (Debian Chromium via playwright-core): loading without console
// errors or CSP violations, typing → every heatmap and data-tokens change, hover values, the
// akshara view, NFC, unknown characters, cropping, the next-character panel, phonetic typing,
// the large view with its values table, export, the URL hash, and screenshots (desktop, 360 px).
//
//   node --test tests/e2e/

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { canvasImages, kannadaText, newPage, openViewer, problems, redrawCount, screenshotPath, setText, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

/** Renders the panels off screen too (html.render-all) and waits for the frame, for a whole-page screenshot. */
async function renderAll(page) {
  await page.evaluate(() => {
    document.documentElement.classList.add("render-all");
    return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
}

const stripTexts = (page) => page.$$eval("#token-strip .tok:not(.cropped):not(.skip-run)", (els) => els.map((e) => e.textContent));

/** Replaces the text box content (one input event) and waits for the matching redraw. */
describe("viewer", () => {
  test("loads with the model, no console errors and no CSP violations", async () => {
    const page = await newPage(env.browser, { serviceWorkers: "allow" });
    await openViewer(page, env.server.url);
    assert.equal(await page.inputValue("#text"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ");
    const status = await page.textContent("#status");
    assert.match(status, /4 layers × 4 heads/);
    assert.match(status, /218,969 parameters/);
    assert.match(status, /vocabulary 89/);
    assert.match(status, /loaded in \d+ ms/);
    // the grid comes from the config: 4 × 4 canvases with data-layer / data-head
    const ids = await page.$$eval("#attention-grid canvas", (cs) => cs.map((c) => `${c.dataset.layer}.${c.dataset.head}`));
    assert.equal(ids.length, 16);
    assert.equal(new Set(ids).size, 16);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "15");
    assert.match(await page.getAttribute("#attention-grid", "data-ms"), /^\d+(\.\d+)?$/);
    assert.equal(await page.isVisible("#error"), false);
    // the automation hooks exist
    for (const sel of ["#text-input", "#attention-grid", "#next-char", "#generate-button", "#train-button", "#loss-value", "#weights-file", "#vocab-file", "#error", "#status", "#generate", "#stop", "#train-start", "#akshara-toggle", "#bench"]) {
      assert.equal(await page.locator(sel).count(), 1, sel);
    }
    assert.equal(await page.inputValue("#text-input"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ", "#text-input stands for the text box");
    await page.fill("#text-input", "ಕನ್ನಡ");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.tokens === "5");
    await page.locator("#text-input").pressSequentially("ನಾ");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.tokens === "7");
    assert.equal(await page.inputValue("#text"), "ಕನ್ನಡನಾ");
    assert.equal(await page.$eval("#text-input", (el) => el.value), "ಕನ್ನಡನಾ");
    // the help table comes from transliterationTable()
    const rows = await page.$$eval("#translit-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.ok(rows.length > 50);
    assert.ok(rows.some(([l, k]) => l === "kh" && k === "ಖ"));
    await page.waitForTimeout(500);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("typing Kannada changes every canvas and data-tokens; hover shows the weight", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const before = await canvasImages(page);
    const tokens = Number(await page.getAttribute("#attention-grid", "data-tokens"));
    await page.click("#text");
    await page.keyboard.press("End");
    for (const ch of [..." ಕನ್ನಡ"]) {
      const seq = await redrawCount(page);
      await page.keyboard.type(ch);
      await waitForRedraw(page, seq);
    }
    await settle(page);
    assert.equal(await page.inputValue("#text"), "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ ಕನ್ನಡ");
    assert.equal(Number(await page.getAttribute("#attention-grid", "data-tokens")), tokens + 6);
    assert.equal(await page.getAttribute("#attention-grid", "data-from-key"), "1");
    const afterImgs = await canvasImages(page);
    assert.equal(Object.keys(afterImgs).length, 16);
    for (const [k, img] of Object.entries(afterImgs)) assert.notEqual(img, before[k], `canvas ${k} did not change`);
    assert.match(await page.textContent("#draw-time"), /21 characters · forward [\d.]+ ms .* keystroke → 16 maps drawn [\d.]+ ms/);

    // hover a cell on the diagonal of the last row: query and key characters and a 3-decimal weight
    await page.locator('canvas[data-layer="2"][data-head="1"]').scrollIntoViewIfNeeded();
    const box = await page.locator('canvas[data-layer="2"][data-head="1"]').boundingBox();
    await page.mouse.move(box.x + box.width - 4, box.y + box.height - 4);
    await page.waitForSelector("#tooltip:not([hidden])");
    const tip = await page.textContent("#tooltip");
    assert.match(tip, /Layer 3 · head 2/);
    assert.match(tip, /query character 21, key character 21/);
    assert.match(tip, /“ಡ” → “ಡ”/);
    assert.match(tip, /weight \d\.\d{3}$/);
    // the hovered query row lights up the characters it attends to
    assert.equal(await page.locator("#token-strip .tok.query").count(), 1);
    const lit = await page.$$eval("#token-strip .tok", (els) => els.filter((e) => e.style.getPropertyValue("--w") !== "").length);
    assert.ok(lit >= 21);
    // a cell above the diagonal is the mask, not a weight
    await page.mouse.move(box.x + box.width - 4, box.y + 22);
    await page.waitForFunction(() => /masked/.test(document.querySelector("#tooltip").textContent));
    await page.mouse.move(0, 0);
    await page.waitForSelector("#tooltip", { state: "hidden" });
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("akshara toggle groups conjuncts and changes the labels and maps", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const chars = await stripTexts(page);
    assert.equal(chars.length, 15);
    assert.equal(chars[1], "◌್", "a lone virama is shown on a dotted circle");
    const imgs = await canvasImages(page);
    await page.click("#akshara-toggle");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.groups === "6");
    assert.equal(await page.getAttribute("#akshara-toggle", "aria-pressed"), "true");
    assert.deepEqual(await stripTexts(page), ["ಜ್ಞಾ", "ನ", "ವೇ", "␣", "ಶ್ರೇ", "ಷ್ಠ"]);
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "15", "the model still saw 15 characters");
    const imgs2 = await canvasImages(page);
    for (const k of Object.keys(imgs)) assert.notEqual(imgs2[k], imgs[k]);
    // aggregated rows still sum to 1 (tooltips of one row, all keys)
    await page.locator('canvas[data-layer="0"][data-head="0"]').scrollIntoViewIfNeeded();
    const box = await page.locator('canvas[data-layer="0"][data-head="0"]').boundingBox();
    const geom = await page.evaluate(() => {
      const c = document.querySelector('canvas[data-layer="0"][data-head="0"]');
      return { w: c.clientWidth };
    });
    const margin = 18;
    const cell = (geom.w - margin - 2) / 6;
    let sum = 0;
    for (let k = 0; k < 6; k++) {
      await page.mouse.move(box.x + margin + (k + 0.5) * cell, box.y + margin + 5.5 * cell);
      await page.waitForFunction((kk) => new RegExp(`key akshara ${kk + 1}\\b`).test(document.querySelector("#tooltip").textContent), k);
      sum += Number(/weight (\d\.\d{3})/.exec(await page.textContent("#tooltip"))[1]);
    }
    assert.ok(Math.abs(sum - 1) < 0.01, `row sum ${sum}`);
    // a vowel sign with no consonant before it gets a dotted circle
    await setText(page, "ಾಕನ್ನಡ");
    assert.deepEqual(await stripTexts(page), ["◌ಾ", "ಕ", "ನ್ನ", "ಡ"]);
    await page.click("#akshara-toggle");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.groups === "6");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("NFC, unknown characters and block_size cropping are reported", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    // decomposed ಕೊ (ಕ + ೆ + ೂ) is normalised in the box itself
    await setText(page, "ಕ\u0CC6\u0CC2ಡ");
    assert.equal(await page.inputValue("#text"), "ಕೊಡ");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "3");
    // characters outside the vocabulary are skipped, counted and struck through
    await setText(page, "ಕನ್ನಡ ABC 😀");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "7");
    const notice = await page.textContent("#unknown-notice");
    assert.match(notice, /^4 characters are not in the model's vocabulary/);
    assert.match(notice, /“A” “B” “C” “😀”/);
    assert.equal(await page.locator("#token-strip .tok.unknown").count(), 4);
    // long runs of unknown characters collapse into a count
    await setText(page, `ಕನ್ನಡ${"abc".repeat(3000)}ನಾಡು`);
    assert.match(await page.textContent("#unknown-notice"), /^9,000 characters are not/);
    assert.equal(await page.locator("#token-strip .tok.unknown").count(), 5);
    assert.equal(await page.textContent("#token-strip .skip-run"), "+8,995 more skipped");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "9");
    // longer than block_size: the last 128 characters
    await setText(page, kannadaText(300));
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "128");
    assert.match(await page.textContent("#crop-notice"), /sees only the last 128; 172 earlier characters are not used/);
    assert.match(await page.textContent("#token-strip"), /172 earlier not seen/);
    assert.equal(await page.isVisible("#unknown-notice"), false);
    // empty text: no maps, no crash
    await setText(page, "");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "0");
    assert.match(await page.textContent("#next-context"), /Type some Kannada/);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("next-character panel: top 10 after the cursor, click inserts", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const items = await page.$$eval("#next-char li", (lis) => lis.map((li) => [li.querySelector(".next-char").textContent, Number.parseFloat(li.querySelector(".next-prob").textContent)]));
    assert.equal(items.length, 10);
    for (let i = 1; i < items.length; i++) assert.ok(items[i][1] <= items[i - 1][1], "sorted by probability");
    assert.ok(items.reduce((s, [, p]) => s + p, 0) <= 100.5);
    assert.match(await page.textContent("#next-context"), /After “…ವೇ ಶ್ರೇಷ್ಠ” \(character 15 of 15\)/);
    // moving the cursor changes the context
    await page.click("#text");
    await page.keyboard.press("Home");
    await page.waitForFunction(() => /Place the cursor/.test(document.querySelector("#next-context").textContent));
    await page.$eval("#text", (t) => t.setSelectionRange(1, 1));
    await page.waitForFunction(() => /character 1 of 15/.test(document.querySelector("#next-context").textContent));
    assert.match(await page.textContent("#next-context"), /After “ಜ”/);
    // clicking a prediction inserts it at the cursor
    const first = await page.$eval("#next-char li .next-char", (e) => e.textContent);
    const seq = await redrawCount(page);
    await page.click("#next-char li button");
    await waitForRedraw(page, seq);
    const v = await page.inputValue("#text");
    assert.equal([...v].length, 16);
    const inserted = [...v][1];
    const label = { " ": "␣", "\n": "↵" }[inserted] || inserted;
    assert.ok(first === label || first === `◌${inserted}`, `${first} vs ${inserted}`);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("Latin → Kannada phonetic typing on a table of examples", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, "");
    await page.check("#phonetic-toggle");
    assert.equal(await page.isVisible("#latin"), true);
    const examples = [
      ["kannaDa", "ಕನ್ನಡ"],
      ["j~nAnavE shrEShTha", "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ"],
      ["namaskAra", "ನಮಸ್ಕಾರ"],
      ["beMgaLUru", "ಬೆಂಗಳೂರು"],
      ["kRuShNa", "ಕೃಷ್ಣ"],
      ["lakShmi", "ಲಕ್ಷ್ಮಿ"],
      ["duHkha", "ದುಃಖ"],
      ["aidu", "ಐದು"],
      ["kannaD", "ಕನ್ನಡ್"],
      ["kai kOlu", "ಕೈ ಕೋಲು"],
      ["jnAna", "ಜ್ಞಾನ"],
      ["maLe baMtu.", "ಮಳೆ ಬಂತು."],
    ];
    for (const [latin, kannada] of examples) {
      await page.fill("#latin", latin);
      assert.equal(await page.textContent("#latin-preview"), kannada, latin);
      assert.equal(await page.inputValue("#text"), kannada, latin);
      await page.fill("#latin", "");
    }
    // typing key by key, Enter commits; the model sees the Kannada
    await page.click("#latin");
    const seq = await redrawCount(page);
    await page.keyboard.type("kannaDa");
    await page.keyboard.press("Enter");
    await page.keyboard.type(" nADu");
    await waitForRedraw(page, seq);
    await settle(page);
    assert.equal(await page.inputValue("#text"), "ಕನ್ನಡ ನಾಡು");
    assert.equal(await page.inputValue("#latin"), " nADu");
    assert.equal(await page.getAttribute("#attention-grid", "data-tokens"), "10");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("large view: click a head, arrow keys read values, values table", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.click('canvas[data-layer="1"][data-head="2"]');
    await page.waitForSelector("#head-dialog[open]");
    assert.equal(await page.textContent("#dialog-title"), "Layer 2 · head 3");
    await page.focus("#large-canvas");
    await page.keyboard.press("ArrowLeft");
    await page.waitForFunction(() => /weight \d\.\d{3}/.test(document.querySelector("#cell-readout").textContent));
    assert.match(await page.textContent("#cell-readout"), /query character 15, key character 14 · weight \d\.\d{3}/);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight"); // stays on the diagonal
    assert.match(await page.textContent("#cell-readout"), /key character 15 ·/);
    // the text alternative
    await page.click("#values-details summary");
    await page.waitForFunction(() => document.querySelectorAll("#values-table tbody tr").length === 15);
    const firstRow = await page.$$eval("#values-table tbody tr:first-child td", (tds) => tds.map((t) => t.textContent));
    assert.equal(firstRow[0], "1.000");
    assert.ok(firstRow.slice(1).every((t) => t === ""), "masked cells are empty");
    const lastRow = await page.$$eval("#values-table tbody tr:last-child td", (tds) => tds.map((t) => Number(t.textContent)));
    assert.ok(Math.abs(lastRow.reduce((a, b) => a + b, 0) - 1) < 0.01);
    await page.click("#next-head");
    assert.equal(await page.textContent("#dialog-title"), "Layer 2 · head 4");
    await page.keyboard.press("Escape");
    await page.waitForSelector("#head-dialog:not([open])", { state: "attached" });
    // keyboard only: Tab reaches the maps, Enter opens one
    await page.focus('button.head-map[data-layer="0"][data-head="0"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector("#head-dialog[open]");
    assert.equal(await page.textContent("#dialog-title"), "Layer 1 · head 1");
    await page.click("#close-dialog");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("export PNG and JSON; the URL hash reproduces text and settings", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, "ಕನ್ನಡ ನಾಡು");
    await page.click("#akshara-toggle");
    await page.selectOption("#scale", "sqrt");
    await page.fill("#seed", "7");
    await page.dispatchEvent("#seed", "change");
    await settle(page);

    const [png] = await Promise.all([page.waitForEvent("download"), page.click("#export-png")]);
    assert.equal(png.suggestedFilename(), "kgpt-attention.png");
    const pngBytes = await readFile(await png.path());
    assert.deepEqual([...pngBytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);

    const [json] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
    const doc = JSON.parse(await readFile(await json.path(), "utf8"));
    assert.equal(doc.text, "ಕನ್ನಡ ನಾಡು");
    assert.equal(doc.attention.length, 4);
    assert.equal(doc.attention[0].length, 4);
    assert.equal(doc.attention[3][3].length, 10);
    for (const row of doc.attention[1][2]) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.equal(doc.attention[0][0][0][1], 0, "zero above the diagonal");
    assert.deepEqual(doc.aksharas.labels, ["ಕ", "ನ್ನ", "ಡ", " ", "ನಾ", "ಡು"]);
    assert.equal(doc.aksharas.attention[0][0].length, 6);

    await page.waitForFunction(() => /scale=sqrt/.test(location.hash));
    const hash = await page.evaluate(() => location.hash);
    assert.match(hash, /view=aksharas/);
    assert.match(hash, /seed=7/);
    assert.equal(await page.inputValue("#share-link"), env.server.url + hash);
    const page2 = await newPage(env.browser);
    await openViewer(page2, env.server.url, hash);
    assert.equal(await page2.inputValue("#text"), "ಕನ್ನಡ ನಾಡು");
    assert.equal(await page2.getAttribute("#akshara-toggle", "aria-pressed"), "true");
    assert.equal(await page2.inputValue("#scale"), "sqrt");
    assert.equal(await page2.inputValue("#seed"), "7");
    assert.equal(await page2.getAttribute("#attention-grid", "data-groups"), "6");
    // a link can open a head's large view
    const page3 = await newPage(env.browser);
    await openViewer(page3, env.server.url, "#text=%E0%B2%95%E0%B2%A8%E0%B3%8D%E0%B2%A8%E0%B2%A1&head=4.1");
    await page3.waitForSelector("#head-dialog[open]");
    assert.equal(await page3.textContent("#dialog-title"), "Layer 4 · head 1");
    for (const p of [page, page2, page3]) {
      assert.deepEqual(await problems(p), []);
      await p.context().close();
    }
  });

  test("screenshots: desktop and 360 px wide", async () => {
    // tall enough that the whole 4 × 4 grid is in the picture (the README's screenshot)
    const desktop = await newPage(env.browser, { width: 1440, height: 1240 });
    await openViewer(desktop, env.server.url);
    await setText(desktop, "ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ. ಕನ್ನಡ ನಾಡು");
    await desktop.waitForTimeout(300);
    const box = await desktop.locator('canvas[data-layer="2"][data-head="1"]').boundingBox();
    await desktop.mouse.move(box.x + box.width * 0.55, box.y + box.height * 0.9);
    await desktop.waitForSelector("#tooltip:not([hidden])");
    await desktop.screenshot({ path: screenshotPath("desktop.png") });
    await desktop.mouse.move(0, 0);
    // (the panels off screen are content-visibility: auto: render them all for the whole page)
    await renderAll(desktop);
    await desktop.screenshot({ path: screenshotPath("desktop-full.png"), fullPage: true });
    await desktop.click("#akshara-toggle");
    await desktop.click('canvas[data-layer="0"][data-head="3"]');
    await desktop.waitForSelector("#head-dialog[open]");
    await desktop.focus("#large-canvas");
    await desktop.keyboard.press("ArrowLeft");
    await desktop.screenshot({ path: screenshotPath("desktop-large-view.png") });
    assert.deepEqual(await problems(desktop), []);
    await desktop.context().close();

    const phone = await newPage(env.browser, { width: 360, height: 780, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await openViewer(phone, env.server.url);
    // nothing wider than the screen
    const widths = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(widths[0] <= widths[1], `page is ${widths[0]} px wide at ${widths[1]}`);
    const overflowing = await phone.$$eval("main *", (els) =>
      els.filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && getComputedStyle(e).position !== "fixed").map((e) => e.id || e.className || e.tagName).slice(0, 5),
    );
    assert.deepEqual(overflowing, []);
    assert.equal(await phone.locator("#attention-grid canvas").count(), 16);
    await phone.screenshot({ path: screenshotPath("mobile-360.png") });
    await renderAll(phone);
    await phone.screenshot({ path: screenshotPath("mobile-360-full.png"), fullPage: true });
    // tap a map → large view, tap a cell → its value
    await phone.tap('canvas[data-layer="3"][data-head="0"]');
    await phone.waitForSelector("#head-dialog[open]");
    const lb = await phone.locator("#large-canvas").boundingBox();
    await phone.touchscreen.tap(lb.x + lb.width * 0.3, lb.y + lb.height * 0.9);
    await phone.waitForFunction(() => /weight \d\.\d{3}/.test(document.querySelector("#cell-readout").textContent));
    await phone.screenshot({ path: screenshotPath("mobile-360-large-view.png") });
    assert.deepEqual(await problems(phone), []);
    await phone.context().close();
  });
});
