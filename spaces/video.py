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

from .common import KEEP, Context, Refusal, Run, SpaceSpec, draw_seed, request_folder, run_controls, seed_input, whole

logger = logging.getLogger(__name__)

TASK = "text-to-video"

TEXTS = {
    "en": {
        "prompt": "Prompt", "negative_prompt": "Negative prompt", "width": "Width", "height": "Height",
        "frames": "Frames (4k + 1)", "steps": "Steps", "guidance": "Guidance scale (<= 1 = off)",
        "image": "First frame (optional; Wan 2.2 TI2V only)", "generate": "Generate", "video": "Video",
        "step": "Denoising: step {step} of {total}",
        "made": "{frames} frames, {width}×{height}", "noisy": "the video is still noisy",
        "cpu_note": "⚠️ On a CPU, Wan is impractically slow: one 480p clip of Wan 2.1 1.3B takes hours (it runs, "
                    "nothing is refused). Use a GPU with 8 GB or more (Wan 2.2 TI2V 5B: 24 GB); the tiny models "
                    "(`--models tiny`) run on a CPU in seconds.",
    },
    "pl": {
        "prompt": "Opis", "negative_prompt": "Czego unikać", "width": "Szerokość", "height": "Wysokość",
        "frames": "Klatki (4k + 1)", "steps": "Kroki", "guidance": "Skala prowadzenia (<= 1 = wył.)",
        "image": "Pierwsza klatka (opcjonalnie; tylko Wan 2.2 TI2V)", "generate": "Generuj", "video": "Wideo",
        "step": "Odszumianie: krok {step} z {total}",
        "made": "klatki: {frames}, {width}×{height}", "noisy": "wideo jest jeszcze zaszumione",
        "cpu_note": "⚠️ Na CPU Wan jest niepraktycznie wolny: jeden klip 480p z Wan 2.1 1.3B to godziny (działa, "
                    "niczego nie blokujemy). Użyj GPU z co najmniej 8 GB (Wan 2.2 TI2V 5B: 24 GB); małe modele "
                    "(`--models tiny`) działają na CPU w kilka sekund.",
    },
}

#: Refused requests in a person's words (see `spaces.common.ERRORS`).
ERROR_TEXTS = {
    "en": {"text_only": "This model makes video from text only — pick Wan 2.2 TI2V (Wan-AI/Wan2.2-TI2V-5B-Diffusers) "
                        "to start from an image, or remove the first frame."},
    "pl": {"text_only": "Ten model tworzy wideo tylko z tekstu — aby zacząć od obrazka, wybierz Wan 2.2 TI2V "
                        "(Wan-AI/Wan2.2-TI2V-5B-Diffusers) albo usuń pierwszą klatkę."},
}

EXAMPLES = [
    "a red fox trotting through fresh snow at sunrise, cinematic",
    "waves crashing on a rocky Baltic shore, slow motion",
    "a paper boat drifting down a rainy street, close-up",
]
EXAMPLES_PL = [
    "rudy lis biegnący przez świeży śnieg o wschodzie słońca, filmowo",
    "fale rozbijające się o skalisty brzeg Bałtyku, zwolnione tempo",
    "papierowa łódka płynąca deszczową ulicą, zbliżenie",
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
    examples = EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES

    def generate(prompt: str, negative_prompt: str, width: float, height: float, num_frames: float, steps: float,
                 guidance: float, seed: float | None, image: Any, model: str, *, run: Run) -> Iterator[Any]:
        width, height = whole("width", width, 16, 1280), whole("height", height, 16, 1280)  # the sliders' ranges
        num_frames, steps = whole("num_frames", num_frames, 1, 121), whole("steps", steps, 1, 100)
        seed = draw_seed(seed)
        video = yield from run.pipeline(TASK, model)
        if image is not None and not video.supports_image:
            raise Refusal("text_only", ERROR_TEXTS)

        def work(report: Any) -> Any:
            return video(prompt, negative_prompt=negative_prompt or None, width=width, height=height,
                         num_frames=num_frames, num_inference_steps=steps, guidance_scale=guidance, seed=seed,
                         image=image, progress=run.steps(lambda step, total, _: t("step", step=step, total=total)))

        for kind, result in run.stream(work):
            if kind != "result":
                yield KEEP
                continue
            made = t("made", frames=len(result.frames), width=result.width, height=result.height)
            run.finish(f"{made} · {t('noisy')}" if result.interrupted else made, seed=result.seed,
                       stopped=result.interrupted)
            with request_folder("mmhub-video-") as folder:  # the MP4 goes once gradio has copied it
                yield str(result.save(folder / "video.mp4")), result.seed

    gr.Markdown(t("cpu_note"))
    with gr.Row():
        with gr.Column():
            model = ctx.model_dropdown(TASK)  # outside the settings: it decides whether a first frame may be given
            prompt = gr.Textbox(label=t("prompt"), lines=2, value=examples[0])
            image = gr.Image(label=t("image"), type="pil", sources=["upload", "clipboard"], elem_id="video-image")
            with gr.Accordion(ctx.t("settings"), open=False):
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
                    seed = seed_input(ctx)
            controls = run_controls(ctx, t("generate"), elem_id="video-run", stop=True, errors=ERROR_TEXTS)
        with gr.Column():
            result = gr.Video(label=t("video"), interactive=False, format="mp4", elem_id="video-result")
            seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="video-seed")
    gr.Examples([[e] for e in examples], inputs=[prompt], label=ctx.t("examples"))
    model.change(video_defaults, inputs=model, outputs=[width, height, num_frames, steps], api_visibility="private",
                 queue=False)
    controls.click(generate, [prompt, negative, width, height, num_frames, steps, guidance, seed, image, model],
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
    group="video",
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.video", title="mmhub · video")


if __name__ == "__main__":
    main()
