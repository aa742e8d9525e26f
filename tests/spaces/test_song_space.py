"""The Song tab served for real (tiny ACE-Step, offline) through gradio_client; its Space export."""

from __future__ import annotations

import pytest
import soundfile as sf
from gradio_client.exceptions import AppError

from spaces.app import space
from spaces.export import main as export_main

LYRICS = "[verse]\nNad Wisłą rano świeci słońce\n[chorus]\nŚpiewaj ze mną"


def sing(client, lyrics=LYRICS, instrumental=False, language="pl", duration=10, seed=5, steps=4, bpm=0, key="",
         time_signature="", model="tiny"):
    return client.predict("polish pop, female vocals", lyrics, instrumental, language, duration, seed, steps, 7.0, 3.0,
                          bpm, key, time_signature, model, api_name="/song")


def test_song_tab_sings_polish_lyrics_plays_and_downloads(client):
    player, download, seed, summary = sing(client, bpm=96, key="D minor", time_signature="3")
    audio, rate = sf.read(player)
    assert rate == 48000 and audio.shape == (10 * 48000, 2)  # 48 kHz stereo
    flac, flac_rate = sf.read(download)
    assert download.endswith(".flac") and flac_rate == 48000 and flac.shape == audio.shape
    assert seed == 5 and "Seed 5" in summary and "pl" in summary and "4 steps" in summary
    random_seed = sing(client, seed=-1, steps=1)[2]  # −1 draws a seed, and the tab shows it
    assert isinstance(random_seed, int) and random_seed >= 0


@pytest.mark.parametrize(("change", "message"), [
    ({"lyrics": "   "}, "instrumental=True"),  # vocals asked, nothing to sing
    ({"instrumental": True}, "empty \\(or '\\[Instrumental\\]'\\) when instrumental=True"),
    ({"language": "xx"}, "xx is not in the list of choices"),  # gradio's dropdown refuses it first
    ({"key": "Am"}, "'A minor', not 'Am'"),
    ({"steps": 50}, "turbo checkpoint"),
    ({"time_signature": "5"}, "5 is not in the list of choices"),
    ({"seed": -5}, "(?i)seed|minimum"),
])
def test_song_tab_bad_requests_get_their_message(client, change, message):
    with pytest.raises(AppError, match=message):
        sing(client, **change)


def test_song_tab_keeps_serving_and_sings_an_instrumental(client, local_models):
    with pytest.raises(AppError, match="no file named model_index.json"):  # an allowed folder, not ACE-Step
        sing(client, model=str(local_models["sentiment"]))
    with pytest.raises(AppError, match="(?i)duration|minimum"):
        sing(client, duration=5)
    _, _, seed, summary = sing(client, lyrics="", instrumental=True, language="unknown", seed=8, steps=2)
    assert seed == 8 and "instrumental" in summary


def test_song_exports_as_a_single_space(tmp_path, capsys):
    spec = space("text-to-song")
    assert spec.name == "song" and space("song") is spec and spec.order == 75  # next to Music (70)
    export_main(["song", str(tmp_path / "song")])
    folder = tmp_path / "song"
    assert (folder / "mmhub_space" / "song.py").is_file() and not (folder / "spaces").exists()
    assert (folder / "pipelines" / "song_generation.py").is_file()
    assert (folder / "pipelines" / "song_languages.py").is_file()
    requirements = (folder / "requirements.txt").read_text().split()
    assert {"diffusers==0.42.1", "soundfile==0.14.0"} <= set(requirements)
    readme = (folder / "README.md").read_text()
    assert "ACE-Step/acestep-v15-xl-turbo-diffusers" in readme and "mit" in readme
