"""The languages ACE-Step 1.5 sings, with English and Polish names (torch-free: the registry and the CLI read it).

>>> from pipelines.song_languages import VALID_LANGUAGES, name
>>> "pl" in VALID_LANGUAGES, name("pl"), name("pl", "pl")
(True, 'Polish', 'polski')

The codes are ``VALID_LANGUAGES`` of ACE-Step's ``acestep/constants.py`` (github.com/ace-step/ACE-Step-1.5 at
f30aee4), in its order: 50 languages "for vocal generation and language detection" and ``unknown`` ("used when
language cannot be determined automatically"). The code goes into the lyrics header the model reads; the names are
the ISO 639 names, for people.
"""

from __future__ import annotations

#: (code, English name, Polish name), in acestep/constants.py's order.
LANGUAGES: tuple[tuple[str, str, str], ...] = (
    ("ar", "Arabic", "arabski"), ("az", "Azerbaijani", "azerski"), ("bg", "Bulgarian", "bułgarski"),
    ("bn", "Bengali", "bengalski"), ("ca", "Catalan", "kataloński"), ("cs", "Czech", "czeski"),
    ("da", "Danish", "duński"), ("de", "German", "niemiecki"), ("el", "Greek", "grecki"),
    ("en", "English", "angielski"), ("es", "Spanish", "hiszpański"), ("fa", "Persian", "perski"),
    ("fi", "Finnish", "fiński"), ("fr", "French", "francuski"), ("he", "Hebrew", "hebrajski"),
    ("hi", "Hindi", "hindi"), ("hr", "Croatian", "chorwacki"), ("ht", "Haitian Creole", "kreolski haitański"),
    ("hu", "Hungarian", "węgierski"), ("id", "Indonesian", "indonezyjski"), ("is", "Icelandic", "islandzki"),
    ("it", "Italian", "włoski"), ("ja", "Japanese", "japoński"), ("ko", "Korean", "koreański"),
    ("la", "Latin", "łaciński"), ("lt", "Lithuanian", "litewski"), ("ms", "Malay", "malajski"),
    ("ne", "Nepali", "nepalski"), ("nl", "Dutch", "niderlandzki"), ("no", "Norwegian", "norweski"),
    ("pa", "Punjabi", "pendżabski"), ("pl", "Polish", "polski"), ("pt", "Portuguese", "portugalski"),
    ("ro", "Romanian", "rumuński"), ("ru", "Russian", "rosyjski"), ("sa", "Sanskrit", "sanskryt"),
    ("sk", "Slovak", "słowacki"), ("sr", "Serbian", "serbski"), ("sv", "Swedish", "szwedzki"),
    ("sw", "Swahili", "suahili"), ("ta", "Tamil", "tamilski"), ("te", "Telugu", "telugu"),
    ("th", "Thai", "tajski"), ("tl", "Tagalog", "tagalski"), ("tr", "Turkish", "turecki"),
    ("uk", "Ukrainian", "ukraiński"), ("ur", "Urdu", "urdu"), ("vi", "Vietnamese", "wietnamski"),
    ("yue", "Cantonese", "kantoński"), ("zh", "Chinese", "chiński"),
    ("unknown", "unknown / not stated", "nieznany / nieokreślony"),
)
VALID_LANGUAGES: tuple[str, ...] = tuple(code for code, _, _ in LANGUAGES)
_NAMES = {code: {"en": en, "pl": pl} for code, en, pl in LANGUAGES}


def name(code: str, lang: str = "en") -> str:
    """The name of the language `code` in English (``lang="en"``) or Polish (``"pl"``)."""
    return _NAMES[code][lang]


def summary() -> str:
    """One line for ``python -m pipelines list``."""
    sung = [code for code in VALID_LANGUAGES if code != "unknown"]
    return (f"text-to-song languages: {len(sung)} (ACE-Step's list, pl and en among them).\n"
            f"  All of them: python -m pipelines list text-to-song")


def table() -> str:
    """One line per language, for ``python -m pipelines list text-to-song``."""
    rows = [("code", "language", "po polsku"), *LANGUAGES]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}" for r in rows)


__all__ = ["LANGUAGES", "VALID_LANGUAGES", "name", "summary", "table"]
