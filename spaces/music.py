"""Music Space: MusicGen from a prompt (and optionally a melody clip to follow), a player and a download.

    python -m spaces.music                  # facebook/musicgen-small (CC-BY-NC-4.0: not for commercial use)
    python -m spaces.music --models tiny    # offline, tiny random MusicGen (noise)

API (gradio_client): ``/music`` (prompt, duration, melody file or None, guidance, temperature, seed, model) ->
audio file, the same file to download, the seed used. While it runs, the player is refreshed with the audio
generated so far (previews every few seconds of music). Gradio's true streaming audio output needs a system
``ffmpeg`` (``gradio/audio_stream_encoder.py`` spawns one), so the growing WAV is sent instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .common import KEEP, Context, Run, SpaceSpec, draw_seed, request_folder, run_controls, seed_input

logger = logging.getLogger(__name__)

TASK = "text-to-music"
PREVIEW_SECONDS = 2.0
# The preview player holds the newest 30 s of the music so far: every preview rewrote (and gradio cached) all of it,
# bytes quadratic in the duration.
PREVIEW_KEEP_SECONDS = 30.0

TEXTS = {
    "en": {
        "prompt": "Describe the music", "duration": "Duration (s)", "generate": "Compose",
        "melody": "Melody to follow (optional; melody models such as facebook/musicgen-melody)",
        "guidance": "Guidance scale (<= 1 = off)", "temperature": "Temperature", "result": "Music",
        "download": "Download (WAV)",
        "composing": "Composing: about {done:.0f} s of {total:.0f} s of music written",
        "composed": "{seconds:.1f} s of music", "kept": "kept the first {seconds:.1f} s",
        "cpu_note": "On a CPU MusicGen-small needs several seconds per second of music; longer pieces than 30 s "
                    "are continued window by window.",
        "licence": "MusicGen weights are CC-BY-NC-4.0: not for commercial use.",
    },
    "pl": {
        "prompt": "Opisz muzykę", "duration": "Długość (s)", "generate": "Komponuj",
        "melody": "Melodia do naśladowania (opcjonalnie; modele melody, np. facebook/musicgen-melody)",
        "guidance": "Skala prowadzenia (<= 1 = wył.)", "temperature": "Temperatura", "result": "Muzyka",
        "download": "Pobierz (WAV)",
        "composing": "Komponowanie: gotowe ok. {done:.0f} s z {total:.0f} s muzyki",
        "composed": "{seconds:.1f} s muzyki", "kept": "zachowano pierwsze {seconds:.1f} s",
        "cpu_note": "Na CPU MusicGen-small potrzebuje kilku sekund na sekundę muzyki; utwory dłuższe niż 30 s "
                    "są kontynuowane okno po oknie.",
        "licence": "Wagi MusicGen mają licencję CC-BY-NC-4.0: nie do użytku komercyjnego.",
    },
}

EXAMPLES = [
    ["lo-fi hip hop beat with a mellow piano and vinyl crackle", 10],
    ["80s synth pop with driving drums and a catchy bass line", 15],
    ["a calm solo cello piece, slow and melancholic", 10],
]
EXAMPLES_PL = [  # the Polish UI's (MusicGen's text encoder, T5, reads English best)
    ["spokojny lo-fi hip-hop z łagodnym pianinem i trzaskami winylu", 10],
    ["synth pop z lat 80. z mocną perkusją i chwytliwą linią basu", 15],
    ["spokojny, melancholijny utwór na wiolonczelę solo", 10],
]


def write_wav(folder: Path, name: str, audio: np.ndarray, sample_rate: int) -> str:
    """Write float audio ``(samples,)`` / ``(channels, samples)`` to ``folder/name.wav`` for the player."""
    from pipelines.audio import save_audio

    return str(save_audio(folder / f"{name}.wav", audio, sample_rate))


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    examples = EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES

    def compose(prompt: str, duration: float, melody: str | None, guidance: float, temperature: float,
                seed: float | None, model: str, *, run: Run) -> Iterator[Any]:
        seed = draw_seed(seed)
        music = yield from run.pipeline(TASK, model)
        preview: np.ndarray | None = None  # the newest PREVIEW_KEEP_SECONDS of the chunks reported so far
        seconds = float(duration) if isinstance(duration, (int, float)) else 0.0  # the pipeline checks it

        def work(report: Any) -> Any:
            def on_step(step: int, total: int, info: dict[str, Any]) -> bool:
                if info.get("preview") is not None:
                    report(info["preview"][0])
                # steps run over every continuation window: one steady fraction of the whole piece
                return run.report(step, total, t("composing", done=seconds * step / max(total, 1), total=seconds))

            return music(prompt, duration=duration, melody=melody or None, guidance_scale=float(guidance),
                         temperature=float(temperature), seed=seed, progress=on_step,
                         preview_seconds=PREVIEW_SECONDS)

        keep = int(PREVIEW_KEEP_SECONDS * music.sample_rate)
        with request_folder("mmhub-music-") as folder:  # one preview file, rewritten; gone when the request ends
            for kind, value in run.stream(work):
                if kind == "update":
                    chunk = value[0]  # ([channels,] samples): mono or stereo, as the checkpoint makes
                    preview = (chunk if preview is None else np.concatenate([preview, chunk], axis=-1))[..., -keep:]
                    yield write_wav(folder, "preview", preview, music.sample_rate), gr.skip(), gr.skip()
                elif kind == "result":
                    path = write_wav(folder, "music", value.audio, value.sample_rate)
                    length = value.audio.shape[-1] / value.sample_rate
                    run.finish(t("kept" if value.interrupted else "composed", seconds=length), seed=value.seed,
                               stopped=value.interrupted)
                    yield path, path, value.seed
                else:
                    yield KEEP

    gr.Markdown(f"ℹ️ {t('cpu_note')} {t('licence')}")
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label=t("prompt"), lines=2, value=examples[0][0])
            duration = gr.Slider(1, 120, value=2 if ctx.tiny else 10, step=1, label=t("duration"),
                                 elem_id="music-duration")
            melody = gr.Audio(label=t("melody"), type="filepath", sources=["upload", "microphone"])
            with gr.Accordion(ctx.t("settings"), open=False):
                model = ctx.model_dropdown(TASK)
                with gr.Row():
                    guidance = gr.Slider(0.0, 10.0, value=3.0, step=0.5, label=t("guidance"))
                    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label=t("temperature"))
                seed = seed_input(ctx)
            controls = run_controls(ctx, t("generate"), elem_id="music-run", stop=True)
        with gr.Column():
            result = gr.Audio(label=t("result"), type="filepath", interactive=False, elem_id="music-result")
            download = gr.File(label=t("download"), interactive=False)
            seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="music-seed")
    gr.Examples(examples, inputs=[prompt, duration], label=ctx.t("examples"))
    controls.click(compose, [prompt, duration, melody, guidance, temperature, seed, model],
                   [result, download, seed_used], api_name="music", **SPACE.queue)


SPACE = SpaceSpec(
    name="music",
    title={"en": "Music", "pl": "Muzyka"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "numpy", "soundfile",
                  "soxr", "sentencepiece"),
    emoji="🎵",
    description="MusicGen: music from a text prompt, optionally following a melody; any length by continuation.",
    order=70,
    group="audio",
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.music", title="mmhub · music")


if __name__ == "__main__":
    main()
