// The "Examples" panel: texts a newcomer can click, each with one sentence on what to look
// for. A click sets the text (and the view), which updates the maps and the URL hash.

import { state } from "../state.js";
import { $, scheduleHash } from "../app.js";
import { redrawFromCache } from "../analysis.js";
import { el } from "../format.js";
import { setView } from "./heads.js";
import { setText, typeLatin } from "./text.js";

const PROVERB = "ಹಿತ್ತಲ ಗಿಡ ಮದ್ದಲ್ಲ. ಅತಿ ಆಸೆ ಗತಿ ಕೇಡು. ಕೈ ಕೆಸರಾದರೆ ಬಾಯಿ ಮೊಸರು. ";

/** A text longer than the model's block size (so the crop shows). */
function pastBlockSize() {
  const block = state.model ? state.model.config.block_size : 128;
  let text = "";
  while ([...text].length < block + 40) text += PROVERB;
  return text.trim();
}

/** id, button label, what to look for, and what a click sets. */
export const EXAMPLES = [
  {
    id: "conjuncts",
    label: "ಜ್ಞಾನ ಶ್ರೇಷ್ಠ ಸ್ತ್ರೀ",
    lang: "kn",
    what: "Conjuncts: one akshara such as ಸ್ತ್ರೀ is six characters (three consonants joined by two viramas, and a vowel sign). The akshara view groups them; look for heads whose row for a consonant after a virama lights up the consonant before it.",
    text: () => "ಜ್ಞಾನ ಶ್ರೇಷ್ಠ ಸ್ತ್ರೀ",
    view: "aksharas",
  },
  {
    id: "repeat",
    label: "ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ ×2",
    lang: "kn",
    what: "A repeated phrase: in the second copy, look for heads whose rows light up the character that followed the same character last time (they look back at the last occurrence).",
    text: () => "ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ. ಹನಿ ಹನಿ ಕೂಡಿದರೆ ಹಳ್ಳ.",
    view: "chars",
  },
  {
    id: "long",
    label: "A line past the block size",
    what: "The model reads at most block_size characters: past it, only the last ones reach it. The notice and the strip say how many earlier characters were cropped, and the maps stay square at block_size.",
    text: pastBlockSize,
    view: "chars",
  },
  {
    id: "latin",
    label: "Latin: namaskAra, kannaDa nADu",
    what: "Phonetic typing: Latin letters become Kannada (kannaDa → ಕನ್ನಡ; a capital is the long vowel or the retroflex). The model only ever sees the Kannada.",
    latin: "namaskAra, kannaDa nADu",
    view: "chars",
  },
];

function apply(example) {
  setView(example.view);
  if (example.latin) typeLatin(example.latin);
  else setText(example.text());
  redrawFromCache();
  scheduleHash();
}

function item(example) {
  const li = el("li", "example");
  const button = el("button", "btn example-button", example.label);
  button.type = "button";
  button.dataset.example = example.id;
  if (example.lang) button.lang = example.lang;
  const what = el("p", "small muted example-what", example.what);
  what.id = `example-${example.id}-what`;
  button.setAttribute("aria-describedby", what.id);
  button.addEventListener("click", () => apply(example));
  li.append(button, what);
  return li;
}

export function init() {
  $("examples").replaceChildren(...EXAMPLES.map(item));
}
