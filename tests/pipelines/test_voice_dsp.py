"""kNN-VC's signal processing ported from torchaudio: BS.1770-4 loudness (checked against pyloudnorm, an independent
implementation of the recommendation) and SoX's voice activity detector."""

import math

import numpy as np
import pytest

from pipelines.voice_dsp import loudness, normalize_loudness, vad, vad_trim


def voice(seconds, rate, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.5 * t)) / rate))
    wav = 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * buzz
    return (wav + 0.05 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000])
def test_loudness_agrees_with_pyloudnorm(rate):
    import pyloudnorm

    clip = voice(3.0, rate, seed=rate)
    assert loudness(clip, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(clip.astype(np.float64)),
                                                 abs=1e-6)
    stereo = np.stack([clip, 0.3 * clip[::-1]])
    assert loudness(stereo, rate) == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(stereo.T), abs=1e-6)


def test_loudness_of_a_sine_is_bs1770s_within_the_filter_design():
    t = np.arange(3 * 48000) / 48000
    # BS.1770-4: a 997 Hz sine at 0 dBFS reads -3.01 LKFS; this one is at -6.02 dBFS. torchaudio's cookbook biquads
    # (and pyloudnorm's) put it at -9.07, 0.04 LU from the recommendation's own coefficients.
    assert loudness(0.5 * np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(-9.03, abs=0.05)


def test_gating_and_unmeasurable_clips():
    rate = 16000
    speech = voice(3.0, rate)
    with_silence = np.concatenate([speech, np.zeros(5 * rate, np.float32)])
    # the silent blocks are gated out (averaging them in would lower it by 10 log10(8 / 3) = 4.3 LU); the blocks that
    # straddle the end of the speech pass the relative gate and lower it a little
    assert loudness(with_silence, rate) == pytest.approx(loudness(speech, rate), abs=0.5)
    assert math.isnan(loudness(np.zeros(rate, np.float32), rate))
    assert math.isnan(loudness(speech[: int(0.39 * rate)], rate))  # shorter than one 400 ms block
    short = speech[: int(0.39 * rate)]
    np.testing.assert_array_equal(normalize_loudness(short, rate), short)  # left alone, not NaN


@pytest.mark.parametrize("target", [-16.0, -23.0, -30.0])
def test_normalize_loudness_reaches_the_target(target):
    out = normalize_loudness(voice(2.0, 16000), 16000, target)
    assert out.dtype == np.float32 and loudness(out, 16000) == pytest.approx(target, abs=0.01)


def test_vad_trims_non_speech_at_both_ends():
    rate = 16000
    hiss = (0.001 * np.random.default_rng(1).standard_normal(rate)).astype(np.float32)
    clip = np.concatenate([hiss, voice(3.0, rate), hiss])  # speech from 1.0 s to 4.0 s
    front = vad(clip, rate)
    start = (len(clip) - len(front)) / rate
    assert 0.7 <= start <= 1.0  # triggers after 0.25 s of speech and keeps what its 1 s search finds before
    trimmed = vad_trim(clip, rate)
    assert 2.6 <= len(trimmed) / rate <= 3.3
    np.testing.assert_array_equal(trimmed, clip[len(clip) - len(front): len(clip) - len(front) + len(trimmed)])


def test_vad_finds_no_speech_in_noise_or_silence():
    rate = 16000
    assert vad_trim((0.1 * np.random.default_rng(0).standard_normal(4 * rate)).astype(np.float32), rate).size == 0
    assert vad_trim(np.zeros(4 * rate, np.float32), rate).size == 0
    assert vad(np.zeros(0, np.float32), rate).size == 0
    assert vad(voice(0.05, rate), rate).size == 0  # shorter than one measurement
