"""Voice Space: text read in the voice of a reference clip (cloning), or a recording re-voiced (conversion).

    python -m spaces.voice_cloning                  # Pocket TTS (English) / MMS-TTS + kNN-VC (1,100+ languages)
    python -m spaces.voice_cloning --models tiny    # offline, tiny random models (noise)

API (gradio_client): ``/clone_voice`` (text, reference audio, language code, seed, model, voice) -> audio file, where
``voice`` is "" (use the reference audio), a saved voice's id (``voice_…``) or a preset (``preset:mms-pol``);
``/save_voice`` (name, reference audio, language) and ``/delete_voice`` (voice id) manage the library;
``/convert_voice`` (speech audio, reference audio, model) -> audio file. The language menu is searchable (type a
name or a code); any code the pipeline knows is accepted, and an unknown one gets the pipeline's error with close
matches. A notice says which route made the audio (Pocket TTS, or MMS-TTS + kNN-VC) and the licences.
Clone only voices whose owner agreed: the models' licences require the speaker's consent.

Voices as a library: a reference clip is saved under a name (`pipelines.voices.VoiceLibrary`, the store the
service's ``/v1/voices`` shares: ``$MMHUB_VOICES``, else ``$MMHUB_CACHE/voices``) and picked again from the Voice
menu, with no new recording. The menu also offers preset voices that need no recording
(`pipelines.voice_presets`): an MMS-TTS reader's own voice, spoken by this tab's text-to-speech on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, parse_seed, request_folder, step_progress, user_errors
from .launcher import main_for

logger = logging.getLogger(__name__)

PRESET_PREFIX = "preset:"  # the Voice menu's value of a preset: "preset:<key>" (`pipelines.voice_presets.PRESETS`)

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
        "voice": "Voice", "voice_info": "A saved voice or a preset needs no recording; “the recording below” "
                 "uses the reference clip.", "voice_recording": "the recording below",
        "preset": "preset: {name}", "save_name": "Save the recording as", "save_placeholder": "a name, e.g. Ania",
        "save": "Save voice", "delete": "Delete voice", "saved": "Saved the voice “{name}” ({seconds:.1f} s).",
        "deleted": "Deleted the voice “{name}”.",
        "delete_what": "Pick a saved voice in the Voice menu to delete it (presets cannot be deleted).",
        "presets_note": "Presets are made by this tab's own text-to-speech on first use: an MMS-TTS reader "
                        "(facebook/mms-tts-…, CC-BY-NC-4.0) reading a short passage in its own voice.",
    },
    "pl": {
        "clone": "Klonowanie głosu", "convert": "Konwersja głosu", "text": "Tekst do wypowiedzenia",
        "reference": "Głos wzorcowy (nagraj lub wgraj 3-30 s)", "language": "Język",
        "language_info": "Wpisz, aby wyszukać: nazwę (po angielsku) lub kod ISO 639. Angielski: Pocket TTS; "
                         "pozostałe: MMS-TTS (niekomercyjny) + kNN-VC.", "run": "Mów",
        "route": "Wygenerowane przez {route}: {tts_model}. Licencja: {licence}.",
        "speech": "Nagranie do przegłosowania", "run_convert": "Konwertuj", "result": "Wynik",
        "consent": "Używaj tylko głosów osób, które się na to zgodziły.",
        "voice": "Głos", "voice_info": "Zapisany głos lub głos gotowy nie wymaga nagrania; „nagranie poniżej” "
                 "używa klipu wzorcowego.", "voice_recording": "nagranie poniżej",
        "preset": "gotowy: {name}", "save_name": "Zapisz nagranie jako", "save_placeholder": "nazwa, np. Ania",
        "save": "Zapisz głos", "delete": "Usuń głos", "saved": "Zapisano głos „{name}” ({seconds:.1f} s).",
        "deleted": "Usunięto głos „{name}”.",
        "delete_what": "Wybierz zapisany głos w menu Głos, aby go usunąć (gotowych głosów nie można usunąć).",
        "presets_note": "Gotowe głosy tworzy przy pierwszym użyciu syntezator mowy tej karty: lektor MMS-TTS "
                        "(facebook/mms-tts-…, CC-BY-NC-4.0) czytający krótki tekst własnym głosem.",
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

    from pipelines.voice_presets import PRESETS, preset_reference
    from pipelines.voices import VoiceLibrary

    library = VoiceLibrary()

    def voice_choices() -> list[tuple[str, str]]:
        """The Voice menu: the recording, the saved voices (newest first), then the presets."""
        saved = [(f"{v.name} · {v.seconds:.1f} s", v.id) for v in reversed(library.list(owner=None))]
        presets = [(t("preset", name=p.name[ctx.lang]), PRESET_PREFIX + p.key) for p in PRESETS.values()]
        return [(t("voice_recording"), "")] + saved + presets

    @user_errors
    def clone(text: str, reference: str | None, language: str, seed: float | None, model: str, voice: str = "",
              progress: gr.Progress = gr.Progress()) -> Iterator[str]:
        vc = ctx.pipeline(CLONE, model, progress)
        if voice and str(voice).startswith(PRESET_PREFIX):
            reference = str(preset_reference(vc, str(voice)[len(PRESET_PREFIX):]))
        elif voice:
            reference = str(library.reference(voice))  # InputError naming `voice` when it is gone
        result = vc(text, reference=reference, language=language, seed=parse_seed(seed), progress=reporter(progress))
        gr.Info(t("route", route=result.route, tts_model=result.tts_model, licence=result.licence))
        yield from audio_file(result)

    @user_errors
    def save_voice(name: str, reference: str | None, language: str) -> tuple[Any, str]:
        """Keep the reference clip under `name`; the menu then offers it (selected)."""
        from pipelines import InputError

        if reference is None:
            raise InputError("reference", None, "a recording or an uploaded clip to save")
        saved = library.save(name, reference, language=language or None)
        return gr.update(choices=voice_choices(), value=saved.id), t("saved", name=saved.name, seconds=saved.seconds)

    @user_errors
    def delete_voice(voice: str) -> tuple[Any, str]:
        if not voice or str(voice).startswith(PRESET_PREFIX):
            raise gr.Error(t("delete_what"), print_exception=False)
        gone = library.delete(voice)
        return gr.update(choices=voice_choices(), value=""), t("deleted", name=gone.name)

    def voice_language(voice: str) -> Any:
        """A saved voice's language (when its owner said it) or a preset's, for the Language menu."""
        if voice and str(voice).startswith(PRESET_PREFIX):
            preset = PRESETS.get(str(voice)[len(PRESET_PREFIX):])
            return preset.language if preset else gr.skip()
        try:
            found = library.get(voice) if voice else None
        except Exception:  # noqa: BLE001 - deleted meanwhile: leave the menu as it is
            found = None
        return found.language if found is not None and found.language else gr.skip()

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
                voice = gr.Dropdown(voice_choices(), value="", label=t("voice"), info=t("voice_info"),
                                    elem_id="vc-voice")
                reference = gr.Audio(label=t("reference"), type="filepath", sources=["microphone", "upload"],
                                     elem_id="vc-reference")
                with gr.Row():
                    save_name = gr.Textbox(label=t("save_name"), placeholder=t("save_placeholder"), scale=2,
                                           elem_id="vc-save-name")
                    save = gr.Button(t("save"), scale=1, elem_id="vc-save")
                    delete = gr.Button(t("delete"), scale=1, variant="stop", elem_id="vc-delete")
                library_note = gr.Markdown(t("presets_note"), elem_id="vc-library-note")
                with gr.Row():
                    language = gr.Dropdown(language_choices(), value=DEFAULT_LANGUAGE[ctx.lang], label=t("language"),
                                           info=t("language_info"), filterable=True, allow_custom_value=True)
                    # no precision/minimum: Gradio would round 1.5 silently and answer NaN or -1 with its own
                    # generic error; the pipeline's validator names the argument and the allowed range instead
                    seed = gr.Number(None, label=ctx.t("seed"))
                button = gr.Button(t("run"), variant="primary")
            result = gr.Audio(label=t("result"), type="filepath", interactive=False, elem_id="vc-result")
        gr.Examples(EXAMPLES, inputs=[text, language], label=ctx.t("examples"))
        button.click(clone, [text, reference, language, seed, model, voice], result, api_name="clone_voice",
                     **SPACE.queue)
        save.click(save_voice, [save_name, reference, language], [voice, library_note], api_name="save_voice",
                   concurrency_limit=4, concurrency_id="voice_library")
        delete.click(delete_voice, voice, [voice, library_note], api_name="delete_voice", concurrency_limit=4,
                     concurrency_id="voice_library")
        voice.change(voice_language, voice, language, queue=False, api_visibility="private")
        # on every page load: voices saved meanwhile (by another visitor, or through the service's /v1/voices)
        gr.on(None, lambda: gr.update(choices=voice_choices()), None, voice, queue=False, api_visibility="private")
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
