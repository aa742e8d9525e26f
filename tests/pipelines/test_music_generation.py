"""MusicGen text-to-music on the tiny twins: parity with processor + generate, continuation, melody."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines import InputError, load, tiny
from pipelines.errors import Cancelled
from pipelines.music_generation import MusicGenerationPipeline, MusicResult, _plan_windows, melody_chroma

SR = 32000
HOP = 640  # EnCodec 32 kHz: 640 samples per frame, 50 frames per second


@pytest.fixture(scope="module")
def music():
    return load("text-to-music", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def melody_music():
    return load("text-to-music", model="tiny-melody", device="cpu")


@pytest.fixture(scope="module")
def raw():
    """The same tiny checkpoint through transformers alone: processor + model, as the MusicGen model card shows."""
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    folder = tiny.build("text-to-music")
    return AutoProcessor.from_pretrained(folder), MusicgenForConditionalGeneration.from_pretrained(folder).eval()


class Recorder:
    """A stopping criterion that only records generate's raw token ids (to rebuild codes by hand)."""

    def __call__(self, input_ids, scores, **kwargs):
        self.ids = input_ids
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def generate_codes(model, inputs, new_tokens, prompt=None):
    """One raw ``generate`` call; the frames it adds, ``(batch, 4, frames)`` (codebook k is delayed by k steps)."""
    from transformers import StoppingCriteriaList

    recorder, kwargs, batch = Recorder(), dict(inputs), inputs["input_ids"].shape[0]
    if prompt is not None:
        kwargs["decoder_input_ids"] = prompt.reshape(batch * 4, -1)
    audio = model.generate(**kwargs, max_new_tokens=new_tokens, stopping_criteria=StoppingCriteriaList([recorder]))
    ids = recorder.ids.reshape(batch, 4, -1)
    start, end = 0 if prompt is None else prompt.shape[-1], ids.shape[-1] - 4
    return audio, torch.stack([ids[:, k, 1 + k + start: 1 + k + end] for k in range(4)], dim=1)


def test_one_window_equals_processor_and_generate_sample_for_sample(music, raw):
    processor, model = raw
    prompts = ["lo-fi piano with soft drums", "ciężki rock"]
    results = music(prompts, duration=0.7, seed=1234, guidance_scale=3.0)
    torch.manual_seed(1234)
    with torch.no_grad():
        expected = model.generate(**processor(text=prompts, padding=True, return_tensors="pt"), guidance_scale=3.0,
                                  max_new_tokens=35 + 3)  # 35 frames + the 3 codebook delays
    assert [type(r) for r in results] == [MusicResult, MusicResult]
    for i, result in enumerate(results):
        assert result.sample_rate == SR and result.audio.dtype == np.float32 and result.audio.shape == (35 * HOP,)
        assert np.array_equal(result.audio, expected[i, 0].numpy())
        assert (result.seed, result.windows, result.interrupted, result.prompt) == (1234, 1, False, prompts[i])
    assert not np.array_equal(results[0].audio, results[1].audio)


def test_defaults_come_from_the_checkpoint_generation_config(music):
    # the tiny twin carries the real generation_config.json, shrunk: do_sample, guidance 3.0, 50-frame window
    assert (music.frame_rate, music.window_frames, music.window_seconds, music.delays) == (50, 50, 1.0, [0, 1, 2, 3])
    result = music("a march", duration=0.1, seed=0)
    assert result.guidance_scale == 3.0 and result.seconds == pytest.approx(0.1)
    assert json.loads(result.to_json())["audio"] == {"array": {"shape": [5 * HOP], "dtype": "float32"}}


def test_seed_reproduces_and_a_random_seed_is_reported(music):
    first, again, other = (music("a waltz", duration=0.2, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first.audio, again.audio) and not np.array_equal(first.audio, other.audio)
    drawn = music("a waltz", duration=0.2)
    assert np.array_equal(music("a waltz", duration=0.2, seed=drawn.seed).audio, drawn.audio)
    before = torch.random.get_rng_state()
    music("a waltz", duration=0.1, seed=3)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's random state is left alone


def test_audiocraft_window_plan():
    # audiocraft MusicGen: 60 s with a 30 s window and extend_stride 18 s = windows at 0, 18 and 36 s, each
    # prompted with the previous window's last 12 s (50 frames per second)
    assert _plan_windows(3000, 1500, 900) == [(0, 0, 1500), (900, 600, 1500), (1800, 600, 1200)]
    assert _plan_windows(1200, 1500, 900) == [(0, 0, 1200)]
    assert sum(chunk - prompt for _, prompt, chunk in _plan_windows(4321, 1496, 897)) == 4321


def test_long_piece_continues_from_the_tail_of_the_previous_window(music, raw):
    """1.6 s with a 1 s window: window 1 makes 50 frames; window 2 is prompted with its last 20 frames (stride 30
    = 60 % of the window, audiocraft's 18 of 30 s) and adds 30; EnCodec decodes the 80 frames at once."""
    processor, model = raw
    result = music("lo-fi piano", duration=1.6, seed=5)
    assert result.windows == 2 and result.audio.shape == (80 * HOP,)
    torch.manual_seed(5)
    with torch.no_grad():
        inputs = processor(text=["lo-fi piano"], padding=True, return_tensors="pt")
        _, first = generate_codes(model, inputs, 50 + 3)
        _, second = generate_codes(model, inputs, 30 + 3, prompt=first[..., 30:])  # the tail is the prompt
        expected = model.audio_encoder.decode(torch.cat([first, second], dim=-1)[None], [None]).audio_values
    assert np.array_equal(result.audio, expected[0, 0].numpy())
    # a window generated without that prompt does not continue the same music
    assert not np.array_equal(result.audio[50 * HOP:], music("lo-fi piano", duration=0.6, seed=6).audio)


def test_extend_stride_and_more_windows(music):
    result = music("drums", duration=2.5, seed=0, extend_stride=0.5)
    assert result.windows == len(_plan_windows(125, 50, 25)) == 4 and result.audio.shape == (125 * HOP,)


def test_progress_shape_previews_and_stop(music):
    calls, previews = [], []

    def progress(step, total, info):
        calls.append((step, total, info["window"], info["windows"], info["stage"]))
        if "preview" in info:
            previews.append(info["preview"])

    result = music("ambient pads", duration=1.6, seed=2, progress=progress, preview_seconds=0.5)
    total = (50 + 3) + (30 + 3)
    assert [c[:2] for c in calls] == [(s, total) for s in range(1, total + 1)]
    assert {c[2] for c in calls} == {1, 2} and all(c[3] == 2 and c[4] == "generating" for c in calls)
    assert all(p.shape[0] == 1 and p.ndim == 2 for p in previews) and len(previews) >= 3
    assert sum(p.shape[-1] for p in previews) == result.audio.shape[-1]  # the previews cover the whole piece

    stopped = music("ambient pads", duration=1.6, seed=2, progress=lambda step, total, info: step < 20)
    assert stopped.interrupted and stopped.audio.shape == ((20 - 3) * HOP,)  # complete frames after 20 steps
    with pytest.raises(Cancelled):
        music("ambient pads", duration=1.0, seed=2, progress=lambda step, total, info: False)


def test_save_wav_and_flac(music, tmp_path):
    result = music("a bell", duration=0.2, seed=1)
    for name in ("bell.wav", "bell.flac"):
        audio, rate = sf.read(result.save(tmp_path / name))
        assert rate == SR and audio.shape == result.audio.shape
    with pytest.raises(InputError, match="path"):
        result.save(tmp_path / "bell.mp3")


def test_cli_writes_the_wav(tmp_path, capsys):
    from pipelines import cli  # `python -m pipelines run text-to-music "lo-fi piano" --model tiny ...`

    assert cli.main(["run", "text-to-music", "lo-fi piano", "--model", "tiny", "--param", "duration=1",
                     "--output", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    audio, rate = sf.read(tmp_path / "audio.wav")
    assert rate == SR and audio.shape == (SR,) and "53/53" in err  # 50 frames + 3 delays
    assert json.loads(out)["audio"] == {"array": {"shape": [SR], "dtype": "float32"}}


def test_melody_chroma_follows_the_pitch(melody_music):
    t = np.arange(2 * SR) / SR
    for frequency, chroma_bin in ((440.0, 9), (261.63, 0), (392.0, 7)):  # A, C, G; librosa's bins start at C
        features = melody_chroma(np.sin(2 * np.pi * frequency * t).astype(np.float32), melody_music.chroma)
        assert features.shape == (1, 2 * SR // 4096 + 1, 12) and set(features.sum(-1).unique().tolist()) == {1.0}
        assert (features[0].argmax(-1) == chroma_bin).all()


def audiocraft_stem_mix(clip: np.ndarray, seed: int) -> np.ndarray:
    """audiocraft ChromaStemConditioner._get_stemmed_wav by hand on the tiny HTDemucs twin: convert_audio to Demucs'
    rate and channels, apply_model (its defaults), vocals + other summed, convert_audio back to 32 kHz mono."""
    import random

    from demucs.apply import apply_model
    from demucs.audio import convert_audio

    demucs = load("separation", model="tiny", device="cpu").separator.model
    wav = convert_audio(torch.from_numpy(clip.astype(np.float32))[None, None], SR, demucs.samplerate,
                        demucs.audio_channels)
    random.seed(seed)
    stems = apply_model(demucs, wav, device="cpu")
    stem_indices = torch.LongTensor([demucs.sources.index("vocals"), demucs.sources.index("other")])
    return convert_audio(stems[:, stem_indices].sum(1), demucs.samplerate, SR, 1)[0, 0].numpy()


def test_melody_conditioning_equals_generate_with_the_chroma(melody_music):
    t = np.arange(SR) / SR
    clip = 0.4 * np.sin(2 * np.pi * 330 * t)
    result = melody_music("jazz trio", melody=(SR, clip), duration=0.5, seed=9)
    assert melody_music.melody_separator == "tiny"  # the tiny HTDemucs twin stands in for htdemucs
    separated = audiocraft_stem_mix(clip, seed=9)
    np.testing.assert_array_equal(melody_music.melody_mix(clip.astype(np.float32), seed=9), separated)
    chroma = melody_chroma(separated, melody_music.chroma)
    torch.manual_seed(9)
    with torch.no_grad():
        inputs = melody_music.tokenizer(["jazz trio"], padding=True, return_tensors="pt")
        expected = melody_music.model.generate(**inputs, input_features=chroma, max_new_tokens=25 + 3)
    assert result.melody and np.array_equal(result.audio, expected[0, 0].numpy())
    assert not np.array_equal(result.audio, melody_music("jazz trio", duration=0.5, seed=9).audio)
    long = melody_music("jazz trio", melody=(SR, clip), duration=2.2, seed=9)  # the melody repeats per window
    assert long.windows == 3 and long.audio.shape == (110 * HOP,)


def test_without_separation_the_chroma_is_the_whole_mix(melody_music):
    whole = MusicGenerationPipeline(melody_music.model, None, melody_music.tokenizer, melody_music.chroma,
                                    melody_music.model_id, melody_music.device, melody_music.dtype)
    assert whole.melody_separator is None
    clip = (0.4 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR)).astype(np.float32)
    assert np.array_equal(whole.melody_mix(clip), clip)
    # the conditioning differs: the tiny HTDemucs twin's vocals + other are not the mix (random weights: E -> F)
    separated = melody_chroma(melody_music.melody_mix(clip, seed=9), melody_music.chroma)
    assert not torch.equal(melody_chroma(clip, whole.chroma), separated)
    with pytest.raises(InputError) as info:
        load("text-to-music", model="tiny-melody", melody_separator=3)
    assert info.value.argument == "melody_separator"


def test_melody_clip_problems_name_the_argument(music, melody_music, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(InputError, match="not a melody model") as info:
        music("x", melody=str(text))
    assert info.value.argument == "melody"
    bad = [str(text), str(tmp_path / "missing.wav"), np.zeros(SR), np.full(SR, np.nan), np.ones(100), 42]
    for clip in bad:
        with pytest.raises(InputError) as info:
            melody_music("x", melody=clip, melody_sample_rate=None if isinstance(clip, (str, int)) else SR)
        assert info.value.argument == "melody", clip
    with pytest.raises(InputError) as info:
        melody_music("x", melody=np.ones(SR))  # an array needs its rate
    assert info.value.argument == "melody_sample_rate"


def test_stereo_checkpoints_interleave_left_and_right_codebooks(tmp_path):
    """musicgen-stereo-*: 8 codebooks, left/right interleaved, one delay per pair; the output is (2, samples)."""
    from transformers import (
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
    )

    tok, text, codec, decoder = tiny._tiny_musicgen_parts()
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=MusicgenDecoderConfig(
        **{**decoder, "num_codebooks": 8, "audio_channels": 2}).to_dict())
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(config).eval()
    tiny._randomise_codebooks(model.audio_encoder)
    model.generation_config = tiny._musicgen_generation_config(window_frames=50)
    model.save_pretrained(tmp_path)
    processor = MusicgenProcessor.from_pretrained(tiny.build("text-to-music"))
    processor.save_pretrained(tmp_path)
    stereo = MusicGenerationPipeline.from_pretrained(str(tmp_path), device="cpu")
    assert stereo.delays == [0, 0, 1, 1, 2, 2, 3, 3] and stereo.window_frames == 50
    result = stereo("a wide stereo pad", duration=0.4, seed=3)
    torch.manual_seed(3)
    with torch.no_grad():
        expected = model.generate(**processor(text=["a wide stereo pad"], return_tensors="pt"), max_new_tokens=23)
    assert result.audio.shape == (2, 20 * HOP) and np.array_equal(result.audio, expected[0].numpy())
    assert stereo("a wide stereo pad", duration=1.6, seed=3).audio.shape == (2, 80 * HOP)  # two windows


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "a \ud800 b"}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": ["ok", " "]}, "prompt[1]"),
    ({"prompt": ["a"] * 9}, "prompt"),
    ({"duration": 0}, "duration"),
    ({"duration": -1.0}, "duration"),
    ({"duration": float("nan")}, "duration"),
    ({"duration": float("inf")}, "duration"),
    ({"duration": 1e300}, "duration"),
    ({"duration": 2**70}, "duration"),
    ({"duration": True}, "duration"),
    ({"duration": "10"}, "duration"),
    ({"duration": 0.001}, "duration"),  # less than one 20 ms frame
    ({"duration": 601}, "duration"),
    ({"seed": -1}, "seed"),
    ({"seed": "1"}, "seed"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
    ({"guidance_scale": -1}, "guidance_scale"),
    ({"temperature": 0}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
    ({"temperature": 1e-300}, "temperature"),  # logits / 1e-300 = inf: NaN probabilities inside torch
    ({"top_k": -1}, "top_k"),
    ({"top_k": 2.5}, "top_k"),
    ({"top_p": 0}, "top_p"),
    ({"extend_stride": 1.0}, "extend_stride"),  # not shorter than the tiny model's 1 s window
    ({"extend_stride": float("nan")}, "extend_stride"),
    ({"progress": "bar"}, "progress"),
    ({"preview_seconds": 0}, "preview_seconds"),
    ({"melody_sample_rate": 16000}, "melody_sample_rate"),
    ({"durration": 3}, "durration"),
])
def test_bad_inputs_name_the_argument(music, kwargs, argument):
    params = {"prompt": "lo-fi piano", "duration": 0.2, **kwargs}
    with pytest.raises(InputError) as info:
        music(**params)
    assert info.value.argument == argument and isinstance(info.value, ValueError)


def test_duration_error_says_what_is_allowed(music):
    with pytest.raises(InputError, match=r"`duration` must be a number from 0.02 to 600; got 0\.") as info:
        music("x", duration=0)
    assert "continues longer pieces" in str(info.value)


def test_load_refuses_another_architecture():
    from pipelines import ModelLoadError

    with pytest.raises(ModelLoadError) as info:
        MusicGenerationPipeline.from_pretrained(str(tiny.build("sentiment")), device="cpu")
    assert info.value.reason == "wrong_task"


@pytest.mark.gpu
def test_cuda_half_precision():
    music = load("text-to-music", model="tiny")
    assert music.device.type == "cuda" and music.dtype == torch.float16
    first, again = (music("lo-fi piano", duration=1.6, seed=4) for _ in range(2))
    assert first.audio.shape == (80 * HOP,) and np.isfinite(first.audio).all()
    assert np.array_equal(first.audio, again.audio)
    melody = load("text-to-music", model="tiny-melody")
    assert np.isfinite(melody("jazz", melody=(SR, np.sin(np.arange(SR) / 10)), duration=0.5, seed=0).audio).all()


@pytest.mark.slow
def test_musicgen_small_real_model():
    music = load("text-to-music")
    assert music.window_frames == 1496 and music.sample_rate == SR  # generation_config.max_length 1500
    result = music("lo-fi piano", duration=2, seed=0)
    assert result.audio.shape == (100 * HOP,) and np.abs(result.audio).max() > 1e-3
    assert not result.commercial_use and result.licence == "cc-by-nc-4.0"
