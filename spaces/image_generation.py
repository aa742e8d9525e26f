"""Image generation Space: Stable Diffusion text-to-image and image-to-image, a gallery and the seed used.

    python -m spaces.image_generation                  # sd-turbo by default (1-4 steps, guidance 0)
    python -m spaces.image_generation --models tiny    # offline, tiny random UNet (noise)

API (gradio_client): ``/text_to_image`` (prompt, negative_prompt, steps, guidance, width, height, num_images, seed,
model, lora, lora_scale) -> gallery, seed; ``/image_to_image`` (prompt, image, strength, negative_prompt, steps,
guidance, num_images, seed, model, lora, lora_scale) -> gallery, seed. Width / height 0 mean the model's own size;
``lora`` lists LoRA folders or Hub ids (``python -m finetune.sd_lora``), comma-separated, "" for none.

As SD-Turbo demos do, the picture follows the prompt as it is typed ("Live", on for the fast models): each change of
the prompt runs text-to-image again (gradio's ``trigger_mode="always_last"``: while one run works, only the latest
prompt waits) and cancels the run in progress (``cancels``; the run stops at its next denoising step). While live,
a random seed is drawn once and kept, so the picture changes with the words rather than with the noise. Aspect-ratio
presets set width and height around the model's own size; "Send to image-to-image" takes the selected picture and
the prompt to the other tab.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Iterator
from typing import Any

import gradio as gr

from pipelines import TINY_NAMES, validate

from .common import (
    KEEP,
    Context,
    Run,
    SpaceSpec,
    draw_seed,
    image_input,
    number,
    parse_seed,
    read_image,
    run_controls,
    seed_input,
    whole,
)
from .launcher import main_for

logger = logging.getLogger(__name__)

TEXTS = {
    "en": {
        "t2i": "Text to image", "i2i": "Image to image", "prompt": "Prompt", "negative_prompt": "Negative prompt",
        "steps": "Steps", "guidance": "Guidance scale (0 = off)", "width": "Width (0 = the model's size)",
        "height": "Height (0 = the model's size)", "num_images": "Images", "generate": "Generate",
        "gallery": "Images", "image": "Start image", "strength": "Strength (how far from the image)",
        "step": "Painting: step {step} of {total}", "i2i_default": "the same scene as a watercolor painting",
        "images_made": "{count} image|{count} images",
        "lora": "LoRA (folders or Hub ids, comma-separated; python -m finetune.sd_lora)", "lora_scale": "LoRA scale",
        "live": "Live: a new picture as you type", "aspect": "Aspect ratio", "aspect_own": "model's own",
        "send": "Send to image to image", "send_nothing": "Generate a picture first, then send it.",
    },
    "pl": {
        "t2i": "Tekst na obraz", "i2i": "Obraz na obraz", "prompt": "Opis", "negative_prompt": "Czego unikać",
        "steps": "Kroki", "guidance": "Skala prowadzenia (0 = wył.)", "width": "Szerokość (0 = rozmiar modelu)",
        "height": "Wysokość (0 = rozmiar modelu)", "num_images": "Liczba obrazów", "generate": "Generuj",
        "gallery": "Obrazy", "image": "Obraz wejściowy", "strength": "Siła (jak daleko od obrazu)",
        "step": "Malowanie: krok {step} z {total}", "i2i_default": "ta sama scena jako akwarela",
        "images_made": "{count} obraz|{count} obrazy|{count} obrazów",
        "lora": "LoRA (foldery lub identyfikatory z Hub, po przecinku; python -m finetune.sd_lora)",
        "lora_scale": "Siła LoRA",
        "live": "Na żywo: nowy obraz w trakcie pisania", "aspect": "Proporcje", "aspect_own": "jak model",
        "send": "Wyślij do „Obraz na obraz”", "send_nothing": "Najpierw wygeneruj obraz, potem go wyślij.",
    },
}

EXAMPLES = [
    "a lighthouse on the Baltic coast at dawn, 35mm photo",
    "zamek w Malborku zimą, obraz olejny",  # SD understands English best; Polish prompts work less well
    "a red fox in a snowy forest, watercolor",
]
EXAMPLES_PL = [  # the Polish UI's (SD's CLIP text encoder reads English best)
    "latarnia morska na wybrzeżu Bałtyku o świcie, zdjęcie 35 mm",
    "zamek w Malborku zimą, obraz olejny",
    "rudy lis w zaśnieżonym lesie, akwarela",
]


def step_defaults(model: str, task: str) -> tuple[int, float]:
    """Steps and guidance a model needs: turbo models 1-2 steps without guidance, others 25 steps at 7.5."""
    if "turbo" in (model or "").lower():
        return (1 if task == "text-to-image" else 2), 0.0
    if model in TINY_NAMES:
        return 2, 7.5
    return 25, 7.5


#: Aspect-ratio presets (width:height); "" keeps the model's own square size.
ASPECTS = ("", "1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16")
FAST_STEPS = 4  # a model whose default is at most this many steps answers fast enough to follow typing


def aspect_size(aspect: str, native: int) -> tuple[int, int]:
    """Width and height for `aspect` ("16:9") with about the pixels of the model's native square, multiples of 8
    (what Stable Diffusion's VAE and UNet need); ``(0, 0)`` (the model's own size) for "".

    >>> aspect_size("16:9", 512), aspect_size("1:1", 512), aspect_size("", 512)
    ((680, 384), (512, 512), (0, 0))
    """
    if not aspect:
        return 0, 0
    w, h = (int(x) for x in aspect.split(":"))
    ratio = w / h
    return (max(8, round(native * math.sqrt(ratio) / 8) * 8), max(8, round(native / math.sqrt(ratio) / 8) * 8))


def _size(argument: str, value: Any) -> int | None:
    """A width / height slider: 0 means the model's own size (None); the pipeline checks it fits the model."""
    return whole(argument, value, 0, 1024) or None


def _settings(prompt: Any, negative_prompt: Any, steps: Any, guidance: Any, num_images: Any,
              seed: Any) -> dict[str, Any]:
    """The shared settings of both tabs, checked against the sliders' ranges."""
    return {"prompt": validate.text("prompt", prompt, allow_empty=True),
            "negative_prompt": validate.optional_text("negative_prompt", negative_prompt) or None,
            "num_inference_steps": whole("num_inference_steps", steps, 1, 100),
            "guidance_scale": number("guidance_scale", guidance, 0.0, 20.0),
            "num_images": whole("num_images", num_images, 1, 4), "seed": draw_seed(seed)}


def parse_loras(ctx: Context, text: Any) -> list[str] | None:
    """The LoRA field: folders or Hub ids separated by commas or new lines; None when empty (LoRA off).

    Local folders only under the operator's ``--allow-local-models`` folders, like the model field
    (`Context.check_source`); the pipeline itself reads safetensors only.
    """
    field = validate.text("lora", text or "", allow_empty=True)
    items = [item.strip() for item in field.replace("\n", ",").split(",")]
    return [ctx.check_source(item) for item in items if item] or None


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    image_to_image_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # lives as long as the cached t2i

    def generate(pipe: Any, run: Run, loras: tuple[Any, float], **call: Any) -> Iterator[Any]:
        """The pipeline called in a thread with these LoRAs, holding its lock (the API draws on the same cached
        pipeline); its steps on the status line; yields KEEP, then the result."""
        progress = run.steps(lambda step, total, _: t("step", step=step, total=total))

        def work(report: Any) -> Any:
            with pipe.using_lora(*loras):
                return pipe(**call, progress=progress)

        for kind, result in run.stream(work):
            if kind == "result":
                run.finish(t("images_made", count=len(result.images)), seed=result.seed, stopped=result.interrupted)
                return result
            yield KEEP
        raise AssertionError("no result")  # run.stream always ends with one

    def text_to_image(prompt: str, negative_prompt: str, steps: float, guidance: float, width: float,
                      height: float, num_images: float, seed: float | None, model: str, lora: str = "",
                      lora_scale: float = 1.0, *, run: Run) -> Iterator[Any]:
        settings = _settings(prompt, negative_prompt, steps, guidance, num_images, seed)
        size = {"width": _size("width", width), "height": _size("height", height)}
        loras = parse_loras(ctx, lora), number("lora_scale", lora_scale, -4.0, 4.0)
        t2i = yield from run.pipeline("text-to-image", model)
        result = yield from generate(t2i, run, loras, **settings, **size)
        yield result.images, result.seed

    def image_to_image(prompt: str, image: Any, strength: float, negative_prompt: str, steps: float,
                       guidance: float, num_images: float, seed: float | None, model: str, lora: str = "",
                       lora_scale: float = 1.0, *, run: Run) -> Iterator[Any]:
        settings = _settings(prompt, negative_prompt, steps, guidance, num_images, seed)
        picture = read_image(image, "image")
        strength = number("strength", strength, 0.0, 1.0, low_open=True)
        loras = parse_loras(ctx, lora), number("lora_scale", lora_scale, -4.0, 4.0)
        # Image-to-image runs on the text-to-image model's loaded components: one copy of the weights.
        t2i = yield from run.pipeline("text-to-image", model)
        if t2i not in image_to_image_of:
            from pipelines.image_generation import ImageToImagePipeline

            image_to_image_of[t2i] = ImageToImagePipeline.from_pipe(t2i)
        i2i = image_to_image_of[t2i]
        result = yield from generate(i2i, run, loras, image=picture, strength=strength, **settings)
        yield result.images, result.seed

    def live_text_to_image(aspect: str, prompt: str, negative_prompt: str, steps: float, guidance: float,
                           width: float, height: float, num_images: float, seed: float | None, model: str,
                           lora: str, lora_scale: float, kept_seed: int | None, *, run: Run) -> Iterator[Any]:
        """Text to image as the prompt is typed (or the aspect ratio changes; started only while live is on and the
        prompt is not blank): a random seed is drawn once and kept; an aspect preset sets the size from the loaded
        model's own. Yields at every denoising step, so that a cancel (the next keystroke) stops the run there; Stop
        stops it at its next step too."""
        if parse_seed(seed) is None:
            kept_seed = kept_seed if kept_seed is not None else validate.seed(None)
            seed = kept_seed
        settings = _settings(prompt, negative_prompt, steps, guidance, num_images, seed)
        size = {"width": _size("width", width), "height": _size("height", height)}
        loras = parse_loras(ctx, lora), number("lora_scale", lora_scale, -4.0, 4.0)
        t2i = yield from run.pipeline("text-to-image", model)
        if aspect:
            size["width"], size["height"] = aspect_size(validate.choice("aspect", aspect, ASPECTS), t2i.native_size)
        result = yield from generate(t2i, run, loras, **settings, **size)
        yield [(image, prompt) for image in result.images], result.seed, kept_seed

    def live_gate(live: bool, prompt: str, count: float | None) -> Any:
        """A new live run (the count changes) only while live is on and the prompt is not blank: otherwise typing
        leaves the status line alone."""
        return int(count or 0) + 1 if live and (prompt or "").strip() else gr.skip()

    def selected_index(evt: gr.SelectData) -> int:
        return evt.index

    def to_image_to_image(images: list[Any] | None, selected: int | None, prompt: str) -> tuple[Any, Any, Any]:
        """The selected picture of the gallery (the first when none is) and the prompt, for image-to-image; with
        no picture yet, a line on the status line saying to make one first."""
        if not images:
            said = Run(ctx)
            said.state, said.error = "error", t("send_nothing")
            return gr.skip(), gr.skip(), said.html()
        index = selected if isinstance(selected, int) and 0 <= selected < len(images) else 0
        item = images[index]
        return (item[0] if isinstance(item, (tuple, list)) else item), prompt, gr.skip()

    def native_size(model: str) -> int:
        """The loaded model's own size, else Stable Diffusion's 512 (every registry model's), 64 for the tiny one."""
        loaded = ctx.cache.peek("text-to-image", model or ctx.default_model("text-to-image"))
        if loaded is not None:
            return loaded.native_size
        return 64 if (model or ctx.default_model("text-to-image")) in TINY_NAMES else 512

    def settings(model: gr.Dropdown, task: str) -> tuple[gr.Slider, gr.Slider]:
        steps_value, guidance_value = step_defaults(model.value, task)
        with gr.Row():
            steps = gr.Slider(1, 100, value=steps_value, step=1, label=t("steps"))
            guidance = gr.Slider(0.0, 20.0, value=guidance_value, step=0.5, label=t("guidance"))
        model.change(lambda m: step_defaults(m, task), inputs=model, outputs=[steps, guidance],
                     api_visibility="private", queue=False)
        return steps, guidance

    def lora_settings() -> tuple[gr.Textbox, gr.Slider]:
        with gr.Row():
            return gr.Textbox("", label=t("lora"), scale=3), gr.Slider(-2.0, 2.0, value=1.0, step=0.05,
                                                                        label=t("lora_scale"))

    examples = EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES
    with gr.Tab(t("t2i"), elem_id="img-t2i-tab"):
        with gr.Row():
            with gr.Column():
                model = ctx.model_dropdown("text-to-image", elem_id="t2i-model")  # in sight, not in the settings
                prompt = gr.Textbox(label=t("prompt"), lines=2, value=examples[0], elem_id="img-prompt")
                with gr.Row():
                    live = gr.Checkbox(step_defaults(ctx.default_model("text-to-image"), "text-to-image")[0]
                                       <= FAST_STEPS, label=t("live"), elem_id="img-live")
                    aspect = gr.Radio([(t("aspect_own"), "")] + [(a, a) for a in ASPECTS[1:]], value="",
                                      label=t("aspect"), elem_id="img-aspect")
                negative = gr.Textbox(label=t("negative_prompt"))
                with gr.Accordion(ctx.t("settings"), open=False):
                    steps, guidance = settings(model, "text-to-image")
                    lora, lora_scale = lora_settings()
                    with gr.Row():
                        width = gr.Slider(0, 1024, value=0, step=64, label=t("width"))
                        height = gr.Slider(0, 1024, value=0, step=64, label=t("height"))
                    with gr.Row():
                        num_images = gr.Slider(1, 4, value=1, step=1, label=t("num_images"))
                        seed = seed_input(ctx, elem_id="t2i-seed-input")
                controls = run_controls(ctx, t("generate"), elem_id="t2i-run", stop=True)
            with gr.Column():
                gallery = gr.Gallery(label=t("gallery"), columns=2, format="png", elem_id="img-gallery")
                seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="img-seed")
                send = gr.Button(t("send"), size="sm", elem_id="img-send")
        gr.Examples([[e] for e in examples], inputs=[prompt], label=ctx.t("examples"))
        t2i_inputs = [prompt, negative, steps, guidance, width, height, num_images, seed, model, lora, lora_scale]
        controls.click(text_to_image, t2i_inputs, [gallery, seed_used], api_name="text_to_image", **SPACE.queue)
        kept_seed, selected = gr.State(None), gr.State(None)
        # As the prompt is typed: the gate counts a new live run (only while live is on), which runs on the tab's
        # run controls (status line, Stop); while one works only the latest waits (always_last) ... The count is a
        # number in the page, not a gr.State: the page fires a State's change only after a queued event, and the
        # gate answers at once (queue=False).
        live_runs = gr.Number(0, visible="hidden", elem_id="img-live-runs")
        gr.on([prompt.change, aspect.change], live_gate, [live, prompt, live_runs], live_runs, queue=False,
              api_visibility="private", show_progress="hidden")
        typing = controls.click(live_text_to_image, [aspect, *t2i_inputs, kept_seed], [gallery, seed_used, kept_seed],
                                api_name=None, run_button=False, triggers=[live_runs.change],
                                trigger_mode="always_last", **SPACE.queue)
        # ... and a keystroke or Generate cancels the live run in progress (it stops at its next step)
        gr.on([prompt.input, controls.run.click], None, None, None, cancels=[typing], queue=False,
              api_visibility="private")
        # a preset shows its size on the sliders; moving a slider by hand leaves the preset
        aspect.change(lambda a, m: aspect_size(a, native_size(m)) if a else (gr.skip(), gr.skip()), [aspect, model],
                      [width, height], queue=False, api_visibility="private")
        gr.on([width.input, height.input], lambda: "", None, aspect, queue=False, api_visibility="private")
        gallery.select(selected_index, None, selected, queue=False, api_visibility="private")

    with gr.Tab(t("i2i"), elem_id="img-i2i-tab"):
        with gr.Row():
            with gr.Column():
                model2 = ctx.model_dropdown("image-to-image", elem_id="i2i-model")
                image = image_input(label=t("image"), type="pil", sources=["upload", "clipboard", "webcam"],
                                    elem_id="img-i2i-image")
                prompt2 = gr.Textbox(label=t("prompt"), lines=2, value=t("i2i_default"), elem_id="img-i2i-prompt")
                strength = gr.Slider(0.05, 1.0, value=0.5, step=0.05, label=t("strength"))
                with gr.Accordion(ctx.t("settings"), open=False):
                    negative2 = gr.Textbox(label=t("negative_prompt"))
                    steps2, guidance2 = settings(model2, "image-to-image")
                    lora2, lora_scale2 = lora_settings()
                    with gr.Row():
                        num_images2 = gr.Slider(1, 4, value=1, step=1, label=t("num_images"))
                        seed2 = seed_input(ctx)
                controls2 = run_controls(ctx, t("generate"), elem_id="i2i-run", stop=True)
            with gr.Column():
                gallery2 = gr.Gallery(label=t("gallery"), columns=2, format="png", elem_id="img-i2i-gallery")
                seed_used2 = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False,
                                       elem_id="img-i2i-seed")
        controls2.click(image_to_image,
                        [prompt2, image, strength, negative2, steps2, guidance2, num_images2, seed2, model2, lora2,
                         lora_scale2],
                        [gallery2, seed_used2], api_name="image_to_image", **SPACE.queue)
    # the tab switch is the browser's, once a picture was sent: a click on the tab's own button (gradio names it
    # "<elem_id>-button")
    send.click(to_image_to_image, [gallery, selected, prompt], [image, prompt2, controls.status], queue=False,
               api_visibility="private", show_progress="hidden").then(
        None, js="() => { if (document.querySelector('#img-gallery img')) "
                 "document.getElementById('img-i2i-tab-button')?.click(); }")


SPACE = SpaceSpec(
    name="image_generation",
    title={"en": "Image generation", "pl": "Generowanie obrazów"},
    tasks=("text-to-image", "image-to-image"),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "diffusers", "transformers", "tokenizers", "safetensors", "huggingface-hub",
                  "accelerate", "numpy", "psutil"),
    emoji="🎨",
    description="Stable Diffusion (sd-turbo, SD 1.5): text to image and image to image, with the seed used.",
    order=30,
    group="images",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
