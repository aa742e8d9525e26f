"""Which languages voice cloning speaks, and by which route (plain data; no torch, so `python -m pipelines list` stays
instant).

Facts this table rests on:

- **Pocket TTS: one checkpoint per language.** Kyutai ships separate weights and a separate 4000-piece SentencePiece
  tokenizer per language (kyutai-labs/pocket-tts ``pocket_tts/config/{english,french_24l,german,italian,
  portuguese,spanish,...}.yaml``: ``weights_path: hf://kyutai/pocket-tts/languages/<language>/model.safetensors``,
  ``lookup_table: n_bins: 4000, tokenizer_path: .../languages/<language>/tokenizer.model``). The only
  transformers-format conversion whose Hub id could be confirmed is ``eustlb/pocket-tts`` (the checkpoint named by
  transformers 5.24's ``PocketTTSConfig`` docstring), of Kyutai's default language, English
  (``pocket_tts/default_parameters.py``: ``DEFAULT_LANGUAGE = "english"``). No transformers-format French, German,
  Italian, Portuguese or Spanish Pocket TTS id could be confirmed, so those languages take the MMS-TTS route below
  (Italian has no MMS-TTS checkpoint: it is not offered).
- **MMS-TTS: one VITS checkpoint per language**, ``facebook/mms-tts-<code>``, CC-BY-NC-4.0, for the 1,137 codes in
  ``data/mms_tts_languages.tsv`` (its header says where the list comes from). Every one of them is spoken by MMS-TTS
  and then converted to the reference voice with kNN-VC (`pipelines.knn_vc`).
- ISO 639-1 codes (``pl``) and ISO 639 names (``Polish``) are mapped to ISO 639-3 with the ``iso639-lang`` package
  (SIL's ISO 639-3 tables).

>>> from pipelines.tts_languages import resolve
>>> resolve("pl").tts_model, resolve("pl").route
('facebook/mms-tts-pol', 'mms-tts+knn-vc')
>>> resolve("en").route
'pocket-tts'
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

__all__ = ["VoiceLanguage", "resolve", "supported", "mms_languages", "POCKET_TTS", "MMS_TTS_TEMPLATE",
           "POCKET_ROUTE", "MMS_ROUTE", "POCKET_CONVERSION_ROUTE"]

#: Confirmed transformers-format Pocket TTS checkpoints, by ISO 639-1 code.
POCKET_TTS = {"en": "eustlb/pocket-tts"}
MMS_TTS_TEMPLATE = "facebook/mms-tts-{code}"
DATA = Path(__file__).parent / "data" / "mms_tts_languages.tsv"

POCKET_ROUTE = "pocket-tts"  # Pocket TTS reads the voice from the reference clip itself
POCKET_CONVERSION_ROUTE = "pocket-tts+knn-vc"  # a Pocket TTS whose cloning is withheld, then kNN-VC conversion
MMS_ROUTE = "mms-tts+knn-vc"


@dataclasses.dataclass(frozen=True)
class VoiceLanguage:
    """A language voice cloning speaks: the code it is asked for, its TTS checkpoint and route."""

    code: str  # the canonical code: "en" for Pocket TTS, the MMS checkpoint code otherwise ("pol", "azj-script_latin")
    iso639_3: str
    name: str
    route: str  # POCKET_ROUTE or MMS_ROUTE (POCKET_CONVERSION_ROUTE is decided at load time, see voice_cloning)
    tts_model: str
    iso639_1: str = ""

    @property
    def label(self) -> str:
        """``"Polish (pl, pol)"``: for menus."""
        codes = ", ".join(dict.fromkeys(c for c in (self.iso639_1, self.code) if c))
        return f"{self.name} ({codes})"


@functools.cache
def mms_languages() -> dict[str, str]:
    """MMS-TTS checkpoint code -> language name, in the published order."""
    rows = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t")
            rows[code] = name
    return rows


@functools.cache
def _mms_by_base() -> dict[str, tuple[str, ...]]:
    """ISO 639-3 code -> its MMS checkpoint codes (several for languages published per script or dialect)."""
    groups: dict[str, list[str]] = {}
    for code in mms_languages():
        groups.setdefault(code.split("-")[0], []).append(code)
    return {base: tuple(codes) for base, codes in groups.items()}


def _iso(value: str):
    """The `iso639.Lang` for a code or an English ISO 639 name, or None."""
    from iso639 import Lang
    from iso639.exceptions import InvalidLanguageValue

    for candidate in dict.fromkeys((value, value.lower(), value.capitalize())):
        try:
            return Lang(candidate)
        except InvalidLanguageValue:
            continue
    return None


def _pocket(code: str) -> VoiceLanguage:
    iso = _iso(code)
    return VoiceLanguage(code, iso.pt3, iso.name, POCKET_ROUTE, POCKET_TTS[code], iso639_1=code)


def _mms(code: str) -> VoiceLanguage:
    base = code.split("-")[0]
    iso = _iso(base)
    return VoiceLanguage(code, base, mms_languages()[code], MMS_ROUTE, MMS_TTS_TEMPLATE.format(code=code),
                         iso639_1=iso.pt1 if iso else "")


def resolve(language: Any, argument: str = "language") -> VoiceLanguage:
    """The `VoiceLanguage` for an ISO 639-1 or 639-3 code, an MMS checkpoint code or an ISO 639 English name.

    Raises:
        InputError: naming `argument`, with close matches, for a code no route speaks or a language with several
            MMS checkpoints (one per script or dialect) given without the suffix that picks one.
    """
    from pipelines import validate

    text = validate.text(argument, language).strip()
    key = re.sub(r"\s+", " ", text)
    lowered = key.lower()
    iso = _iso(key) if len(key) <= 60 else None
    if lowered in POCKET_TTS or (iso is not None and iso.pt1 in POCKET_TTS):
        return _pocket(lowered if lowered in POCKET_TTS else iso.pt1)
    if lowered in mms_languages():
        return _mms(lowered)
    if iso is not None:
        variants = _mms_by_base().get(iso.pt3, ())
        if len(variants) == 1:
            return _mms(variants[0])
        if variants:
            raise InputError(argument, language, f"one of the {iso.name} checkpoints: {', '.join(variants)}",
                             "MMS-TTS has one per script or dialect; name the one you want.")
    raise InputError(argument, language, "an ISO 639-1 or 639-3 code of a language voice cloning speaks "
                                         "(see `python -m pipelines list voice-cloning`)", _suggest(key, iso))


def _suggest(key: str, iso: Any) -> str:
    """A "did you mean" over codes and names: a macrolanguage's members, same-named languages, near spellings."""
    mms = mms_languages()
    found: list[str] = []
    if iso is not None:
        if iso.scope() == "Macrolanguage":
            found += [c for member in iso.individuals() for c in _mms_by_base().get(member.pt3, ())]
        stem = re.sub(r"\s*\(.*\)$", "", iso.name).lower()
        found += [code for code, name in mms.items() if stem and stem in name.lower()]
    else:  # not an ISO language: a misspelt code or name
        lowered = key.lower()
        names = {name.lower(): code for code, name in mms.items()}
        found += [names[n] for n in difflib.get_close_matches(lowered, list(names), n=3, cutoff=0.75)]
        found += difflib.get_close_matches(lowered, list(mms) + list(POCKET_TTS), n=3, cutoff=0.7)
    found = list(dict.fromkeys(found))[:6]
    if iso is not None and not found:
        return (f"{iso.name} ({iso.pt3}) has no MMS-TTS checkpoint and no confirmed transformers-format Pocket TTS "
                "one.")
    if not found:
        return "See `python -m pipelines list voice-cloning` for the supported languages."
    labels = [f"{c!r} ({mms.get(c) or _pocket(c).name})" for c in found]
    prefix = f"{iso.name} ({iso.pt3}) has no checkpoint of its own. " if iso is not None else ""
    return f"{prefix}Did you mean {', '.join(labels)}?"


@functools.cache
def supported() -> tuple[VoiceLanguage, ...]:
    """Every language voice cloning speaks: Pocket TTS ones first, then MMS-TTS by name."""
    pocket = [_pocket(code) for code in POCKET_TTS]
    taken = {lang.iso639_3 for lang in pocket}
    mms = [_mms(code) for code in mms_languages() if code.split("-")[0] not in taken]
    return tuple(pocket + sorted(mms, key=lambda lang: (lang.name.lower(), lang.code)))


def summary() -> str:
    """Two lines for ``python -m pipelines list``."""
    langs = supported()
    mms = [lang for lang in langs if lang.route == MMS_ROUTE]
    pocket = ", ".join(f"{lang.code} ({lang.tts_model})" for lang in langs if lang.route == POCKET_ROUTE)
    return (f"voice-cloning languages: {pocket} through Pocket TTS; {len(mms)} MMS-TTS checkpoints "
            f"({len({lang.iso639_3 for lang in mms})} languages, e.g. pl, de, fr, es, pt) through MMS-TTS + kNN-VC "
            f"(cc-by-nc-4.0).\n  All of them: python -m pipelines list voice-cloning")


def table() -> str:
    """One line per language, for ``python -m pipelines list voice-cloning``."""
    rows = [("code", "iso 639-1", "language", "route", "tts model")]
    rows += [(lang.code, lang.iso639_1, lang.name, lang.route, lang.tts_model) for lang in supported()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
                     for r in rows)
