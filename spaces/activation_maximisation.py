"""Activation maximisation Space: pick a digit (or a neuron), watch gradient ascent paint what the CNN looks for.

    python -m spaces.activation_maximisation                  # the digit model of `python -m finetune.digits`
    python -m spaces.activation_maximisation --models tiny    # offline, the tiny twin

API (gradio_client): ``/maximise_activation`` (target, layer, steps, seed, learning rate, jitter, blur, L2, model)
-> final picture, animation (GIF), the climb (a plot update: the 10 class probabilities for a digit, the neuron's
mean activation for a hidden layer), the probability vector at the start and the end.

Each layer's valid targets are stated where it is picked: digits 0-9 in the output layer, neurons 0-119 / 0-99 in the
fully-connected layers, maps 0-15 / 0-5 in the convolution and downsampling layers (`NEURONS`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np

from .common import KEEP, Context, Run, SpaceSpec, draw_seed, request_folder, run_controls, seed_input, whole
from .inside import enlarge_digit, lab_pipeline

logger = logging.getLogger(__name__)

TASK = "activation-maximisation"
LAYERS = ("output", "fc2", "fc1", "pool2", "conv2", "pool1", "conv1")
NEURONS = {"output": 10, "fc2": 100, "fc1": 120, "pool2": 16, "conv2": 16, "pool1": 6, "conv1": 6}

TEXTS = {
    "en": {
        "target": "Digit (or neuron number)", "layer": "Layer", "steps": "Steps", "run": "Maximise",
        "advanced": "Regularisation (keeps the picture a digit, not noise)", "learning_rate": "Learning rate",
        "jitter": "Jitter (pixels)", "blur_sigma": "Blur sigma (pixels)", "blur_every": "Blur every N steps",
        "l2": "L2 decay", "result": "Optimised picture", "animation": "Animation", "climb": "Probability climb",
        "step": "step", "probability": "probability", "class": "class", "vectors": "Output probabilities",
        "layer_output": "Output layer (a class)", "layer_fc2": "Fully-connected layer 2", "layer_fc1":
        "Fully-connected layer 1", "layer_pool2": "Downsampling layer 2", "layer_conv2": "Convolution layer 2",
        "layer_pool1": "Downsampling layer 1", "layer_conv1": "Convolution layer 1",
        "progress": "Climbing: step {step} of {total}, p = {p:.2f}", "start": "start",
        "end": "after {count} step|after {count} steps",
        "explain": "Training changes the weights so the right output grows. Here the weights stay fixed and the "
                   "**pixels** change instead: gradient ascent makes the chosen output (or neuron) respond more and "
                   "more. Without regularisation it finds noise that fools the network; jitter, blur and L2 decay "
                   "keep it a pattern a person can read, which shows what the network has learnt to look for.",
        "missing_model": "Train the digit model first (the Digit recognition tab, or `python -m finetune.digits`).",
        "range_digit": "digits 0–{high}", "range_neuron": "neurons 0–{high}", "range_map": "maps 0–{high}",
        "target_digit": "Digit (0–{high})", "target_neuron": "Neuron number (0–{high} in this layer)",
        "target_map": "Map number (0–{high} in this layer)", "activation": "mean activation",
        "neuron_climb": "Activation climb of {layer}, {unit} {target}", "unit_neuron": "neuron",
        "unit_map": "map",
    },
    "pl": {
        "target": "Cyfra (lub numer neuronu)", "layer": "Warstwa", "steps": "Kroki", "run": "Maksymalizuj",
        "advanced": "Regularyzacja (żeby wyszła cyfra, a nie szum)", "learning_rate": "Współczynnik uczenia",
        "jitter": "Drganie (piksele)", "blur_sigma": "Rozmycie sigma (piksele)", "blur_every": "Rozmycie co N kroków",
        "l2": "Kara L2", "result": "Zoptymalizowany obrazek", "animation": "Animacja",
        "climb": "Wzrost prawdopodobieństwa", "step": "krok", "probability": "prawdopodobieństwo", "class": "klasa",
        "vectors": "Prawdopodobieństwa na wyjściu",
        "layer_output": "Warstwa wyjściowa (klasa)", "layer_fc2": "Warstwa w pełni połączona 2",
        "layer_fc1": "Warstwa w pełni połączona 1", "layer_pool2": "Warstwa próbkowania 2",
        "layer_conv2": "Warstwa splotowa 2", "layer_pool1": "Warstwa próbkowania 1",
        "layer_conv1": "Warstwa splotowa 1",
        "progress": "Wspinaczka: krok {step} z {total}, p = {p:.2f}", "start": "początek",
        "end": "po {count} kroku|po {count} krokach|po {count} krokach",
        "explain": "Trening zmienia wagi, żeby rosło właściwe wyjście. Tu wagi stoją w miejscu, a zmieniają się "
                   "**piksele**: algorytm gradientowy sprawia, że wybrane wyjście (lub neuron) pobudza się coraz "
                   "mocniej. Bez regularyzacji wychodzi szum oszukujący sieć; drganie, rozmycie i kara L2 "
                   "utrzymują wzór czytelny dla człowieka, który pokazuje, czego sieć nauczyła się szukać.",
        "missing_model": "Najpierw wytrenuj model cyfr (karta Rozpoznawanie cyfr albo `python -m finetune.digits`).",
        "range_digit": "cyfry 0–{high}", "range_neuron": "neurony 0–{high}", "range_map": "mapy 0–{high}",
        "target_digit": "Cyfra (0–{high})", "target_neuron": "Numer neuronu (0–{high} w tej warstwie)",
        "target_map": "Numer mapy (0–{high} w tej warstwie)", "activation": "średnia aktywacja",
        "neuron_climb": "Wzrost aktywacji: {layer}, {unit} {target}", "unit_neuron": "neuron",
        "unit_map": "mapa",
    },
}


def unit_kind(layer: str) -> str:
    """What a target of `layer` is: a ``digit`` (output), a ``neuron`` (fully-connected) or a ``map`` (conv / pool)."""
    return "digit" if layer == "output" else "neuron" if layer.startswith("fc") else "map"


def vector_table(rows: list[tuple[str, list[float]]], target: int | None) -> str:
    """The lecture's probability vectors as a table, one row per moment, the maximised class in bold."""
    lines = ["| | " + " | ".join(str(i) for i in range(10)) + " |", "|---" * 11 + "|"]
    for name, probabilities in rows:
        cells = [f"**{p:.2f}**" if i == target else f"{p:.2f}" for i, p in enumerate(probabilities)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def climb_frame(history: list[list[float]]) -> Any:
        rows = [(s, str(c), p) for s, probs in enumerate(history) for c, p in enumerate(probs)]
        return pd.DataFrame(rows, columns=[t("step"), t("class"), t("probability")])

    def climb_plot(result: Any, layer: str, target: Any) -> Any:
        """The climb: the 10 class probabilities for a digit; the maximised neuron's own activation otherwise."""
        if layer == "output":
            return gr.update(value=climb_frame(result.history), y=t("probability"), color=t("class"), y_lim=[0, 1],
                             label=t("climb"))
        frame = pd.DataFrame({t("step"): list(range(len(result.activation))), t("activation"): result.activation})
        label = t("neuron_climb", layer=t(f"layer_{layer}"), unit=t(f"unit_{unit_kind(layer)}"), target=target)
        return gr.update(value=frame, y=t("activation"), color=None, y_lim=None, label=label)

    def target_field(layer: str) -> Any:
        """The target field for `layer`: its label states the valid range, and so does its maximum."""
        high = NEURONS[layer] - 1
        return gr.update(maximum=high, value=3 if layer == "output" else 0,
                         label=t(f"target_{unit_kind(layer)}", high=high))

    def maximise(target: float, layer: str, steps: float, seed: float | None, learning_rate: float, jitter: float,
                 blur_sigma: float, l2: float, model: str, *, run: Run) -> Iterator[Any]:
        target = int(target) if isinstance(target, float) and target.is_integer() else target
        steps, jitter = whole("steps", steps, 1, 1000), whole("jitter", jitter, 0, 4)  # the sliders' ranges
        seed = draw_seed(seed)
        am = yield from run.loading(lambda: lab_pipeline(ctx, TASK, model, t("missing_model")),
                                    (model or "").strip() or ctx.default_model(TASK))
        history: list[list[float]] = []

        def work(report: Any) -> Any:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                if info.get("image") is not None:
                    report(info["image"])
                return run.report(step, total, t("progress", step=step, total=total, p=info["probability"]))

            return am(target, layer=layer, steps=steps, seed=seed, learning_rate=learning_rate,
                      jitter=jitter, blur_sigma=blur_sigma, l2=l2, progress=on_step, num_frames=24)

        shown = target if layer == "output" else None
        with request_folder("mmhub-am-") as folder:  # the GIF, gone when the request ends (gradio keeps a copy)
            for kind, value in run.stream(work):
                if kind == "update":
                    yield enlarge_digit(np.asarray(value[0], dtype=np.float32) / 255), None, None, ""
                elif kind == "result":
                    result = value
                    history = result.history
                    gif = str(folder / "animation.gif")
                    result.save_gif(gif)
                    vectors = vector_table([(t("start"), history[0]), (t("end", count=result.steps), history[-1])],
                                           shown)
                    run.finish(seed=seed, stopped=result.interrupted)
                    yield enlarge_digit(result.pixels), gif, climb_plot(result, layer, target), vectors
                else:
                    yield KEEP

    model = ctx.model_dropdown(TASK)
    gr.Markdown(t("explain"))
    with gr.Row():
        # no maximum here: the pipeline's own check names `target` and the range (gradio's would say neither)
        target = gr.Number(3, label=t("target_digit", high=NEURONS["output"] - 1), precision=0, minimum=0,
                           elem_id="am-target")
        layer = gr.Dropdown([(f"{t(f'layer_{name}')} ({t(f'range_{unit_kind(name)}', high=NEURONS[name] - 1)})",
                              name) for name in LAYERS], value="output", label=t("layer"), elem_id="am-layer")
        steps = gr.Slider(1, 1000, value=30 if ctx.tiny else 200, step=1, label=t("steps"))
        seed = seed_input(ctx)
    with gr.Accordion(t("advanced"), open=False):
        with gr.Row():
            learning_rate = gr.Slider(0.001, 0.2, value=0.01, step=0.001, label=t("learning_rate"))
            jitter = gr.Slider(0, 4, value=1, step=1, label=t("jitter"))
            blur_sigma = gr.Slider(0, 3, value=0.5, step=0.1, label=t("blur_sigma"))
            l2 = gr.Slider(0, 10, value=1.0, step=0.1, label=t("l2"))
    controls = run_controls(ctx, t("run"), elem_id="am-run", stop=True)
    with gr.Row():
        image = gr.Image(label=t("result"), type="pil", format="png", interactive=False, height=260,
                         elem_id="am-image")
        animation = gr.Image(label=t("animation"), type="filepath", interactive=False, height=260,
                             elem_id="am-animation")
    vectors = gr.Markdown(label=t("vectors"), elem_id="am-vectors")
    climb = gr.LinePlot(x=t("step"), y=t("probability"), color=t("class"), label=t("climb"), y_lim=[0, 1],
                        elem_id="am-climb")
    layer.change(target_field, layer, target, queue=False, api_visibility="private")
    controls.click(maximise, [target, layer, steps, seed, learning_rate, jitter, blur_sigma, l2, model],
                   [image, animation, climb, vectors], api_name="maximise_activation", **SPACE.queue)


SPACE = SpaceSpec(
    name="activation_maximisation",
    title={"en": "Activation maximisation", "pl": "Maksymalizacja aktywacji"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=2,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "pandas", "scikit-learn"),
    emoji="🔥",
    description="Gradient ascent on the pixels until the digit CNN is sure: what each class and neuron looks for.",
    order=91,
    group="inside",
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.activation_maximisation", title="mmhub · activation maximisation")


if __name__ == "__main__":
    main()
