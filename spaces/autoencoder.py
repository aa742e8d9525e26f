"""Autoencoder Space: Stable Diffusion's VAE on a photo, and the 2-D latent space of an MNIST VAE you can walk.

    python -m spaces.autoencoder                  # sd-turbo's VAE; the MNIST VAE trained by `python -m finetune.vae`
    python -m spaces.autoencoder --models tiny    # offline: the tiny SD VAE (noise) and a tiny MNIST VAE

The first use of the MNIST tab without a trained model offers to train it here (a progress bar; minutes on a
CPU), from the Hub's MNIST or, offline, a local folder in its schema or scikit-learn's bundled digits. The latent map
has axes (z₁ to the right, z₂ upwards, ticks at tile centres: the grid is spaced by the normal distribution's
quantiles, so the ticks are not evenly spaced in z); the drawing pads select their brush at once.

API (gradio_client): ``/autoencode`` (photo, max size, sample, seed, model) -> input as encoded, reconstruction,
figures, latent channels; ``/latent_map`` (n, model) -> the map; ``/encode_drawing`` (sketch, n, model) -> the map
with the drawing's point, its reconstruction, the point; ``/decode_point`` (x, y, n, model) -> the picture, the map
with the point; ``/interpolate`` (sketch, sketch, steps, model) -> the walk; ``/train_vae`` (dataset, epochs, max
samples, replace) -> streamed: a report, the training curve, the map's model field (pointed at the new model; with
``--models tiny`` training writes to the tiny cache, never to the user's model).
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

from .common import Context, Run, SpaceSpec, draw_seed, run_controls, seed_input, user_errors, whole
from .inside import (
    brush_at_once,
    enlarge,
    lab_pipeline,
    live_target,
    preparing_note,
    train_now,
    train_panel,
    with_texts,
)

logger = logging.getLogger(__name__)

TASK = "autoencoder"
MNIST_LOCAL = "local:mnist-vae"
SHOW = 8  # screen pixels per MNIST pixel
EPOCHS = (1, 50, 10)  # the training panel's slider: minimum, maximum, value
GRID, WALK_STEPS, MAX_SIZE = (5, 30), (2, 16), (64, 1024)  # the sliders' ranges
MARK = (255, 64, 64)
# the latent map's axes: margins (screen pixels) around the map, which is shown twice its size
AXIS_LEFT, AXIS_TOP, AXIS_RIGHT, AXIS_BOTTOM, MAP_SCALE = 52, 10, 10, 44, 2

TEXTS = with_texts({
    "en": {
        "sd_tab": "Stable Diffusion's VAE", "mnist_tab": "MNIST VAE: the latent map",
        "photo": "Photo", "seen": "What the encoder got", "reconstruction": "Reconstruction (decoded latent)",
        "max_size": "Longest side (px)", "sample": "Sample z from the posterior (else its mean)",
        "run": "Encode and decode", "channels": "The latent, channel by channel",
        "figures": "**Compression ratio:** {ratio:g}× ({inputs} input values → {latents} latent values) · **PSNR:** "
                   "{psnr:.2f} dB · **latent:** {shape} (scaled by {scaling})",
        "sd_explain": "An autoencoder squeezes a picture through a **bottleneck** and rebuilds it. Stable Diffusion's "
                      "VAE keeps 4 numbers for every 8×8 block of pixels (3 × 64 = 192 values): 48× fewer numbers. "
                      "The diffusion model works on these latents, then this decoder paints the picture. PSNR says "
                      "how close the reconstruction is (higher is better; 30 dB is hard to tell apart).",
        "mnist_explain": "A **variational** autoencoder does not map a digit to one point but to a small Gaussian "
                         "cloud, and is pulled towards the standard normal: neighbouring points decode to similar "
                         "digits, so the whole 2-D latent space is a map of digits. Draw a digit to see where it "
                         "lands, click the map (or move the sliders) to decode any point, or walk between two "
                         "drawings.",
        "map": "The latent space (click to decode a point)", "grid": "Grid size", "show_map": "Draw the map",
        "sketch": "Draw a digit", "encode": "Where does it land?", "point": "**Point:** ({x:.2f}, {y:.2f}) · "
        "**spread (σ):** ({sx:.2f}, {sy:.2f}) · **PSNR:** {psnr:.1f} dB", "decoded": "Decoded",
        "x": "x", "y": "y", "decode": "Decode this point", "sketch_b": "Draw another digit",
        "steps": "Steps", "interpolate": "Walk from the first drawing to the second", "walk": "The walk",
        "missing_model": "Train the MNIST VAE first (below, or `python -m finetune.vae`).",
        "train": "Train the MNIST VAE", "missing": "⚠️ **No trained MNIST VAE yet** ({folder}). Train it below "
                 "(minutes on a CPU), or run `python -m finetune.vae`.",
        "training": "Training: step {step}/{total}, loss {loss:.1f}",
        "trained": "✅ Trained on {source}: test loss {test} per picture, validation {validation} ({steps}, "
                   "{seconds:.0f} s). Saved to `{folder}`; draw the map!",
        "steps_count": "{count} step|{count} steps", "channel": "channel {i}",
    },
    "pl": {
        "sd_tab": "VAE ze Stable Diffusion", "mnist_tab": "VAE dla MNIST: mapa przestrzeni ukrytej",
        "photo": "Zdjęcie", "seen": "Co dostał koder", "reconstruction": "Rekonstrukcja (zdekodowana reprezentacja)",
        "max_size": "Dłuższy bok (px)", "sample": "Losuj punkt z rozkładu a posteriori (inaczej jego średnia)",
        "run": "Zakoduj i odkoduj", "channels": "Reprezentacja ukryta, kanał po kanale",
        "figures": "**Stopień kompresji:** {ratio:g}× ({inputs} wartości wejścia → {latents} wartości ukrytych) · "
                   "**PSNR:** {psnr:.2f} dB · **reprezentacja:** {shape} (przeskalowana o {scaling})",
        "sd_explain": "Autoenkoder przepuszcza obrazek przez **wąskie gardło** i odbudowuje go. VAE ze Stable "
                      "Diffusion zachowuje 4 liczby na każdy blok 8×8 pikseli (3 × 64 = 192 wartości): 48 razy mniej "
                      "liczb. Model dyfuzyjny pracuje na tej reprezentacji, a ten dekoder maluje obrazek. PSNR "
                      "mówi, jak bliska oryginałowi jest rekonstrukcja (im więcej, tym lepiej; przy 30 dB trudno je "
                      "odróżnić).",
        "mnist_explain": "Autoenkoder **wariacyjny** nie przypisuje cyfrze jednego punktu, lecz małą chmurę "
                         "Gaussa, i jest przyciągany do standardowego rozkładu normalnego: sąsiednie punkty "
                         "dekodują się w podobne cyfry, więc cała dwuwymiarowa przestrzeń ukryta jest mapą cyfr. "
                         "Narysuj cyfrę, żeby zobaczyć, gdzie trafia, kliknij mapę (albo przesuń suwaki), żeby "
                         "odkodować dowolny punkt, albo przejdź od jednego rysunku do drugiego.",
        "map": "Przestrzeń ukryta (kliknij, aby odkodować punkt)", "grid": "Rozmiar siatki",
        "show_map": "Narysuj mapę", "sketch": "Narysuj cyfrę", "encode": "Gdzie trafia?",
        "point": "**Punkt:** ({x:.2f}, {y:.2f}) · **rozrzut (σ):** ({sx:.2f}, {sy:.2f}) · **PSNR:** {psnr:.1f} dB",
        "decoded": "Odkodowany obrazek", "x": "x", "y": "y", "decode": "Odkoduj ten punkt",
        "sketch_b": "Narysuj drugą cyfrę", "steps": "Kroki",
        "interpolate": "Przejdź od pierwszego rysunku do drugiego", "walk": "Przejście",
        "missing_model": "Najpierw wytrenuj VAE dla MNIST (poniżej albo `python -m finetune.vae`).",
        "train": "Trenowanie VAE dla MNIST", "missing": "⚠️ **Nie ma jeszcze wytrenowanego VAE dla MNIST** "
                 "({folder}). Wytrenuj go poniżej (kilka minut na CPU) albo uruchom `python -m finetune.vae`.",
        "training": "Trening: krok {step}/{total}, strata {loss:.1f}",
        "trained": "✅ Wytrenowano na {source}: strata testowa {test} na obrazek, walidacyjna {validation} ({steps}, "
                   "{seconds:.0f} s). Zapisano w `{folder}`; narysuj mapę!",
        "steps_count": "{count} krok|{count} kroki|{count} kroków", "channel": "kanał {i}",
    },
})


def mark(map_image: Any, pixel: tuple[float, float], scale: int = 2) -> Any:
    """The map, `scale` times larger, in colour, with a ring and a cross at `pixel` (map coordinates)."""
    from PIL import ImageDraw

    canvas = enlarge(map_image, scale).convert("RGB")
    x, y = pixel[0] * scale, pixel[1] * scale
    draw = ImageDraw.Draw(canvas)
    radius = 9 * scale
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=MARK, width=2 * scale)
    draw.line([x - radius, y, x + radius, y], fill=MARK, width=scale)
    draw.line([x, y - radius, x, y + radius], fill=MARK, width=scale)
    return canvas


def with_axes(picture: Any, xs: list[float], ys: list[float], scale: int = MAP_SCALE, ticks: int = 5) -> Any:
    """The (enlarged) latent map with axes: z₁ along the bottom, z₂ up the left side, ticks at the centres of about
    `ticks` tiles, labelled with the latent value each tile decodes (`LatentMapResult.xs` / ``ys``)."""
    from PIL import Image, ImageDraw, ImageFont

    n = len(xs)
    tile = picture.width / n
    canvas = Image.new("RGB", (picture.width + AXIS_LEFT + AXIS_RIGHT, picture.height + AXIS_TOP + AXIS_BOTTOM),
                       "white")
    canvas.paste(picture.convert("RGB"), (AXIS_LEFT, AXIS_TOP))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=12)
    dark = (40, 40, 40)
    bottom, right = AXIS_TOP + picture.height, AXIS_LEFT + picture.width
    draw.line([AXIS_LEFT, bottom, right, bottom], fill=dark)
    draw.line([AXIS_LEFT, AXIS_TOP, AXIS_LEFT, bottom], fill=dark)
    every = max(1, round((n - 1) / max(1, ticks - 1)))
    for i in sorted({*range(0, n, every), n - 1}):
        x = AXIS_LEFT + (i + 0.5) * tile
        draw.line([x, bottom, x, bottom + 5], fill=dark)
        draw.text((x, bottom + 7), f"{xs[i]:.1f}", fill=dark, font=font, anchor="mt")
        y = AXIS_TOP + (i + 0.5) * tile  # row 0 is the largest z₂
        draw.line([AXIS_LEFT - 5, y, AXIS_LEFT, y], fill=dark)
        draw.text((AXIS_LEFT - 7, y), f"{ys[i]:.1f}", fill=dark, font=font, anchor="rm")
    draw.text(((AXIS_LEFT + right) / 2, bottom + 24), "z₁ →", fill=dark, font=font, anchor="mt")
    draw.text((4, AXIS_TOP), "z₂ ↑", fill=dark, font=font, anchor="lt")
    return canvas


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    mnist_default = "tiny-mnist" if ctx.tiny else MNIST_LOCAL

    def mnist_vae(model: str, progress: Any = None) -> Any:
        return lab_pipeline(ctx, TASK, (model or "").strip() or mnist_default, t("missing_model"), progress)

    def the_map(vae: Any, n: float, point: tuple[float, float] | None) -> Any:
        result = vae.latent_map(n=whole("n", n, *GRID))
        picture = enlarge(result.image, MAP_SCALE) if point is None else mark(result.image, result.pixel_of(point))
        return with_axes(picture, result.xs, result.ys)

    # -- Stable Diffusion's VAE --------------------------------------------------------------------------------

    def autoencode(photo: Any, max_size: float, sample: bool, seed: float | None, model: str, *, run: Run) -> Any:
        seed = draw_seed(seed) if sample else None
        ae = yield from run.pipeline(TASK, (model or "").strip() or ctx.default_model(TASK))
        result = ae(photo, max_size=whole("max_size", max_size, *MAX_SIZE), sample=bool(sample), seed=seed)
        c, h, w = result.input_shape
        figures = t("figures", ratio=round(result.compression_ratio, 2), inputs=c * h * w,
                    latents=int(np.prod(result.latent_shape)), psnr=result.psnr,
                    shape=" × ".join(map(str, result.latent_shape)), scaling=result.scaling_factor)
        scale = max(1, 256 // max(1, max(result.latent_shape[1:] or [1])))
        channels = [(enlarge(image, scale), t("channel", i=i)) for i, image in enumerate(result.latent_images)]
        run.finish(seed=seed)
        yield result.image, result.reconstruction, figures, channels

    # -- the MNIST VAE -----------------------------------------------------------------------------------------

    def show_map(n: float, model: str, *, run: Run) -> Any:
        return the_map(mnist_vae(model), n, None)

    def encode_drawing(sketch: Any, n: float, model: str, *, run: Run) -> tuple:
        vae = mnist_vae(model)
        result = vae(sketch)
        landed = vae.encode(sketch)
        text = t("point", x=landed.point[0], y=landed.point[1], sx=landed.std[0], sy=landed.std[1], psnr=result.psnr)
        return (the_map(vae, n, landed.point), enlarge(result.reconstruction, SHOW), text, landed.point[0],
                landed.point[1])

    def decode_point(x: float, y: float, n: float, model: str, *, run: Run) -> tuple:
        vae = mnist_vae(model)
        decoded = vae.decode((x, y))
        return enlarge(decoded.image, SHOW), the_map(vae, n, decoded.point)

    @user_errors
    def click_map(n: float, model: str, evt: gr.SelectData) -> tuple:
        from pipelines.autoencoder import QUANTILE, LatentMapResult

        vae = mnist_vae(model)
        where = LatentMapResult(image=None, xs=[], ys=[], n=whole("n", n, *GRID), quantile=QUANTILE)
        column, row = (evt.index[0] - AXIS_LEFT) / MAP_SCALE, (evt.index[1] - AXIS_TOP) / MAP_SCALE  # past the axes
        side = where.n * 28
        if not (0 <= column <= side and 0 <= row <= side):  # a click on the axes, not on the map
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        x, y = where.point_at(column, row)
        decoded = vae.decode((x, y))
        return enlarge(decoded.image, SHOW), the_map(vae, n, decoded.point), round(x, 3), round(y, 3)

    def walk(first: Any, second: Any, steps: float, model: str, *, run: Run) -> Any:
        steps = whole("steps", steps, *WALK_STEPS)
        return mnist_vae(model).interpolate(first, second, steps=steps).strip(scale=4)

    def train_model(dataset: str, epochs: float, max_samples: float, replace: bool = False, *,
                    run: Run) -> Any:
        from finetune.vae import VaeArguments, main

        target = live_target(ctx, MNIST_LOCAL)

        def report(metrics: dict[str, Any], folder: str) -> str:
            ctx.cache.discard(TASK, target)
            test = metrics.get("test") or {}
            return t("trained", source=metrics["data"]["source"], test=f"{test.get('loss', float('nan')):.1f}",
                     validation=f"{metrics['validation']['loss']:.1f}",
                     steps=t("steps_count", count=metrics["global_step"]), seconds=metrics["train_runtime_s"],
                     folder=folder)

        yield from train_now(ctx, t, VaeArguments, main, dataset, epochs, max_samples, replace, run=run,
                             model=MNIST_LOCAL, max_epochs=EPOCHS[1], report=report)

    sketch_options = dict(type="numpy", image_mode="RGBA", format="png", canvas_size=(280, 280),
                          brush=gr.Brush(default_size=16, colors=["#000000"], color_mode="fixed"),
                          elem_classes=["mmhub-canvas"], layers=False)
    with gr.Tabs():
        with gr.Tab(t("sd_tab"), id="autoencoder-sd"):
            gr.Markdown(t("sd_explain"))
            sd_model = ctx.model_dropdown(TASK)
            with gr.Row():
                photo = gr.Image(label=t("photo"), type="pil", sources=["upload", "clipboard", "webcam"],
                                 elem_id="ae-photo")
                seen = gr.Image(label=t("seen"), type="pil", format="png", interactive=False, elem_id="ae-seen")
                rebuilt = gr.Image(label=t("reconstruction"), type="pil", format="png", interactive=False,
                                   elem_id="ae-reconstruction")
            with gr.Row():
                max_size = gr.Slider(*MAX_SIZE, value=128 if ctx.tiny else 512, step=8, label=t("max_size"))
                sample = gr.Checkbox(False, label=t("sample"))
                seed = seed_input(ctx)
            run = run_controls(ctx, t("run"), elem_id="ae-run")
            figures = gr.Markdown(elem_id="ae-figures")
            channels = gr.Gallery(label=t("channels"), columns=4, height="auto", elem_id="ae-channels")
        with gr.Tab(t("mnist_tab"), id="autoencoder-mnist"):
            gr.Markdown(t("mnist_explain"))
            brush_at_once("ae-sketch", "ae-sketch-b")
            mnist_model = gr.Dropdown(ctx.model_choices(TASK, "tiny-mnist"), value=mnist_default,
                                      label=ctx.t("model"), info=ctx.t("model_info"), allow_custom_value=True,
                                      elem_id="ae-mnist-model")
            with gr.Row():
                with gr.Column(scale=3):
                    latent_map = gr.Image(label=t("map"), type="pil", format="png", interactive=False,
                                          elem_id="ae-map")
                    with gr.Row():
                        n = gr.Slider(*GRID, value=15, step=1, label=t("grid"))
                        draw_map = run_controls(ctx, t("show_map"), elem_id="ae-show-map", variant="secondary")
                    note = gr.Markdown(elem_id="ae-preparing")
                with gr.Column(scale=2):
                    sketch = gr.Sketchpad(label=t("sketch"), elem_id="ae-sketch", **sketch_options)
                    encode = run_controls(ctx, t("encode"), elem_id="ae-encode")
                    point_text = gr.Markdown(elem_id="ae-point")
                    with gr.Row():
                        x = gr.Slider(-4, 4, value=0, step=0.01, label=t("x"))
                        y = gr.Slider(-4, 4, value=0, step=0.01, label=t("y"))
                    decode = run_controls(ctx, t("decode"), elem_id="ae-decode", variant="secondary")
                    decoded = gr.Image(label=t("decoded"), type="pil", format="png", interactive=False, height=240,
                                       elem_id="ae-decoded")
            with gr.Row():
                sketch_b = gr.Sketchpad(label=t("sketch_b"), elem_id="ae-sketch-b", **sketch_options)
                with gr.Column():
                    steps = gr.Slider(*WALK_STEPS, value=8, step=1, label=t("steps"))
                    interpolate = run_controls(ctx, t("interpolate"), elem_id="ae-interpolate", variant="secondary")
            walk_image = gr.Image(label=t("walk"), type="pil", format="png", interactive=False, elem_id="ae-walk")
            panel = train_panel(ctx, t, MNIST_LOCAL, "ae", epochs=EPOCHS)

    run.click(autoencode, [photo, max_size, sample, seed, sd_model], [seen, rebuilt, figures, channels],
              api_name="autoencode", **SPACE.queue)
    # the first use of the MNIST VAE builds or loads it: a note says so until the answer comes
    quick = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}

    def clear_note() -> str:
        return ""

    gr.on([draw_map.run.click, encode.run.click, decode.run.click, interpolate.run.click],
          lambda m: preparing_note(ctx, TASK, (m or "").strip() or mnist_default, t("preparing")), mnist_model, note,
          **quick)
    draw_map.click(show_map, [n, mnist_model], latent_map, api_name="latent_map", **SPACE.queue).then(
        clear_note, None, note, **quick)
    encode.click(encode_drawing, [sketch, n, mnist_model], [latent_map, decoded, point_text, x, y],
                 api_name="encode_drawing", **SPACE.queue).then(clear_note, None, note, **quick)
    decode.click(decode_point, [x, y, n, mnist_model], [decoded, latent_map], api_name="decode_point",
                 **SPACE.queue).then(clear_note, None, note, **quick)
    # a click on the map: its place comes with the select event (gr.SelectData), so a plain event; its progress and
    # any refusal show on the Decode status line, not as badges on the pictures
    latent_map.select(click_map, [n, mnist_model], [decoded, latent_map, x, y], api_visibility="private",
                      show_progress_on=[decode.status], **SPACE.queue)
    interpolate.click(walk, [sketch, sketch_b, steps, mnist_model], walk_image, api_name="interpolate",
                      **SPACE.queue).then(clear_note, None, note, **quick)
    panel.controls.click(train_model, panel.inputs, [panel.report, panel.curve, mnist_model], api_name="train_vae",
                         concurrency_limit=1, concurrency_id="vae_training")


SPACE = SpaceSpec(
    name="autoencoder",
    title={"en": "Autoencoders", "pl": "Autoenkodery"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=2,
    requirements=("torch", "safetensors", "huggingface-hub", "numpy", "pillow", "diffusers", "transformers",
                  "accelerate", "scikit-learn", "datasets", "matplotlib"),
    emoji="🗜️",
    description="Stable Diffusion's VAE (reconstruction, latents, compression, PSNR) and an MNIST VAE's latent map.",
    order=93,
    group="inside",
    packages=("finetune",),
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.autoencoder", title="mmhub · autoencoders")


if __name__ == "__main__":
    main()
