"""Song Space: ACE-Step 1.5 sings your lyrics in a style you describe (Suno's slide in the lecture), a player and a
download.

    python -m spaces.song                   # ACE-Step/acestep-v15-xl-turbo-diffusers (a GPU)
    python -m spaces.song --models tiny     # offline, a tiny random ACE-Step (noise)

API (gradio_client): ``/song`` (style, lyrics, instrumental, language, duration, seed, steps, guidance, shift, bpm,
key, time signature, model) -> WAV for the player, FLAC to download, the seed used, a summary line. Seed −1 draws a
random one; bpm 0 and an empty key / time signature leave them to the model. In the page, progress and refusals are
on the tab's status line, and Stop ends the song at its next denoising step (what was sung so far is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from pipelines import validate
from pipelines.song_languages import LANGUAGES

from .common import (
    KEEP,
    Context,
    Run,
    SpaceSpec,
    draw_seed,
    number,
    request_folder,
    run_controls,
    seed_input,
    whole,
)

logger = logging.getLogger(__name__)

TASK = "text-to-song"
# ACE-Step's ranges (pipelines/song_generation.py has their sources)
DURATION_RANGE, BPM_RANGE, TIME_SIGNATURES = (10, 600), (30, 300), ("2", "3", "4", "6")
KEYS = [f"{n}{a} {m}" for n in "CDEFGAB" for a in ("", "#", "b") for m in ("major", "minor")]

LYRICS = {
    "pl": "[verse]\nNad Wisłą rano świeci słońce,\npo moście jadą dwa tramwaje,\na ja tu liczę swe piosenki\n"
          "i każda w sercu pozostaje.\n\n[chorus]\nŚpiewaj ze mną, śpiewaj głośno,\nniech to miasto dzisiaj tańczy!",
    "en": "[verse]\nMorning light across the river,\ntwo old trams are rolling by,\nI keep counting all my verses\n"
          "underneath the open sky.\n\n[chorus]\nSing along and sing it louder,\nlet the city dance tonight!",
}
STYLES = {"pl": "polish pop, female vocals, acoustic guitar, warm, upbeat",
          "en": "indie folk, male vocals, banjo and hand claps, cheerful"}
INSTRUMENTAL = "lo-fi hip hop, mellow piano, vinyl crackle"
# The Polish UI's example prompts are Polish (ACE-Step's own examples write the tags in English, which the tab takes as
# well): the Polish song and an instrumental; English lyrics are not offered there.
STYLES_PL = {"pl": "polski pop, wokal żeński, gitara akustyczna, ciepło, pogodnie",
             "instrumental": "lo-fi hip hop, spokojne pianino, trzaski płyty winylowej"}

TEXTS = {
    "en": {
        "intro": "Describe the style with tags (genre, instruments, mood, voice) and write the lyrics with structure "
                 "tags such as `[verse]`, `[chorus]`, `[bridge]`. ACE-Step 1.5 sings 50 languages, Polish among "
                 "them: pick the lyrics' language. 10 s to 10 minutes of 48 kHz stereo.",
        "cpu_note": "The real model needs a GPU (the XL DiT has about 5 billion weights).",
        "licence": "Weights: ACE-Step 1.5 (MIT, the project's licence).",
        "style": "Style (tags)", "lyrics": "Lyrics", "instrumental": "Instrumental (no vocals: ACE-Step's "
                                                                       "[Instrumental])",
        "language": "Language of the lyrics", "duration": "Duration (s)", "steps": "Steps (turbo: 1-20, 8 "
                                                                                    "recommended; base: up to 200)",
        "guidance": "Guidance (base models; turbo ignores it)", "shift": "Timestep shift",
        "bpm": "Tempo, BPM (0 = the model chooses)", "key": "Key (empty = the model chooses)",
        "time_signature": "Time signature (beats per bar; empty = the model chooses)",
        "generate": "Sing", "result": "Song", "download": "Download (FLAC)",
        "step": "Singing: step {step} of {total}", "steps_count": "{count} step|{count} steps",
        "summary": "Seed {seed} · {language} · {seconds:g} s · {steps}{stopped}",
        "stopped": " · stopped after step {done}",
        "instrumental_summary": "instrumental",
        "example_pl": "🇵🇱 Polish pop, sung in Polish", "example_en": "🎸 Indie folk, sung in English",
        "example_instrumental": "🎹 Instrumental: lo-fi hip hop",
    },
    "pl": {
        "intro": "Opisz styl tagami (gatunek, instrumenty, nastrój, głos) i napisz tekst ze znacznikami budowy, np. "
                 "`[verse]`, `[chorus]`, `[bridge]`. ACE-Step 1.5 śpiewa w 50 językach, także po polsku: wybierz "
                 "język tekstu. Od 10 s do 10 minut, stereo 48 kHz.",
        "cpu_note": "Prawdziwy model wymaga GPU (DiT w wersji XL ma około 5 miliardów wag).",
        "licence": "Wagi: ACE-Step 1.5 (MIT, licencja projektu).",
        "style": "Styl (tagi)", "lyrics": "Tekst piosenki", "instrumental": "Instrumentalnie (bez wokalu: "
                                                                            "[Instrumental] z ACE-Step)",
        "language": "Język tekstu", "duration": "Długość (s)", "steps": "Kroki (turbo: 1–20, zalecane 8; base: do "
                                                                         "200)",
        "guidance": "Skala prowadzenia (modele base; turbo ją pomija)", "shift": "Przesunięcie kroków czasu",
        "bpm": "Tempo, BPM (0 = wybiera model)", "key": "Tonacja (puste = wybiera model)",
        "time_signature": "Metrum (miary w takcie; puste = wybiera model)",
        "generate": "Zaśpiewaj", "result": "Piosenka", "download": "Pobierz (FLAC)",
        "step": "Śpiew: krok {step} z {total}", "steps_count": "{count} krok|{count} kroki|{count} kroków",
        "summary": "Ziarno {seed} · {language} · {seconds:g} s · {steps}{stopped}",
        "stopped": " · zatrzymano po kroku {done}",
        "instrumental_summary": "instrumentalnie",
        "example_pl": "🇵🇱 Polski pop, śpiewany po polsku", "example_en": "🎸 Indie folk, śpiewany po angielsku",
        "example_instrumental": "🎹 Utwór instrumentalny: lo-fi hip hop",
    },
}


#: Refusals in a person's words (`spaces.common.ERRORS`' shape), by the pipeline's argument names.
ERROR_TEXTS = {
    "en": {
        "lyrics:missing": "Write the lyrics first, or tick Instrumental for a song without vocals.",
        "lyrics": "An instrumental has no vocals: clear the lyrics, or untick Instrumental to have them sung.",
        "prompt:missing": "Describe the style first (a few tags: genre, instruments, mood, voice).",
        "key": "Pick a key from the list, written out: “A minor”, not “Am”.",
        "num_inference_steps": "Too many steps for this model: a turbo model takes 1 to 20 (8 recommended), a base "
                               "model up to 200.",
        "duration": "A song lasts from 10 seconds to 10 minutes (600 s).",
    },
    "pl": {
        "lyrics:missing": "Najpierw napisz tekst piosenki albo zaznacz „Instrumentalnie”, by była bez wokalu.",
        "lyrics": "Utwór instrumentalny nie ma wokalu: usuń tekst albo odznacz „Instrumentalnie”, by został "
                  "zaśpiewany.",
        "prompt:missing": "Najpierw opisz styl (kilka tagów: gatunek, instrumenty, nastrój, głos).",
        "key": "Wybierz tonację z listy, zapisaną w całości: „A minor”, a nie „Am”.",
        "num_inference_steps": "Za dużo kroków dla tego modelu: model turbo przyjmuje od 1 do 20 (zalecane 8), "
                               "model base do 200.",
        "duration": "Piosenka trwa od 10 sekund do 10 minut (600 s).",
    },
}


def language_choices(lang: str) -> list[tuple[str, str]]:
    """(label, code) for the language dropdown: ``"pl · polski"`` in the UI's language."""
    return [(f"{code} · {pl if lang == 'pl' else en}", code) for code, en, pl in LANGUAGES]


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    lang = ctx.lang if ctx.lang in LYRICS else "en"

    def sing(style: str, lyrics: str, instrumental: bool, language: str, duration: float, seed: float | None,
             steps: float, guidance: float, shift: float, bpm: float | None, key: str | None,
             time_signature: str | None, model: str, *, run: Run) -> Iterator[Any]:
        from pipelines.audio import save_audio

        seed = draw_seed(seed)
        song = yield from run.pipeline(TASK, model)
        tempo = whole("bpm", 0 if bpm is None else bpm, 0, BPM_RANGE[1])
        call = dict(lyrics=lyrics or None, instrumental=instrumental, language=language,
                    duration=number("duration", duration, *DURATION_RANGE), seed=seed,
                    num_inference_steps=whole("steps", steps, 1, 1000), shift=number("shift", shift, 0, 100),
                    # turbo checkpoints run without guidance: pass none rather than have diffusers warn each time
                    guidance_scale=None if song.is_turbo else number("guidance_scale", guidance, 0, 1000),
                    bpm=tempo or None, key=(key or "").strip() or None,
                    time_signature=int(validate.choice("time_signature", time_signature, TIME_SIGNATURES))
                    if time_signature else None)

        def work(report: Any) -> Any:  # Stop: the pipeline stops at its next denoising step
            return song(style, progress=run.steps(lambda step, total, _: t("step", step=step, total=total)), **call)

        with request_folder("mmhub-song-") as folder:
            for kind, value in run.stream(work):
                if kind != "result":
                    yield KEEP
                    continue
                player = str(save_audio(folder / "song.wav", value.audio, value.sample_rate))
                download = str(save_audio(folder / "song.flac", value.audio, value.sample_rate))
                language_name = t("instrumental_summary") if value.instrumental else dict(
                    (code, label) for label, code in language_choices(lang))[value.language]
                stopped = t("stopped", done=value.steps_done) if value.interrupted else ""
                summary = t("summary", seed=value.seed, language=language_name, seconds=round(value.seconds, 2),
                            steps=t("steps_count", count=value.num_inference_steps), stopped=stopped)
                run.finish(seed=value.seed, stopped=value.interrupted)
                yield player, download, value.seed, summary

    gr.Markdown(f"🎤 {t('intro')} ℹ️ {t('cpu_note')} {t('licence')}")
    model = ctx.model_dropdown(TASK, elem_id="song-model")  # in sight, not in the settings
    with gr.Row():
        with gr.Column():
            style = gr.Textbox(STYLES_PL["pl"] if ctx.lang == "pl" else STYLES[lang], label=t("style"), lines=2,
                               elem_id="song-style")
            lyrics = gr.Textbox(LYRICS[lang], label=t("lyrics"), lines=10, max_lines=30, elem_id="song-lyrics")
            with gr.Row():
                language = gr.Dropdown(language_choices(lang), value=lang, label=t("language"),
                                       elem_id="song-language")
                instrumental = gr.Checkbox(False, label=t("instrumental"), elem_id="song-instrumental")
            with gr.Row():
                duration = gr.Slider(*DURATION_RANGE, value=10 if ctx.tiny else 30, step=1, label=t("duration"),
                                     elem_id="song-duration")
                seed = seed_input(ctx, elem_id="song-seed")
            with gr.Accordion(ctx.t("settings"), open=False):
                with gr.Row():
                    steps = gr.Slider(1, 64, value=8, step=1, label=t("steps"), elem_id="song-steps")
                    guidance = gr.Slider(0.0, 15.0, value=7.0, step=0.5, label=t("guidance"))
                    shift = gr.Slider(1.0, 5.0, value=3.0, step=0.5, label=t("shift"))
                with gr.Row():
                    bpm = gr.Number(0, label=t("bpm"), precision=0, minimum=0, maximum=BPM_RANGE[1])
                    key = gr.Dropdown(["", *KEYS], value="", label=t("key"), allow_custom_value=True)
                    time_signature = gr.Dropdown(["", *TIME_SIGNATURES], value="", label=t("time_signature"))
            controls = run_controls(ctx, t("generate"), elem_id="song-run", stop=True, errors=ERROR_TEXTS)
        with gr.Column():
            result = gr.Audio(label=t("result"), type="filepath", interactive=False, elem_id="song-audio")
            download = gr.File(label=t("download"), interactive=False, elem_id="song-download")
            seed_used = gr.Number(label=ctx.t("seed_used"), precision=0, interactive=False, elem_id="song-seed-used")
            summary = gr.Markdown(elem_id="song-summary")
    examples = ({"pl": [STYLES_PL["pl"], LYRICS["pl"], False, "pl"],
                 "instrumental": [STYLES_PL["instrumental"], "", True, "unknown"]}
                if ctx.lang == "pl" else
                {"pl": [STYLES["pl"], LYRICS["pl"], False, "pl"], "en": [STYLES["en"], LYRICS["en"], False, "en"],
                 "instrumental": [INSTRUMENTAL, "", True, "unknown"]})
    # Each example is shown by its name (gradio's example_labels): a table of the four inputs shows the checkbox as
    # "true"/"false" (gradio's Checkbox example prints the raw value, in English whatever the UI language).
    gr.Examples(list(examples.values()), inputs=[style, lyrics, instrumental, language], label=ctx.t("examples"),
                example_labels=[t(f"example_{name}") for name in examples], elem_id="song-examples")
    controls.click(sing, [style, lyrics, instrumental, language, duration, seed, steps, guidance, shift, bpm, key,
                          time_signature, model], [result, download, seed_used, summary], api_name="song",
                   **SPACE.queue)


SPACE = SpaceSpec(
    name="song",
    title={"en": "Song", "pl": "Piosenka"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "diffusers", "transformers", "tokenizers", "safetensors", "huggingface-hub", "accelerate",
                  "numpy", "psutil", "soundfile"),
    emoji="🎤",
    description="ACE-Step 1.5: a song with vocals from style tags and your lyrics, in 50 languages (Polish too).",
    order=75,
    group="audio",  # next to Music
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.song", title="mmhub · song")


if __name__ == "__main__":
    main()
