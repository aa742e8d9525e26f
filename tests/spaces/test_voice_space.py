"""The voice Space, served for real (tiny models): its searchable language menu, the pipeline's own error for each bad
request (not Gradio's generic one), and a good request answered after every bad one."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import soundfile as sf

    folder = tmp_path_factory.mktemp("voice")
    rate = 16000
    t = np.arange(4 * rate) / rate
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(120 + 20 * np.sin(np.pi * t)) / rate))
    sf.write(folder / "voice.wav", (0.2 * (0.6 + 0.4 * np.sin(8 * np.pi * t)) * buzz).astype(np.float32), rate)
    sf.write(folder / "silent.wav", np.zeros(4 * rate, np.float32), rate)
    sf.write(folder / "one.wav", np.array([0.5], np.float32), rate)
    (folder / "notes.wav").write_text("not audio at all")
    (folder / "empty.wav").write_bytes(b"")
    return folder


def clone(client, text="Dzień dobry.", reference="voice.wav", language="pol", seed=0, *, files):
    ref = handle_file(str(files / reference)) if reference else None
    return client.predict(text, ref, language, seed, "tiny", api_name="/clone_voice")


def test_language_menu_is_searchable_over_every_supported_language(client):
    dropdowns = [c["props"] for c in client.config["components"]
                 if c.get("type") == "dropdown" and c["props"].get("label") in ("Language", "Język")]
    assert dropdowns
    menu = dropdowns[0]
    assert menu["filterable"] and menu["allow_custom_value"]  # typed codes reach the pipeline, which explains
    codes = [choice[1] for choice in menu["choices"]]
    assert len(codes) == 1137 and codes[0] == "en" and "pol" in codes and "azj-script_latin" in codes
    labels = {choice[1]: choice[0] for choice in menu["choices"]}
    # the English name, the language's own (CLDR, through babel: "polski" finds Polish), the codes
    assert labels["pol"] == "Polish — polski (pl, pol)" and labels["deu"] == "German, Standard — Deutsch (de, deu)"
    assert labels["abi"] == "Abidji (abi)"  # no CLDR name: the MMS list's


BAD = [
    (dict(language="xx"), "`language`"),
    (dict(language="polsh"), "Did you mean 'pol' (Polish)"),
    (dict(language="it"), "Italian (ita) has no MMS-TTS checkpoint"),
    (dict(language=""), "`language`"),
    (dict(text=""), "`text`"),
    (dict(text="x" * 2001), "`text`"),
    (dict(seed=2**70), "`seed`"),  # (NaN cannot travel in the API's JSON; the pipeline tests cover it)
    (dict(seed=-2), "`seed`"),  # -1 means random
    (dict(seed=1.5), "`seed`"),
    (dict(seed=1e300), "`seed`"),
    (dict(reference=None), "`reference`"),
    (dict(reference="silent.wav"), "`reference`"),
    (dict(reference="one.wav"), "`reference`"),
    (dict(reference="notes.wav"), "`reference`"),
    (dict(reference="empty.wav"), "`reference`"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[f"{next(iter(k))}-{i}" for i, (k, _) in enumerate(BAD)])
def test_bad_request_shows_the_pipeline_error_and_the_space_keeps_serving(client, files, kwargs, message):
    with pytest.raises(AppError, match="must be|Did you mean|has no") as info:
        clone(client, files=files, **kwargs)
    assert message in str(info.value)
    import soundfile as sf

    audio, rate = sf.read(clone(client, files=files))
    assert audio.ndim == 1 and audio.size > 0 and rate == 16000


def test_english_and_any_language_code(client, files):
    import soundfile as sf

    for language, rate in (("en", 24000), ("deu", 16000), ("azj-script_latin", 16000), ("de", 16000)):
        audio, got = sf.read(clone(client, "Guten Tag.", language=language, files=files))
        assert got == rate and audio.size > 0


def test_conversion_bad_reference_then_good(client, files):
    with pytest.raises(AppError, match="`reference`"):
        client.predict(handle_file(str(files / "voice.wav")), handle_file(str(files / "notes.wav")), "tiny",
                       api_name="/convert_voice")
    path = client.predict(handle_file(str(files / "voice.wav")), handle_file(str(files / "voice.wav")), "tiny",
                          api_name="/convert_voice")
    import soundfile as sf

    audio, rate = sf.read(path)
    assert rate == 16000 and audio.size == 4 * 16000 // 320 * 320
