"""Saving results to odd paths: an existing folder, a path under a file, an unknown audio subtype. Each is an
`InputError` naming ``path`` (or ``subtype``) with nothing written, and the same result then saves to a good path."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import InputError
from pipelines.music_generation import MusicResult
from pipelines.video_generation import VideoResult


def video() -> VideoResult:
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    frames[:, 4:12, 4:12] = 200
    return VideoResult(frames=frames, fps=8, seed=0, num_inference_steps=1, guidance_scale=1.0, width=16, height=16)


def music() -> MusicResult:
    t = np.arange(3200) / 32000
    return MusicResult(audio=(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate=32000,
                       licence="CC-BY-NC-4.0", model="tiny", prompt="a tone")


@pytest.mark.parametrize(("kind", "name", "options", "argument", "message"), [
    ("video", "existing.mp4", {}, "path", "It is an existing folder"),
    ("video", "notes.txt/clip.mp4", {}, "path", "notes.txt is a file, so it cannot hold one"),
    ("video", "clip.avi", {}, "path", "a file name ending in one of ['.mp4']"),
    ("music", "existing.wav", {}, "path", "It is an existing folder"),
    ("music", "notes.txt/song.wav", {}, "path", "notes.txt is a file"),
    ("music", "song.wav", {"subtype": "PCM_99"}, "subtype", "must be one of ['PCM_16'"),
    ("music", "song.flac", {"subtype": "FLOAT"}, "subtype", "must be one of ['PCM_S8', 'PCM_16', 'PCM_24']"),
    ("music", "song.wav", {"subtype": 16}, "subtype", "must be one of"),
])
def test_odd_paths_are_refused_and_nothing_is_written(tmp_path, kind, name, options, argument, message):
    (tmp_path / "existing.mp4").mkdir()
    (tmp_path / "existing.wav").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    result = video() if kind == "video" else music()
    with pytest.raises(InputError, match=re.escape(message)) as info:
        result.save(tmp_path / name, **options)
    assert info.value.argument == argument
    assert list((tmp_path / "existing.mp4").iterdir()) == [] and (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / name).is_file()
    good = result.save(tmp_path / "out" / ("good.mp4" if kind == "video" else "good.wav"))
    assert good.is_file() and good.stat().st_size > 0


def test_a_float_subtype_keeps_the_samples(tmp_path):
    result = music()
    path = result.save(tmp_path / "float.wav", subtype="float")  # libsndfile's names, any case
    data, rate = sf.read(path, dtype="float32")
    assert rate == 32000 and sf.info(str(path)).subtype == "FLOAT"
    np.testing.assert_array_equal(data, result.audio)
