"""Digit recognition Space: draw a digit, see the guess and every layer of the CNN, as in Adam Harley's nn_vis.

    python -m spaces.digit_recognition                  # the model trained by `python -m finetune.digits`
    python -m spaces.digit_recognition --models tiny    # offline, the tiny twin (trained in seconds on sklearn digits)

The first use without a trained model offers to train it here (a progress bar; minutes on a CPU), from the Hub's
MNIST or, offline, from a local folder in its schema or scikit-learn's bundled digits.

The layers sit beside the canvas, each on one colour scale (dark = 0, bright = the layer's largest value, shown in
a colour bar); clicking a unit reads its value and what feeds it (nn_vis shows the connections on hover): the input
window of a convolution or pooling unit, the strongest weighted inputs of a fully-connected one. The brush is
selected at once, and a note says when the model is still being prepared (its first use).

API (gradio_client): ``/recognise_digit`` (sketch, model) -> guesses, text, downsampled picture, probabilities,
then one feature-map image per layer; ``/recognise_picture`` (picture, model) -> the same for an uploaded picture;
``/train_digits`` (dataset, epochs, max samples, replace) -> streamed: a report, the training curve, the model field
(pointed at the new model). With ``--models tiny`` training writes to the tiny cache, never to the user's model.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

from .common import Context, Run, SpaceSpec, image_input, run_controls, user_errors
from .inside import (
    brush_at_once,
    colour_scale_html,
    enlarge_digit,
    lab_pipeline,
    live_target,
    preparing_note,
    train_now,
    train_panel,
    with_texts,
)

logger = logging.getLogger(__name__)

TASK = "digit-recognition"
LAYERS = ("input", "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "output")  # pipelines.digit_recognition.LAYERS
CELL = 6  # screen pixels per activation of the small maps
EPOCHS = (1, 30, 4)  # the training panel's slider: minimum, maximum, value

TEXTS = with_texts({
    "en": {
        "sketch": "Draw your number here", "recognise": "Recognise",
        "draw_tab": "Draw", "upload_tab": "Upload a picture",
        "picture": "A picture of one digit (dark on light or light on dark)",
        "guesses": "Guesses",
        "downsampled": "Downsampled drawing (what the network sees)", "probabilities": "Output layer: probabilities",
        "first_second": "**Downsampled drawing:** {label} · **First guess:** {first} ({p1:.0%}) · "
                        "**Second guess:** {second} ({p2:.0%})",
        "layers": "Layer visibility", "show": "Show", "digit": "digit", "probability": "probability",
        "input": "Input layer", "conv1": "Convolution layer 1", "pool1": "Downsampling layer 1",
        "conv2": "Convolution layer 2", "pool2": "Downsampling layer 2", "fc1": "Fully-connected layer 1",
        "fc2": "Fully-connected layer 2", "output": "Output layer",
        "explain": "Each row is one layer of the network, in the order the picture flows through it: the 6 maps of "
                   "the first convolution respond to strokes and edges, pooling halves them, the 16 maps of the "
                   "second convolution combine them into parts of digits, the fully-connected layers into the "
                   "evidence for each class, and the output layer is the probability of each digit. Bright = "
                   "strong activation. These are the numbers of the very forward pass that made the guess.",
        "missing_model": "Train the digit model first (below, or `python -m finetune.digits`).",
        "train": "Train the model", "missing": "⚠️ **No trained digit model yet** ({folder}). Train it below "
                 "(a few minutes on a CPU), or run `python -m finetune.digits`.",
        "training": "Training: step {step}/{total}, loss {loss:.3f}",
        "trained": "✅ Trained on {source}: test accuracy {test}, validation {validation} ({steps}, "
                   "{seconds:.0f} s). Saved to `{folder}`; draw a digit!",
        "click_hint": "Click a unit in any layer to read its value and what feeds it.",
        "readout": "**{layer}**, {where}: **{value:.3f}** (the layer's largest: {maximum:.3f}).",
        "where_map": "map {map}, row {row}, column {col}", "where_unit": "unit {unit}",
        "where_digit": "digit {label}", "where_pixel": "row {row}, column {col}",
        "conn_input": "A pixel of the downsampled drawing (0 = paper, 1 = ink, after normalisation).",
        "conn_window": "It reads a 5×5 window of {source} (all its maps) at rows {r0}–{r1}, columns {c0}–{c1}.",
        "conn_pool": "It is the largest of {source} map {map} at rows {r0}–{r1}, columns {c0}–{c1}.",
        "conn_top": "Its strongest inputs (weight × activation): {items}.",
        "conn_item": "{source} {unit} ({value:+.3f})",
        "steps_count": "{count} step|{count} steps",
    },
    "pl": {
        "sketch": "Narysuj tu cyfrę", "recognise": "Rozpoznaj",
        "draw_tab": "Rysuj", "upload_tab": "Wgraj obrazek",
        "picture": "Obrazek jednej cyfry (ciemna na jasnym albo jasna na ciemnym)",
        "guesses": "Odpowiedzi",
        "downsampled": "Pomniejszony rysunek (to widzi sieć)", "probabilities": "Warstwa wyjściowa: "
                                                                                  "prawdopodobieństwa",
        "first_second": "**Pomniejszony rysunek:** {label} · **Pierwsza odpowiedź:** {first} ({p1:.0%}) · "
                        "**Druga odpowiedź:** {second} ({p2:.0%})",
        "layers": "Widoczność warstw", "show": "Pokaż", "digit": "cyfra", "probability": "prawdopodobieństwo",
        "input": "Warstwa wejściowa", "conv1": "Warstwa splotowa 1", "pool1": "Warstwa próbkowania 1",
        "conv2": "Warstwa splotowa 2", "pool2": "Warstwa próbkowania 2", "fc1": "Warstwa w pełni połączona 1",
        "fc2": "Warstwa w pełni połączona 2", "output": "Warstwa wyjściowa",
        "explain": "Każdy wiersz to jedna warstwa sieci, w kolejności przepływu obrazka: 6 map pierwszego splotu "
                   "reaguje na kreski i krawędzie, próbkowanie je zmniejsza, 16 map drugiego splotu składa je w "
                   "fragmenty cyfr, warstwy w pełni połączone w dowody na każdą klasę, a warstwa wyjściowa to "
                   "prawdopodobieństwo każdej cyfry. Jasne = silna aktywacja. To liczby z tego samego przejścia "
                   "sieci, które dało odpowiedź.",
        "missing_model": "Najpierw wytrenuj model cyfr (poniżej albo `python -m finetune.digits`).",
        "train": "Trenowanie modelu", "missing": "⚠️ **Nie ma jeszcze wytrenowanego modelu cyfr** ({folder}). "
                 "Wytrenuj go poniżej (kilka minut na CPU) albo uruchom `python -m finetune.digits`.",
        "training": "Trening: krok {step}/{total}, strata {loss:.3f}",
        "trained": "✅ Wytrenowano na {source}: dokładność testowa {test}, walidacyjna {validation} ({steps}, "
                   "{seconds:.0f} s). Zapisano w `{folder}`; narysuj cyfrę!",
        "click_hint": "Kliknij neuron w dowolnej warstwie, aby odczytać jego wartość i to, co go zasila.",
        "readout": "**{layer}**, {where}: **{value:.3f}** (największa w warstwie: {maximum:.3f}).",
        "where_map": "mapa {map}, wiersz {row}, kolumna {col}", "where_unit": "neuron {unit}",
        "where_digit": "cyfra {label}", "where_pixel": "wiersz {row}, kolumna {col}",
        "conn_input": "Piksel pomniejszonego rysunku (0 = papier, 1 = tusz, po normalizacji).",
        "conn_window": "Czyta okno 5×5 warstwy {source} (wszystkie jej mapy): wiersze {r0}–{r1}, kolumny {c0}–{c1}.",
        "conn_pool": "To największa wartość mapy {map} warstwy {source}: wiersze {r0}–{r1}, kolumny {c0}–{c1}.",
        "conn_top": "Najsilniejsze wejścia (waga × aktywacja): {items}.",
        "conn_item": "{source} {unit} ({value:+.3f})",
        "steps_count": "{count} krok|{count} kroki|{count} kroków",
    },
})


# -- rendering the activations ---------------------------------------------------------------------------------


def _colour(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Activations -> RGB uint8 with matplotlib's ``magma`` (dark = 0, bright = the layer's maximum)."""
    from matplotlib import colormaps

    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (colormaps["magma"](np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)


def feature_grid(activations: np.ndarray, per_row: int = 8, cell: int = CELL, gap: int = 4) -> Any:
    """One layer as a picture: each map ``(C, H, W)`` a tile (one colour scale per layer), or a vector ``(N,)`` as a
    grid of cells, 20 to a row (the 10 outputs in one row)."""
    from PIL import Image

    values = np.asarray(activations, dtype=np.float32)
    low, high = float(min(values.min(), 0.0)), float(values.max())
    if values.ndim == 1:
        width = min(len(values), 20)
        rows = -(-len(values) // width)
        padded = np.full(rows * width, np.nan, dtype=np.float32)
        padded[: len(values)] = values
        tiles = _colour(np.nan_to_num(padded, nan=low), low, high).reshape(rows, width, 3)
        tiles[np.isnan(padded).reshape(rows, width)] = 255
        size = 3 * cell if len(values) > 10 else 5 * cell
        return Image.fromarray(tiles).resize((width * size, rows * size), Image.Resampling.NEAREST)
    channels, height, width = values.shape
    scale = max(1, 28 * cell // (2 * max(height, width))) if channels > 1 else cell
    tile_h, tile_w = height * scale, width * scale
    per_row = min(per_row, channels)
    rows = -(-channels // per_row)
    canvas = np.full((rows * (tile_h + gap) - gap, per_row * (tile_w + gap) - gap, 3), 255, dtype=np.uint8)
    for c in range(channels):
        r, k = divmod(c, per_row)
        tile = np.kron(_colour(values[c], low, high), np.ones((scale, scale, 1), dtype=np.uint8))
        canvas[r * (tile_h + gap): r * (tile_h + gap) + tile_h, k * (tile_w + gap): k * (tile_w + gap) + tile_w] = tile
    return Image.fromarray(canvas)


def unit_at(shape: tuple[int, ...], x: float, y: float, per_row: int = 8, cell: int = CELL,
            gap: int = 4) -> tuple[int, ...] | None:
    """The unit under pixel (`x`, `y`) of `feature_grid`'s picture of a layer of `shape`: ``(map, row, col)`` for
    maps, ``(index,)`` for a vector; None between tiles or outside. The inverse of `feature_grid`'s layout.

    >>> unit_at((10,), 65, 5), unit_at((6, 28, 28), 90, 10)
    ((2,), (1, 3, 2))
    """
    x, y = int(x), int(y)
    if x < 0 or y < 0:
        return None
    if len(shape) == 1:
        width = min(shape[0], 20)
        size = 3 * cell if shape[0] > 10 else 5 * cell
        col, row = x // size, y // size
        index = row * width + col
        return (index,) if col < width and index < shape[0] else None
    channels, height, width = shape
    scale = max(1, 28 * cell // (2 * max(height, width))) if channels > 1 else cell
    tile_h, tile_w = height * scale, width * scale
    per_row = min(per_row, channels)
    col, dx = divmod(x, tile_w + gap)
    row, dy = divmod(y, tile_h + gap)
    channel = row * per_row + col
    if col >= per_row or dx >= tile_w or dy >= tile_h or channel >= channels:
        return None
    return channel, dy // scale, dx // scale


# -- the Space ----------------------------------------------------------------------------------------------------


def build(ctx: Context) -> None:
    import pandas as pd

    from pipelines import lab

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def guess(sketch: Any, model: str, progress: Any) -> tuple:
        """The one path of both handlers: the lab pipeline (a missing trained model says how to train it)."""
        dr = lab_pipeline(ctx, TASK, model, t("missing_model"), progress)
        result = dr(sketch)
        first, second = result.top[0], result.top[1]
        text = t("first_second", label=result.label, first=first["label"], p1=first["probability"],
                 second=second["label"], p2=second["probability"])
        guesses = {result.labels[i]: p for i, p in enumerate(result.probabilities)}
        bars = pd.DataFrame({t("digit"): result.labels, t("probability"): result.probabilities})
        maps = [feature_grid(result.layers[name]) for name in LAYERS]
        return (guesses, text, enlarge_digit(result.downsampled), bars, *maps, result.layers)

    def recognise(sketch: Any, model: str, *, run: Run) -> tuple:
        return guess(sketch, model, None)

    def recognise_picture(picture: Any, model: str, *, run: Run) -> tuple:
        return guess(picture, model, None)

    @user_errors
    def live(sketch: Any, model: str) -> tuple:
        """Recognise while drawing: an empty or cleared canvas just leaves the last result (no error toast)."""
        from pipelines import InputError

        try:
            return guess(sketch, model, None)
        except InputError as err:
            if err.argument == "image":
                return tuple(gr.skip() for _ in outputs)
            raise

    def train_model(dataset: str, epochs: float, max_samples: float, replace: bool = False, *,
                    run: Run) -> Any:
        from finetune.digits import DigitsArguments, main

        target = live_target(ctx, lab.local_id(TASK))

        def report(metrics: dict[str, Any], folder: str) -> str:
            for task in SPACE.tasks + ("activation-maximisation",):
                ctx.cache.discard(task, target)
            test = metrics.get("test") or {}
            return t("trained", source=metrics["data"]["source"], test=f"{test.get('accuracy', float('nan')):.2%}",
                     validation=f"{metrics['validation']['accuracy']:.2%}",
                     steps=t("steps_count", count=metrics["global_step"]), seconds=metrics["train_runtime_s"],
                     folder=folder)

        yield from train_now(ctx, t, DigitsArguments, main, dataset, epochs, max_samples, replace, run=run,
                             model=lab.local_id(TASK), max_epochs=EPOCHS[1], report=report)

    def readout(layers: dict[str, np.ndarray] | None, model: str, name: str, evt: gr.SelectData) -> str:
        """What the clicked unit of layer `name` holds, and what feeds it (the loaded model's weights)."""
        if not layers or name not in layers:
            return t("click_hint")
        values = np.asarray(layers[name], dtype=np.float32)
        unit = unit_at(values.shape, *evt.index[:2])
        if unit is None:
            return t("click_hint")
        value, maximum = float(values[unit]), float(values.max())
        if name == "output":
            where = t("where_digit", label=unit[0])
        elif name == "input":
            where = t("where_pixel", row=unit[1], col=unit[2])
        elif len(unit) == 1:
            where = t("where_unit", unit=unit[0])
        else:
            where = t("where_map", map=unit[0], row=unit[1], col=unit[2])
        text = t("readout", layer=t(name), where=where, value=value, maximum=maximum)
        return text + "\n\n" + connections(layers, model, name, unit)

    def connections(layers: dict[str, np.ndarray], model: str, name: str, unit: tuple[int, ...]) -> str:
        previous = LAYERS[LAYERS.index(name) - 1] if name != "input" else None
        if name == "input":
            return t("conn_input")
        if name.startswith("conv"):
            _, row, col = unit
            return t("conn_window", source=t(previous), r0=row, r1=row + 4, c0=col, c1=col + 4)
        if name.startswith("pool"):
            channel, row, col = unit
            return t("conn_pool", source=t(previous), map=channel, r0=2 * row, r1=2 * row + 1, c0=2 * col,
                     c1=2 * col + 1)
        try:  # the fully-connected weights of the model that made these activations
            loaded = ctx.cache.peek(TASK, ctx.check_model(TASK, model))
        except Exception:  # noqa: BLE001 - a model that cannot be named here: the value alone
            loaded = None
        if loaded is None:
            return ""
        layer = {"fc1": loaded.model.fc1[1], "fc2": loaded.model.fc2[0], "output": loaded.model.fc3}[name]
        inputs = np.asarray(layers[previous], dtype=np.float32).reshape(-1)
        weights = layer.weight.detach().float().cpu().numpy()[unit[0]]
        contributions = weights * inputs
        top = np.argsort(-np.abs(contributions))[:3]
        shape = np.asarray(layers[previous]).shape
        items = []
        for index in map(int, top):
            if len(shape) == 3:  # a pooled map, flattened by fc1: (map, row, column)
                channel, rest = divmod(index, shape[1] * shape[2])
                where = t("where_map", map=channel, row=rest // shape[2], col=rest % shape[2])
            else:
                where = t("where_unit", unit=index)
            items.append(t("conn_item", source=t(previous), unit=where, value=float(contributions[index])))
        return t("conn_top", items="; ".join(items))

    def scale(layers: dict[str, np.ndarray] | None) -> str:
        if not layers:
            return ""
        maxima = {name: float(np.max(layers[name])) for name in reversed(LAYERS)}
        return colour_scale_html(t("colour_scale"), maxima, {name: t(name) for name in LAYERS})

    model = ctx.model_dropdown(TASK, elem_id="digit-model")
    brush_at_once("digit-sketch")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            with gr.Tabs():
                with gr.Tab(t("draw_tab"), id="digit-draw"):
                    sketch = gr.Sketchpad(label=t("sketch"), type="numpy", image_mode="RGBA", format="png",
                                          canvas_size=(280, 280), brush=gr.Brush(default_size=16, colors=["#000000"],
                                                                                 color_mode="fixed"),
                                          elem_id="digit-sketch", elem_classes=["mmhub-canvas"], layers=False)
                    controls = run_controls(ctx, t("recognise"), elem_id="digit-run")
                with gr.Tab(t("upload_tab"), id="digit-upload"):
                    picture = image_input(label=t("picture"), type="pil", sources=["upload", "clipboard", "webcam"],
                                          elem_id="digit-picture")
            note = gr.Markdown(elem_id="digit-preparing")
            guesses = gr.Label(label=t("guesses"), num_top_classes=3, elem_id="digit-guesses")
            text = gr.Markdown(elem_id="digit-text")
            downsampled = gr.Image(label=t("downsampled"), type="pil", format="png", interactive=False, height=180,
                                   elem_id="digit-downsampled")
            bars = gr.BarPlot(x=t("digit"), y=t("probability"), label=t("probabilities"), y_lim=[0, 1],
                              sort=[str(i) for i in range(10)], elem_id="digit-bars")
        with gr.Column(scale=3):  # the layers beside the canvas, as nn_vis shows them
            colour_bar = gr.HTML(elem_id="digit-scale")
            unit_text = gr.Markdown(t("click_hint"), elem_id="digit-readout")
            maps, toggles = [], []
            for name in reversed(LAYERS):  # the output on top, as nn_vis draws the network
                maps.append(gr.Image(label=t(name), type="pil", format="png", interactive=False, show_label=True,
                                     elem_id=f"digit-layer-{name}", buttons=[]))
            maps.reverse()
            with gr.Accordion(t("layers"), open=True):
                with gr.Row():
                    for name in LAYERS:
                        toggles.append(gr.Checkbox(True, label=f"{t(name)}: {t('show')}", min_width=120,
                                                   elem_id=f"digit-show-{name}"))
            gr.Markdown(t("explain"))
    for toggle, image in zip(toggles, maps, strict=True):
        toggle.change(lambda show: gr.update(visible=show), toggle, image, queue=False, api_visibility="private")

    panel = train_panel(ctx, t, lab.local_id(TASK), "digit", epochs=EPOCHS)

    layers = gr.State(None)  # the last forward pass's activations, for the click readout (not part of the API)
    outputs = [guesses, text, downsampled, bars, *maps, layers]

    def show_note(model: str) -> str:
        return preparing_note(ctx, TASK, model, t("preparing"))

    def after(found: dict[str, np.ndarray] | None) -> tuple[str, str]:
        return "", scale(found)  # the note goes, the colour bar follows the new activations

    # the "preparing the model" note at once (first use), then the run; then the colour bar
    gr.on([controls.run.click, picture.upload, sketch.change], show_note, model, note, queue=False,
          api_visibility="private", show_progress="hidden")
    queue_after = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
    controls.click(recognise, [sketch, model], outputs, api_name="recognise_digit", **SPACE.queue).then(
        after, layers, [note, colour_bar], **queue_after)
    controls.click(recognise_picture, [picture, model], outputs, api_name="recognise_picture",
                   triggers=[picture.upload], run_button=False, **SPACE.queue).then(
        after, layers, [note, colour_bar], **queue_after)
    sketch.change(live, [sketch, model], outputs, api_visibility="private", trigger_mode="always_last",
                  show_progress="hidden", **SPACE.queue).then(after, layers, [note, colour_bar], **queue_after)

    def on_select(name: str):
        def select(found: dict[str, np.ndarray] | None, model: str, evt: gr.SelectData) -> str:
            return readout(found, model, name, evt)

        return select

    for name, image in zip(LAYERS, maps, strict=True):
        image.select(on_select(name), [layers, model], unit_text, queue=False, api_visibility="private")
    panel.controls.click(train_model, panel.inputs, [panel.report, panel.curve, model], api_name="train_digits",
                         concurrency_limit=1, concurrency_id="digit_training")


SPACE = SpaceSpec(
    name="digit_recognition",
    title={"en": "Digit recognition", "pl": "Rozpoznawanie cyfr"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=4,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas", "matplotlib",
                  "scikit-learn", "datasets", "accelerate", "transformers"),
    emoji="✏️",
    description="Draw a digit; see the guess and every layer of the nn_vis CNN, as in Adam Harley's demo.",
    order=90,
    group="inside",
    packages=("finetune",),
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.digit_recognition", title="mmhub · digit recognition")


if __name__ == "__main__":
    main()
