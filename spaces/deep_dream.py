"""DeepDream Space: upload a photo, pick a VGG-19 layer and a strength, watch the dream grow octave by octave.

    python -m spaces.deep_dream                  # VGG-19 features (timm/vgg19.tv_in1k, the style-transfer weights)
    python -m spaces.deep_dream --models tiny    # offline, tiny random VGG (noise)

API (gradio_client): ``/deep_dream`` (photo, layer, strength, octaves, steps, seed, max size, octave scale, jitter,
model) -> the dream, an animation (GIF: the photo, then each octave), the layer's response per step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import (
    KEEP,
    Context,
    Run,
    SpaceSpec,
    chart_frame,
    draw_seed,
    request_folder,
    run_controls,
    seed_input,
    whole,
)

logger = logging.getLogger(__name__)

TASK = "deep-dream"
#: VGG-19's blocks (convolutions per block), as in pipelines.tiny.VGG19_BLOCKS: the layers offered.
BLOCKS = (2, 2, 4, 4, 4)

TEXTS = {
    "en": {
        "photo": "Photo", "result": "Dream", "layer": "Layer", "strength": "Strength (step size)",
        "octaves": "Octaves", "steps": "Steps per octave", "max_size": "Longest side (px)",
        "advanced": "Octaves and jitter", "octave_scale": "Octave scale", "jitter": "Jitter (pixels)",
        "run": "Dream", "animation": "Octave by octave", "objective": "How strongly the layer responds",
        "step": "step", "response": "mean squared activation", "octave": "octave",
        "progress": "Dreaming: octave {octave} of {octaves}, step {step} of {total}",
        "layer_info": "Low layers (conv1, conv2) amplify strokes and textures; high ones (conv4, conv5) parts of "
                      "objects: eyes, fur, faces.",
        "explain": "DeepDream inverts training, as activation maximisation does, but on a whole photo: the weights "
                   "of an ImageNet network stay fixed and the **pixels** change so that the chosen layer responds "
                   "ever more strongly to what it already half-sees. The photo is dreamed at several scales "
                   "(**octaves**), smallest first, and shifted by a random **jitter** before each step; each step "
                   "moves the pixels by the gradient divided by its mean size (Google's original recipe, 2015).",
        "block": "block",
    },
    "pl": {
        "photo": "Zdjęcie", "result": "Sen", "layer": "Warstwa", "strength": "Siła (wielkość kroku)",
        "octaves": "Oktawy", "steps": "Kroki na oktawę", "max_size": "Dłuższy bok (px)",
        "advanced": "Oktawy i drganie", "octave_scale": "Skala oktawy", "jitter": "Drganie (piksele)",
        "run": "Śnij", "animation": "Oktawa po oktawie", "objective": "Jak silnie reaguje warstwa",
        "step": "krok", "response": "średni kwadrat aktywacji", "octave": "oktawa",
        "progress": "Śnienie: oktawa {octave} z {octaves}, krok {step} z {total}",
        "layer_info": "Niskie warstwy (conv1, conv2) wzmacniają kreski i tekstury; wysokie (conv4, conv5) części "
                      "obiektów: oczy, sierść, twarze.",
        "explain": "Deep Dream odwraca proces uczenia, jak maksymalizacja aktywacji, ale na całym zdjęciu: wagi "
                   "sieci wytrenowanej na ImageNet stoją w miejscu, a zmieniają się **piksele**, tak aby wybrana "
                   "warstwa coraz silniej reagowała na to, co już trochę widzi. Zdjęcie jest „śnione” w kilku "
                   "skalach (**oktawach**), od najmniejszej, i przed każdym krokiem przesuwane o losowe "
                   "**drganie**; każdy krok przesuwa piksele o gradient podzielony przez jego średnią wielkość "
                   "(oryginalny przepis Google'a, 2015).",
        "block": "blok",
    },
}

#: Refused requests in a person's words (see `spaces.common.ERRORS`).
ERROR_TEXTS = {
    "en": {"image:missing": "Upload a photo to dream first."},
    "pl": {"image:missing": "Najpierw wgraj zdjęcie do wyśnienia."},
}


def layer_choices(block_word: str) -> list[tuple[str, str]]:
    """(label, name) of every VGG-19 layer a dream can target: conv<b>_<n>, then pool<b> after each block."""
    choices = []
    for block, convs in enumerate(BLOCKS, start=1):
        choices += [(f"conv{block}_{n} ({block_word} {block})", f"conv{block}_{n}") for n in range(1, convs + 1)]
        choices.append((f"pool{block} ({block_word} {block})", f"pool{block}"))
    return choices


def build(ctx: Context) -> None:

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def objective_frame(values: list[float], steps: int, octaves: int) -> Any:
        """One line per octave: within an octave the layer's response climbs; each new scale starts lower. Every
        octave is in the frame from the first refresh on (`chart_frame`: gradio keeps a plot's first colours)."""
        rows = [(i + 1, value, str(i // steps + 1)) for i, value in enumerate(values)]
        return chart_frame(rows, [t("step"), t("response"), t("octave")], color=t("octave"),
                           categories=[str(i) for i in range(1, octaves + 1)])

    def dream(photo: Any, layer: str, strength: float, octaves: float, steps: float, seed: float | None,
              max_size: float, octave_scale: float, jitter: float, model: str, *, run: Run) -> Iterator[Any]:
        octaves, steps = whole("octaves", octaves, 1, 8), whole("steps", steps, 1, 50)  # the sliders' ranges
        max_size, jitter = whole("max_size", max_size, 64, 1024), whole("jitter", jitter, 0, 64)
        seed = draw_seed(seed)
        dd = yield from run.pipeline(TASK, model)
        values: list[float] = []
        yield gr.skip(), gr.skip(), None  # a new plot for this run (its octaves may differ from the last run's)

        def work(report: Any) -> Any:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                values.append(info["objective"])
                if info.get("image") is not None:
                    report(info["image"])
                return run.report(step, total, t("progress", octave=info["octave"], octaves=octaves,
                                                 step=(step - 1) % steps + 1, total=steps))

            return dd(photo, layer=layer, step_size=strength, octaves=octaves, steps=steps, seed=seed,
                      max_size=max_size, octave_scale=octave_scale, jitter=jitter, progress=on_step,
                      preview_every=max(1, steps // 2))

        with request_folder("mmhub-dream-") as folder:  # the GIF, gone when the request ends (gradio keeps a copy)
            for kind, value in run.stream(work):
                if kind == "update":
                    yield value[0], None, objective_frame(list(values), steps, octaves)
                elif kind == "result":
                    gif = str(folder / "dream.gif")
                    value.save_gif(gif)
                    run.finish(seed=seed, stopped=value.interrupted)
                    yield value.image, gif, objective_frame(value.objective, steps, octaves)
                else:
                    yield KEEP

    model = ctx.model_dropdown(TASK)
    gr.Markdown(t("explain"))
    with gr.Row():
        photo = gr.Image(label=t("photo"), type="pil", sources=["upload", "clipboard", "webcam"], height=360,
                         elem_id="dream-photo")
        result = gr.Image(label=t("result"), type="pil", format="png", interactive=False, height=360,
                          elem_id="dream-result")
    with gr.Row():
        layer = gr.Dropdown(layer_choices(t("block")), value="conv4_3", label=t("layer"), info=t("layer_info"),
                            allow_custom_value=True, elem_id="dream-layer")
        strength = gr.Slider(0.1, 10, value=1.5, step=0.1, label=t("strength"))
        octaves = gr.Slider(1, 8, value=4, step=1, label=t("octaves"), elem_id="dream-octaves")
        steps = gr.Slider(1, 50, value=3 if ctx.tiny else 10, step=1, label=t("steps"), elem_id="dream-steps")
    with gr.Row():
        seed = seed_input(ctx)
        max_size = gr.Slider(64, 1024, value=256 if ctx.tiny else 512, step=32, label=t("max_size"))
    with gr.Accordion(t("advanced"), open=False):
        with gr.Row():
            octave_scale = gr.Slider(1.1, 2.0, value=1.4, step=0.05, label=t("octave_scale"))
            jitter = gr.Slider(0, 64, value=32, step=1, label=t("jitter"))
    controls = run_controls(ctx, t("run"), elem_id="dream-run", stop=True, errors=ERROR_TEXTS)
    with gr.Row():
        animation = gr.Image(label=t("animation"), type="filepath", interactive=False, height=300,
                             elem_id="dream-animation")
        objective = gr.LinePlot(x=t("step"), y=t("response"), color=t("octave"), label=t("objective"),
                                elem_id="dream-objective")
    controls.click(dream, [photo, layer, strength, octaves, steps, seed, max_size, octave_scale, jitter, model],
                   [result, animation, objective], api_name="deep_dream", **SPACE.queue)


SPACE = SpaceSpec(
    name="deep_dream",
    title={"en": "Deep Dream", "pl": "Deep Dream"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas"),
    emoji="🌀",
    description="DeepDream over VGG-19: octaves, jitter and normalised gradient ascent, as in Google's notebook.",
    order=92,
    group="inside",
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.deep_dream", title="mmhub · Deep Dream")


if __name__ == "__main__":
    main()
