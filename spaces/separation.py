"""Separation Space: a song split into stems (vocals, drums, bass, other…), a player and a download for each.

    python -m spaces.separation                  # HTDemucs
    python -m spaces.separation --models tiny    # offline, tiny random Demucs (noise)

API (gradio_client): ``/separate`` (audio file, two_stems, shifts, seed, model) -> one file per stem slot
(``MAX_STEMS`` slots, unused ones None) and the list of all stem files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import KEEP, Context, Run, SpaceSpec, draw_seed, request_folder, require, run_controls, seed_input, whole
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "separation"
MAX_STEMS = 6  # htdemucs_6s: drums, bass, other, vocals, guitar, piano
TWO_STEMS = ("vocals", "drums", "bass", "other")

TEXTS = {
    "en": {
        "audio": "Music (upload or record)", "two_stems": "Split into", "all_stems": "all stems",
        "only": "{stem} + the rest", "shifts": "Shifts (more = slower, slightly better)", "run": "Separate",
        "downloads": "Download the stems", "stem": "Stem {i}", "progress": "Separating: part {step} of {total}",
        "stems_made": "{count} stem|{count} stems",
    },
    "pl": {
        "audio": "Muzyka (wgraj lub nagraj)", "two_stems": "Podziel na", "all_stems": "wszystkie ścieżki",
        "only": "{stem} + reszta", "shifts": "Przesunięcia (więcej = wolniej, trochę lepiej)", "run": "Rozdziel",
        "downloads": "Pobierz ścieżki", "stem": "Ścieżka {i}", "progress": "Rozdzielanie: część {step} z {total}",
        "stems_made": "{count} ścieżka|{count} ścieżki|{count} ścieżek",
        # the stems' names (demucs: drums, bass, other, vocals; htdemucs_6s adds guitar, piano)
        "stem_vocals": "wokal", "stem_drums": "perkusja", "stem_bass": "bas", "stem_other": "reszta",
        "stem_guitar": "gitara", "stem_piano": "fortepian",
    },
}


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def stem_name(name: str) -> str:
        return t(f"stem_{name}") if f"stem_{name}" in TEXTS.get(ctx.lang, {}) else name

    def separate(audio: str | None, two_stems: str, shifts: float, seed: float | None, model: str, *,
                 run: Run) -> Iterator[Any]:
        from pipelines.audio import read_audio

        require(audio, "audio", "an audio file (upload or record one)")
        clip = read_audio(audio, argument="audio")  # unreadable, empty, silent, NaN: InputError naming `audio`
        shifts = whole("shifts", shifts, 0, 5)
        seed = draw_seed(seed)
        sep = yield from run.pipeline(TASK, model)

        def work(report: Any) -> Any:
            return sep(clip.audio, sample_rate=clip.sample_rate, two_stems=two_stems or None, shifts=shifts,
                       seed=seed, progress=run.steps(lambda step, total, _: t("progress", step=step, total=total)))

        for kind, result in run.stream(work):
            if kind != "result":
                yield KEEP
                continue
            with request_folder("mmhub-stems-") as folder:  # gone once gradio has copied the stems
                paths = result.save(folder)
                players = [gr.update(value=str(path), label=stem_name(name), visible=True)
                           for name, path in paths.items()]
                players += [gr.update(value=None, visible=False)] * (MAX_STEMS - len(players))
                run.finish(t("stems_made", count=len(paths)), seed=seed)
                yield players[:MAX_STEMS] + [[str(p) for p in paths.values()]]

    model = ctx.model_dropdown(TASK)
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(label=t("audio"), type="filepath", sources=["upload", "microphone"])
            choices = [(t("all_stems"), "")] + [(t("only", stem=stem_name(s)), s) for s in TWO_STEMS]
            two_stems = gr.Dropdown(choices, value="", label=t("two_stems"))
            with gr.Row():
                shifts = gr.Slider(0, 5, value=1, step=1, label=t("shifts"))
                seed = seed_input(ctx)
            controls = run_controls(ctx, t("run"), elem_id="separation-run")
        with gr.Column():
            players = [gr.Audio(label=t("stem", i=i + 1), type="filepath", interactive=False, visible=i < 4)
                       for i in range(MAX_STEMS)]
            downloads = gr.File(label=t("downloads"), file_count="multiple", interactive=False)
    controls.click(separate, [audio, two_stems, shifts, seed, model], players + [downloads], api_name="separate",
                   **SPACE.queue)


SPACE = SpaceSpec(
    name="separation",
    title={"en": "Music separation", "pl": "Separacja muzyki"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "demucs", "huggingface-hub", "numpy", "soundfile", "soxr"),
    emoji="🎚️",
    description="HTDemucs music source separation: vocals, drums, bass and other, each to play and download.",
    order=50,
    group="audio",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
