"""Style transfer Space: a content image painted in the style of another (Gatys et al.), shown while it runs.

    python -m spaces.style_transfer                  # VGG-19 features
    python -m spaces.style_transfer --models tiny    # offline, tiny random VGG (noise)

API (gradio_client): ``/style_transfer`` (content, style, steps, max_size, preserve_colors, seed, model)
-> image, loss history. The browser sees an intermediate image every few steps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr

from pipelines import validate

from .common import Context, SpaceSpec, image_input, parse_seed, read_image, run_with_updates, user_errors, whole
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "style-transfer"
PREVIEWS = 10  # intermediate images per run

TEXTS = {
    "en": {
        "content": "Content image", "style": "Style image", "steps": "Steps", "max_size": "Longest side (px)",
        "preserve_colors": "Keep the content's colours", "run": "Paint", "result": "Result",
        "losses": "Loss per step", "step": "Step {step}/{total}", "loss": "loss",
    },
    "pl": {
        "content": "Obraz treści", "style": "Obraz stylu", "steps": "Kroki", "max_size": "Dłuższy bok (px)",
        "preserve_colors": "Zachowaj kolory treści", "run": "Maluj", "result": "Wynik",
        "losses": "Strata w kolejnych krokach", "step": "Krok {step}/{total}", "loss": "strata",
    },
}


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def loss_frame(losses: list[float]) -> Any:
        return pd.DataFrame({"step": list(range(1, len(losses) + 1)), "loss": losses})

    @user_errors
    def paint(content: Any, style: Any, steps: float, max_size: float, preserve_colors: bool, seed: float | None,
              model: str, progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, Any]]:
        content, style = read_image(content, "content"), read_image(style, "style")
        steps = whole("steps", steps, 1, 1000)
        max_size = whole("max_size", max_size, 64, 1024)
        preserve_colors = validate.boolean("preserve_colors", preserve_colors)
        seed = parse_seed(seed)
        st = ctx.pipeline(TASK, model, progress)
        losses: list[float] = []

        def work(report: Any, stop: threading.Event) -> Any:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                progress((step, total), desc=t("step", step=step, total=total))
                losses.append(info["loss"])
                if info.get("image") is not None:
                    report(info["image"])
                return not stop.is_set()  # the request was cancelled: stop painting

            return st(content, style, steps=steps, seed=seed, max_size=max_size,
                      preserve_colors=preserve_colors, progress=on_step,
                      preview_every=max(1, steps // PREVIEWS))

        for kind, value in run_with_updates(work):
            if kind == "update":
                yield value[0], loss_frame(list(losses))
            else:
                yield value.image, loss_frame(value.losses)

    model = ctx.model_dropdown(TASK)
    with gr.Row():
        content = image_input(label=t("content"), type="pil", sources=["upload", "clipboard", "webcam"])
        style = image_input(label=t("style"), type="pil", sources=["upload", "clipboard"])
        result = gr.Image(label=t("result"), type="pil", format="png", interactive=False)
    with gr.Row():
        steps = gr.Slider(1, 1000, value=20 if ctx.tiny else 300, step=1, label=t("steps"))
        max_size = gr.Slider(64, 1024, value=128 if ctx.tiny else 512, step=32, label=t("max_size"))
        preserve_colors = gr.Checkbox(False, label=t("preserve_colors"))
        seed = gr.Number(None, label=ctx.t("seed"), precision=0, minimum=0)
    button = gr.Button(t("run"), variant="primary")
    losses = gr.LinePlot(x="step", y="loss", label=t("losses"), y_title=t("loss"))
    button.click(paint, [content, style, steps, max_size, preserve_colors, seed, model], [result, losses],
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
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
