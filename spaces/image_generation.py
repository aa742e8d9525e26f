"""Image generation Space: Stable Diffusion text-to-image and image-to-image, a gallery and the seed used.

    python -m spaces.image_generation                  # sd-turbo by default (1-4 steps, guidance 0)
    python -m spaces.image_generation --models tiny    # offline, tiny random UNet (noise)

API (gradio_client): ``/text_to_image`` (prompt, negative_prompt, steps, guidance, width, height, num_images, seed,
model, lora, lora_scale) -> gallery, seed; ``/image_to_image`` (prompt, image, strength, negative_prompt, steps,
guidance, num_images, seed, model, lora, lora_scale) -> gallery, seed. Width / height 0 mean the model's own size;
``lora`` lists LoRA folders or Hub ids (``python -m finetune.sd_lora``), comma-separated, "" for none.
"""

from __future__ import annotations

import logging
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

    def generate(pipe: Any, run: Run, **call: Any) -> Iterator[Any]:
        """The pipeline called in a thread, its steps on the status line; yields KEEP, then the result."""
        progress = run.steps(lambda step, total, _: t("step", step=step, total=total))
        for kind, result in run.stream(lambda report: pipe(**call, progress=progress)):
            if kind == "result":
                run.finish(t("images_made", count=len(result.images)), seed=result.seed)
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
        t2i.set_lora(*loras)
        result = yield from generate(t2i, run, **settings, **size)
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
        i2i.set_lora(*loras)
        result = yield from generate(i2i, run, image=picture, strength=strength, **settings)
        yield result.images, result.seed

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
    with gr.Tab(t("t2i")):
        with gr.Row():
            with gr.Column():
                model = ctx.model_dropdown("text-to-image", elem_id="t2i-model")  # in sight, not in the settings
                prompt = gr.Textbox(label=t("prompt"), lines=2, value=examples[0], elem_id="t2i-prompt")
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
                controls = run_controls(ctx, t("generate"), elem_id="t2i-run")
            with gr.Column():
                gallery = gr.Gallery(label=t("gallery"), columns=2, format="png", elem_id="t2i-gallery")
                seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="t2i-seed")
        gr.Examples([[e] for e in examples], inputs=[prompt], label=ctx.t("examples"))
        controls.click(text_to_image,
                       [prompt, negative, steps, guidance, width, height, num_images, seed, model, lora, lora_scale],
                       [gallery, seed_used], api_name="text_to_image", **SPACE.queue)

    with gr.Tab(t("i2i")):
        with gr.Row():
            with gr.Column():
                model2 = ctx.model_dropdown("image-to-image", elem_id="i2i-model")
                image = image_input(label=t("image"), type="pil", sources=["upload", "clipboard", "webcam"],
                                    elem_id="i2i-image")
                prompt2 = gr.Textbox(label=t("prompt"), lines=2, value=t("i2i_default"))
                strength = gr.Slider(0.05, 1.0, value=0.5, step=0.05, label=t("strength"))
                with gr.Accordion(ctx.t("settings"), open=False):
                    negative2 = gr.Textbox(label=t("negative_prompt"))
                    steps2, guidance2 = settings(model2, "image-to-image")
                    lora2, lora_scale2 = lora_settings()
                    with gr.Row():
                        num_images2 = gr.Slider(1, 4, value=1, step=1, label=t("num_images"))
                        seed2 = seed_input(ctx)
                controls2 = run_controls(ctx, t("generate"), elem_id="i2i-run")
            with gr.Column():
                gallery2 = gr.Gallery(label=t("gallery"), columns=2, format="png", elem_id="i2i-gallery")
                seed_used2 = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="i2i-seed")
        controls2.click(image_to_image,
                        [prompt2, image, strength, negative2, steps2, guidance2, num_images2, seed2, model2, lora2,
                         lora_scale2],
                        [gallery2, seed_used2], api_name="image_to_image", **SPACE.queue)


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
