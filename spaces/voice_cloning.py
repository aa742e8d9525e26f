"""Voice Space: text read in the voice of a reference clip (cloning), or a recording re-voiced (conversion).

    python -m spaces.voice_cloning                  # Pocket TTS (English) / MMS-TTS + kNN-VC (1,100+ languages)
    python -m spaces.voice_cloning --models tiny    # offline, tiny random models (noise)

API (gradio_client): ``/clone_voice`` (text, reference audio, language code, seed, model, voice) -> audio file, where
``voice`` is "" (use the reference audio), a saved voice's id (``voice_…``) or a preset (``preset:mms-pol``);
``/save_voice`` (name, reference audio, language) and ``/delete_voice`` (voice id) manage the library;
``/convert_voice`` (speech audio, reference audio, model) -> audio file. The language menu is searchable (type a
name in English, in the UI's language or in the language itself, e.g. "polski" or "Deutsch", or a code: CLDR's names,
through babel); any code the pipeline knows is accepted, and an unknown one gets the pipeline's error with close
matches. The status line says which route made the audio (Pocket TTS, or MMS-TTS + kNN-VC) and the licences.
Clone only voices whose owner agreed: the models' licences require the speaker's consent.

Voices as a library: a reference clip is saved under a name (`pipelines.voices.VoiceLibrary`, the store the
service's ``/v1/voices`` shares: ``$MMHUB_VOICES``, else ``$MMHUB_CACHE/voices``) and picked again from the Voice
menu, with no new recording. The menu also offers preset voices that need no recording
(`pipelines.voice_presets`): an MMS-TTS reader's own voice, spoken by this tab's text-to-speech on first use.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .common import KEEP, Context, Refusal, Run, SpaceSpec, draw_seed, request_folder, run_controls, seed_input
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
        "language_info": "Type to search: a name (in English or in the language itself, e.g. Deutsch) or an ISO 639 "
                         "code. English: Pocket TTS; the others: MMS-TTS (non-commercial) + kNN-VC.", "run": "Speak",
        "default_text": "Hello! This sentence is spoken in a cloned voice.",
        "stage": "Working: {stage}", "speaking": "speaking", "converting": "converting",
        "route": "Made by {route}: {tts_model}. Licence: {licence}.",
        "speech": "Speech to re-voice", "run_convert": "Convert", "result": "Result",
        "consent": "Use only voices whose owner agreed to it.",
        "voice": "Voice", "voice_info": "A saved voice or a preset needs no recording; “the recording below” "
                 "uses the reference clip.", "voice_recording": "the recording below",
        "preset": "preset: {name}", "save_name": "Save the recording as", "save_placeholder": "a name, e.g. Ania",
        "save": "Save voice", "delete": "Delete voice", "saved": "Saved the voice “{name}” ({seconds:.1f} s).",
        "deleted": "Deleted the voice “{name}”.",
        "presets_note": "Presets are made by this tab's own text-to-speech on first use: an MMS-TTS reader "
                        "(facebook/mms-tts-…, CC-BY-NC-4.0) reading a short passage in its own voice.",
        "preparing_preset": "Preparing the preset voice (made once, on first use)…",
    },
    "pl": {
        "clone": "Klonowanie głosu", "convert": "Konwersja głosu", "text": "Tekst do wypowiedzenia",
        "reference": "Głos wzorcowy (nagraj lub wgraj 3-30 s)", "language": "Język",
        "language_info": "Wpisz, aby wyszukać: nazwę (po polsku, po angielsku albo w danym języku, np. Deutsch) lub "
                         "kod ISO 639. Angielski: Pocket TTS; pozostałe: MMS-TTS (niekomercyjny) + kNN-VC.",
        "run": "Mów", "default_text": "Dzień dobry! To jest test klonowania głosu.",
        "stage": "Praca trwa: {stage}", "speaking": "mówienie", "converting": "konwersja",
        "route": "Wygenerowane przez {route}: {tts_model}. Licencja: {licence}.",
        "speech": "Nagranie do przegłosowania", "run_convert": "Konwertuj", "result": "Wynik",
        "consent": "Używaj tylko głosów osób, które się na to zgodziły.",
        "voice": "Głos", "voice_info": "Zapisany głos lub głos gotowy nie wymaga nagrania; „nagranie poniżej” "
                 "używa klipu wzorcowego.", "voice_recording": "nagranie poniżej",
        "preset": "gotowy: {name}", "save_name": "Zapisz nagranie jako", "save_placeholder": "nazwa, np. Ania",
        "save": "Zapisz głos", "delete": "Usuń głos", "saved": "Zapisano głos „{name}” ({seconds:.1f} s).",
        "deleted": "Usunięto głos „{name}”.",
        "presets_note": "Gotowe głosy tworzy przy pierwszym użyciu syntezator mowy tej karty: lektor MMS-TTS "
                        "(facebook/mms-tts-…, CC-BY-NC-4.0) czytający krótki tekst własnym głosem.",
        "preparing_preset": "Przygotowywanie gotowego głosu (tylko przy pierwszym użyciu)…",
    },
}

#: Refusals in a person's words (`spaces.common.ERRORS`' shape): the library's name, a voice that is gone, a clip
#: that cannot be a reference, Delete with nothing deletable picked.
ERROR_TEXTS = {
    "en": {
        "name:missing": "Type a name for the voice first.",
        "name": "A voice's name has 1 to 64 characters.",
        "voice": "This voice cannot be used: pick one from the Voice menu (in a full library, delete one you no "
                 "longer need first).",
        "audio": "The recording cannot be kept as a voice: it needs 3 to 30 seconds of clear speech (WAV, FLAC, "
                 "MP3 or OGG).",
        "delete_what": "Pick a saved voice in the Voice menu to delete it (presets cannot be deleted).",
    },
    "pl": {
        "name:missing": "Najpierw wpisz nazwę głosu.",
        "name": "Nazwa głosu ma od 1 do 64 znaków.",
        "voice": "Tego głosu nie da się użyć: wybierz głos z menu Głos (gdy biblioteka jest pełna, najpierw usuń "
                 "niepotrzebny).",
        "audio": "Tego nagrania nie da się zapisać jako głosu: potrzeba od 3 do 30 sekund wyraźnej mowy (WAV, FLAC, "
                 "MP3 lub OGG).",
        "delete_what": "Wybierz zapisany głos w menu Głos, aby go usunąć (gotowych głosów nie można usunąć).",
    },
}

#: The pipeline's routes and stages (`pipelines.voice_cloning`) as a person reads them.
ROUTES = {"pocket-tts": "Pocket TTS", "pocket-tts+knn-vc": "Pocket TTS + kNN-VC", "mms-tts+knn-vc": "MMS-TTS + kNN-VC"}
STAGES_PL = {
    "reading the reference voice": "wczytywanie głosu wzorcowego", "reading the speech": "wczytywanie nagrania",
    "matching frames": "dopasowywanie ramek", "vocoding": "synteza dźwięku", "done": "gotowe",
    "loading Pocket TTS": "wczytywanie Pocket TTS", "loading kNN-VC": "wczytywanie kNN-VC",
    "loading MMS-TTS": "wczytywanie MMS-TTS", "speaking": "mówienie",
}

EXAMPLES = [  # (text, language): the UI language's first, so that text and language agree
    ["Hello! This sentence is spoken in a cloned voice.", "en"],
    ["Dzień dobry! To jest test klonowania głosu.", "pol"],
]
EXAMPLES_PL = [
    ["Dzień dobry! To jest test klonowania głosu.", "pol"],
    ["Cześć! To zdanie mówi sklonowany głos.", "pol"],
]


def audio_file(result: Any) -> Iterator[str]:
    """Write a pipeline's audio result (``.audio``, ``.sample_rate``) to a WAV file for the player: yielded from a
    request folder that goes once gradio has copied the file (`request_folder`)."""
    from pipelines.audio import save_audio

    with request_folder("mmhub-voice-") as folder:
        yield str(save_audio(folder / "voice.wav", result.audio, result.sample_rate))


def language_names(code: str, lang: str) -> tuple[str | None, str | None]:
    """A language's name in the UI language `lang` and in itself (its endonym), from CLDR (babel); None where CLDR
    has no name for it (most of MMS-TTS's 1,100 languages have only their English name)."""
    from babel import Locale, localedata

    ui = Locale(lang)
    name = ui.languages.get(code)
    endonym = None
    if localedata.exists(code):
        try:
            endonym = Locale.parse(code).get_display_name(code)
        except (ValueError, LookupError):  # babel: an identifier it lists but cannot parse
            endonym = None
    return name, endonym


@functools.cache
def language_choices(lang: str = "en") -> tuple[tuple[str, str], ...]:
    """(label, code) of every language voice cloning speaks, for the searchable menu of the UI language `lang`:
    ``Polish — polski (pl, pol)`` (``Polski (pl, pol)`` in Polish), so that a name in English, in the UI language
    or in the language itself finds it. English (Pocket TTS) first, then by the name shown."""
    from pipelines.tts_languages import supported

    choices = []
    for voice in supported():
        codes = ", ".join(dict.fromkeys(c for c in (voice.iso639_1, voice.code) if c))
        name, endonym = language_names(voice.iso639_1 or voice.iso639_3, lang)
        shown = (name or voice.name) if lang != "en" else voice.name
        shown = shown[:1].upper() + shown[1:]
        parts = [shown]
        if endonym and endonym.casefold() != shown.casefold():
            parts.append(endonym)
        if lang != "en" and voice.name.casefold() not in (shown.casefold(), (endonym or "").casefold()):
            parts.append(voice.name)  # the English name too: searchable either way
        choices.append((f"{' — '.join(parts)} ({codes})", voice.code))
    first, rest = choices[:1], sorted(choices[1:], key=lambda choice: choice[0].casefold())
    return tuple(first + rest)


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    examples = EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES

    def stage_words(stage: str) -> str:
        if ctx.lang != "pl":
            return stage
        name, _, rest = stage.partition(":")  # "speaking: 2/5"
        return STAGES_PL.get(stage) or (STAGES_PL.get(name, name) + (":" + rest if rest else ""))

    def stages(word: str) -> Any:
        return lambda step, total, info: t("stage", stage=stage_words(info.get("stage") or word))

    from pipelines.voice_presets import PRESETS, preset_reference
    from pipelines.voices import VoiceLibrary

    library = VoiceLibrary()

    def voice_choices() -> list[tuple[str, str]]:
        """The Voice menu: the recording, the saved voices (newest first), then the presets."""
        saved = [(f"{v.name} · {v.seconds:.1f} s", v.id) for v in reversed(library.list(owner=None))]
        presets = [(t("preset", name=p.name[ctx.lang]), PRESET_PREFIX + p.key) for p in PRESETS.values()]
        return [(t("voice_recording"), "")] + saved + presets

    def clone(text: str, reference: str | None, language: str, seed: float | None, model: str, voice: str = "", *,
              run: Run) -> Iterator[Any]:
        seed = draw_seed(seed)
        vc = yield from run.pipeline(CLONE, model)
        if voice and str(voice).startswith(PRESET_PREFIX):
            run.say(t("preparing_preset"))  # spoken by MMS-TTS on first use, then kept
            yield KEEP
            reference = str(preset_reference(vc, str(voice)[len(PRESET_PREFIX):]))
        elif voice:
            reference = str(library.reference(voice))  # InputError naming `voice` when it is gone

        def work(report: Any) -> Any:
            return vc(text, reference=reference, language=language, seed=seed,
                      progress=run.steps(stages(t("speaking"))))

        for kind, result in run.stream(work):
            if kind == "result":
                route = ROUTES.get(result.route, result.route)
                run.finish(t("route", route=route, tts_model=result.tts_model, licence=result.licence), seed=seed)
                yield from audio_file(result)
            else:
                yield KEEP

    def save_voice(name: str, reference: str | None, language: str, *, run: Run) -> tuple[Any, str]:
        """Keep the reference clip under `name`; the menu then offers it (selected)."""
        from pipelines import InputError

        if reference is None:
            raise InputError("reference", None, "a recording or an uploaded clip to save")
        saved = library.save(name, reference, language=language or None)
        return gr.update(choices=voice_choices(), value=saved.id), t("saved", name=saved.name, seconds=saved.seconds)

    def delete_voice(voice: str, *, run: Run) -> tuple[Any, str]:
        if not voice or str(voice).startswith(PRESET_PREFIX):
            raise Refusal("delete_what", ERROR_TEXTS)
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

    def convert(speech: str | None, reference: str | None, model: str, *, run: Run) -> Iterator[Any]:
        conv = yield from run.pipeline(CONVERT, model)

        def work(report: Any) -> Any:
            return conv(speech, reference=reference, progress=run.steps(stages(t("converting"))))

        for kind, result in run.stream(work):
            if kind == "result":
                yield from audio_file(result)
            else:
                yield KEEP

    gr.Markdown(f"ℹ️ {t('consent')}")
    with gr.Tab(t("clone")):
        model = ctx.model_dropdown(CLONE)
        with gr.Row():
            with gr.Column():
                # the text and the language agree with the UI language
                text = gr.Textbox(label=t("text"), lines=3, value=t("default_text"), elem_id="voice-text")
                voice = gr.Dropdown(voice_choices(), value="", label=t("voice"), info=t("voice_info"),
                                    elem_id="voice-voice")
                # upload first: a machine without a microphone opens on a working source
                reference = gr.Audio(label=t("reference"), type="filepath", sources=["upload", "microphone"],
                                     elem_id="voice-reference")
                with gr.Row():
                    save_name = gr.Textbox(label=t("save_name"), placeholder=t("save_placeholder"), scale=2,
                                           elem_id="voice-save-name")
                    delete = gr.Button(t("delete"), scale=1, variant="stop", elem_id="voice-delete")
                # Save and Delete share one status line (their refusals are shown there, in words)
                library_controls = run_controls(ctx, t("save"), elem_id="voice-save-run", variant="secondary",
                                                errors=ERROR_TEXTS)
                library_note = gr.Markdown(t("presets_note"), elem_id="voice-library-note")
                with gr.Row():
                    language = gr.Dropdown(list(language_choices(ctx.lang)), value=DEFAULT_LANGUAGE[ctx.lang],
                                           label=t("language"), info=t("language_info"), filterable=True,
                                           allow_custom_value=True, elem_id="voice-language")
                    seed = seed_input(ctx)
                controls = run_controls(ctx, t("run"), elem_id="voice-run", errors=ERROR_TEXTS)
            result = gr.Audio(label=t("result"), type="filepath", interactive=False, elem_id="voice-result")
        gr.Examples(examples, inputs=[text, language], label=ctx.t("examples"))
        controls.click(clone, [text, reference, language, seed, model, voice], result, api_name="clone_voice",
                       **SPACE.queue)
        library_queue = {"concurrency_limit": 4, "concurrency_id": "voice_library"}
        library_controls.click(save_voice, [save_name, reference, language], [voice, library_note],
                               api_name="save_voice", **library_queue)
        library_controls.click(delete_voice, voice, [voice, library_note], api_name="delete_voice",
                               run_button=False, triggers=[delete.click], **library_queue)
        voice.change(voice_language, voice, language, queue=False, api_visibility="private")
        # on every page load: voices saved meanwhile (by another visitor, or through the service's /v1/voices)
        gr.on(None, lambda: gr.update(choices=voice_choices()), None, voice, queue=False, api_visibility="private")
    with gr.Tab(t("convert")):
        model2 = ctx.model_dropdown(CONVERT)
        with gr.Row():
            with gr.Column():
                speech = gr.Audio(label=t("speech"), type="filepath", sources=["upload", "microphone"])
                reference2 = gr.Audio(label=t("reference"), type="filepath", sources=["upload", "microphone"])
                controls2 = run_controls(ctx, t("run_convert"), elem_id="voice-convert-run")
            result2 = gr.Audio(label=t("result"), type="filepath", interactive=False)
        controls2.click(convert, [speech, reference2, model2], result2, api_name="convert_voice", **SPACE.queue)


SPACE = SpaceSpec(
    name="voice_cloning",
    title={"en": "Voice cloning", "pl": "Klonowanie głosu"},
    tasks=(CLONE, CONVERT),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "numpy", "scipy",
                  "soundfile", "soxr", "sentencepiece", "iso639-lang", "uroman", "babel"),
    emoji="🗣️",
    description="Speech from text in the voice of a short reference clip, and voice conversion (kNN-VC).",
    order=60,
    group="audio",
)


main = main_for(SPACE)


if __name__ == "__main__":
    main()
