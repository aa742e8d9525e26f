"""Voice Space: text read in the voice of a reference clip (cloning), or a recording re-voiced (conversion).

    python -m spaces.voice_cloning                  # Pocket TTS (English) / MMS-TTS + kNN-VC (1,100+ languages)
    python -m spaces.voice_cloning --models tiny    # offline, tiny random models (noise)

API (gradio_client): ``/clone_voice`` (text, reference audio, language code, seed, model) -> audio file;
``/convert_voice`` (speech audio, reference audio, model) -> audio file. The language menu is searchable (type a
name or a code); any code the pipeline knows is accepted, and an unknown one gets the pipeline's error with close
matches. A notice says which route made the audio (Pocket TTS, or MMS-TTS + kNN-VC) and the licences.
Clone only voices whose owner agreed: the models' licences require the speaker's consent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, parse_seed, request_folder, step_progress, user_errors
from .launcher import main_for

logger = logging.getLogger(__name__)

CLONE, CONVERT = "voice-cloning", "voice-conversion"
# The UI language's default voice-cloning language (codes as `pipelines.tts_languages.resolve` returns them).
DEFAULT_LANGUAGE = {"en": "en", "pl": "pol"}

TEXTS = {
    "en": {
        "clone": "Clone a voice", "convert": "Convert a voice", "text": "Text to speak",
        "reference": "Reference voice (record or upload 3-30 s)", "language": "Language",
        "language_info": "Type to search: a name or an ISO 639 code. English: Pocket TTS; the others: MMS-TTS "
                         "(non-commercial) + kNN-VC.", "run": "Speak",
        "route": "Made by {route}: {tts_model}. Licence: {licence}.",
        "speech": "Speech to re-voice", "run_convert": "Convert", "result": "Result",
        "consent": "Use only voices whose owner agreed to it.",
    },
    "pl": {
        "clone": "Klonowanie głosu", "convert": "Konwersja głosu", "text": "Tekst do wypowiedzenia",
        "reference": "Głos wzorcowy (nagraj lub wgraj 3-30 s)", "language": "Język",
        "language_info": "Wpisz, aby wyszukać: nazwę (po angielsku) lub kod ISO 639. Angielski: Pocket TTS; "
                         "pozostałe: MMS-TTS (niekomercyjny) + kNN-VC.", "run": "Mów",
        "route": "Wygenerowane przez {route}: {tts_model}. Licencja: {licence}.",
        "speech": "Nagranie do przegłosowania", "run_convert": "Konwertuj", "result": "Wynik",
        "consent": "Używaj tylko głosów osób, które się na to zgodziły.",
    },
}

EXAMPLES = [
    ["Dzień dobry! To jest test klonowania głosu.", "pol"],
    ["Hello! This sentence is spoken in a cloned voice.", "en"],
]


def audio_file(result: Any) -> Iterator[str]:
    """Write a pipeline's audio result (``.audio``, ``.sample_rate``) to a WAV file for the player: yielded from a
    request folder that goes once gradio has copied the file (`request_folder`)."""
    from pipelines.audio import save_audio

    with request_folder("mmhub-voice-") as folder:
        yield str(save_audio(folder / "voice.wav", result.audio, result.sample_rate))


def language_choices() -> list[tuple[str, str]]:
    """(label, code) of every language voice cloning speaks (torch-free: `pipelines.tts_languages`)."""
    from pipelines.tts_languages import supported

    return [(lang.label, lang.code) for lang in supported()]


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def reporter(progress: gr.Progress):
        return step_progress(progress, lambda step, total, info: info.get("stage", ""))

    @user_errors
    def clone(text: str, reference: str | None, language: str, seed: float | None, model: str,
              progress: gr.Progress = gr.Progress()) -> Iterator[str]:
        vc = ctx.pipeline(CLONE, model, progress)
        result = vc(text, reference=reference, language=language, seed=parse_seed(seed), progress=reporter(progress))
        gr.Info(t("route", route=result.route, tts_model=result.tts_model, licence=result.licence))
        yield from audio_file(result)

    @user_errors
    def convert(speech: str | None, reference: str | None, model: str,
                progress: gr.Progress = gr.Progress()) -> Iterator[str]:
        conv = ctx.pipeline(CONVERT, model, progress)
        yield from audio_file(conv(speech, reference=reference, progress=reporter(progress)))

    gr.Markdown(f"ℹ️ {t('consent')}")
    with gr.Tab(t("clone")):
        model = ctx.model_dropdown(CLONE)
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("text"), lines=3, value=EXAMPLES[0][0])
                reference = gr.Audio(label=t("reference"), type="filepath", sources=["microphone", "upload"])
                with gr.Row():
                    language = gr.Dropdown(language_choices(), value=DEFAULT_LANGUAGE[ctx.lang], label=t("language"),
                                           info=t("language_info"), filterable=True, allow_custom_value=True)
                    # no precision/minimum: Gradio would round 1.5 silently and answer NaN or -1 with its own
                    # generic error; the pipeline's validator names the argument and the allowed range instead
                    seed = gr.Number(None, label=ctx.t("seed"))
                button = gr.Button(t("run"), variant="primary")
            result = gr.Audio(label=t("result"), type="filepath", interactive=False)
        gr.Examples(EXAMPLES, inputs=[text, language], label=ctx.t("examples"))
        button.click(clone, [text, reference, language, seed, model], result, api_name="clone_voice", **SPACE.queue)
    with gr.Tab(t("convert")):
        model2 = ctx.model_dropdown(CONVERT)
        with gr.Row():
            with gr.Column():
                speech = gr.Audio(label=t("speech"), type="filepath", sources=["microphone", "upload"])
                reference2 = gr.Audio(label=t("reference"), type="filepath", sources=["microphone", "upload"])
                button2 = gr.Button(t("run_convert"), variant="primary")
            result2 = gr.Audio(label=t("result"), type="filepath", interactive=False)
        button2.click(convert, [speech, reference2, model2], result2, api_name="convert_voice", **SPACE.queue)


SPACE = SpaceSpec(
    name="voice_cloning",
    title={"en": "Voice cloning", "pl": "Klonowanie głosu"},
    tasks=(CLONE, CONVERT),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "numpy", "scipy",
                  "soundfile", "soxr", "sentencepiece", "iso639-lang", "uroman"),
    emoji="🗣️",
    description="Speech from text in the voice of a short reference clip, and voice conversion (kNN-VC).",
    order=60,
)


main = main_for(SPACE)


if __name__ == "__main__":
    main()
