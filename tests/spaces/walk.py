"""Walk every tab of the app in a browser page and collect what a person reads on each (one script in the page:
a round trip per click would take minutes on a busy machine)."""

from __future__ import annotations

from typing import Any

# Clicks every tab once (a tab's own tabs before its siblings), opens every accordion it shows, and
# keeps the visible text, placeholders and tooltips of each. Not read: aria-labels and tooltips of gradio's own icon
# buttons (several are hard-coded English in gradio 6.31, out of the app's reach: the code block's Copy, Download),
# the tooltip gradio gives each checkbox of a group (the choice's value, an API identifier, not its label), and the
# text of code blocks (source code, as commands and paths are not words to translate).
WALK = """async (pause) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const name = (tab) => tab.innerText.trim();
  const depth = (el) => { let n = 0; for (; el; el = el.parentElement) n++; return n; };
  const tabs = () => [...document.querySelectorAll('[role="tab"]')].filter(shown);
  const grab = () => {
    let text = document.body.innerText;
    for (const code of document.querySelectorAll(".cm-editor")) {
      if (shown(code) && code.innerText) text = text.split(code.innerText).join("\\n");
    }
    const out = [text];
    for (const el of document.querySelectorAll("[placeholder], [title]")) {
      if (!shown(el) || el.closest("button.icon-button") || el.matches("input[type=checkbox]")) continue;
      for (const attribute of ["placeholder", "title"]) {
        if (el.getAttribute(attribute)) out.push(el.getAttribute(attribute));
      }
    }
    return out.join("\\n");
  };
  const settle = async () => {  // lazily rendered tabs: wait until the page stops changing (at most 3 s)
    let last = "";
    for (let i = 0; i < 30; i++) {
      await sleep(pause / 3);
      const now = tabs().length + ":" + document.body.innerText.length;
      if (now === last) return;
      last = now;
    }
  };
  const openAccordions = async () => {
    for (const button of document.querySelectorAll("button.label-wrap")) {
      if (shown(button) && !button.classList.contains("open")) { button.click(); await sleep(50); }
    }
  };
  const top = [...document.querySelector('[role="tablist"]').querySelectorAll('[role="tab"]')].map(name);
  const texts = {"(start)": grab()};
  const visited = new Set();
  const explore = async (tab, path) => {
    const here = [...path, name(tab)];
    visited.add(name(tab));
    tab.click();
    await settle();
    await openAccordions();
    await settle();
    texts[here.join(" / ")] = grab();
    for (;;) {
      // the most deeply nested first: a tab's own tabs before its siblings (which would hide them)
      const next = tabs().filter((t) => !visited.has(name(t)) && !top.includes(name(t)))
        .sort((a, b) => depth(b) - depth(a))[0];
      if (!next) return;
      await explore(next, here);
    }
  };
  for (const title of top) await explore(tabs().find((t) => name(t) === title), []);
  return texts;
}"""


def walk(page: Any, url: str, pause_ms: int = 150) -> dict[str, str]:
    """``{"Group / Tab / Sub-tab": text}`` for every tab reachable by clicking, accordions opened."""
    page.goto(url)
    page.get_by_role("tab").first.wait_for()
    return page.evaluate(WALK, pause_ms)
