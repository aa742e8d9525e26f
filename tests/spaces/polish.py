"""What the Polish-UI browser test counts as English: words of the app's English strings that no Polish string uses,
and the English words gradio writes when its dictionary has no Polish for them.

    >>> "upload" in english_words() and "model" not in english_words()
    True
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
CODE = re.compile(r"\S*[_./=\\]\S*|--\S+")  # commands, paths, Hub ids, options: not words to translate

#: Gradio 6.31's words written into its components' markup without its i18n (no dictionary can change them).
GRADIO_HARDCODED = ("Copy table data", "Copied to clipboard", "Fullscreen")

#: Model names with English words in them (the Song tab's model; the leaderboard's rows add theirs, `names`).
MODEL_NAMES = ("ACE-Step",)

#: The voice menu's search alias: a language's English name after its Polish one and before its codes
#: (``Polski — Polish (pl, pol)``, spaces.voice_cloning.language_choices): a name, kept so that either finds it.
LANGUAGE_ALIAS = re.compile(r"— [^—()\n]+ (?=\([a-z]{2,3}(?:, [a-z]{3})?\))")

#: English function words and gradio's own controls' words, for text that comes from neither table.
COMMON_ENGLISH = frozenset(
    "the and of for with from your this that these those is are was were be been or in here there click drop "
    "upload uploads select clear error loading image images audio file files value input output empty submit "
    "flag retry undo copy share download record recording stop paste webcam camera brush erase layer layers zoom "
    "redo reset settings examples example chatbot textbox message messages send run runs seed random step steps "
    "train training draw picture pictures digit result results".split())

#: Words that are the same in both languages, or names: model and library names, units, technical tokens.
SHARED = frozenset(
    "tiny model models hub id gpt bielik stable diffusion sd turbo lora vgg wan ti mms tts pocket knn vc musicgen "
    "htdemucs demucs mnist vae gan dcgan cnn psnr db cpu gpu px mb gb api gradio deep dream top p l kl html csv tsv "
    "txt xlsx wav flac mp ogg png jpeg webp ylecun fashion sklearn digits imagenet google nn vis harley cc by nc "
    "apache mit cuda kaggle amazon conv pool fc sigma audio".split())


def _words(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_words(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_words(v) for v in value)) if value else set()
    return {w.lower() for w in WORD.findall(value)} if isinstance(value, str) else set()


@functools.cache
def english_words() -> frozenset[str]:
    """Words of the app's English UI strings that its Polish ones never use, with `COMMON_ENGLISH`, less `SHARED`."""
    from spaces import common, inside
    from spaces.app import discover_spaces

    tables = [common.STRINGS, common.ERRORS, inside.TEXTS, inside.ERROR_TEXTS,
              {lang: [g[lang] for g in common.GROUPS.values()] for lang in ("en", "pl")}]
    for spec in discover_spaces():
        tables.append(spec.title)
        module = sys.modules[spec.build.__module__]
        tables += [getattr(module, name) for name in ("TEXTS", "ERROR_TEXTS") if hasattr(module, name)]
    english = set().union(*(_words(t.get("en", {})) for t in tables))
    polish = set().union(*(_words(t.get("pl", {})) for t in tables)) | _words(common.GRADIO_PL)
    return frozenset((english - polish | COMMON_ENGLISH) - SHARED)


@functools.cache
def names() -> tuple[str, ...]:
    """Model names shown in the app (`MODEL_NAMES`, the leaderboard's published rows), longest first."""
    from eval.leaderboard import published_rows

    found = {*MODEL_NAMES, *(row.model for row in published_rows())}
    found |= {name.rpartition("/")[2] for name in found}
    return tuple(sorted(found, key=len, reverse=True))


def english_in(text: str) -> set[str]:
    """The English words of `text` (`english_words`), leaving out commands, paths and ids (`CODE`), model names
    (`names`), the voice menu's English alias of a language (`LANGUAGE_ALIAS`) and `GRADIO_HARDCODED`."""
    for phrase in GRADIO_HARDCODED + names():
        text = text.replace(phrase, " ")
    text = LANGUAGE_ALIAS.sub(" ", text)
    return {w for w in WORD.findall(CODE.sub(" ", text)) if w.lower() in english_words()}
