"""Shared audio input/output: shapes, conversion, resampling, trimming, saving, and the error each bad input gets."""

import json

import numpy as np
import pytest
import soundfile as sf

from pipelines.audio import AudioResult, read_audio, resample, save_audio, trim_silence
from pipelines.errors import InputError


def tone(seconds=1.0, rate=16000, freq=440.0, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_array_shapes_and_dtype():
    mono = read_audio(tone(), 16000)
    assert mono.audio.shape == (1, 16000) and mono.audio.dtype == np.float32 and mono.sample_rate == 16000
    stereo = read_audio(np.stack([tone(), tone(amp=0.1)]), 16000)
    assert stereo.audio.shape == (2, 16000)
    assert read_audio(np.stack([tone(), tone(amp=0.1)]), 16000, channels=1).audio.shape == (1, 16000)
    np.testing.assert_allclose(read_audio(np.stack([tone(), -tone()]), 16000, channels=1).audio, 0, atol=1e-7)
    dup = read_audio(tone(), 16000, channels=2).audio
    assert dup.shape == (2, 16000) and np.array_equal(dup[0], dup[1])


def test_integer_pcm_and_gradio_tuple():
    pcm = (tone() * 32767).astype(np.int16)
    np.testing.assert_allclose(read_audio(pcm, 16000).audio[0], tone(), atol=1e-4)
    stereo = np.stack([pcm, pcm // 2], axis=1)  # Gradio: (samples, channels)
    clip = read_audio((16000, stereo))
    assert clip.audio.shape == (2, 16000) and clip.sample_rate == 16000
    np.testing.assert_allclose(clip.audio[1], tone() / 2, atol=1e-4)


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    clip = read_audio(torch.from_numpy(tone()), 16000)
    assert clip.audio.shape == (1, 16000)


def test_resample_keeps_duration_and_pitch():
    clip = read_audio(tone(1.0, 22050, freq=1000.0), 22050, target_rate=44100)
    assert clip.sample_rate == 44100 and abs(clip.audio.shape[-1] - 44100) <= 1
    spectrum = np.abs(np.fft.rfft(clip.audio[0]))
    assert abs(np.argmax(spectrum) * 44100 / clip.audio.shape[-1] - 1000.0) < 2.0
    assert resample(tone(), 16000, 16000) is not None


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_save_and_read_file_round_trip(tmp_path, suffix):
    audio = np.stack([tone(0.5), tone(0.5, amp=0.25)])
    path = save_audio(tmp_path / f"x{suffix}", audio, 16000)
    info = sf.info(str(path))
    assert info.samplerate == 16000 and info.channels == 2 and info.frames == 8000
    clip = read_audio(path)
    assert clip.sample_rate == 16000 and clip.audio.shape == (2, 8000)
    np.testing.assert_allclose(clip.audio, audio, atol=1e-4)


def test_audio_result_save_and_json(tmp_path):
    result = AudioResult(tone(0.25), 16000, licence="mit", model="m", language="pl")
    assert result.seconds == 0.25
    path = result.save(tmp_path / "out.wav")
    assert sf.info(str(path)).frames == 4000
    data = json.loads(result.to_json())  # the samples are described, not inlined
    assert data["sample_rate"] == 16000 and data["audio"] == {"array": {"shape": [4000], "dtype": "float32"}}


def test_trim_silence():
    rate = 16000
    audio = np.concatenate([np.zeros(rate), tone(1.0, rate), np.zeros(2 * rate)]).astype(np.float32)
    trimmed = trim_silence(audio, rate)
    assert rate <= len(trimmed) <= rate + 2 * int(0.05 * rate) + 2 * int(0.02 * rate)
    assert np.abs(trimmed).max() == pytest.approx(np.abs(audio).max())


def expect_error(name, fragment, fn, *args, **kwargs):
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    assert info.value.argument == name
    assert fragment in str(info.value)
    return info.value


def test_bad_inputs(tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    expect_error("audio", "soundfile can decode", read_audio, not_audio)
    expect_error("audio", "existing audio file", read_audio, tmp_path / "missing.flac")
    expect_error("audio", "0 samples", read_audio, np.zeros(0, np.float32), 16000)
    expect_error("audio", "silent", read_audio, np.zeros(16000, np.float32), 16000)
    nan = tone()
    nan[10] = np.nan
    expect_error("audio", "NaN", read_audio, nan, 16000)
    expect_error("audio", "between 3 and 30 seconds", read_audio, tone(1.0), 16000, min_seconds=3, max_seconds=30)
    expect_error("audio", "between 0 and 0.5 seconds", read_audio, tone(1.0), 16000, max_seconds=0.5)
    expect_error("sample_rate", "sample rate", read_audio, tone(), None)
    expect_error("sample_rate", "between 1000 and 384000", read_audio, tone(), 10)
    expect_error("sample_rate", "omitted", read_audio, save_audio(tmp_path / "a.wav", tone(), 16000), 16000)
    expect_error("audio", ".T", read_audio, np.stack([tone(), tone()], axis=1), 16000)
    expect_error("audio", "shape", read_audio, np.zeros((1, 2, 3), np.float32), 16000)
    expect_error("audio", "a path to an audio file", read_audio, 42, 16000)
    expect_error("audio", "mono or 2-channel", read_audio, np.stack([tone()] * 3), 16000, channels=2)
    expect_error("path", ".flac", save_audio, tmp_path / "x.mp3", tone(), 16000)
    expect_error("ref", "silent", read_audio, np.zeros(100, np.float32), 16000, argument="ref")


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), "16000", True, 1e300, 16000.5])
def test_a_bad_rate_beside_a_gradio_tuple_is_an_input_error(rate):
    """The explicit rate is checked before it is compared with the tuple's (int(nan) raised a bare ValueError)."""
    expect_error("sample_rate", "sample rate", read_audio, (16000, tone()), rate)


def test_a_bad_rate_inside_a_gradio_tuple_is_an_input_error():
    expect_error("audio[0]", "sample rate", read_audio, (2**70, tone()))
    expect_error("audio[0]", "sample rate", read_audio, (np.int64(-5), tone()))
