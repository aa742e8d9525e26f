"""Stable Diffusion text-to-image / image-to-image on the tiny components (diffusers' dummy-components recipe)."""

import json
import logging
import math

import numpy as np
import pytest
import torch

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.image_generation import ImageResult, ImageToImagePipeline, TextToImagePipeline, load_diffusers


@pytest.fixture(scope="module")
def t2i():
    return load("text-to-image", model="tiny", device="cpu")  # pixel parity: fp32 on CPU


@pytest.fixture(scope="module")
def i2i(t2i):
    return ImageToImagePipeline.from_pipe(t2i)


@pytest.fixture(scope="module")
def raw_t2i():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_text_to_image_equals_raw_diffusers_pixel_for_pixel(t2i, raw_t2i):
    result = t2i("a red fox in the snow", negative_prompt="blurry", num_inference_steps=3, guidance_scale=6.0,
                 height=64, width=48, num_images=2, seed=1234)
    raw = raw_t2i("a red fox in the snow", negative_prompt="blurry", num_inference_steps=3, guidance_scale=6.0,
                  height=64, width=48, num_images_per_prompt=2, generator=torch.Generator().manual_seed(1234))
    assert isinstance(result, ImageResult) and result.seed == 1234
    assert len(result.images) == 2 and all(im.size == (48, 64) and im.mode == "RGB" for im in result.images)
    for ours, theirs in zip(result.images, raw.images, strict=True):
        assert np.array_equal(pixels(ours), pixels(theirs))
    assert not np.array_equal(pixels(result.images[0]), pixels(result.images[1]))  # one batch, distinct images


def test_seed_reproduces_and_is_reported(t2i):
    first = t2i("a cat", num_inference_steps=2, seed=7)
    again = t2i("a cat", num_inference_steps=2, seed=7)
    other = t2i("a cat", num_inference_steps=2, seed=8)
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    assert not np.array_equal(pixels(first.images[0]), pixels(other.images[0]))
    drawn = t2i("a cat", num_inference_steps=2)  # no seed: a random one, reported, which reproduces the image
    assert isinstance(drawn.seed, int)
    replay = t2i("a cat", num_inference_steps=2, seed=drawn.seed)
    assert np.array_equal(pixels(drawn.images[0]), pixels(replay.images[0]))


def test_defaults_use_the_native_size_and_result_serialises(t2i):
    result = t2i("a house", num_inference_steps=1, seed=0)
    assert result.images[0].size == (t2i.native_size, t2i.native_size) == (64, 64)
    assert (result.num_inference_steps, result.guidance_scale, result.nsfw_content_detected) == (1, 7.5, None)
    data = json.loads(result.to_json())
    assert data["images"] == [{"image": {"size": [64, 64], "mode": "RGB"}}] and data["seed"] == 0


def test_image_to_image_shares_the_components(t2i, i2i):
    assert type(i2i.pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(t2i.pipe, name), getattr(i2i.pipe, name)
        assert ours is theirs
        assert all(a.data_ptr() == b.data_ptr() for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))
    assert i2i.loras is t2i.loras and i2i.lock is t2i.lock  # the components' state, and one call at a time on them


def test_image_to_image_equals_raw_diffusers(t2i, i2i, raw_t2i, tmp_path):
    from diffusers import AutoPipelineForImage2Image
    from PIL import Image

    start = t2i("a boat", num_inference_steps=2, seed=3).images[0]
    path = tmp_path / "start.png"
    start.save(path)
    result = i2i("a boat at night", image=str(path), strength=0.6, num_inference_steps=5, seed=11)
    raw = AutoPipelineForImage2Image.from_pipe(raw_t2i)(
        "a boat at night", image=Image.open(path).convert("RGB"), strength=0.6, num_inference_steps=5,
        guidance_scale=7.5, generator=torch.Generator().manual_seed(11))
    assert result.strength == 0.6 and result.images[0].size == (64, 64)
    assert np.array_equal(pixels(result.images[0]), pixels(raw.images[0]))
    assert not np.array_equal(pixels(result.images[0]), pixels(start))


def test_image_to_image_input_forms_and_sizes(i2i):
    rng = np.random.default_rng(0)
    array = rng.random((100, 60, 3))  # floats in [0, 1], larger than the tiny model's 64 px: scaled to fit
    result = i2i("x", image=array, strength=0.5, num_inference_steps=2, seed=0)
    assert result.images[0].size == (32, 64) == (result.width, result.height)
    result = i2i("x", image=(array * 255).astype(np.uint8), width=48, num_inference_steps=2, seed=0)
    assert result.images[0].size == (48, 80)  # one side given: the other keeps the aspect ratio
    assert load("image-to-image", model="tiny", device="cpu")("x", image=array, num_inference_steps=2, seed=0).images


def test_progress_fires_once_per_step_and_can_stop(t2i, i2i):
    calls = []
    t2i("a tree", num_inference_steps=4, seed=0, progress=lambda step, total, info: calls.append((step, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    calls.clear()
    i2i("a tree", image=np.zeros((64, 64, 3)), strength=0.5, num_inference_steps=6, seed=0,
        progress=lambda step, total, info: calls.append((step, total, type(info["timestep"]))))
    assert calls == [(1, 3, int), (2, 3, int), (3, 3, int)]  # int(6 * 0.5) steps run
    calls.clear()
    result = t2i("a tree", num_inference_steps=5, seed=0, progress=lambda s, t, i: calls.append(s) or s < 2)
    assert result.interrupted and len(result.images) == 1
    assert not t2i("a tree", num_inference_steps=2, seed=0).interrupted


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"height": 60}, "height"),
    ({"width": 136}, "width"),  # above twice the tiny model's 64 px
    ({"width": 0}, "width"),
    ({"height": 64.0}, "height"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"num_inference_steps": 2.5}, "num_inference_steps"),
    ({"guidance_scale": -1.0}, "guidance_scale"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
    ({"num_images": 0}, "num_images"),
    ({"num_images": 9}, "num_images"),
    ({"seed": -1}, "seed"),
    ({"seed": "42"}, "seed"),
    ({"negative_prompt": 3}, "negative_prompt"),
    ({"progress": "bar"}, "progress"),
])
def test_text_to_image_bad_inputs(t2i, kwargs, argument):
    with pytest.raises(InputError) as err:
        t2i("a cat", **kwargs)
    assert err.value.argument == argument and isinstance(err.value, ValueError)


@pytest.mark.parametrize(("prompt", "kwargs", "argument"), [
    ("a cat", {"guidance_scale": math.inf}, "guidance_scale"),
    ("a cat", {"guidance_scale": 1e30}, "guidance_scale"),  # finite but absurd: a black image
    ("a cat", {"guidance_scale": 51}, "guidance_scale"),
    ("a cat", {"guidance_scale": "7.5"}, "guidance_scale"),
    ("a cat", {"num_inference_steps": 10**6}, "num_inference_steps"),
    ("a cat", {"num_inference_steps": 2**70}, "num_inference_steps"),
    ("a cat", {"num_inference_steps": math.nan}, "num_inference_steps"),
    ("a cat", {"seed": 2**70}, "seed"),
    ("a cat", {"seed": 2**63}, "seed"),
    ("a cat", {"num_images": math.inf}, "num_images"),
    ("a cat", {"width": 2**70}, "width"),
    ("a cat", {"height": "64"}, "height"),
    ("a cat", {"negative_prompt": "\udcff"}, "negative_prompt"),
    ("a \ud800 cat", {}, "prompt"),
    (["a cat"], {}, "prompt"),
    ("a cat", {"progress": 5}, "progress"),
    ("a cat", {"num_inference_step": 2}, "num_inference_step"),
])
def test_text_to_image_hostile_input(t2i, prompt, kwargs, argument):
    with pytest.raises(InputError) as err:
        t2i(prompt, **kwargs)
    assert err.value.argument == argument and f"`{argument}`" in str(err.value)


def test_text_to_image_still_answers_after_the_bad_calls(t2i):
    assert t2i("a cat", num_inference_steps=1, seed=0).images[0].size == (64, 64)


def test_prompt_must_be_a_string(t2i):
    with pytest.raises(InputError, match="`prompt` must be a string; got None"):
        t2i(None)


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"strength": 0.0}, "strength"),
    ({"strength": 1.5}, "strength"),
    ({"strength": 0.1, "num_inference_steps": 5}, "strength"),  # int(5 * 0.1) = 0 steps would run
    ({"image": None}, "image"),
    ({"image": "no/such/file.png"}, "image"),
    ({"height": 60}, "height"),
    ({"image": np.zeros((64, 64, 2))}, "image"),
    ({"image": 12}, "image"),
])
def test_image_to_image_bad_inputs(i2i, kwargs, argument):
    params = {"image": np.zeros((64, 64, 3)), "num_inference_steps": 2, **kwargs}
    with pytest.raises(InputError) as err:
        i2i("a cat", **params)
    assert err.value.argument == argument


@pytest.mark.parametrize(("kwargs", "argument", "message"), [
    ({"image": np.zeros((1, 1, 3))}, "image", "at least 8x8"),  # the tiny model's smallest size
    ({"image": np.zeros((1, 500, 3))}, "image", "at least 8x8"),
    ({"image": np.zeros((1, 1, 3)), "height": 64, "width": 64}, "image", "at least 8x8"),  # no upscaled dot
    ({"strength": math.nan}, "strength", "(0, 1]"),
    ({"strength": math.inf}, "strength", "(0, 1]"),
    ({"strength": "0.5"}, "strength", "(0, 1]"),
    ({"guidance_scale": 1e30}, "guidance_scale", "from 0 to 50"),
    ({"seed": 2**70}, "seed", "from 0 to"),
    ({"num_inference_steps": 10**6}, "num_inference_steps", "from 1 to 1000"),
])
def test_image_to_image_hostile_input(i2i, kwargs, argument, message):
    params = {"image": np.zeros((64, 64, 3)), "num_inference_steps": 2, **kwargs}
    with pytest.raises(InputError) as err:
        i2i("a cat", **params)
    assert err.value.argument == argument and message in str(err.value)


def test_image_to_image_zero_pixel_and_truncated_images(i2i, tmp_path):
    from PIL import Image

    with pytest.raises(InputError, match="at least 8x8"):
        i2i("a cat", image=Image.new("RGB", (0, 0)))
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot be read as an image") as err:
        i2i("a cat", image=str(truncated))
    assert err.value.argument == "image"
    assert i2i("a cat", image=str(full), num_inference_steps=2, seed=0).images[0].size == (64, 64)  # still answers


def test_image_to_image_rejects_files_that_are_not_images(i2i, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    for path in (text, corrupt):
        with pytest.raises(InputError, match="cannot be read as an image") as err:
            i2i("a cat", image=str(path))
        assert err.value.argument == "image"


def test_scheduler_choice(t2i):
    pipeline = TextToImagePipeline.from_pretrained(str(tiny.build("text-to-image")), device="cpu",
                                                   scheduler="euler-ancestral")
    assert type(pipeline.pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert pipeline("x", num_inference_steps=2, seed=0).images[0].size == (64, 64)
    with pytest.raises(InputError, match="scheduler"):
        pipeline.set_scheduler("no-such-scheduler")
    turbo = TextToImagePipeline.from_pretrained(str(tiny.build("text-to-image")), device="cpu", turbo=True,
                                                scheduler="euler")
    assert turbo.pipe.scheduler.config.timestep_spacing == "trailing"
    result = turbo("x", seed=0)
    assert (result.num_inference_steps, result.guidance_scale) == (1, 0.0)  # turbo defaults


def test_memory_options(caplog):
    folder = str(tiny.build("text-to-image"))
    with caplog.at_level(logging.INFO, logger="pipelines.image_generation"):
        pipeline = TextToImagePipeline.from_pretrained(folder, device="cpu", attention_slicing=True,
                                                       vae_tiling=True)
    assert "Attention slicing on" in caplog.text and "VAE tiling on" in caplog.text
    assert pipeline.pipe.vae.use_tiling
    assert pipeline("x", num_inference_steps=1, seed=0).images[0].size == (64, 64)
    with pytest.raises(InputError, match="cpu_offload"):
        TextToImagePipeline.from_pretrained(folder, device="cpu", cpu_offload=True)


def _with_safety_checker(folder):
    """The tiny pipeline plus a tiny safety checker whose thresholds flag every image."""
    from diffusers import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    small = {"hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1}
    config = CLIPConfig(text_config={**small, "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 1},
                        vision_config={**small, "image_size": 32, "patch_size": 8}, projection_dim=8)
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(config)
    checker.concept_embeds_weights.data.fill_(-2.0)  # cosine - threshold > 0 for every concept: always NSFW
    extractor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    base = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    StableDiffusionPipeline(**{**base.components, "safety_checker": checker, "feature_extractor": extractor},
                            requires_safety_checker=True).save_pretrained(folder)
    return str(folder)


def test_safety_checker_stays_on_and_turning_it_off_is_logged(tmp_path, caplog):
    folder = _with_safety_checker(tmp_path / "sd-with-checker")
    checked = TextToImagePipeline.from_pretrained(folder, device="cpu")("x", num_inference_steps=1, num_images=2,
                                                                        seed=0)
    assert checked.nsfw_content_detected == [True, True]
    assert all(pixels(im).max() == 0 for im in checked.images)  # blacked out
    with caplog.at_level(logging.WARNING, logger="pipelines.image_generation"):
        unchecked = TextToImagePipeline.from_pretrained(folder, device="cpu", safety_checker=False)
    assert "Safety checker disabled" in caplog.text and unchecked.pipe.safety_checker is None
    result = unchecked("x", num_inference_steps=1, seed=0)
    assert result.nsfw_content_detected is None and pixels(result.images[0]).max() > 0


def test_load_errors(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load("text-to-image", model=str(tmp_path / "missing"))
    assert err.value.reason == "not_found"
    with pytest.raises(ModelLoadError) as err:
        load("text-to-image", model="nobody/no-such-sd-model")  # HF_HUB_OFFLINE=1: never downloads
    assert err.value.reason in ("offline", "not_found")
    with pytest.raises(ModelLoadError):
        load("text-to-image", model=str(tiny.build("style-transfer")))  # a VGG folder, not a diffusers one


def with_fp16_variant(folder):
    """The tiny pipeline saved twice: float32 weights and an ``fp16`` variant, as stabilityai/sd-turbo ships them."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    pipe.save_pretrained(folder)
    pipe.to(torch.float16).save_pretrained(folder, variant="fp16")
    return str(folder)


def test_weights_variant_selection(tmp_path, caplog):
    from diffusers import AutoPipelineForText2Image

    folder = with_fp16_variant(tmp_path / "with-fp16")
    full = TextToImagePipeline.from_pretrained(folder, device="cpu")  # CPU: the float32 weights
    half = TextToImagePipeline.from_pretrained(folder, device="cpu", variant="fp16")  # asked for: the fp16 files
    weight, half_weight = full.pipe.unet.conv_in.weight, half.pipe.unet.conv_in.weight
    assert half_weight.dtype == torch.float32 and torch.equal(half_weight, weight.half().float())
    assert not torch.equal(half_weight, weight)  # the fp16 files really were read
    kwargs = {"dtype": torch.float32, "use_safetensors": True}
    preferred = load_diffusers(AutoPipelineForText2Image, folder, kwargs, None, prefer_fp16=True)
    assert torch.equal(preferred.unet.conv_in.weight, half_weight)  # a GPU in float16 prefers the variant
    plain = str(tiny.build("text-to-image"))  # no fp16 files: diffusers refuses the variant, the fallback loads
    with caplog.at_level(logging.INFO, logger="pipelines.image_generation"):
        fallback = load_diffusers(AutoPipelineForText2Image, plain, kwargs, None, prefer_fp16=True)
    assert "no fp16 weights variant" in caplog.text and fallback.unet is not None
    with pytest.raises(ModelLoadError):  # an explicit variant the folder lacks stays an error
        TextToImagePipeline.from_pretrained(plain, device="cpu", variant="fp16")
    with pytest.raises(InputError):
        TextToImagePipeline.from_pretrained(plain, device="cpu", safety_checker="no")


@pytest.mark.gpu
def test_cuda_loads_the_fp16_variant(tmp_path):
    folder = with_fp16_variant(tmp_path / "with-fp16")
    t2i = load("text-to-image", model=folder)  # CUDA, float16: the fp16 variant, no cast from float32
    reference = TextToImagePipeline.from_pretrained(folder, device="cpu", variant="fp16", dtype="float16")
    assert t2i.pipe.unet.dtype == torch.float16
    assert torch.equal(t2i.pipe.unet.conv_in.weight.cpu(), reference.pipe.unet.conv_in.weight)
    assert t2i("a cat", num_inference_steps=2, seed=0).images[0].size == (64, 64)


@pytest.mark.gpu
def test_cuda_defaults_fp16_and_offload(tmp_path):
    t2i = load("text-to-image", model="tiny")  # default device and dtype: CUDA, float16
    assert t2i.device.type == "cuda" and t2i.dtype == torch.float16 and t2i.pipe.unet.dtype == torch.float16
    first, again = (t2i("a cat", num_inference_steps=3, seed=5) for _ in range(2))
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    assert pixels(first.images[0]).std() > 0  # not a blank (NaN) image
    calls = []
    i2i = ImageToImagePipeline.from_pipe(t2i)
    result = i2i("a dog", image=first.images[0], strength=0.5, num_inference_steps=4, seed=5,
                 progress=lambda step, total, info: calls.append(step))
    assert result.images[0].size == (64, 64) and calls == [1, 2] and i2i.pipe.unet is t2i.pipe.unet
    folder = str(tiny.build("text-to-image"))
    offloaded = TextToImagePipeline.from_pretrained(folder, cpu_offload=True)
    assert offloaded("a cat", num_inference_steps=2, seed=5).images[0].size == (64, 64)
    # The noise comes from a CPU generator: in float32 the GPU image is the CPU image up to rounding.
    gpu = TextToImagePipeline.from_pretrained(folder, dtype="float32")("a cat", num_inference_steps=3, seed=5)
    cpu = TextToImagePipeline.from_pretrained(folder, device="cpu")("a cat", num_inference_steps=3, seed=5)
    assert np.abs(pixels(gpu.images[0]) - pixels(cpu.images[0])).max() <= 3


@pytest.mark.slow
def test_sd_turbo_real_model():
    t2i = load("text-to-image")
    result = t2i("a photo of a red apple on a table", seed=0)
    assert result.images[0].size == (512, 512) and result.num_inference_steps == 1
    i2i = ImageToImagePipeline.from_pipe(t2i)
    assert i2i("a green apple", image=result.images[0], seed=0).images[0].size == (512, 512)
