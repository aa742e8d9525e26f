"""A real browser walks every tab of the Polish UI (``--lang pl``) in an English browser and finds no English a person
would read (`tests.spaces.polish`: words of the app's English strings that its Polish ones never use, and gradio's
English words); the page says ``<html lang="pl">`` and gradio's own controls speak Polish too.
"""

from __future__ import annotations

import pytest

from .browser import chromium_page, needs_chromium
from .polish import english_in
from .walk import walk

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def polish_url():
    """The whole app with ``--lang pl``, launched in this process as `python -m spaces` launches it (a subprocess
    would import torch and gradio again: seconds this module does not need)."""
    from spaces.app import discover_spaces
    from spaces.launcher import build_blocks, context_from_args, launch
    from spaces.options import parse_launch_args
    from tests.servers import free_port

    args = parse_launch_args(["--models", "tiny", "--lang", "pl", "--max-models", "1", "--host", "127.0.0.1",
                              "--port", str(free_port())])
    demo = build_blocks(discover_spaces(), context_from_args(args))
    launch(demo, args, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{args.port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-pl")) as page:  # the browser itself is English
        yield page


def test_every_tab_of_the_polish_ui_reads_polish(polish_url, page):
    assert english_in("Upload a picture first. Drop Image Here - or - Click to Upload")  # the check can fail
    texts = walk(page, polish_url)
    assert len(texts) >= 25  # every group, tab and sub-tab was opened (30 in this copy)
    assert page.evaluate("document.documentElement.lang") == "pl"
    english = {where: sorted(found) for where, text in texts.items() if (found := english_in(text))}
    assert not english, english
    everything = "\n".join(texts.values())
    for polish in ("Upuść obraz tutaj", "Zatrzymaj", "Ziarno (−1 = losowe)",
                   "Przykładowe obrazy (narysowane tutaj)", "Wyślij"):
        assert polish in everything, polish  # gradio's words (its dictionary, in an English browser) and ours
