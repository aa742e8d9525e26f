"""What the "Inside a network" Spaces share: pictures with their pixels visible, the untrained-model check and
message, and the "train it now" panel of the models trained here (the digit CNN, the MNIST VAE).

Space modules import this relatively (``from .inside import ...``), as they do `common`, so that an exported Space
folder finds it under its own package name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from .common import KEEP, Context, Refusal, Run, RunControls, run_controls, whole

logger = logging.getLogger(__name__)

MAX_SAMPLES = 10**9  # the panel's "use at most this many training pictures" (0 = all)

# The strings of the training panel that do not depend on the model; a Space adds its own with `with_texts`.
TEXTS = {
    "en": {
        "dataset": "Dataset", "dataset_info": "A Hub id (ylecun/mnist), a local folder in the MNIST schema "
                   "(`python -m finetune.image_data fixture DIR`), or sklearn-digits (offline, 1797 small digits).",
        "offline": "ℹ️ The Hugging Face Hub is switched off here (HF_HUB_OFFLINE): ylecun/mnist only works if it "
                   "is already in the local cache. Use a local folder or sklearn-digits.",
        "epochs": "Epochs", "max_samples": "Use at most this many training pictures (0 = all)",
        "train_button": "Train now",
        "train_failed": "Training failed: {error}",
        "preparing": "⏳ **Preparing the model…** The first use builds or loads it (about 20 s on a CPU); the "
                     "answer appears as soon as it is ready.",
        "colour_scale": "Colour scale of each layer: dark = 0, bright = the layer's largest value",
        "replace": "Replace the trained model in {folder}",
        "curve": "Training curve", "step": "step", "loss": "loss",
        "not_saved": "nothing was saved; the model there before stays",
        "switched": "the tab now uses it",
    },
    "pl": {
        "dataset": "Zbiór danych", "dataset_info": "Identyfikator z Hub (ylecun/mnist), lokalny folder w schemacie "
                   "MNIST (`python -m finetune.image_data fixture DIR`) albo sklearn-digits (offline, 1797 małych "
                   "cyfr).",
        "offline": "ℹ️ Hugging Face Hub jest tu wyłączony (HF_HUB_OFFLINE): ylecun/mnist zadziała tylko z lokalnej "
                   "pamięci podręcznej. Użyj lokalnego folderu albo sklearn-digits.",
        "epochs": "Epoki", "max_samples": "Użyj najwyżej tylu obrazków treningowych (0 = wszystkie)",
        "train_button": "Trenuj teraz",
        "train_failed": "Trening nie powiódł się: {error}",
        "preparing": "⏳ **Przygotowuję model…** Przy pierwszym użyciu trzeba go zbudować lub wczytać (około 20 s na "
                     "CPU); odpowiedź pojawi się, gdy będzie gotowy.",
        "colour_scale": "Skala kolorów każdej warstwy: ciemny = 0, jasny = największa wartość w warstwie",
        "replace": "Zastąp wytrenowany model w {folder}",
        "curve": "Krzywa uczenia", "step": "krok", "loss": "strata",
        "not_saved": "niczego nie zapisano; poprzedni model zostaje",
        "switched": "zakładka używa go od teraz",
    },
}


#: Refused trainings in a person's words (see `spaces.common.ERRORS`).
ERROR_TEXTS = {
    "en": {"exists": "A trained model is already in {folder}: tick “Replace the trained model” to train a new one "
                     "over it (or train elsewhere with the trainer's --output-dir)."},
    "pl": {"exists": "W {folder} jest już wytrenowany model: zaznacz „Zastąp wytrenowany model”, aby wytrenować "
                     "nowy w jego miejsce (albo trenuj gdzie indziej, z opcją --output-dir trenera)."},
}
CURVE_EVERY = 0.5  # seconds between two refreshes of the training curve


def with_texts(own: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """A Space's UI strings on top of `TEXTS` (its own win)."""
    return {lang: {**TEXTS.get(lang, {}), **strings} for lang, strings in own.items()}


# -- pictures -----------------------------------------------------------------------------------------------------


def enlarge(image: Any, scale: int) -> Any:
    """A small PIL picture with each pixel `scale` x `scale` (nearest neighbour: the pixels stay visible)."""
    from PIL import Image

    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def enlarge_digit(picture: np.ndarray, scale: int = 8) -> Any:
    """A 28x28 picture in [0, 1], each pixel `scale` x `scale` (nearest neighbour: the pixels stay visible)."""
    from PIL import Image

    return Image.fromarray((np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L").resize(
        (28 * scale, 28 * scale), Image.Resampling.NEAREST)


# -- models trained here ------------------------------------------------------------------------------------------


def untrained(ctx: Context, model: str) -> bool:
    """True when the real models are on and the locally trained `model` (``local:...``) is not there yet."""
    from pipelines import lab

    return not ctx.tiny and not lab.is_trained(model)


def lab_pipeline(ctx: Context, task: str, model: Any, missing: str, progress: Any = None) -> Any:
    """`Context.pipeline`; a locally trained model that is not there yet is a `gr.Error` saying `missing` (how to
    train it)."""
    from pipelines import ModelLoadError, lab

    try:
        return ctx.pipeline(task, model, progress)
    except ModelLoadError as err:
        if lab.is_local_id(err.model) and err.reason == "not_found":
            raise gr.Error(f"{missing} ({err})", print_exception=False) from err
        raise


def live_target(ctx: Context, model: str) -> str:
    """Where "Train now" writes the locally trained `model` (``local:<name>``) and the tab then loads from: that
    folder; with tiny models a folder of the tiny cache (``<name>-live``), so that a trial run never replaces a
    user's model. The tab's model field may load it (`Context.own_model`)."""
    from pipelines import lab

    if not ctx.tiny:
        return model
    from pipelines import tiny

    return ctx.own_model(tiny.cache_dir() / f"{model.removeprefix(lab.LOCAL_PREFIX)}-live")


def replace_checkbox(ctx: Context, folder: str, elem_id: str) -> gr.Checkbox:
    """The "Replace the trained model in `folder`" box of a "Train now" (unticked; hidden with tiny models, where
    the training writes the tiny cache and nothing needs asking). Its value goes to `refuse_replacing`."""
    return gr.Checkbox(False, label=ctx.t("replace", TEXTS, folder=folder), visible=not ctx.tiny, elem_id=elem_id)


def refuse_replacing(ctx: Context, trained: bool, replace: Any, folder: str) -> bool:
    """The checked `replace` box (`validate.boolean`); the ``exists`` `Refusal` (`ERROR_TEXTS`: put them in the
    run controls' `errors`) when a training would replace the `trained` model in `folder` without it being ticked.
    With tiny models nothing is asked: "Train now" writes the tiny cache (`live_target`), never a user's model.

    >>> refuse_replacing(Context(models="tiny"), True, False, "/tmp/model")
    False
    """
    from pipelines import validate

    replace = validate.boolean("replace", replace)
    if not ctx.tiny and trained and not replace:
        raise Refusal("exists", ERROR_TEXTS, folder=folder)
    return replace


@dataclass
class TrainPanel:
    """The components of `train_panel`: its inputs (dataset, epochs, max_samples, replace), its Run / Stop buttons
    and status line (`controls`), its report and its training curve."""

    dataset: gr.Textbox
    epochs: gr.Slider
    max_samples: gr.Number
    replace: gr.Checkbox
    controls: RunControls
    report: gr.Markdown
    curve: gr.LinePlot

    @property
    def inputs(self) -> list[Any]:
        return [self.dataset, self.epochs, self.max_samples, self.replace]


def train_panel(ctx: Context, t: Callable[..., str], model: str, prefix: str, epochs: tuple[int, int, int]
                ) -> TrainPanel:
    """The "train it now" accordion for the locally trained `model`: open, with a warning, while it is missing.

    `t` finds the Space's strings (``train``: the title, ``missing``: the warning with ``{folder}``) and `TEXTS`;
    `epochs` is the slider's (minimum, maximum, value); `prefix` names the elements (``<prefix>-train``...). With
    the real models a checkbox must be ticked before a trained model is replaced; with tiny models the panel
    trains into the tiny cache (`live_target`), where nothing needs asking.
    """
    from huggingface_hub import constants

    from pipelines import lab

    missing = untrained(ctx, model)
    folder = lab.resolve(live_target(ctx, model))
    with gr.Accordion(t("train"), open=missing):
        if missing:
            gr.Markdown(t("missing", folder=lab.resolve(model)), elem_id=f"{prefix}-missing")
        if constants.HF_HUB_OFFLINE:
            gr.Markdown(t("offline"))
        with gr.Row():
            dataset = gr.Textbox("sklearn-digits" if constants.HF_HUB_OFFLINE else "ylecun/mnist",
                                 label=t("dataset"), info=t("dataset_info"))
            low, high, value = epochs
            epochs_slider = gr.Slider(low, high, value=value, step=1, label=t("epochs"), elem_id=f"{prefix}-epochs")
            max_samples = gr.Number(0, label=t("max_samples"), precision=0, minimum=0,
                                    elem_id=f"{prefix}-max-samples")
        replace = replace_checkbox(ctx, folder, elem_id=f"{prefix}-replace")
        controls = run_controls(ctx, t("train_button"), elem_id=f"{prefix}-train", stop=True, errors=ERROR_TEXTS)
        report = gr.Markdown(elem_id=f"{prefix}-trained")
        curve = gr.LinePlot(x=t("step"), y=t("loss"), label=t("curve"), elem_id=f"{prefix}-curve")
    return TrainPanel(dataset, epochs_slider, max_samples, replace, controls, report, curve)


def train_now(ctx: Context, t: Callable[..., str], arguments: type, main: Callable[..., dict[str, Any]],
              dataset: str, epochs: float, max_samples: float, replace: bool, *, run: Run, model: str,
              max_epochs: int, report: Callable[[dict[str, Any], str], str]) -> Iterator[Any]:
    """Run a trainer's ``main(arguments(...))`` from the panel's values into `live_target` of `model`; yield the
    panel's outputs: the report (``report(metrics, folder)`` at the end), the training curve (loss per step,
    while it trains) and the tab's model field (pointed at the new model at the end).

    `epochs` (1 to `max_epochs`, the panel slider's range) and `max_samples` (0 = all) are checked first: NaN, 2.5
    or text is an `InputError` naming them (``int(nan)`` raised a bare ValueError). A trained model already in the
    folder is replaced only when `replace` is ticked (always, in the tiny cache); the trainer's refusals (bad data,
    flags or folders) are ``train_failed``; Stop ends the run without saving.
    """
    import pandas as pd

    from finetune.data import DataError
    from finetune.run import UsageError
    from pipelines import lab
    from pipelines.errors import Cancelled

    epochs = whole("epochs", epochs, 1, max_epochs)
    max_samples = whole("max_samples", max_samples, 0, MAX_SAMPLES)
    target = live_target(ctx, model)
    folder = lab.resolve(target)
    refuse_replacing(ctx, lab.is_trained(target), replace, folder)
    losses: list[tuple[int, float]] = []
    shown = {"at": 0.0}

    def curve() -> Any:
        return pd.DataFrame(losses, columns=[t("step"), t("loss")])

    def work(report_update: Callable[..., None]) -> dict[str, Any]:
        def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
            if info.get("loss") is not None:
                losses.append((step, float(info["loss"])))
                if time.monotonic() - shown["at"] >= CURVE_EVERY:
                    shown["at"] = time.monotonic()
                    report_update()
            return run.report(step, total, t("training", step=step, total=total, loss=info.get("loss") or 0.0))

        args = arguments(dataset=(dataset or "").strip() or "ylecun/mnist", num_train_epochs=epochs,
                         max_samples=max_samples or None, output_dir=folder, overwrite=True)
        try:
            return main(args, progress=on_step)
        except KeyboardInterrupt as err:  # the trainers' way out when the progress callback says stop
            raise Cancelled("training stopped") from err

    yield gr.skip(), None, gr.skip()  # a new curve for this run
    try:
        for kind, value in run.stream(work):
            if kind == "update":
                yield gr.skip(), curve(), gr.skip()
            elif kind == "result":
                run.finish(t("switched"))
                yield report(value, folder), curve(), gr.update(value=target)
            else:
                yield KEEP
    except Cancelled:
        run.finish(t("not_saved"))
        raise
    except (DataError, UsageError, FileExistsError, OSError) as err:
        raise gr.Error(t("train_failed", error=err), print_exception=False) from err


# -- first use and the drawing tools ------------------------------------------------------------------------------


def preparing_note(ctx: Context, task: str, model: Any, text: str) -> str:
    """`text` (the "preparing the model…" note) while the pipeline for `model` is not loaded yet, else ""."""
    name = (model or "").strip() if isinstance(model, str) else ""
    try:
        name = ctx.check_model(task, name)
    except Exception:  # noqa: BLE001 - a refused name: the handler itself says why
        return ""
    return "" if ctx.cache.peek(task, name) is not None else text


# Gradio's Sketchpad starts with no tool selected: the first stroke draws nothing until the Brush button is pressed.
# This presses it once for each listed sketchpad when its toolbar appears (the pressed tool has the class
# "highlight"; a tool the person picks later is left alone). The tools are found by their accessible names, which
# gradio words in the page's language (`spaces.common.GRADIO_PL` gives the Polish ones).
BRUSH_JS = """
const data = element.querySelector('[data-sketchpads]').dataset;
const ids = JSON.parse(data.sketchpads), brushes = JSON.parse(data.brush), erasers = JSON.parse(data.erase);
const tool = (id, names) => names.map((n) => document.querySelector(`#${id} button[aria-label='${n}']`))
  .find((b) => b);
const arm = () => {
  for (const id of ids) {
    const brush = tool(id, brushes);
    if (!brush || brush.dataset.mmhubArmed || brush.offsetParent === null) continue;
    brush.dataset.mmhubArmed = '1';
    const erase = tool(id, erasers);
    if (!brush.classList.contains('highlight') && !(erase && erase.classList.contains('highlight'))) brush.click();
  }
};
arm();
setInterval(arm, 400);
"""


def brush_at_once(*elem_ids: str) -> gr.HTML:
    """An invisible block whose script selects the brush of the sketchpads `elem_ids` as soon as they show."""
    import html
    import json

    from .common import GRADIO_PL

    names = {"brush": ["Brush", GRADIO_PL["image_editor.brush"]], "erase": ["Erase", GRADIO_PL["image_editor.erase"]]}
    payload = " ".join(f'data-{key}="{html.escape(json.dumps(value))}"'
                       for key, value in {"sketchpads": list(elem_ids), **names}.items())
    return gr.HTML(f"<span {payload}></span>", js_on_load=BRUSH_JS, padding=False, container=False,
                   elem_classes=["mmhub-brush-at-once"])


def colour_scale_html(title: str, maxima: dict[str, float], names: dict[str, str], colormap: str = "magma") -> str:
    """A colour bar (matplotlib's `colormap`, dark = 0) and each layer's largest value (the bright end)."""
    import html

    from matplotlib import colormaps

    stops = ", ".join("rgb({:.0f},{:.0f},{:.0f})".format(*(255 * c for c in colormaps[colormap](i / 8)[:3]))
                      for i in range(9))
    cells = "".join(f"<span><b>{html.escape(names.get(k, k))}</b> 0 … {v:.3g}</span>" for k, v in maxima.items())
    return (f'<div class="mmhub-scale"><div>{html.escape(title)}</div>'
            f'<div class="mmhub-scale-bar" style="height:12px;border-radius:3px;'
            f'background:linear-gradient(to right, {stops})"></div>'
            f'<div class="mmhub-scale-values" style="display:flex;flex-wrap:wrap;gap:4px 14px;font-size:0.85em">'
            f'{cells}</div></div>')
