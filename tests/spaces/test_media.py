"""The Music and Video tabs, served for real (tiny models, offline) through gradio_client; their Space exports."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from spaces.app import space
from spaces.export import export_space


@pytest.fixture(scope="module")
def melody(tmp_path_factory):
    folder = tmp_path_factory.mktemp("melody")
    t = np.arange(2 * 32000) / 32000
    sf.write(folder / "hum.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 32000)
    (folder / "broken.wav").write_text("this is not audio")
    return {"hum": folder / "hum.wav", "broken": folder / "broken.wav"}


def test_music_tab_previews_then_plays_and_downloads(client):
    job = client.submit("lo-fi piano", 4, None, 3.0, 1.0, 11, "tiny", api_name="/music")
    player, download, seed = job.result(timeout=300)
    audio, rate = sf.read(player)
    assert rate == 32000 and audio.shape == (4 * 32000,) and seed == 11 and download == player
    assert len(job.outputs()) >= 3  # growing previews (every 2 s of music) before the final file


def test_music_tab_bad_request_then_good_request(client, melody):
    with pytest.raises(AppError, match="`prompt` must be non-empty text"):
        client.predict("   ", 2, None, 3.0, 1.0, 0, "tiny", api_name="/music")
    with pytest.raises(AppError, match="`melody` must be an audio file"):
        client.predict("jazz", 2, handle_file(melody["broken"]), 3.0, 1.0, 0, "tiny-melody", api_name="/music")
    with pytest.raises(AppError, match="not a melody model"):
        client.predict("jazz", 2, handle_file(melody["hum"]), 3.0, 1.0, 0, "tiny", api_name="/music")
    player, _, seed = client.predict("jazz", 2, handle_file(melody["hum"]), 3.0, 1.0, 4, "tiny-melody",
                                     api_name="/music")
    assert sf.read(player)[0].shape == (2 * 32000,) and seed == 4


def test_video_tab_plays_an_mp4_and_refuses_a_bad_size(client):
    import imageio.v2 as imageio

    video, seed = client.predict("a cat surfing", "", 16, 32, 9, 2, 5.0, 3, None, "tiny", api_name="/video")
    frames = np.stack([frame for frame in imageio.get_reader(video, "ffmpeg").iter_data()])
    assert frames.shape == (9, 32, 16, 3) and seed == 3
    with pytest.raises(AppError, match="`width` must be a multiple of 16"):
        client.predict("a cat", "", 24, 16, 9, 2, 5.0, 3, None, "tiny", api_name="/video")
    with pytest.raises(AppError, match="`num_frames` must be an integer of the form 4k"):
        client.predict("a cat", "", 16, 16, 8, 2, 5.0, 3, None, "tiny", api_name="/video")
    video, _ = client.predict("a cat", "", 16, 16, 5, 1, 5.0, 3, None, "tiny", api_name="/video")
    assert len([f for f in imageio.get_reader(video, "ffmpeg").iter_data()]) == 5


@pytest.mark.parametrize(("name", "task", "requirement"), [("music", "text-to-music", "soundfile"),
                                                           ("video", "text-to-video", "imageio-ffmpeg")])
def test_each_tab_exports_as_a_single_space(tmp_path, name, task, requirement):
    spec = space(task)
    assert spec.name == name and space(name) is spec
    folder = export_space(spec, tmp_path / name)
    assert (folder / "mmhub_space" / f"{name}.py").is_file() and not (folder / "spaces").exists()
    assert any(line.startswith(f"{requirement}==") for line in (folder / "requirements.txt").read_text().split())
    readme = (folder / "README.md").read_text()
    assert ("cc-by-nc-4.0" if name == "music" else "apache-2.0") in readme


def test_a_request_leaves_no_files_behind_and_previews_one_rolling_file(tmp_path, monkeypatch):
    """Handlers write into one folder per request, removed when the handler ends (gradio has copied the files by
    then); music previews rewrite one file instead of adding one per report."""
    import tempfile

    from PIL import Image

    from spaces.common import Context
    from spaces.launcher import build_blocks

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    demo = build_blocks([space("music"), space("deep-dream"), space("separation")], Context(models="tiny"))
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    updates = []
    for update in fns["music"]("lo-fi piano", 4, None, 3.0, 1.0, 11, "tiny"):
        updates.append(update)
        assert sf.read(update[0])[0].size > 0  # there while gradio copies it
    players = [player for player, _, _ in updates]
    assert len(players) >= 3 and len(set(players[:-1])) == 1 and players[-1] == updates[-1][1]
    photo = Image.new("RGB", (64, 48), (120, 60, 30))
    *_, (dream, animation, _) = fns["deep_dream"](photo, "conv1_1", 1.5, 1, 1, 0, 64, 1.4, 8, "tiny")
    assert animation.endswith(".gif")
    song = tmp_path / "song.wav"
    sf.write(song, np.random.default_rng(0).uniform(-0.3, 0.3, (44100, 2)).astype(np.float32), 44100)
    request = fns["separate"](str(song), "vocals", 0, 0, "tiny")
    *_, stems = next(request)
    assert len(stems) == 2 and all(sf.read(path)[0].shape == (44100, 2) for path in stems)  # there for gradio
    assert list(request) == []
    assert [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("mmhub-")] == []
