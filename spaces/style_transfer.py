"""Style transfer Space: a content image painted in the style of another (Gatys et al.), shown while it runs.

    python -m spaces.style_transfer                  # VGG-19 features
    python -m spaces.style_transfer --models tiny    # offline, tiny random VGG (noise)

API (gradio_client): ``/style_transfer`` (content, style, steps, max_size, preserve_colors, seed, model)
-> image, loss history. The browser sees an intermediate image every few steps, can stop the run (keeping the
picture so far) and starts from example pictures drawn here (`example_pictures`: no downloads).
"""

from __future__ import annotations

import functools
import logging
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from pipelines import validate

from .common import KEEP, Context, Run, SpaceSpec, draw_seed, image_input, read_image, run_controls, seed_input, whole
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "style-transfer"
PREVIEWS = 10  # intermediate images per run

TEXTS = {
    "en": {
        "content": "Content image", "style": "Style image", "steps": "Steps", "max_size": "Longest side (px)",
        "preserve_colors": "Keep the content's colours", "run": "Paint", "result": "Result",
        "losses": "Loss per step", "step": "step", "loss": "loss",
        "painting": "Painting: step {step} of {total}",
        "examples": "Example pictures (drawn here)",
    },
    "pl": {
        "content": "Obraz treści", "style": "Obraz stylu", "steps": "Kroki", "max_size": "Dłuższy bok (px)",
        "preserve_colors": "Zachowaj kolory treści", "run": "Maluj", "result": "Wynik",
        "losses": "Strata w kolejnych krokach", "step": "krok", "loss": "strata",
        "painting": "Malowanie: krok {step} z {total}",
        "examples": "Przykładowe obrazy (narysowane tutaj)",
    },
}


@functools.cache
def example_pictures() -> dict[str, str]:
    """Example content and style pictures, drawn with PIL (no downloads): a lakeside town at dusk, a swirling night
    sky and a stained-glass mosaic, 256 x 192 PNGs in a temporary folder."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    folder = Path(tempfile.mkdtemp(prefix="mmhub-style-examples-"))
    width, height = 256, 192
    rng = np.random.default_rng(0)
    yy = np.linspace(0, 1, height)[:, None, None]
    sky = (np.array([40, 60, 130]) * (1 - yy) + np.array([250, 170, 110]) * yy) * np.ones((1, width, 1))
    town = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(town)
    draw.ellipse([180, 40, 214, 74], fill=(255, 226, 140))
    draw.polygon([(0, 120), (60, 70), (120, 118), (170, 80), (256, 124), (256, 192), (0, 192)], fill=(70, 80, 110))
    draw.rectangle([0, 140, 256, 192], fill=(60, 90, 140))
    for x, roof in ((30, (170, 60, 50)), (80, (150, 90, 40)), (130, (120, 50, 60))):
        draw.rectangle([x, 112, x + 34, 140], fill=(230, 220, 200))
        draw.polygon([(x - 4, 112), (x + 17, 96), (x + 38, 112)], fill=roof)
        draw.rectangle([x + 13, 124, x + 21, 140], fill=(90, 60, 40))
    town.save(folder / "lakeside-town.png")

    swirl = Image.new("RGB", (width, height), (20, 40, 90))
    draw = ImageDraw.Draw(swirl)
    for _ in range(900):  # short strokes along circles around three centres, as brush marks
        cx, cy = ((70, 60), (180, 110), (120, 160))[int(rng.integers(3))]
        radius, angle = rng.uniform(5, 90), rng.uniform(0, 2 * math.pi)
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        dx, dy = -math.sin(angle) * 7, math.cos(angle) * 7
        colour = tuple(int(c) for c in rng.choice([(240, 210, 80), (90, 140, 220), (30, 70, 160), (250, 250, 200)]))
        draw.line([(x, y), (x + dx, y + dy)], fill=colour, width=3)
    swirl.filter(ImageFilter.SMOOTH).save(folder / "swirling-night.png")

    points = rng.uniform(0, 1, (40, 2)) * (width, height)
    colours = rng.choice([(200, 40, 50), (40, 90, 180), (240, 190, 40), (40, 150, 90), (150, 60, 160)], size=40)
    ys, xs = np.mgrid[0:height, 0:width]
    distances = np.sqrt((xs[..., None] - points[:, 0]) ** 2 + (ys[..., None] - points[:, 1]) ** 2)
    nearest = np.sort(distances, axis=-1)
    cells = colours[distances.argmin(-1)].astype(np.uint8)
    cells[nearest[..., 1] - nearest[..., 0] < 2.5] = (25, 25, 25)  # the lead between the pieces of glass
    Image.fromarray(cells).save(folder / "stained-glass.png")
    return {"content": str(folder / "lakeside-town.png"), "swirls": str(folder / "swirling-night.png"),
            "glass": str(folder / "stained-glass.png")}


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def loss_frame(losses: list[float]) -> Any:
        return pd.DataFrame({t("step"): list(range(1, len(losses) + 1)), t("loss"): losses})

    def paint(content: Any, style: Any, steps: float, max_size: float, preserve_colors: bool, seed: float | None,
              model: str, *, run: Run) -> Iterator[Any]:
        content, style = read_image(content, "content"), read_image(style, "style")
        steps = whole("steps", steps, 1, 1000)
        max_size = whole("max_size", max_size, 64, 1024)
        preserve_colors = validate.boolean("preserve_colors", preserve_colors)
        seed = draw_seed(seed)
        st = yield from run.pipeline(TASK, model)
        losses: list[float] = []

        def work(report: Any) -> Any:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                losses.append(info["loss"])
                if info.get("image") is not None:
                    report(info["image"])
                return run.report(step, total, t("painting", step=step, total=total))  # False: Stop was pressed

            return st(content, style, steps=steps, seed=seed, max_size=max_size,
                      preserve_colors=preserve_colors, progress=on_step,
                      preview_every=max(1, steps // PREVIEWS))

        for kind, value in run.stream(work):
            if kind == "update":
                yield value[0], loss_frame(list(losses))
            elif kind == "result":
                run.finish(seed=seed, stopped=value.interrupted)
                yield value.image, loss_frame(value.losses)
            else:
                yield KEEP

    model = ctx.model_dropdown(TASK)
    with gr.Row():
        content = image_input(label=t("content"), type="pil", sources=["upload", "clipboard", "webcam"],
                              elem_id="style-content")
        style = image_input(label=t("style"), type="pil", sources=["upload", "clipboard"], elem_id="style-style")
        result = gr.Image(label=t("result"), type="pil", format="png", interactive=False, elem_id="style-result")
    pictures = example_pictures()
    gr.Examples([[pictures["content"], pictures["swirls"]], [pictures["content"], pictures["glass"]]],
                inputs=[content, style], label=t("examples"))
    with gr.Row():
        steps = gr.Slider(1, 1000, value=20 if ctx.tiny else 300, step=1, label=t("steps"), elem_id="style-steps")
        max_size = gr.Slider(64, 1024, value=128 if ctx.tiny else 512, step=32, label=t("max_size"))
        preserve_colors = gr.Checkbox(False, label=t("preserve_colors"))
        seed = seed_input(ctx)
    controls = run_controls(ctx, t("run"), elem_id="style-run", stop=True)
    losses = gr.LinePlot(x=t("step"), y=t("loss"), label=t("losses"), elem_id="style-losses")
    controls.click(paint, [content, style, steps, max_size, preserve_colors, seed, model], [result, losses],
                   api_name="style_transfer", **SPACE.queue)


SPACE = SpaceSpec(
    name="style_transfer",
    title={"en": "Style transfer", "pl": "Transfer stylu"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas"),
    emoji="🖌️",
    description="Gatys et al. neural style transfer over VGG-19 features, with intermediate images.",
    order=40,
    group="images",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
