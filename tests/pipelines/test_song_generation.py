"""ACE-Step text-to-song on the tiny twins: parity with diffusers' raw AceStepPipeline, stop, seeds, bad inputs."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines import InputError, ModelLoadError, load, resolve_task, tiny
from pipelines.song_generation import (
    INSTRUMENTAL_TAG,
    VALID_KEYSCALES,
    SongGenerationPipeline,
    SongResult,
    _check_key,
)
from pipelines.song_languages import VALID_LANGUAGES

SR, HOP = 48000, 1920  # ACE-Step 1.5's VAE: 48 kHz stereo, 25 latent frames per second
LYRICS = "[verse]\nAla ma kota, a kot ma Alę\n[chorus]\nZażółć gęślą jaźń"
CALL = dict(lyrics=LYRICS, language="pl", duration=10.0, bpm=120, key="F# minor", time_signature=3,
            num_inference_steps=4, shift=2.0)


@pytest.fixture(scope="module")
def song():
    return load("text-to-song", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def raw():
    """The same tiny checkpoint through diffusers alone, loaded as diffusers' docs show."""
    from diffusers import AceStepPipeline

    pipe = AceStepPipeline.from_pretrained(tiny.build("text-to-song"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def reference(song):
    """One song, generated once for the tests that compare against it."""
    return song("indie pop, female vocals, acoustic guitar", seed=1234, guidance_scale=9.0, **CALL)


def raw_call(pipe, seed, **kwargs):
    with torch.no_grad():
        return pipe(generator=torch.Generator().manual_seed(seed), output_type="np", **kwargs).audios[0]


def test_the_tiny_twin_has_the_converters_layout_and_the_real_geometry(song):
    folder = tiny.build("text-to-song")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "AceStepPipeline"
    assert {"transformer", "condition_encoder", "vae", "text_encoder", "tokenizer", "scheduler", "audio_tokenizer",
            "audio_token_detokenizer"} <= set(index)
    assert index["text_encoder"] == ["transformers", "Qwen3Model"] and index["tokenizer"][1] == "Qwen2Tokenizer"
    pipe = song.pipe
    assert (song.sample_rate, song.latents_per_second, song.is_turbo, song.max_steps) == (SR, 25.0, True, 20)
    assert pipe.vae.config.downsampling_ratios == [2, 4, 4, 6, 10] and pipe.vae.config.audio_channels == 2
    config = pipe.transformer.config
    assert config.in_channels == 3 * config.audio_acoustic_hidden_dim  # noise + source latents + chunk mask
    assert config.encoder_hidden_size == pipe.condition_encoder.config.hidden_size < config.hidden_size  # XL
    assert pipe.scheduler.config.num_train_timesteps == 1 and pipe.scheduler.config.shift == 1.0
    endoftext = pipe.tokenizer("Lyric<|endoftext|>").input_ids[-1]
    assert endoftext == pipe.tokenizer.eos_token_id == pipe.tokenizer.pad_token_id  # one special token, as Qwen's


def test_same_seed_same_samples_as_the_raw_AceStepPipeline(reference, raw):
    expected = raw_call(raw, 1234, prompt="indie pop, female vocals, acoustic guitar", lyrics=LYRICS,
                        vocal_language="pl", audio_duration=10.0, bpm=120, keyscale="F# minor", timesignature="3",
                        num_inference_steps=4, shift=2.0)  # guidance left at diffusers' 7.0: turbo ignores both
    assert isinstance(reference, SongResult)
    assert reference.audio.dtype == np.float32 and reference.audio.shape == (2, 250 * HOP) == expected.shape
    assert np.array_equal(reference.audio, expected)
    assert (reference.sample_rate, reference.seconds, reference.language, reference.lyrics) == (SR, 10.0, "pl", LYRICS)
    assert (reference.bpm, reference.key, reference.time_signature, reference.shift) == (120, "F# minor", 3, 2.0)
    assert reference.guidance_scale == 1.0  # turbo: distilled guidance, whatever was asked
    assert (reference.steps_done, reference.interrupted, reference.instrumental, reference.seed) == (4, False, False,
                                                                                                      1234)


def test_guidance_runs_on_a_base_checkpoint_as_in_diffusers():
    from diffusers import AceStepPipeline

    base = load("text-to-song", model="tiny-base", device="cpu")
    raw_base = AceStepPipeline.from_pretrained(tiny.build("text-to-song", "tiny-base"))
    assert not base.is_turbo and base.max_steps == 200
    result = base("jazz ballad", lyrics="[verse]\nla la", duration=10.2, seed=5, guidance_scale=4.0,
                  num_inference_steps=3)
    expected = raw_call(raw_base, 5, prompt="jazz ballad", lyrics="[verse]\nla la", audio_duration=10.2,
                        guidance_scale=4.0, num_inference_steps=3)
    assert result.guidance_scale == 4.0 and np.array_equal(result.audio, expected)
    assert result.audio.shape == (2, math.ceil(10.2 * 25) * HOP)  # whole latent frames: 256, not 255


def test_instrumental_and_stop_early_match_the_raw_pipeline_interrupted(song, raw, reference):
    reports = []

    def progress(step, total, info):
        reports.append((step, total, info["stage"]))
        return step < 2  # stop after the second denoising step

    result = song("lo-fi hip hop, mellow piano", instrumental=True, duration=10, seed=7, num_inference_steps=6,
                  progress=progress)
    assert reports == [(1, 6, "denoising"), (2, 6, "denoising")]
    assert result.interrupted and result.steps_done == 2 and result.instrumental
    assert result.lyrics == INSTRUMENTAL_TAG and result.audio.shape == (2, 250 * HOP)

    def interrupt(pipe, step, timestep, kwargs):
        pipe._interrupt = step + 1 >= 2
        return kwargs

    expected = raw_call(raw, 7, prompt="lo-fi hip hop, mellow piano", lyrics="[Instrumental]", audio_duration=10,
                        num_inference_steps=6, callback_on_step_end=interrupt)
    assert np.array_equal(result.audio, expected)  # ACE-Step's own instrumental tag, decoded after step 2


def test_two_runs_at_once_and_seeds(song, reference):
    """Calls from two threads at once are serialised (diffusers keeps per-call state on the pipe): each gets what it
    would alone. The same seed repeats the reference; another seed differs; no seed draws one and reports it."""
    results = {}

    def run(seed):
        results[seed] = song("indie pop, female vocals, acoustic guitar", seed=seed, **CALL)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1234, 99, None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.array_equal(results[1234].audio, reference.audio)
    assert not np.array_equal(results[99].audio, reference.audio)
    assert 0 <= results[None].seed < 2**31


def test_result_saves_stereo_wav_and_flac_and_serialises(reference, tmp_path):
    for name in ("song.wav", "song.flac"):
        audio, rate = sf.read(reference.save(tmp_path / name))
        assert rate == SR and audio.shape == (250 * HOP, 2)
        assert np.abs(audio.T - reference.audio).max() < 1e-4  # 16-bit PCM
    data = json.loads(reference.to_json())
    assert data["audio"] == {"array": {"shape": [2, 250 * HOP], "dtype": "float32"}}
    assert data["language"] == "pl" and data["lyrics"] == LYRICS and data["key"] == "F# minor"


# ------------------------------------------------------------------------------------------------ bad inputs

BAD = [
    ({"prompt": ""}, "prompt"), ({"prompt": "   "}, "prompt"), ({"prompt": None}, "prompt"), ({"prompt": 5}, "prompt"),
    ({"prompt": "x" * 513}, "prompt"), ({"prompt": "pop \ud800"}, "prompt"),
    ({"lyrics": None}, "lyrics"), ({"lyrics": ""}, "lyrics"), ({"lyrics": " \n\t"}, "lyrics"),  # vocals asked
    ({"lyrics": "la " * 1366}, "lyrics"), ({"lyrics": 12}, "lyrics"), ({"lyrics": "la \udcff"}, "lyrics"),
    ({"lyrics": ["la"]}, "lyrics"), ({"instrumental": True, "lyrics": "[verse]\nla"}, "lyrics"),
    ({"instrumental": "yes"}, "instrumental"), ({"instrumental": 1}, "instrumental"),
    ({"language": "xx"}, "language"), ({"language": "klingon"}, "language"), ({"language": "polish"}, "language"),
    ({"language": ""}, "language"), ({"language": None}, "language"), ({"language": 48}, "language"),
    ({"language": "en-US"}, "language"),
    ({"duration": 9.99}, "duration"), ({"duration": 600.5}, "duration"), ({"duration": 0}, "duration"),
    ({"duration": -10}, "duration"), ({"duration": float("nan")}, "duration"),
    ({"duration": float("inf")}, "duration"),
    ({"duration": 1e300}, "duration"), ({"duration": 2**70}, "duration"), ({"duration": "30"}, "duration"),
    ({"duration": True}, "duration"), ({"duration": None}, "duration"),
    ({"seed": -1}, "seed"), ({"seed": 2**63}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "1"}, "seed"),
    ({"seed": float("nan")}, "seed"),
    ({"bpm": 29}, "bpm"), ({"bpm": 301}, "bpm"), ({"bpm": 120.5}, "bpm"), ({"bpm": float("nan")}, "bpm"),
    ({"bpm": "120"}, "bpm"), ({"bpm": 10**12}, "bpm"),
    ({"key": "Am"}, "key"), ({"key": "H major"}, "key"), ({"key": "C dorian"}, "key"), ({"key": ""}, "key"),
    ({"key": 5}, "key"), ({"key": "C major please"}, "key"), ({"key": "C## major"}, "key"),
    ({"time_signature": 5}, "time_signature"), ({"time_signature": 7}, "time_signature"),
    ({"time_signature": 0}, "time_signature"), ({"time_signature": "4"}, "time_signature"),
    ({"time_signature": 4.0}, "time_signature"),
    ({"num_inference_steps": 0}, "num_inference_steps"), ({"num_inference_steps": 21}, "num_inference_steps"),
    ({"num_inference_steps": 10**9}, "num_inference_steps"), ({"num_inference_steps": 8.0}, "num_inference_steps"),
    ({"num_inference_steps": float("nan")}, "num_inference_steps"),
    ({"num_inference_steps": float("inf")}, "num_inference_steps"),
    ({"guidance_scale": -1}, "guidance_scale"), ({"guidance_scale": 15.5}, "guidance_scale"),
    ({"guidance_scale": float("nan")}, "guidance_scale"), ({"guidance_scale": float("inf")}, "guidance_scale"),
    ({"shift": 0.5}, "shift"), ({"shift": 5.5}, "shift"), ({"shift": float("nan")}, "shift"),
    ({"progress": "not a function"}, "progress"), ({"lyric": "la"}, "lyric"),
]


@pytest.mark.parametrize(("change", "argument"), BAD,
                         ids=[", ".join(f"{k}={v!r}" for k, v in change.items())[:40] for change, _ in BAD])
def test_bad_input_table(song, change, argument):
    call = {"prompt": "pop", "lyrics": "[verse]\nla la", "duration": 10, "seed": 0, **change}
    prompt = call.pop("prompt")
    with pytest.raises(InputError) as info:
        song(prompt, **call)
    assert info.value.argument == argument


def test_errors_teach_the_fix(song):
    with pytest.raises(InputError, match="instrumental=True"):
        song("pop", lyrics="", duration=10)
    with pytest.raises(InputError, match="Did you mean 'lyrics'"):
        song("pop", lyric="la", duration=10)
    with pytest.raises(InputError, match="10 s to 10 minutes"):
        song("pop", lyrics="la", duration=5)
    with pytest.raises(InputError, match="'A minor', not 'Am'"):
        song("pop", lyrics="la", key="Am")
    with pytest.raises(InputError, match="turbo checkpoint") as info:
        song("pop", lyrics="la", num_inference_steps=50)
    assert "1 to 20" in str(info.value)
    with pytest.raises(InputError, match="Did you mean 'pl'"):
        song("pop", lyrics="la", language="pl_")


def test_what_is_accepted_is_written_as_ace_step_writes_it():
    assert len(VALID_KEYSCALES) == 70 and "B♭ major" in VALID_KEYSCALES
    assert [_check_key(k) for k in ("f# MINOR", "C Major", "B♭ major", " e  minor ")] == \
        ["F# minor", "C major", "B♭ major", "E minor"]
    check = SongGenerationPipeline._check_lyrics
    assert [check(text, False) for text in ("[inst]", " [INSTRUMENTAL] ", "[verse]\nla")] == \
        [INSTRUMENTAL_TAG, INSTRUMENTAL_TAG, "[verse]\nla"]
    assert check(None, True) == check("", True) == check("[Instrumental]", True) == INSTRUMENTAL_TAG


def test_languages_are_ace_steps_list_with_polish():
    # acestep/constants.py VALID_LANGUAGES (ace-step/ACE-Step-1.5 f30aee4): 50 languages and "unknown"
    assert len(VALID_LANGUAGES) == 51 and VALID_LANGUAGES[-1] == "unknown"
    assert {"pl", "en", "de", "fr", "es", "ja", "zh", "yue", "uk", "cs"} <= set(VALID_LANGUAGES)
    assert "xx" not in VALID_LANGUAGES and len(set(VALID_LANGUAGES)) == 51


def test_registry_entry_aliases_and_load_errors(tmp_path):
    spec = resolve_task("piosenka")
    assert spec is resolve_task("song") is resolve_task("ace-step") and spec.name == "text-to-song"
    assert spec.default.id == "ACE-Step/acestep-v15-xl-turbo-diffusers" and spec.default.revision is None
    assert "mit" in spec.default.licence and "pl" in spec.default.languages
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    with pytest.raises(ModelLoadError) as info:
        load("song", model=str(tmp_path))
    assert info.value.reason == "wrong_task" and "AceStepPipeline" in str(info.value)
    with pytest.raises(ModelLoadError) as info:
        load("song", model="ACE-Step/acestep-v15-xl-base-diffusers")  # the Hub cannot be reached in tests
    assert info.value.reason == "offline"
    with pytest.raises(InputError, match="cpu_offload"):
        load("song", model="tiny", device="cpu", cpu_offload=True)


def test_cli_lists_the_languages_and_runs_a_song(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["list", "text-to-song"]) == 0
    listing = capsys.readouterr().out
    assert any(line.split() == ["pl", "Polish", "polski"] for line in listing.splitlines())
    assert "ACE-Step/acestep-v15-xl-turbo-diffusers" in listing
    assert main(["run", "piosenka", "disco polo", "--model", "tiny", "--param", "lyrics=[verse] Hej sokoły",
                 "--param", "language=pl", "--param", "duration=10", "--param", "seed=3", "--param",
                 "num_inference_steps=2", "--output", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["seed"], result["language"], result["lyrics"]) == (3, "pl", "[verse] Hej sokoły")
    audio, rate = sf.read(tmp_path / "audio.wav")
    assert rate == SR and audio.shape == (250 * HOP, 2)
    assert main(["run", "song", "pop", "--model", "tiny", "--param", "duration=10"]) == 2  # no lyrics: one line
    assert "instrumental=True" in capsys.readouterr().err
