// Inside the model (issue 11), in Chromium: every head's role on its heatmap (data-role), the
// Heads table (one row per head, sorting, a row opens its head), knock-out (the next-character
// panel, the later layers' heatmaps and #text-bpc change; restoring gives back the intact
// output exactly; #attention-grid[data-knocked-out]; the link carries the set; keyboard only),
// the logit lens (n_layer + 1 rows, the last layer equal to the output), the embedding map with
// its legend and the position similarity, the held-out loss and the heads-forming timeline
// after 20 training steps, and a screenshot of the new panels.
//
//   node --test tests/e2e/inside.test.mjs

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canvasImages, kannadaText, newPage, openViewer, problems, screenshotPath, setText, settle, useServerAndBrowser } from "./helpers.mjs";

const env = useServerAndBrowser();

const ROLES = new Set(["prev_char", "self", "first", "same_akshara", "conjunct", "word_start", "induction", "mixed"]);
const N_LAYER = 4;
const N_HEAD = 4;

/** Waits until every heatmap canvas has a role. */
async function waitForRoles(page) {
  await page.waitForFunction(() => {
    const cs = [...document.querySelectorAll("#attention-grid canvas[data-layer]")];
    return cs.length > 0 && cs.every((c) => c.dataset.role);
  }, null, { timeout: 60000 });
}

/** Waits until the maps, the next-character panel and #text-bpc all reflect knock-out set `spec`. */
async function waitForKnockout(page, spec) {
  await page.waitForFunction(
    (s) => {
      const bpc = document.querySelector("#text-bpc").dataset;
      return document.querySelector("#attention-grid").dataset.knockedOut === s && bpc.knockedOut === s && bpc.current === "1";
    },
    spec,
    { timeout: 30000 },
  );
  await settle(page);
}

/** What a knock-out must change and restoring must give back: the guesses, bits/char, maps. */
async function outputs(page) {
  return {
    next: await page.textContent("#next-char"),
    bpc: await page.textContent("#text-bpc"),
    bpcValue: await page.getAttribute("#text-bpc", "data-bpc"),
    maps: await canvasImages(page),
  };
}

const tableOrder = (page) => page.$$eval("#heads-table tbody tr[data-layer]", (trs) => trs.map((tr) => `${tr.dataset.layer}.${tr.dataset.head}`));
const columnValues = (page, index) => page.$$eval("#heads-table tbody tr[data-layer]", (trs, i) => trs.map((tr) => Number(tr.cells[i].textContent)), index);

describe("inside the model", () => {
  test("every head gets a role caption and data-role; the Heads table lists, sorts and opens them", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await waitForRoles(page);
    const roles = await page.$$eval("#attention-grid canvas[data-layer]", (cs) => cs.map((c) => c.dataset.role));
    assert.equal(roles.length, N_LAYER * N_HEAD);
    for (const r of roles) assert.ok(ROLES.has(r), `role ${r}`);
    const captions = await page.$$eval("#attention-grid .head-role", (els) => els.map((e) => e.textContent));
    for (const c of captions) assert.match(c, /^[a-z ]+ [01]\.\d\d$/, `caption “${c}”`);
    assert.match(await page.textContent("#heads-source"), /^Scored on the built-in proverbs: \d+ windows?/);

    // one row per head, every score; the legend explains each column in a sentence
    assert.deepEqual((await tableOrder(page)).length, N_LAYER * N_HEAD);
    const headers = await page.$$eval("#heads-table thead button[data-sort]", (bs) => bs.map((b) => b.dataset.sort));
    assert.deepEqual(headers, ["head", "role", "role_score", "prev_char", "self", "first", "mean_distance", "entropy_bits", "same_akshara", "conjunct", "word_start", "induction", "knockout_bits"]);
    const legend = await page.$$eval("#heads-legend dd", (dds) => dds.map((d) => d.textContent));
    assert.equal(legend.length, headers.length);
    for (const sentence of legend) assert.match(sentence, /^[A-Z“].{20,}\.$/);
    const tableRoles = await page.$$eval("#heads-table tbody tr[data-layer]", (trs) => trs.map((tr) => tr.dataset.role));
    assert.deepEqual(tableRoles, roles, "the table's roles are the captions' roles (head order)");

    // sorting by a score: descending, then ascending; aria-sort says so; the order changes
    const byHead = await tableOrder(page);
    const col = headers.indexOf("knockout_bits");
    await page.click('#heads-table button[data-sort="knockout_bits"]');
    assert.equal(await page.getAttribute("#heads-table th:has(button[data-sort='knockout_bits'])", "aria-sort"), "descending");
    assert.equal(await page.getAttribute("#heads-table th:has(button[data-sort='head'])", "aria-sort"), "none");
    const desc = await columnValues(page, col);
    for (let i = 1; i < desc.length; i++) assert.ok(desc[i] <= desc[i - 1], `descending: ${desc}`);
    const descOrder = await tableOrder(page);
    assert.notDeepEqual(descOrder, byHead, "sorting by knockout_bits changed the order");
    await page.click('#heads-table button[data-sort="knockout_bits"]');
    assert.equal(await page.getAttribute("#heads-table th:has(button[data-sort='knockout_bits'])", "aria-sort"), "ascending");
    const asc = await columnValues(page, col);
    for (let i = 1; i < asc.length; i++) assert.ok(asc[i] >= asc[i - 1], `ascending: ${asc}`);

    // a row opens its head's large view (click), and so does Enter on its head button
    const third = page.locator("#heads-table tbody tr[data-layer]").nth(2);
    const [l, h] = [Number(await third.getAttribute("data-layer")), Number(await third.getAttribute("data-head"))];
    await third.locator("td").nth(3).click();
    await page.waitForSelector("dialog[open]");
    assert.equal(await page.textContent("#dialog-title"), `Layer ${l + 1} · head ${h + 1}`);
    await page.click("#close-dialog");
    await page.locator("#heads-table tbody tr[data-layer]").nth(5).locator("button.head-open").focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog[open]");
    await page.keyboard.press("Escape");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("knocking out heads changes #next-char, the later maps and #text-bpc; restoring gives them back exactly", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, kannadaText(60));
    await waitForKnockout(page, "");
    const intact = await outputs(page);
    assert.match(intact.bpc, /^Bits per character on the text box .*: \d\.\d{3} \(intact model\)/);

    // the whole of layer 1's attention
    await page.click('[data-knockout-layer="0"]');
    const layer0 = "0.0,0.1,0.2,0.3";
    await waitForKnockout(page, layer0);
    const knocked = await outputs(page);
    assert.notEqual(knocked.next, intact.next, "the next-character guesses changed");
    assert.notEqual(knocked.bpcValue, intact.bpcValue, "bits/char changed");
    assert.match(knocked.bpc, /\d\.\d{3} with 4 heads knocked out, against \d\.\d{3} intact: [+−]\d\.\d{3}\./);
    assert.equal(await page.getAttribute("#text-bpc", "data-intact"), intact.bpcValue, "the intact figure is the intact model's");
    for (let h = 0; h < N_HEAD; h++) {
      assert.equal(await page.getAttribute(`[data-knockout="0.${h}"]`, "aria-pressed"), "true");
      // a knocked-out head's own pattern is unchanged; later layers change
      assert.equal(knocked.maps[`0.${h}`], intact.maps[`0.${h}`], `map 0.${h} is its own attention`);
    }
    assert.equal(await page.getAttribute('[data-knockout-layer="0"]', "aria-pressed"), "true");
    const changedLater = Object.keys(intact.maps).filter((k) => !k.startsWith("0.") && knocked.maps[k] !== intact.maps[k]);
    assert.ok(changedLater.length >= 8, `later maps changed: ${changedLater}`);

    // one more head: the set stays sorted; the address carries it
    await page.click('[data-knockout="2.1"]');
    await waitForKnockout(page, `${layer0},2.1`);
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("ko") === "0.0,0.1,0.2,0.3,2.1");
    assert.match(await page.evaluate(() => location.hash), /(^#|&)ko=0\.0,0\.1,0\.2,0\.3,2\.1(&|$)/, "written as L.H,L.H");
    assert.equal(await page.getAttribute('[data-knockout-layer="0"]', "aria-pressed"), "true");

    // undo one by one (the layer toggle), then restore all: exactly the intact outputs
    await page.click('[data-knockout-layer="0"]');
    await waitForKnockout(page, "2.1");
    await page.click("#knockout-clear");
    await waitForKnockout(page, "");
    const restored = await outputs(page);
    assert.equal(restored.next, intact.next);
    assert.equal(restored.bpc, intact.bpc);
    assert.equal(restored.bpcValue, intact.bpcValue);
    assert.deepEqual(restored.maps, intact.maps);
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("ko") === null);
    assert.equal(await page.isDisabled("#knockout-clear"), true);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("a link with ko= restores the knock-out set", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url, `#text=${encodeURIComponent(kannadaText(30))}&ko=1.2,0.3`);
    await waitForKnockout(page, "0.3,1.2");
    assert.equal(await page.getAttribute('[data-knockout="0.3"]', "aria-pressed"), "true");
    assert.equal(await page.getAttribute('[data-knockout="1.2"]', "aria-pressed"), "true");
    assert.equal(await page.getAttribute('[data-knockout="0.0"]', "aria-pressed"), "false");
    const bpc = await page.textContent("#text-bpc");
    assert.match(bpc, /with 2 heads knocked out/);
    // the page writes the set back canonically; opening that address gives the same outputs
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("ko") === "0.3,1.2");
    const hash = await page.evaluate(() => location.hash);
    const next = await page.textContent("#next-char");
    const page2 = await newPage(env.browser);
    await openViewer(page2, env.server.url, hash);
    await waitForKnockout(page2, "0.3,1.2");
    assert.equal(await page2.textContent("#next-char"), next);
    assert.equal(await page2.textContent("#text-bpc"), bpc);
    // entries outside the model are dropped, not sent
    const page3 = await newPage(env.browser);
    await openViewer(page3, env.server.url, "#ko=9.9,x,1.1");
    await waitForKnockout(page3, "1.1");
    for (const p of [page, page2, page3]) {
      assert.deepEqual(await problems(p), []);
      await p.context().close();
    }
  });

  test("the knock-out toggles work with the keyboard only (Tab, Space, Enter)", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.focus('button.head-map[data-layer="1"][data-head="2"]');
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.knockout), "1.2", "Tab from a map reaches its toggle");
    await page.keyboard.press("Space");
    await waitForKnockout(page, "1.2");
    assert.equal(await page.getAttribute('[data-knockout="1.2"]', "aria-pressed"), "true");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.knockout), "1.3", "the next head's toggle");
    await page.keyboard.press("Enter");
    await waitForKnockout(page, "1.2,1.3");
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Enter");
    await waitForKnockout(page, "1.3");
    // the layer toggles are buttons too
    await page.focus('[data-knockout-layer="3"]');
    await page.keyboard.press("Space");
    await waitForKnockout(page, "1.3,3.0,3.1,3.2,3.3");
    await page.keyboard.press("Enter");
    await waitForKnockout(page, "1.3");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("the logit lens: one row per layer plus the output, top 5 each; the last layer is the output", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, "ಕನ್ನಡ ನಾಡು ನುಡಿ");
    // (the default text is 15 characters too: wait for the lens after this one's last, ◌ಿ)
    await page.waitForFunction(() => /^After “◌?ಿ” \(character 15\)/.test(document.querySelector("#lens-context").textContent));
    const rows = await page.$$eval("#logit-lens [data-layer]", (trs) => trs.map((tr) => ({ layer: tr.dataset.layer, text: tr.textContent, cells: [...tr.querySelectorAll("td")].map((td) => td.textContent) })));
    assert.deepEqual(rows.map((r) => r.layer), ["0", "1", "2", "3", "output"]);
    for (const r of rows) {
      assert.equal(r.cells.length, 5, `row ${r.layer}`);
      for (const c of r.cells) assert.match(c, /^.+\d+(\.\d)?%$/u);
    }
    assert.deepEqual(rows[3].cells, rows[4].cells, "the last layer's lens is the model's output");
    // the output row is the next-character panel's first guesses
    const firstGuess = await page.$eval("#next-char li .next-char", (e) => e.textContent);
    assert.equal(await page.$eval('#logit-lens [data-layer="output"] .lens-ch', (e) => e.textContent), firstGuess);
    // knocking out a layer changes the lens (it reads the knocked-out model)
    await page.click('[data-knockout-layer="2"]');
    await waitForKnockout(page, "2.0,2.1,2.2,2.3");
    // (named as the grid and the Heads table name them: layer 3 is "L3")
    await page.waitForFunction(() => /knocked out: L3 H1, L3 H2, L3 H3, L3 H4\)/.test(document.querySelector("#lens-context").textContent));
    const knocked = await page.$$eval("#logit-lens [data-layer]", (trs) => trs.map((tr) => tr.textContent));
    assert.deepEqual(knocked.slice(0, 2), rows.slice(0, 2).map((r) => r.text), "blocks before the knocked-out layer are unchanged");
    assert.notDeepEqual(knocked.slice(2), rows.slice(2).map((r) => r.text), "from the knocked-out layer on, the lens changes");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("the embedding map draws every character with a class legend; hover and keys name them", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.waitForFunction(() => document.querySelector("#embedding-map").dataset.points === "89", null, { timeout: 30000 });
    const legend = await page.$$eval("#embedding-legend li", (lis) => lis.map((li) => li.dataset.class));
    for (const cls of ["vowel", "consonant", "vowel_sign", "virama", "digit", "punctuation", "space"]) assert.ok(legend.includes(cls), `legend has ${cls}: ${legend}`);
    // drawn: many distinct colours on the map, and the similarity map is not blank
    const colours = await page.$eval("#embedding-map", (c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return seen.size;
    });
    assert.ok(colours > 20, `${colours} colours drawn`);
    assert.equal(await page.getAttribute("#position-similarity", "data-positions"), "128");
    const rows = await page.locator("#embedding-table tbody tr").count();
    assert.equal(rows, 89);
    await page.focus("#embedding-map");
    await page.keyboard.press("Home");
    const first = await page.textContent("#embedding-readout");
    assert.match(first, /^\S+ [a-z() -]+ · U\+[0-9A-F]{4} · [a-z /]+ · \(-?\d+\.\d\d, -?\d+\.\d\d\)$/);
    await page.keyboard.press("ArrowRight");
    assert.notEqual(await page.textContent("#embedding-readout"), first);
    const box = await page.locator("#position-similarity").boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.25);
    assert.match(await page.textContent("#position-readout"), /^positions \d+ and \d+: cosine similarity -?\d\.\d\d$/);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("after 20 training steps: a held-out curve, and the timeline replays the heads forming", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await setText(page, kannadaText(40));
    await waitForRoles(page);
    assert.equal(await page.isDisabled("#timeline"), true, "nothing to replay before training");
    await page.fill("#train-steps", "20");
    await page.fill("#train-lr", "0.01");
    await page.click("#train-start");
    await page.waitForFunction(() => /^Done/.test(document.querySelector("#train-status").textContent), null, { timeout: 120000 });
    await settle(page);
    assert.match(await page.textContent("#held-out-note"), /^The last [\d,]+ characters are held out/);
    assert.ok(Number.isFinite(Number.parseFloat(await page.textContent("#held-out-value"))), "a held-out loss");
    const snapshots = Number(await page.getAttribute("#timeline", "data-snapshots"));
    assert.ok(snapshots >= 4 && snapshots <= 64, `${snapshots} snapshots`);
    const live = await canvasImages(page);
    assert.equal(await page.getAttribute("#attention-grid", "data-replay-step"), null);
    // back to the first snapshot with the keyboard: the maps before training
    await page.focus("#timeline");
    await page.keyboard.press("Home");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.replayStep !== undefined);
    assert.equal(await page.getAttribute("#attention-grid", "data-replay-step"), "0");
    const first = await canvasImages(page);
    assert.notDeepEqual(first, live, "the replayed maps are not the live ones");
    assert.match(await page.textContent("#timeline-status"), /^Replaying snapshot 1 of \d+: the heatmaps at training step 0/);
    const roles = await page.$$eval("#attention-grid canvas[data-layer]", (cs) => cs.filter((c) => c.dataset.role).length);
    assert.equal(roles, 16, "the snapshot carries the roles of its time");
    await page.keyboard.press("ArrowRight");
    const step2 = Number(await page.getAttribute("#attention-grid", "data-replay-step"));
    assert.ok(step2 > 0 && step2 <= 20, `second snapshot at step ${step2}`);
    // the end of the slider is the live model again
    await page.keyboard.press("End");
    await page.waitForFunction(() => document.querySelector("#attention-grid").dataset.replayStep === undefined);
    assert.deepEqual(await canvasImages(page), live);
    assert.match(await page.textContent("#timeline-status"), /^Live model\./);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("the heads-forming snapshots stay bounded: thinned out to at most 64 over 150 steps", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    await page.fill("#train-steps", "150");
    await page.fill("#train-batch", "1");
    await page.click("#train-start");
    await page.waitForFunction(() => /^Done/.test(document.querySelector("#train-status").textContent), null, { timeout: 240000 });
    await settle(page);
    const n = Number(await page.getAttribute("#timeline", "data-snapshots"));
    // every 2 steps would be ~75: past 64 every other one goes and the interval doubles
    assert.ok(n > 16 && n <= 64, `${n} snapshots`);
    const steps = [];
    await page.focus("#timeline");
    await page.keyboard.press("Home");
    for (let i = 0; i < n; i++) {
      steps.push(Number(await page.getAttribute("#attention-grid", "data-replay-step")));
      await page.keyboard.press("ArrowRight");
    }
    assert.equal(steps[0], 0, "the model before training stays the first snapshot");
    for (let i = 1; i < n; i++) assert.ok(steps[i] > steps[i - 1], `steps increase: ${steps}`);
    assert.ok(steps[n - 1] >= 140, `the last snapshot is recent: ${steps}`);
    assert.ok(steps.some((s, i) => i > 0 && s - steps[i - 1] >= 4), `thinned out: ${steps}`);
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("screenshot of the new panels (tests/e2e/screenshots/inside-the-model.png)", async () => {
    const page = await newPage(env.browser, { width: 1366, height: 900 });
    await openViewer(page, env.server.url);
    await setText(page, "ಕನ್ನಡ ನಾಡು ನುಡಿ. ಜ್ಞಾನವೇ ಶ್ರೇಷ್ಠ ಸಂಪತ್ತು. ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ");
    await waitForRoles(page);
    // the head the model needs most on the built-in text (the table's largest knock-out Δ)
    await page.click('[data-knockout="2.0"]');
    await waitForKnockout(page, "2.0");
    await page.waitForFunction(() => document.querySelector("#embedding-map").dataset.points === "89");
    await page.click('#heads-table button[data-sort="knockout_bits"]');
    await page.evaluate(() => {
      document.querySelector(".heads-help").open = false;
      document.querySelector(".heads-scroll").scrollLeft = 0;
    });
    await page.focus("#embedding-map");
    for (let i = 0; i < 45; i++) await page.keyboard.press("ArrowRight");
    await page.evaluate(() => document.fonts.ready);
    // the four panels on one sheet: the grid (roles, knock-out, bits/char, timeline) and the
    // logit lens on the left, the heads table and the embedding map on the right
    const shot = async (sel) => `data:image/png;base64,${(await page.locator(sel).screenshot()).toString("base64")}`;
    const [attention, lens, heads, embedding] = [await shot(".p-attention"), await shot(".p-lens"), await shot(".p-heads"), await shot(".p-embedding")];
    const sheet = await newPage(env.browser, { width: 1900, height: 800 });
    await sheet.setContent(
      `<body style="margin:0;background:#0e1116"><div style="display:flex;gap:16px;padding:16px;align-items:flex-start">` +
        `<div style="display:grid;gap:16px;justify-items:start"><img src="${attention}"><img src="${lens}"></div>` +
        `<div style="display:grid;gap:16px"><img src="${heads}"><img src="${embedding}"></div></div></body>`,
    );
    await sheet.evaluate(() => Promise.all([...document.images].map((img) => img.decode())));
    await sheet.screenshot({ path: screenshotPath("inside-the-model.png"), fullPage: true });
    await sheet.context().close();
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });
});
