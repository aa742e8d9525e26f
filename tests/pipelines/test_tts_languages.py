"""The voice-cloning languages: the registry claims one Pocket TTS language, the MMS-TTS list is Meta's, codes map."""

import subprocess
import sys

import pytest

from pipelines import TASKS, tts_languages
from pipelines.errors import InputError

# The first codes of the "Supported Languages" list of the facebook/mms-tts model card, in its order (sorted by
# language name): the shipped table must reproduce Meta's list, not a reordered or filtered copy.
MODEL_CARD_FIRST_CODES = (
    "abi ace aca acn acr ach acu guq ade adj agd agx agn aha aka knj ake aeu ahk bss alj sqi alt alp alz kab amk mmg "
    "amh ami azg agg boj cko any arl ara atq luc hyw apr aia msy cni cjo cpu cpb asm asa teo ati djk ava avn avu awb "
    "kwi awa agr agu ayr ayo abp blx sgb azj-script_cyrillic azj-script_latin azb bba bhz bvc bfy bgq bdq bdh bqi bjw "
    "blz ban bcc-script_latin bcc-script_arabic bam ptu bcw bqj bno bbb bfa bjz bak eus bsq akb btd btx bts bbc bvz "
    "bjv bep bkv bzj bem bng ben bom"
).split()


def test_the_mms_list_is_metas():
    codes = list(tts_languages.mms_languages())
    assert codes[: len(MODEL_CARD_FIRST_CODES)] == MODEL_CARD_FIRST_CODES
    # 1,143 published checkpoints for 1,107 languages, less 6 dialect codes with non-ASCII letters (unknown Hub ids)
    assert len(codes) == len(set(codes)) == 1137
    assert len({c.split("-")[0] for c in codes}) == 1106
    assert all(c.isascii() and c == c.lower() for c in codes)
    assert tts_languages.mms_languages()["pol"] == "Polish"
    assert "ita" not in tts_languages.mms_languages()  # MMS-TTS has no Italian


def test_registry_claims_one_language_per_pocket_checkpoint():
    pocket = TASKS["voice-cloning"].model_info("eustlb/pocket-tts")
    assert pocket.languages == ("en",)
    assert tts_languages.POCKET_TTS == {"en": "eustlb/pocket-tts"}
    mms = TASKS["voice-cloning"].model_info("facebook/mms-tts-pol")
    assert mms.licence == "cc-by-nc-4.0" and not mms.commercial_use


@pytest.mark.parametrize("value, code, route, model", [
    ("en", "en", "pocket-tts", "eustlb/pocket-tts"),
    ("eng", "en", "pocket-tts", "eustlb/pocket-tts"),
    ("English", "en", "pocket-tts", "eustlb/pocket-tts"),
    ("pl", "pol", "mms-tts+knn-vc", "facebook/mms-tts-pol"),
    (" POL ", "pol", "mms-tts+knn-vc", "facebook/mms-tts-pol"),
    ("de", "deu", "mms-tts+knn-vc", "facebook/mms-tts-deu"),
    ("fr", "fra", "mms-tts+knn-vc", "facebook/mms-tts-fra"),
    ("es", "spa", "mms-tts+knn-vc", "facebook/mms-tts-spa"),
    ("pt", "por", "mms-tts+knn-vc", "facebook/mms-tts-por"),
    ("ar", "ara", "mms-tts+knn-vc", "facebook/mms-tts-ara"),
    ("azj-script_latin", "azj-script_latin", "mms-tts+knn-vc", "facebook/mms-tts-azj-script_latin"),
    ("German", "deu", "mms-tts+knn-vc", "facebook/mms-tts-deu"),
])
def test_codes_map_to_routes(value, code, route, model):
    lang = tts_languages.resolve(value)
    assert (lang.code, lang.route, lang.tts_model) == (code, route, model)


@pytest.mark.parametrize("value, fragment", [
    ("xx", "list voice-cloning"),
    ("polsh", "Did you mean 'pol' (Polish)"),
    ("it", "Italian (ita) has no MMS-TTS checkpoint"),
    ("zh", "'hak' (Chinese, Hakka), 'nan' (Chinese, Min Nan)"),  # a macrolanguage: its members that MMS speaks
    ("sw", "'swh' (Swahili)"),
    ("azj", "azj-script_cyrillic, azj-script_latin"),  # one checkpoint per script: name one
    ("", "non-empty"),
    ("\ud800", "lone surrogate"),
    (None, "non-empty"),
    (3, "non-empty"),
])
def test_unknown_codes_name_the_argument_and_close_matches(value, fragment):
    with pytest.raises(InputError) as info:
        tts_languages.resolve(value)
    assert info.value.argument == "language" and "`language`" in str(info.value) and fragment in str(info.value)


def test_supported_languages_and_labels():
    langs = tts_languages.supported()
    assert langs[0].code == "en" and langs[0].route == "pocket-tts"
    assert len(langs) == 1137  # English once (Pocket TTS), every other MMS checkpoint once
    assert len({lang.code for lang in langs}) == len(langs)
    polish = next(lang for lang in langs if lang.code == "pol")
    assert polish.label == "Polish (pl, pol)" and polish.iso639_1 == "pl"


def test_list_shows_the_voice_cloning_languages_without_torch():
    code = ("import sys, pipelines.cli as c; c.main(['list']); c.main(['list', 'voice-cloning']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "voice-cloning languages: en (eustlb/pocket-tts) through Pocket TTS" in out
    assert "1136 MMS-TTS checkpoints (1105 languages" in out
    assert "pol                              pl         Polish" in out and "facebook/mms-tts-pol" in out
    bad = subprocess.run([sys.executable, "-m", "pipelines", "list", "voice-clonin"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Did you mean 'voice-cloning'" in bad.stderr
