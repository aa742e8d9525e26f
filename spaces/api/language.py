"""The language of a text, for ``/v1/audio/speech`` without mmhub's ``language`` field: langdetect (Google's
language-detection profiles for 55 languages, offline), seeded so that one text always gets one answer.

>>> from spaces.api.language import detect
>>> detect("Dzień dobry, jak się dziś masz?")
'pl'
"""

from __future__ import annotations

import threading

from .errors import field_error

_LOCK = threading.Lock()  # langdetect's factory is module state: seeded and loaded once


def detect(text: str) -> str:
    """The ISO 639-1 code langdetect finds most likely (``zh-cn`` / ``zh-tw`` as ``zh``); 400 naming ``language``
    when the text holds no language (digits, punctuation)."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _LOCK:
        DetectorFactory.seed = 0
        try:
            found = detect_langs(text)
        except LangDetectException:
            found = []
    if not found:
        raise field_error("language", "The language of `input` could not be detected; pass mmhub's `language` "
                                      "field (an ISO 639 code such as 'en' or 'pl').")
    return found[0].lang.split("-")[0]


def speech_language(explicit: str | None, text: str) -> str:
    """The language to speak `text` in: `explicit` (mmhub's ``language`` field) when given, else the detected one.

    Short inputs are easily mistaken (langdetect reads "Hello." as Italian and "OK" as Portuguese); a detected
    language voice cloning does not speak is a 400 naming ``language`` that says so."""
    from pipelines import tts_languages
    from pipelines.errors import InputError

    if explicit is not None and explicit.strip():
        return explicit.strip()
    code = detect(text)
    try:
        tts_languages.resolve(code)
    except InputError:
        raise field_error("language", f"`input` reads as {code!r} to the language detector, which voice cloning "
                                      f"does not speak (short texts are often misread); pass mmhub's `language` "
                                      f"field, e.g. 'en' or 'pl'.") from None
    return code
