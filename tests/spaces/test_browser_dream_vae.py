"""A real browser in the Deep Dream and Autoencoders tabs: upload a photo and dream it; encode a photo with the SD VAE;
draw the MNIST VAE's latent map, draw a digit and see where it lands, click the map to decode a point.

Screenshots go to a temporary folder, or to docs/screenshots/ with MMHUB_SCREENSHOTS=1 (for the README).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from .browser import SCREENSHOTS, chromium_page, needs_chromium, open_inside_tab

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile-dream"), height=1000) as page:
        yield page


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 320x240 'landscape': sky gradient, a sun, hills."""
    yy, xx = np.mgrid[0:240, 0:320] / 320.0
    sky = np.stack([0.35 + 0.3 * yy, 0.55 + 0.3 * yy, 0.95 - 0.2 * yy], axis=-1)
    image = Image.fromarray((sky * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse([220, 24, 280, 84], fill=(250, 210, 90))
    draw.polygon([(0, 180), (100, 120), (200, 170), (320, 110), (320, 240), (0, 240)], fill=(60, 120, 60))
    path = tmp_path_factory.mktemp("browser-photo") / "landscape.png"
    image.save(path)
    return path


def test_dream_a_photo(app_url, page, photo):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Deep Dream")
    page.locator("#dream-photo input[type=file]").set_input_files(str(photo))
    expect(page.locator("#dream-photo img")).to_be_visible()
    page.locator("#dream-run").click()
    expect(page.locator("#dream-animation img")).to_be_visible(timeout=120_000)
    expect(page.locator("#dream-result img")).to_be_visible()
    expect(page.locator("#dream-objective canvas, #dream-objective svg").first).to_be_visible()
    every_octave(page, 4)  # one line per octave (the page drew 1-2 of 4 when the plot kept its first colours)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "deep-dream.png"), full_page=True)
    assert (SCREENSHOTS / "deep-dream.png").stat().st_size > 20_000
    for selector, value in (("#dream-octaves", 2), ("#dream-steps", 1)):  # a second run with fewer octaves
        box = page.locator(f"{selector} input[type=number]")
        box.fill(str(value))
        box.press("Enter")
    expect(page.locator("#dream-stop")).to_be_disabled()  # nothing runs
    page.locator("#dream-run").click()  # 2 octaves of 1 step: it may be done before a "running" state is seen
    every_octave(page, 2)  # a new plot for the new run
    expect(page.locator("#dream-status .mmhub-run[data-state='done']")).to_be_visible(timeout=120_000)


def every_octave(page, octaves: int) -> None:
    """The DeepDream chart draws one line per octave (Vega's SVG: one ``line mark`` path per colour)."""
    page.wait_for_function("n => document.querySelectorAll(\"#dream-objective path[aria-roledescription='line "
                           "mark']\").length === n", arg=octaves, timeout=30_000)


def test_stable_diffusion_vae_reconstruction(app_url, page, photo):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Autoencoders")
    page.locator("#ae-photo input[type=file]").set_input_files(str(photo))
    expect(page.locator("#ae-photo img")).to_be_visible()
    page.locator("#ae-run").click()
    expect(page.locator("#ae-figures").get_by_text("Compression ratio")).to_be_visible(timeout=90_000)
    expect(page.locator("#ae-reconstruction img")).to_be_visible()
    expect(page.locator("#ae-channels img").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "autoencoder-sd-vae.png"), full_page=True)


def test_latent_map_draw_a_digit_and_click_a_point(app_url, page):
    from playwright.sync_api import expect

    open_inside_tab(page, app_url, "Autoencoders")
    page.get_by_role("tab", name="MNIST VAE").click()
    page.locator("#ae-show-map").click()
    the_map = page.locator("#ae-map img")
    expect(the_map).to_be_visible(timeout=90_000)
    canvas = page.locator("#ae-sketch canvas").first
    expect(canvas).to_be_visible()
    page.locator("#ae-sketch button[aria-label='Brush']").click()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 50, cy - 80)  # a 7
    page.mouse.down()
    for dx, dy in ((50, -80), (25, -20), (0, 30), (-20, 90)):
        page.mouse.move(cx + dx, cy + dy, steps=10)
    page.mouse.up()
    page.locator("#ae-encode").click()
    expect(page.locator("#ae-point").get_by_text("Point:")).to_be_visible(timeout=90_000)
    expect(page.locator("#ae-decoded img")).to_be_visible()
    first = page.locator("#ae-decoded img").get_attribute("src")
    box = the_map.bounding_box()  # the picture is square, centred in this box (object-fit: contain)
    side = min(box["width"], box["height"])
    # decode a clicked point, lower left of the map (a locator click scrolls it into view first)
    the_map.click(position={"x": box["width"] / 2 - 0.3 * side, "y": box["height"] / 2 + 0.3 * side})
    expect(page.locator("#ae-decoded img")).not_to_have_attribute("src", first, timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "autoencoder-latent-map.png"), full_page=True)
    assert (SCREENSHOTS / "autoencoder-latent-map.png").stat().st_size > 20_000
