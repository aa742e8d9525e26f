"""Wan text-to-video / image-to-video on the tiny twins (diffusers' dummy-components sizes), pixel parity, MP4."""

import json
import logging

import numpy as np
import pytest
import torch

from pipelines import InputError, load, tiny
from pipelines.video_generation import (
    DEFAULT_NEGATIVE_PROMPT,
    TextToVideoPipeline,
    VideoResult,
    best_output_size,
    cover_and_crop,
    flow_shift_for,
)


@pytest.fixture(scope="module")
def video():
    return load("text-to-video", model="tiny", device="cpu")  # pixel parity: fp32 on CPU


@pytest.fixture(scope="module")
def ti2v():
    return load("text-to-video", model="tiny-ti2v", device="cpu")


def frames_of(output) -> np.ndarray:
    """A raw diffusers output (PIL frames) as uint8 ``(frames, height, width, 3)``."""
    return np.stack([np.asarray(frame) for frame in output.frames[0]])


def test_frames_equal_wan_pipeline_by_hand_pixel_for_pixel(video):
    from diffusers import WanPipeline

    result = video("a cat surfing a wave", negative_prompt="blurry", num_frames=9, height=32, width=16,
                   num_inference_steps=3, guidance_scale=6.0, seed=1234)
    raw = WanPipeline.from_pretrained(tiny.build("text-to-video"))
    raw.set_progress_bar_config(disable=True)
    expected = raw(prompt="a cat surfing a wave", negative_prompt="blurry", num_frames=9, height=32, width=16,
                   num_inference_steps=3, guidance_scale=6.0, generator=torch.Generator().manual_seed(1234),
                   output_type="pil")
    assert isinstance(result, VideoResult) and result.frames.dtype == np.uint8
    assert result.frames.shape == (9, 32, 16, 3) and (result.width, result.height, result.num_frames) == (16, 32, 9)
    assert np.array_equal(result.frames, frames_of(expected))
    assert result.frames.std() > 0 and not np.array_equal(result.frames[0], result.frames[-1])


def test_image_to_video_equals_wan_i2v_by_hand(ti2v):
    from diffusers import WanImageToVideoPipeline
    from PIL import Image

    start = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))
    result = ti2v("the scene comes alive", image=start, num_inference_steps=2, seed=7)
    raw = WanImageToVideoPipeline.from_pretrained(tiny.build("text-to-video", "tiny-ti2v"))
    raw.set_progress_bar_config(disable=True)
    assert raw.config.expand_timesteps  # Wan 2.2 TI2V: the model_index carries it
    # Wan's first frame: scaled to cover 32 x 32 (45 x 32) and centre-cropped, not stretched; Wan's negative prompt
    first = start.resize((45, 32), Image.Resampling.LANCZOS).crop((6, 0, 38, 32))
    expected = raw(image=first, prompt="the scene comes alive", negative_prompt=DEFAULT_NEGATIVE_PROMPT,
                   num_frames=9, height=32, width=32, num_inference_steps=2, guidance_scale=5.0,
                   generator=torch.Generator().manual_seed(7), output_type="pil")
    assert result.image and result.frames.shape == (9, 32, 32, 3)
    assert np.array_equal(result.frames, frames_of(expected))
    text_only = ti2v("the scene comes alive", num_inference_steps=2, seed=7)
    assert not np.array_equal(text_only.frames, result.frames)


# Wan-Video/Wan2.2 wan/configs/shared_config.py (and Wan2.1's, the same line), verbatim
WAN_SAMPLE_NEG_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
                         "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
                         "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")


def wan_best_output_size(w, h, dw, dh, expected_area):
    """Wan-Video/Wan2.2 wan/utils/utils.py ``best_output_size`` @ 42bf4cf, verbatim (the reference)."""
    ratio = w / h
    ow = (expected_area * ratio)**0.5
    oh = expected_area / ow
    ow1 = int(ow // dw * dw)
    oh1 = int(expected_area / ow1 // dh * dh)
    assert ow1 % dw == 0 and oh1 % dh == 0 and ow1 * oh1 <= expected_area
    ratio1 = ow1 / oh1
    oh2 = int(oh // dh * dh)
    ow2 = int(expected_area / oh2 // dw * dw)
    assert oh2 % dh == 0 and ow2 % dw == 0 and ow2 * oh2 <= expected_area
    ratio2 = ow2 / oh2
    if max(ratio / ratio1, ratio1 / ratio) < max(ratio / ratio2, ratio2 / ratio):
        return ow1, oh1
    else:
        return ow2, oh2


def test_wan_generation_defaults_are_upstreams():
    assert DEFAULT_NEGATIVE_PROMPT == WAN_SAMPLE_NEG_PROMPT
    # Wan2.1 README: "flow_shift = 5.0 # 5.0 for 720P, 3.0 for 480P"; Wan2.2 wan_ti2v_5B.py: sample_shift = 5.0
    assert flow_shift_for("wan2.1", 480, 832) == flow_shift_for("wan2.1", 832, 480) == 3.0
    assert flow_shift_for("wan2.1", 720, 1280) == flow_shift_for("wan2.1", 1280, 720) == 5.0
    assert flow_shift_for("wan2.2-ti2v", 704, 1280) == flow_shift_for("wan2.2-ti2v", 480, 832) == 5.0
    assert (flow_shift_for("tiny", 16, 16), flow_shift_for("tiny-ti2v", 32, 32)) == (3.0, 5.0)
    # Wan's own output sizes for TI2V (32-pixel multiples within 704 x 1280) from common photo sizes
    assert best_output_size(1920, 1080, 32, 32, 704 * 1280) == (1248, 704)
    assert best_output_size(1080, 1920, 32, 32, 704 * 1280) == (704, 1248)
    for w, h in [(1920, 1080), (1080, 1920), (1024, 1024), (4032, 3024), (3024, 4032), (640, 480), (56, 40),
                 (2000, 700), (800, 1200), (1280, 704), (704, 1280), (333, 777)]:
        for area, multiple in ((704 * 1280, 32), (480 * 832, 16), (720 * 1280, 16)):
            assert best_output_size(w, h, multiple, multiple, area) == wan_best_output_size(w, h, multiple, multiple,
                                                                                            area), (w, h, area)
    assert best_output_size(1000, 1, 32, 32, 32 * 32) is None  # upstream's assertion fails: nothing fits


def test_default_negative_prompt_and_flow_shift_reach_diffusers(video):
    from diffusers import UniPCMultistepScheduler, WanPipeline

    raw = WanPipeline.from_pretrained(tiny.build("text-to-video"))
    raw.set_progress_bar_config(disable=True)

    def by_hand(**call):
        output = raw(prompt="a tree", num_frames=9, height=16, width=16, num_inference_steps=1, guidance_scale=5.0,
                     generator=torch.Generator().manual_seed(3), output_type="pil", **call)
        return frames_of(output)

    default = video("a tree", num_inference_steps=1, seed=3)
    assert default.negative_prompt == DEFAULT_NEGATIVE_PROMPT and default.flow_shift == 3.0
    assert np.array_equal(default.frames, by_hand(negative_prompt=DEFAULT_NEGATIVE_PROMPT))
    shifted = video("a tree", num_inference_steps=1, seed=3, flow_shift=8.0)  # the README's 1.3B range: 8 to 12
    off = video("a tree", negative_prompt="", num_inference_steps=1, seed=3)  # back to 3.0, no negative prompt
    assert off.negative_prompt is None and off.flow_shift == 3.0 and np.array_equal(off.frames, by_hand())
    assert not np.array_equal(off.frames, default.frames)  # diffusers' own default (none) differs from Wan's
    raw.scheduler = UniPCMultistepScheduler.from_config(raw.scheduler.config, flow_shift=8.0)
    assert shifted.flow_shift == 8.0
    assert np.array_equal(shifted.frames, by_hand(negative_prompt=DEFAULT_NEGATIVE_PROMPT))
    with pytest.raises(InputError) as info:
        video("a tree", num_inference_steps=1, flow_shift=float("nan"))
    assert info.value.argument == "flow_shift"


def test_image_to_video_keeps_the_aspect_ratio(ti2v):
    from PIL import Image

    wide = Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 200, 3), dtype=np.uint8))  # 4:1
    result = ti2v("a pan", image=wide, height=32, num_inference_steps=1, seed=0)
    assert (result.width, result.height) == (128, 32)  # the missing side follows the image, in multiples of 32
    cropped = cover_and_crop(wide, 64, 32)
    assert cropped.size == (64, 32)
    expected = np.asarray(wide.resize((128, 32), Image.Resampling.LANCZOS).crop((32, 0, 96, 32)))
    assert np.array_equal(np.asarray(cropped), expected)  # covered and centre-cropped, never stretched


def test_model_facts_and_defaults(video, ti2v):
    # Wan 2.1: VAE 8x spatial / 4x temporal, patch 2 -> sizes in 16s, frames 4k+1, 16 fps
    assert (video.family, video.size_multiple, video.frame_multiple, video.fps) == ("tiny", 16, 4, 16)
    # Wan 2.2 TI2V: VAE 16x spatial -> sizes in 32s, 24 fps, image-to-video
    assert (ti2v.family, ti2v.size_multiple, ti2v.fps, ti2v.supports_image) == ("tiny-ti2v", 32, 24, True)
    result = video("a tree", num_inference_steps=1, seed=0)
    assert result.frames.shape == (9, 16, 16, 3) and result.fps == 16 and result.seconds == 9 / 16
    assert (result.num_inference_steps, result.guidance_scale) == (1, 5.0)
    data = json.loads(result.to_json())
    assert data["frames"] == {"array": {"shape": [9, 16, 16, 3], "dtype": "uint8"}} and data["seed"] == 0


def test_seed_reproduces_and_steps_alias(video):
    first, again, other = (video("a boat", num_inference_steps=2, seed=s) for s in (5, 5, 6))
    assert np.array_equal(first.frames, again.frames) and not np.array_equal(first.frames, other.frames)
    assert np.array_equal(video("a boat", steps=2, seed=5).frames, first.frames)  # the issue's `steps=`
    drawn = video("a boat", num_inference_steps=1)
    assert np.array_equal(video("a boat", num_inference_steps=1, seed=drawn.seed).frames, drawn.frames)


def test_mp4_decodes_back_to_the_frames(video, tmp_path):
    import imageio.v2 as imageio

    result = video("fireworks", num_frames=13, height=48, width=32, num_inference_steps=1, seed=3)
    path = result.save(tmp_path / "clip.mp4")
    reader = imageio.get_reader(str(path), "ffmpeg")  # the ffmpeg bundled in the imageio-ffmpeg wheel
    decoded = np.stack([frame for frame in reader.iter_data()])  # list(reader) trips on its len() = inf
    assert decoded.shape == (13, 48, 32, 3) and reader.get_meta_data()["fps"] == 16
    assert np.abs(decoded.astype(int) - result.frames.astype(int)).mean() < 40  # lossy H.264, same picture
    assert result.save(tmp_path / "slow.mp4", fps=8).stat().st_size > 0
    assert imageio.get_reader(str(tmp_path / "slow.mp4"), "ffmpeg").get_meta_data()["fps"] == 8
    for bad in (tmp_path / "clip.gif", tmp_path / "clip"):
        with pytest.raises(InputError) as info:
            result.save(bad)
        assert info.value.argument == "path"
    with pytest.raises(InputError) as info:
        result.save(tmp_path / "x.mp4", fps=0)
    assert info.value.argument == "fps"


def test_progress_once_per_step_and_stop_early(video):
    calls = []
    video("rain", num_inference_steps=4, seed=0, progress=lambda step, total, info: calls.append(
        (step, total, type(info["timestep"]))))
    assert calls == [(s, 4, int) for s in range(1, 5)]
    calls.clear()
    stopped = video("rain", num_inference_steps=5, seed=0, progress=lambda step, total, info: calls.append(step)
                    or step < 2)
    assert stopped.interrupted and calls == [1, 2] and stopped.frames.shape == (9, 16, 16, 3)
    assert not video("rain", num_inference_steps=1, seed=0).interrupted


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"prompt": "a \udc80"}, "prompt"),
    ({"negative_prompt": 5}, "negative_prompt"),
    ({"num_frames": 0}, "num_frames"),
    ({"num_frames": -3}, "num_frames"),
    ({"num_frames": 10}, "num_frames"),  # not 4k + 1
    ({"num_frames": 9.0}, "num_frames"),
    ({"num_frames": float("nan")}, "num_frames"),
    ({"num_frames": True}, "num_frames"),
    ({"num_frames": "9"}, "num_frames"),
    ({"num_frames": 2**70}, "num_frames"),
    ({"num_frames": 245}, "num_frames"),
    ({"height": 24}, "height"),  # not a multiple of 16
    ({"height": 0}, "height"),
    ({"height": 8}, "height"),
    ({"width": 1e300}, "width"),
    ({"width": 2000}, "width"),
    ({"width": float("inf")}, "width"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"num_inference_steps": 2.5}, "num_inference_steps"),
    ({"num_inference_steps": 501}, "num_inference_steps"),
    ({"steps": 2, "num_inference_steps": 2}, "steps"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
    ({"guidance_scale": -1}, "guidance_scale"),
    ({"guidance_scale": float("inf")}, "guidance_scale"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"image": np.zeros((16, 16, 3))}, "image"),  # Wan 2.1 is text-to-video only
    ({"progress": 3}, "progress"),
    ({"num_frame": 9}, "num_frame"),
])
def test_bad_inputs_name_the_argument(video, kwargs, argument):
    params = {"prompt": "a cat", "num_inference_steps": 1, **kwargs}
    with pytest.raises(InputError) as info:
        video(**params)
    assert info.value.argument == argument and isinstance(info.value, ValueError)


def test_errors_say_what_the_model_can_take(video, ti2v, tmp_path):
    with pytest.raises(InputError, match=r"4k \+ 1 .* nearest valid counts are 9 and 13"):
        video("a", num_frames=10)
    with pytest.raises(InputError, match="multiple of 16 .* nearest valid sizes are 16 and 32"):
        video("a", width=20)
    with pytest.raises(InputError, match="multiple of 32"):
        ti2v("a", height=48)
    with pytest.raises(InputError, match="Wan2.2-TI2V"):
        video("a", image=np.zeros((16, 16, 3)))
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    for image in (str(notes), str(tmp_path / "missing.png"), np.zeros((4, 4, 3)), np.zeros((16, 16, 2)), "x"):
        with pytest.raises(InputError) as info:
            ti2v("a", image=image, num_inference_steps=1)
        assert info.value.argument == "image"


def test_memory_options(caplog):
    folder = str(tiny.build("text-to-video"))
    with caplog.at_level(logging.INFO, logger="pipelines.video_generation"):
        pipeline = TextToVideoPipeline.from_pretrained(folder, device="cpu", vae_tiling=True, vae_slicing=True)
    assert "VAE tiling on" in caplog.text and "VAE slicing on" in caplog.text
    assert pipeline.pipe.vae.use_tiling and pipeline.pipe.vae.use_slicing and not pipeline.cpu_offload
    assert pipeline("x", num_inference_steps=1, seed=0).frames.shape == (9, 16, 16, 3)
    with pytest.raises(InputError, match="cpu_offload"):
        TextToVideoPipeline.from_pretrained(folder, device="cpu", cpu_offload=True)
    with pytest.raises(InputError) as info:
        TextToVideoPipeline.from_pretrained(folder, device="cpu", vae_tiling="yes")
    assert info.value.argument == "vae_tiling"


def test_cli_writes_the_mp4(tmp_path, capsys):
    from pipelines import cli  # in-process: `python -m pipelines run ...` is the same `main`

    assert cli.main(["run", "text-to-video", "a cat", "--model", "tiny", "--param", "num_inference_steps=2",
                     "--param", "seed=1", "--output", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "2/2" in err and (tmp_path / "video.mp4").stat().st_size > 0
    assert json.loads(out)["frames"]["array"]["shape"] == [9, 16, 16, 3]
    assert cli.main(["run", "text-to-video", "a cat", "--model", "tiny", "--param", "num_frames=10"]) == 2
    assert "`num_frames` must be an integer of the form 4k + 1" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_bfloat16_with_a_float32_vae():
    video = load("text-to-video", model="tiny")
    assert video.device.type == "cuda" and video.dtype in (torch.bfloat16, torch.float16)
    assert video.pipe.vae.dtype == torch.float32 and video.pipe.transformer.dtype == video.dtype
    first, again = (video("a cat", num_inference_steps=3, seed=2) for _ in range(2))
    assert np.array_equal(first.frames, again.frames) and first.frames.std() > 0
    ti2v = load("text-to-video", model="tiny-ti2v")
    clip = ti2v("a cat", image=np.zeros((32, 32, 3)), num_inference_steps=2, seed=0)
    assert clip.frames.shape == (9, 32, 32, 3) and ti2v.pipe.vae.dtype == torch.float32


@pytest.mark.slow
@pytest.mark.gpu
def test_wan21_real_model():
    video = load("text-to-video")
    result = video("a red fox running through snow", num_frames=17, height=480, width=832, num_inference_steps=20,
                   seed=0)
    assert result.frames.shape == (17, 480, 832, 3) and result.fps == 16 and result.licence == "apache-2.0"
    assert result.frames.std() > 10
