"""Video Space: Wan 2.1 / 2.2 text-to-video (and image-to-video with Wan 2.2 TI2V), a player and the seed used.

    python -m spaces.video                  # Wan-AI/Wan2.1-T2V-1.3B-Diffusers (needs a GPU to be practical)
    python -m spaces.video --models tiny    # offline, tiny random Wan (noise), seconds on a CPU

API (gradio_client): ``/video`` (prompt, negative_prompt, width, height, num_frames, steps, guidance, seed, first
image or None, model) -> MP4 video, the seed used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, parse_seed, request_folder, step_progress, user_errors, whole

logger = logging.getLogger(__name__)

TASK = "text-to-video"

TEXTS = {
    "en": {
        "prompt": "Prompt", "negative_prompt": "Negative prompt", "width": "Width", "height": "Height",
        "frames": "Frames (4k + 1)", "steps": "Steps", "guidance": "Guidance scale (<= 1 = off)",
        "image": "First frame (optional; Wan 2.2 TI2V only)", "generate": "Generate", "video": "Video",
        "step": "Step {step}/{total}",
        "cpu_note": "⚠️ On a CPU, Wan is impractically slow: one 480p clip of Wan 2.1 1.3B takes hours (it runs, "
                    "nothing is refused). Use a GPU with 8 GB or more (Wan 2.2 TI2V 5B: 24 GB); the tiny models "
                    "(`--models tiny`) run on a CPU in seconds.",
    },
    "pl": {
        "prompt": "Opis", "negative_prompt": "Czego unikać", "width": "Szerokość", "height": "Wysokość",
        "frames": "Klatki (4k + 1)", "steps": "Kroki", "guidance": "Skala prowadzenia (<= 1 = wył.)",
        "image": "Pierwsza klatka (opcjonalnie; tylko Wan 2.2 TI2V)", "generate": "Generuj", "video": "Wideo",
        "step": "Krok {step}/{total}",
        "cpu_note": "⚠️ Na CPU Wan jest niepraktycznie wolny: jeden klip 480p z Wan 2.1 1.3B to godziny (działa, "
                    "niczego nie blokujemy). Użyj GPU z co najmniej 8 GB (Wan 2.2 TI2V 5B: 24 GB); małe modele "
                    "(`--models tiny`) działają na CPU w kilka sekund.",
    },
}

EXAMPLES = [
    "a red fox trotting through fresh snow at sunrise, cinematic",
    "waves crashing on a rocky Baltic shore, slow motion",
    "a paper boat drifting down a rainy street, close-up",
]


def video_defaults(model: str) -> tuple[int, int, int, int]:
    """(width, height, num_frames, steps) a model is meant for (`pipelines.video_generation.DEFAULTS`)."""
    from pipelines.video_generation import DEFAULTS

    name = (model or "").strip()
    if name in ("tiny", "tiny-ti2v"):
        height, width, frames, _ = DEFAULTS[name]
        return width, height, frames, 2
    height, width, frames, _ = DEFAULTS["wan2.2-ti2v" if "ti2v" in name.lower() else "wan2.1"]
    return width, height, frames, 50


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    @user_errors
    def generate(prompt: str, negative_prompt: str, width: float, height: float, num_frames: float, steps: float,
                 guidance: float, seed: float | None, image: Any, model: str,
                 progress: gr.Progress = gr.Progress()) -> Iterator[tuple[str, int]]:
        """One yield: a generator, so that the MP4's folder goes once gradio has copied the file into its cache."""
        width, height = whole("width", width, 16, 1280), whole("height", height, 16, 1280)  # the sliders' ranges
        num_frames, steps = whole("num_frames", num_frames, 1, 121), whole("steps", steps, 1, 100)
        video = ctx.pipeline(TASK, model, progress)
        result = video(prompt, negative_prompt=negative_prompt or None, width=width, height=height,
                       num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance,
                       seed=parse_seed(seed), image=image,
                       progress=step_progress(progress, lambda step, total, _: t("step", step=step, total=total)))
        with request_folder("mmhub-video-") as folder:
            yield str(result.save(folder / "video.mp4")), result.seed

    gr.Markdown(t("cpu_note"))
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label=t("prompt"), lines=2, value=EXAMPLES[0])
            image = gr.Image(label=t("image"), type="pil", sources=["upload", "clipboard"])
            with gr.Accordion(ctx.t("settings"), open=False):
                model = ctx.model_dropdown(TASK)
                negative = gr.Textbox(label=t("negative_prompt"))
                width_value, height_value, frames_value, steps_value = video_defaults(model.value)
                with gr.Row():
                    width = gr.Slider(16, 1280, value=width_value, step=16, label=t("width"))
                    height = gr.Slider(16, 1280, value=height_value, step=16, label=t("height"))
                with gr.Row():
                    num_frames = gr.Slider(1, 121, value=frames_value, step=4, label=t("frames"))
                    steps = gr.Slider(1, 100, value=steps_value, step=1, label=t("steps"))
                with gr.Row():
                    guidance = gr.Slider(0.0, 15.0, value=5.0, step=0.5, label=t("guidance"))
                    seed = gr.Number(None, label=ctx.t("seed"), precision=0, minimum=0)
            button = gr.Button(t("generate"), variant="primary")
        with gr.Column():
            result = gr.Video(label=t("video"), interactive=False, format="mp4")
            seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False)
    gr.Examples([[e] for e in EXAMPLES], inputs=[prompt], label=ctx.t("examples"))
    model.change(video_defaults, inputs=model, outputs=[width, height, num_frames, steps], api_visibility="private",
                 queue=False)
    button.click(generate, [prompt, negative, width, height, num_frames, steps, guidance, seed, image, model],
                 [result, seed_used], api_name="video", **SPACE.queue)


SPACE = SpaceSpec(
    name="video",
    title={"en": "Video", "pl": "Wideo"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "diffusers", "transformers", "tokenizers", "safetensors", "huggingface-hub",
                  "accelerate", "numpy", "psutil", "pillow", "ftfy", "imageio", "imageio-ffmpeg", "sentencepiece"),
    emoji="🎬",
    description="Wan 2.1 / 2.2: a short video from a prompt (or a first image); GPU recommended.",
    order=80,
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.video", title="mmhub · video")


if __name__ == "__main__":
    main()
