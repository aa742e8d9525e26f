"""Preset voices: reference clips that need no recording, made by voice cloning's own text-to-speech.

A preset is the voice of one MMS-TTS checkpoint (``facebook/mms-tts-<code>``, VITS, CC-BY-NC-4.0): each was trained
on one language's recordings and speaks in that reader's voice. The clip is that checkpoint reading the preset's
passage with a fixed seed (`VoiceCloningPipeline.speak`, no cloning), made on first use and kept under
``$MMHUB_CACHE/voice-presets``. Cloning from it then speaks any text in that reader's voice. Nothing is downloaded
for a preset beyond the language's MMS-TTS checkpoint, which voice cloning in that language loads anyway; with the
tiny models one tiny random VITS speaks for every language: noise, which the speech check refuses as a preset.

Kyutai's Pocket TTS ships named voices (alba, marius, ...), but as a separate download from Kyutai's repositories
(kyutai/tts-voices, and the embeddings of kyutai/pocket-tts-without-voice-cloning); the transformers checkpoint's
``voices/`` could not be checked offline, so those are not offered here.

>>> from pipelines import load
>>> from pipelines.voice_presets import PRESETS, preset_reference
>>> vc = load("voice-cloning")
>>> vc("Good morning!", reference=preset_reference(vc, "mms-pol"), language="en")    # the Polish reader, in English
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.audio import save_audio
from pipelines.errors import InputError
from pipelines.voice_dsp import speech_only

logger = logging.getLogger(__name__)

__all__ = ["Preset", "PRESETS", "preset_reference", "default_root", "MIN_SECONDS"]

#: A preset clip shorter than this is repeated up to it (cloning needs 3 s of speech; the tiny VITS says 0.3 s).
MIN_SECONDS = 4.0
_VERSION = 2  # part of each clip's cache key: bump when the way a clip is made changes (2: only speech is kept)


@dataclasses.dataclass(frozen=True)
class Preset:
    """One preset voice: its key, its name per UI language, the MMS-TTS language that speaks it, the passage read
    and the seed."""

    key: str
    name: dict[str, str]
    language: str
    text: str
    seed: int = 0


PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("mms-pol", {"en": "Polish reader (MMS-TTS)", "pl": "Lektor polski (MMS-TTS)"}, "pol",
           "Dzień dobry. Nazywam się tak, jak mnie zapisano, i czytam ten krótki tekst powoli i wyraźnie, żeby mój "
           "głos dało się usłyszeć w każdym zdaniu."),
    Preset("mms-eng", {"en": "English reader (MMS-TTS)", "pl": "Lektor angielski (MMS-TTS)"}, "eng",
           "Good morning. I am reading this short passage slowly and clearly, so that my voice can be heard in "
           "every sentence, from the first word to the last."),
    Preset("mms-deu", {"en": "German reader (MMS-TTS)", "pl": "Lektor niemiecki (MMS-TTS)"}, "deu",
           "Guten Morgen. Ich lese diesen kurzen Text langsam und deutlich vor, damit man meine Stimme in jedem "
           "Satz gut hören kann."),
)}


def default_root() -> Path:
    """``$MMHUB_CACHE/voice-presets`` (default ``~/.cache/mmhub/voice-presets``)."""
    return Path(os.environ.get("MMHUB_CACHE", "~/.cache/mmhub")).expanduser() / "voice-presets"


def preset_reference(vc: Any, key: Any, root: str | os.PathLike | None = None) -> Path:
    """The WAV file of preset `key` for the voice-cloning pipeline `vc`: made on first use (`vc.speak`), then read
    from ``root`` (default `default_root`), keyed by the checkpoint, the passage and the seed.

    Raises `InputError` naming ``voice`` for an unknown key, and for a preset its voice model reads as no speech
    (the one speech check, `pipelines.voice_dsp.speech_only`; the tiny models' noise), which is then not kept
    (nor used: clips of version 1, made before the check, have another cache key).
    """
    preset = PRESETS.get(key) if isinstance(key, str) else None
    if preset is None:
        raise InputError("voice", key, f"one of the preset voices {sorted(PRESETS)}")
    model_id = vc.mms_model_id(preset.language)
    digest = hashlib.sha256(f"{_VERSION}|{model_id}|{preset.text}|{preset.seed}".encode()).hexdigest()[:16]
    folder = Path(root).expanduser() if root is not None else default_root()
    path = folder / f"{preset.key}-{digest}.wav"
    if path.is_file():  # made before, and checked then
        return path
    result = vc.speak(preset.text, language=preset.language, seed=preset.seed)
    audio = np.asarray(result.audio, dtype=np.float32)
    needed = int(MIN_SECONDS * result.sample_rate)
    if 0 < len(audio) < needed:
        audio = np.tile(audio, -(-needed // len(audio)))
    _check_speech(audio, result.sample_rate, key, model_id)
    folder.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{preset.key}-", suffix=".wav", dir=folder)
    os.close(fd)
    try:
        save_audio(staging, audio, result.sample_rate)
        os.replace(staging, path)  # one rename: a reader never sees half a file, two writers end with one
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    logger.info("made preset voice %s from %s (%.1f s)", preset.key, model_id, len(audio) / result.sample_rate)
    return path


def _check_speech(audio: np.ndarray, sample_rate: int, key: str, model_id: str) -> None:
    """A voice model that makes no speech (the tiny models' random VITS makes noise) gives no preset."""
    try:
        speech_only(audio, sample_rate, (0.0, float("inf")), argument="voice")
    except InputError as err:
        raise InputError("voice", key, "a preset whose voice model speaks",
                         f"{model_id} made no speech for it (random weights make noise); clone from a recording "
                         "or a saved voice instead") from err
