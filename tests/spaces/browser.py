"""The real-browser tests' shared pieces: Debian's headless Chromium driven by Playwright, a page on a fresh
profile, the screenshot folder, and the way into the "Inside a network" tabs.

The screenshots go to a temporary folder; `MMHUB_SCREENSHOTS=1 make test` writes them to docs/screenshots/ for
the README instead. `make test` installs Debian's chromium when it can (root or sudo).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = (ROOT / "docs" / "screenshots" if os.environ.get("MMHUB_SCREENSHOTS") == "1"
               else Path(tempfile.mkdtemp(prefix="mmhub-screenshots-")))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

#: ``pytestmark`` of every browser test module: skipped without Chromium.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install "
                                                                        "chromium; make test does it as root)")


@contextmanager
def chromium_page(profile: Path, height: int = 900) -> Iterator[Any]:
    """A Playwright page in headless Chromium on the fresh ``--user-data-dir`` `profile`, 1280 pixels wide, English,
    60 s per action, and 30 s for an ``expect`` that names no timeout (Playwright's 5 s is less than the whole app's
    first load can take on a busy 2-core machine: a 400 px check once found the page still "Loading...")."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": height}, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        context.close()


def open_inside_tab(page: Any, app_url: str, name: str) -> None:
    """Load the app and open the sub-tab `name` of "Inside a network"."""
    page.goto(app_url)
    page.get_by_role("tab", name="Inside a network").click()
    page.get_by_role("tab", name=name).click()


def wait_for_images(page: Any, selector: str) -> None:
    """Wait until every picture under `selector` has loaded (a screenshot taken sooner shows a broken image)."""
    page.wait_for_function("s => [...document.querySelectorAll(s + ' img')].every(i => i.complete && i.naturalWidth)",
                           arg=selector)
