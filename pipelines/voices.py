"""Saved voices: reference clips kept under a name, to clone again without recording again.

The app's voice library and the service's ``/v1/voices`` share this store. A voice is a folder
``<root>/<id>/`` holding ``voice.json`` (its metadata) and ``reference.wav`` (mono 16-bit PCM at the clip's own
rate). A clip is checked as voice cloning checks a reference before it is kept: decodable audio, mono after mixing
down, speech found by the one speech check of every cloning route (`pipelines.voice_dsp.speech_only`: no noise, tone
or constant offset), 3-30 s of it (what every cloning route accepts), and 3-30 s of sound once silence is trimmed.

>>> from pipelines import load
>>> from pipelines.voices import VoiceLibrary
>>> voices = VoiceLibrary()                  # $MMHUB_VOICES, else $MMHUB_CACHE/voices (default ~/.cache/mmhub/voices)
>>> ania = voices.save("Ania", "ania.wav")
>>> vc = load("voice-cloning")
>>> vc("Dzień dobry!", reference=voices.reference(ania.id), language="pl").save("out.wav")
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipelines import validate
from pipelines.audio import read_audio, save_audio, trim_silence
from pipelines.base import Result
from pipelines.errors import InputError
from pipelines.textfiles import parse_json
from pipelines.voice_dsp import speech_only

logger = logging.getLogger(__name__)

__all__ = ["Voice", "VoiceLibrary", "default_root", "SPEECH_SECONDS"]

#: Seconds of sound (silence trimmed) a kept clip must have: Pocket TTS takes 3-30 s, the kNN-VC routes 3-120 s.
SPEECH_SECONDS = (3.0, 30.0)
MAX_RAW_SECONDS = 120.0  # the clip as uploaded, silence included (the voice-cloning pipeline's own bound)
MAX_NAME_CHARS = 64
MAX_VOICES = 1000  # per library: a bound on the disk a client can fill (each voice is at most a few MB)
_ID = re.compile(r"^voice_[0-9a-f]{16}$")
_META, _AUDIO = "voice.json", "reference.wav"


def default_root() -> Path:
    """``$MMHUB_VOICES`` when set, else ``$MMHUB_CACHE/voices`` (default ``~/.cache/mmhub/voices``)."""
    if os.environ.get("MMHUB_VOICES"):
        return Path(os.environ["MMHUB_VOICES"]).expanduser()
    return Path(os.environ.get("MMHUB_CACHE", "~/.cache/mmhub")).expanduser() / "voices"


@dataclasses.dataclass
class Voice(Result):
    """A saved voice: its id (``voice_`` + 16 hex digits), the name a person gave it, and the kept clip's facts."""

    id: str
    name: str
    seconds: float
    sample_rate: int
    created: str  # ISO 8601, UTC
    language: str | None = None  # what the voice speaks, when its owner said so (a hint for menus, not a check)
    owner: str | None = None  # who saved it (the service keeps an API key's fingerprint here); None: anyone's


class VoiceLibrary:
    """Voices saved under `root`, safe across threads and processes (each voice is published by one rename)."""

    def __init__(self, root: str | os.PathLike | None = None, max_voices: int = MAX_VOICES):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.max_voices = validate.integer("max_voices", max_voices, low=1, high=10**6)

    # -- reading ---------------------------------------------------------------------------------------------------

    def list(self, owner: str | None = None) -> list[Voice]:
        """Every voice (or `owner`'s and ownerless ones), oldest first."""
        voices = []
        for folder in sorted(self.root.glob("voice_*")) if self.root.is_dir() else []:
            voice = self._read(folder)
            if voice is not None and (owner is None or voice.owner in (None, owner)):
                voices.append(voice)
        return sorted(voices, key=lambda v: (v.created, v.id))

    def get(self, voice_id: Any, owner: str | None = None) -> Voice:
        """The voice `voice_id`; `InputError` naming ``voice`` when there is none (or it is another owner's)."""
        folder = self._folder(voice_id)
        voice = self._read(folder) if folder.is_dir() else None
        if voice is None or (owner is not None and voice.owner not in (None, owner)):
            raise InputError("voice", voice_id, "the id of a saved voice (see the voice list)")
        return voice

    def reference(self, voice_id: Any, owner: str | None = None) -> Path:
        """The path of the voice's reference clip, for ``vc(text, reference=...)``."""
        self.get(voice_id, owner)
        return self._folder(voice_id) / _AUDIO

    # -- writing ---------------------------------------------------------------------------------------------------

    def save(self, name: Any, audio: Any, sample_rate: int | None = None, *, language: str | None = None,
             owner: str | None = None) -> Voice:
        """Check `audio` as a cloning reference and keep it under `name`; returns the new `Voice`.

        Args:
            name (`str`): what to call it, 1 to 64 characters (names need not be unique; ids are).
            audio: a path, an array ``(channels, samples)`` / ``(samples,)`` with `sample_rate`, or Gradio's
                ``(sample_rate, array)`` tuple.
            sample_rate (`int`, *optional*): the rate of an array `audio`.
            language (`str`, *optional*): a language code the voice speaks, kept as a hint.
            owner (`str`, *optional*): who may see it besides everyone's voices (`list` / `get` filter on it).
        """
        name = validate.text("name", name, max_chars=MAX_NAME_CHARS).strip()
        if language is not None:
            language = validate.text("language", language, max_chars=32).strip()
        if owner is not None:
            owner = validate.text("owner", owner, max_chars=128)
        clip = read_audio(audio, sample_rate, channels=1, min_seconds=0.1, max_seconds=MAX_RAW_SECONDS,
                          argument="audio")
        speech_only(clip.audio[0], clip.sample_rate, SPEECH_SECONDS, argument="audio")  # as every cloning route does
        voice = trim_silence(clip.audio[0], clip.sample_rate)
        seconds = len(voice) / clip.sample_rate
        low, high = SPEECH_SECONDS
        if not low <= seconds <= high:
            raise InputError("audio", f"a clip with {seconds:.2f} s of sound (silence trimmed)",
                             f"between {low:g} and {high:g} seconds of speech")
        if len(self.list()) >= self.max_voices:
            raise InputError("voice", name, f"room in a library of at most {self.max_voices} voices",
                             "Delete a voice you no longer need.")
        result = Voice(id=f"voice_{secrets.token_hex(8)}", name=name, seconds=round(seconds, 3),
                       sample_rate=clip.sample_rate, language=language, owner=owner,
                       created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=self.root))
        try:
            save_audio(staging / _AUDIO, voice, clip.sample_rate)
            (staging / _META).write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=1),
                                         encoding="utf-8")
            os.rename(staging, self._folder(result.id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("saved voice %s (%r, %.1f s)", result.id, name, seconds)
        return result

    def delete(self, voice_id: Any, owner: str | None = None) -> Voice:
        """Remove the voice `voice_id` (`InputError` when there is none); returns what was removed."""
        voice = self.get(voice_id, owner)
        folder = self._folder(voice_id)
        trash = self.root / f".deleting-{voice.id}-{secrets.token_hex(4)}"
        try:
            os.rename(folder, trash)  # gone for readers at once, even if the removal below is slow
        except FileNotFoundError:  # deleted meanwhile by another request
            raise InputError("voice", voice_id, "the id of a saved voice (see the voice list)") from None
        shutil.rmtree(trash, ignore_errors=True)
        logger.info("deleted voice %s", voice.id)
        return voice

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _folder(self, voice_id: Any) -> Path:
        if not isinstance(voice_id, str) or not _ID.match(voice_id):  # never a path: no '..', no separators
            raise InputError("voice", voice_id, "a voice id: 'voice_' and 16 hexadecimal digits")
        return self.root / voice_id

    @staticmethod
    def _read(folder: Path) -> Voice | None:
        try:
            data = parse_json((folder / _META).read_text(encoding="utf-8"))
            voice = Voice(**{f.name: data.get(f.name) for f in dataclasses.fields(Voice)})
        except (OSError, ValueError, TypeError) as err:  # half-deleted or hand-edited: not a voice
            logger.warning("skipping %s: %s", folder, err)
            return None
        return voice if voice.id == folder.name and (folder / _AUDIO).is_file() else None
