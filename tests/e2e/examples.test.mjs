// The Examples panel: real, labelled buttons, each described by one sentence on what to look
// for; a click (or Enter / Space) sets the text and the view, the maps follow, and the URL hash
// carries both (so the example can be shared).
//
//   node --test tests/e2e/examples.test.mjs

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canvasImages, newPage, openViewer, problems, redrawCount, settle, useServerAndBrowser, waitForRedraw } from "./helpers.mjs";

const env = useServerAndBrowser();

/** Presses `key` on the example button `id` and waits until the maps show its text. */
async function choose(page, id, key = "Enter") {
  const seq = await redrawCount(page);
  await page.focus(`[data-example="${id}"]`);
  await page.keyboard.press(key);
  await waitForRedraw(page, seq);
  await settle(page);
  // the hash is written 250 ms after the change
  await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("text") === document.querySelector("#text").value);
}

const hashParams = (page) => page.evaluate(() => Object.fromEntries(new URLSearchParams(location.hash.slice(1))));
const grid = (page, attr) => page.getAttribute("#attention-grid", attr);

describe("examples panel", () => {
  test("four labelled buttons, each with a sentence on what to look for, reachable by Tab", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const items = await page.$$eval("#examples [data-example]", (buttons) =>
      buttons.map((b) => ({
        id: b.dataset.example,
        tag: b.tagName,
        type: b.type,
        text: b.textContent,
        name: b.getAttribute("aria-label"),
        described: document.getElementById(b.getAttribute("aria-describedby"))?.textContent ?? "",
      })),
    );
    assert.deepEqual(
      items.map((i) => i.id),
      ["conjuncts", "repeat", "long", "latin"],
    );
    for (const i of items) {
      assert.equal(i.tag, "BUTTON", i.id);
      assert.equal(i.type, "button", i.id);
      assert.ok(i.text.trim().length > 3, `${i.id} has a visible label`);
      assert.equal(i.name, null, `${i.id}: the accessible name is the visible label`);
      assert.ok(i.described.split(" ").length >= 10, `${i.id} says what to look for: ${i.described}`);
      assert.match(i.described, /\.$/, `${i.id}: one sentence or more`);
    }
    // keyboard: Tab goes from one example to the next
    await page.focus('[data-example="conjuncts"]');
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.example), "repeat");
    assert.deepEqual(await problems(page), []);
    await page.context().close();
  });

  test("each example sets the text and the view; the maps, the notices and the URL hash follow", async () => {
    const page = await newPage(env.browser);
    await openViewer(page, env.server.url);
    const before = await canvasImages(page);

    // conjuncts: the akshara view, 7 aksharas (ಜ್ಞಾ ನ ␣ ಶ್ರೇ ಷ್ಠ ␣ ಸ್ತ್ರೀ) from 20 characters
    await choose(page, "conjuncts");
    assert.equal(await page.inputValue("#text"), "ಜ್ಞಾನ ಶ್ರೇಷ್ಠ ಸ್ತ್ರೀ");
    assert.equal(await page.getAttribute("#akshara-toggle", "aria-pressed"), "true");
    assert.equal(await grid(page, "data-view"), "aksharas");
    assert.equal(await grid(page, "data-tokens"), String([..."ಜ್ಞಾನ ಶ್ರೇಷ್ಠ ಸ್ತ್ರೀ"].length));
    assert.equal(await grid(page, "data-groups"), "7");
    assert.notDeepEqual(await canvasImages(page), before, "the maps changed");
    let hash = await hashParams(page);
    assert.equal(hash.text, "ಜ್ಞಾನ ಶ್ರೇಷ್ಠ ಸ್ತ್ರೀ");
    assert.equal(hash.view, "aksharas");

    // a repeated phrase (Space presses a button too): back to the character view
    await choose(page, "repeat", " ");
    assert.equal(await page.inputValue("#text"), "ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ. ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ.");
    assert.equal(await page.getAttribute("#akshara-toggle", "aria-pressed"), "false");
    assert.equal(await grid(page, "data-groups"), await grid(page, "data-tokens"), "one row per character");
    hash = await hashParams(page);
    assert.equal(hash.view, undefined, "the default view is left out of the link");

    // past block_size: the model reads the last 128 characters and the notice says so
    await choose(page, "long");
    const long = await page.inputValue("#text");
    assert.ok([...long].length > 128, `${[...long].length} characters`);
    assert.equal(await grid(page, "data-tokens"), "128");
    assert.equal(await page.isVisible("#crop-notice"), true);
    assert.match(await page.textContent("#crop-notice"), new RegExp(`${[...long].length - 128} earlier characters are not used`));
    assert.equal((await hashParams(page)).text, long);

    // Latin phonetic input: phonetic typing on, the Latin in its box, Kannada in the text box
    await choose(page, "latin");
    assert.equal(await page.isChecked("#phonetic-toggle"), true);
    assert.equal(await page.inputValue("#latin"), "namaskAra, kannaDa nADu");
    assert.equal(await page.inputValue("#text"), "ನಮಸ್ಕಾರ, ಕನ್ನಡ ನಾಡು");
    assert.equal(await grid(page, "data-tokens"), String([..."ನಮಸ್ಕಾರ, ಕನ್ನಡ ನಾಡು"].length));
    hash = await hashParams(page);
    assert.equal(hash.ph, "1");

    // the link reproduces the last example in a fresh page
    const url = await page.evaluate(() => location.href);
    const page2 = await newPage(env.browser);
    await openViewer(page2, env.server.url, new URL(url).hash);
    assert.equal(await page2.inputValue("#text"), "ನಮಸ್ಕಾರ, ಕನ್ನಡ ನಾಡು");
    assert.equal(await page2.isChecked("#phonetic-toggle"), true);
    assert.deepEqual(await problems(page), []);
    assert.deepEqual(await problems(page2), []);
    await page.context().close();
    await page2.context().close();
  });
});
