"""Autoencoders: Stable Diffusion's VAE (tiny twin + sd-turbo's real geometry, parity with raw diffusers) and the MNIST
VAE (pytorch/examples' model and loss, the latent map over normal quantiles, points, interpolation, bad input)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.autoencoder import (
    AutoencoderResult,
    MnistVAE,
    channel_image,
    quantile_grid,
    vae_loss,
)
from pipelines.mnist import sklearn_digits

# stabilityai/sd-turbo vae/config.json (as copied from the sd-turbo snapshot in cfu/sd2-turbo-bin and
# schmuell/sd-turbo-ort-web; the diffusers-version and path keys left out).
SD_TURBO_VAE_CONFIG = {
    "_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "force_upcast": True, "in_channels": 3, "latent_channels": 4,
    "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 768, "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}


@pytest.fixture(scope="module")
def ae():
    return load("autoencoder", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def vae():
    return load("autoencoder", model="tiny-mnist", device="cpu")


@pytest.fixture(scope="module")
def digits():
    return sklearn_digits()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    yy, xx = np.mgrid[0:48, 0:64] / 64.0
    return (np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.8 - 0.5 * xx * yy], axis=-1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sd_geometry(tmp_path_factory):
    """An AutoencoderKL with sd-turbo's VAE config, only narrower (32 channels per block: 0.2M weights)."""
    from diffusers import AutoencoderKL

    config = {k: v for k, v in SD_TURBO_VAE_CONFIG.items() if not k.startswith("_")}
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sd-geometry")
    AutoencoderKL(**{**config, "block_out_channels": [32, 32, 32, 32]}).save_pretrained(folder / "vae")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                         "vae": ["diffusers", "AutoencoderKL"]}))
    return load("autoencoder", model=str(folder), device="cpu")


def seven(size: int = 280) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 230)], fill=(0, 0, 0, 255), width=18)
    return image


# ----------------------------------------------------------------------------------------------------------------
# Stable Diffusion's VAE


def test_sd_turbo_geometry_8x_down_4_channels_ratio_48(sd_geometry, photo):
    assert sd_geometry.kind == "sd-vae" and sd_geometry.scale_factor == 8
    result = sd_geometry(np.zeros((80, 100, 3), dtype=np.uint8))  # scaled to multiples of 8: 96x80
    assert result.input_shape == [3, 80, 96] and result.latent_shape == [4, 10, 12]
    assert result.compression_ratio == 48.0 == 3 * 8 * 8 / 4
    assert result.scaling_factor == 0.18215 and len(result.latent_images) == 4
    assert result.reconstruction.size == result.image.size == (96, 80)


def test_reconstruction_is_raw_diffusers_encode_mode_decode(ae, photo):
    from diffusers import AutoencoderKL
    from diffusers.image_processor import VaeImageProcessor

    result = ae(photo)
    assert isinstance(result, AutoencoderResult) and result.kind == "sd-vae"
    raw = AutoencoderKL.from_pretrained(str(tiny.build("autoencoder")), subfolder="vae").eval()
    processor = VaeImageProcessor(vae_scale_factor=2)
    x = processor.preprocess(Image.fromarray(photo), height=48, width=64)
    with torch.no_grad():
        z = raw.encode(x).latent_dist.mode()
        decoded = raw.decode(z).sample
    assert np.allclose(result.latent, (z * raw.config.scaling_factor)[0].numpy(), atol=1e-6)
    expected = processor.postprocess(decoded, output_type="pil")[0]
    assert np.array_equal(np.asarray(result.reconstruction), np.asarray(expected))
    mse = float(((decoded / 2 + 0.5).clamp(0, 1) - (x / 2 + 0.5)).pow(2).mean())
    assert result.mse == pytest.approx(mse, rel=1e-5) and result.psnr == pytest.approx(10 * math.log10(1 / mse))
    assert result.compression_ratio == 3 * 2 * 2 / 4  # the tiny twin: 2 levels, 2x down
    assert not result.sampled and result.seed is None and result.point is None


def test_seeded_sampling_and_the_mean(ae, photo):
    a, b = ae(photo, sample=True, seed=5), ae(photo, sample=True, seed=5)
    assert np.array_equal(a.latent, b.latent) and a.sampled and a.seed == 5
    assert not np.array_equal(a.latent, ae(photo, sample=True, seed=6).latent)
    assert not np.array_equal(a.latent, ae(photo).latent)
    assert np.array_equal(ae(photo).latent, ae(photo, seed=3).latent)  # the mean: no randomness, seed unused


def test_max_size_and_latent_channel_pictures(ae):
    result = ae(np.zeros((301, 400, 3), dtype=np.uint8), max_size=128)
    assert result.image.size == (128, 96) and result.latent_shape == [4, 48, 64]
    assert all(im.size == (64, 48) and im.mode == "L" for im in result.latent_images)
    ramp = channel_image(np.linspace(-3, 3, 100).reshape(10, 10).astype(np.float32))
    assert np.asarray(ramp)[0, 0] == 0 and np.asarray(ramp)[-1, -1] == 255


def test_sd_result_serialises(ae, photo):
    data = json.loads(ae(photo).to_json())
    assert data["latent"] == {"array": {"shape": [4, 24, 32], "dtype": "float32"}}
    assert data["kind"] == "sd-vae" and data["compression_ratio"] == 3.0


@pytest.mark.parametrize("method", ["latent_map", "encode", "decode", "interpolate"])
def test_latent_map_tools_need_the_mnist_vae(ae, method, photo):
    args = {"latent_map": (), "encode": (photo,), "decode": ((0, 0),), "interpolate": (photo, photo)}[method]
    with pytest.raises(InputError, match="MNIST VAE") as info:
        getattr(ae, method)(*args)
    assert info.value.argument == "model"


# ----------------------------------------------------------------------------------------------------------------
# the MNIST VAE


def test_the_model_and_loss_are_pytorch_examples(vae):
    model = vae.model
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.endswith("weight")}
    assert shapes == {"fc1.weight": (400, 784), "fc21.weight": (2, 400), "fc22.weight": (2, 400),
                      "fc3.weight": (400, 2), "fc4.weight": (784, 400)}
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    mu, logvar = torch.randn(5, 2), torch.randn(5, 2)
    recon = torch.rand(5, 784).clamp(0.01, 0.99)
    bce, kld = vae_loss(recon, x, mu, logvar)
    # pytorch/examples vae/main.py loss_function: BCE summed + -0.5 * sum(1 + logvar - mu^2 - exp(logvar))
    expected_bce = -(x.view(5, -1) * recon.log() + (1 - x.view(5, -1)) * (1 - recon).log()).sum()
    assert float(bce) == pytest.approx(float(expected_bce), rel=1e-5)
    assert float(kld) == pytest.approx(float(0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum()), rel=1e-5)


def test_quantile_grid_is_norm_ppf():
    from scipy.stats import norm

    grid = quantile_grid(15, 0.05)
    assert np.allclose(grid, norm.ppf(np.linspace(0.05, 0.95, 15)), atol=1e-9)
    assert grid[0] == pytest.approx(-1.6448536, abs=1e-6) and grid[7] == pytest.approx(0.0, abs=1e-12)


def test_latent_map_tiles_are_decoded_grid_points(vae):
    result = vae.latent_map(n=6)
    assert result.image.size == (6 * 28, 6 * 28) and result.n == 6
    assert result.xs == sorted(result.xs) and result.ys == sorted(result.ys, reverse=True)  # y grows upwards
    canvas = np.asarray(result.image)
    for row, column in [(0, 0), (2, 5), (5, 1)]:
        tile = canvas[row * 28:(row + 1) * 28, column * 28:(column + 1) * 28]
        assert np.array_equal(tile, np.asarray(vae.decode((result.xs[column], result.ys[row])).image))
    assert result.pixel_of((result.xs[2], result.ys[4])) == pytest.approx((2.5 * 28, 4.5 * 28))
    assert result.point_at(2.5 * 28, 4.5 * 28) == pytest.approx((result.xs[2], result.ys[4]), abs=1e-9)
    assert result.point_at(*result.pixel_of((0.3, -0.7))) == pytest.approx((0.3, -0.7), abs=1e-9)
    assert vae.latent_map().n == 15 and vae.latent_map().image.size == (420, 420)  # Keras' default


def test_encoded_digits_reconstruct_and_cluster(vae, digits):
    images, labels = digits
    result = vae(images[0])
    assert result.kind == "mnist-vae" and result.compression_ratio == 784 / 2 and result.latent_shape == [2]
    assert result.point == pytest.approx(tuple(vae.encode(images[0]).point)) and result.latent_images == []
    assert result.image.size == result.reconstruction.size == (28, 28) and result.psnr > 10
    points = {c: np.array([vae.encode(images[i]).point for i in np.flatnonzero(labels == c)[:15]]) for c in (0, 1)}
    within = np.linalg.norm(points[0] - points[0].mean(0), axis=1).mean()
    assert np.linalg.norm(points[0].mean(0) - points[1].mean(0)) > within  # a 0 lands nearer 0s than 1s do


def test_a_drawing_lands_on_the_map(vae):
    landed = vae.encode(seven())
    assert len(landed.point) == 2 and all(s > 0 for s in landed.std) and landed.image.size == (28, 28)
    decoded = vae.decode(landed.point)
    assert decoded.pixels.shape == (28, 28) and 0 <= decoded.pixels.min() and decoded.pixels.max() <= 1
    assert np.array_equal(np.asarray(decoded.image), np.asarray(vae(seven()).reconstruction))  # mean -> decode


def test_interpolation_walks_the_straight_line(vae, digits):
    images, labels = digits
    walk = vae.interpolate(images[0], images[1], steps=5)
    assert len(walk.images) == len(walk.points) == 5
    assert walk.points[0] == pytest.approx(walk.start.point) and walk.points[-1] == pytest.approx(walk.end.point)
    middle = np.add(walk.start.point, walk.end.point) / 2
    assert walk.points[2] == pytest.approx(tuple(middle))
    assert np.array_equal(np.asarray(walk.images[0]), np.asarray(vae.decode(walk.start.point).image))
    assert walk.strip(scale=2).size == (5 * 56, 56)


def test_seeded_posterior_sample(vae, digits):
    picture = digits[0][5]
    a, b = vae(picture, sample=True, seed=1), vae(picture, sample=True, seed=1)
    assert a.point == b.point and a.point != vae(picture).point and a.seed == 1


@pytest.mark.parametrize(("call", "argument"), [
    (lambda v: v.decode((11.0, 0.0)), "point[0]"), (lambda v: v.decode((0.0, float("nan"))), "point[1]"),
    (lambda v: v.decode((float("inf"), 0)), "point[0]"), (lambda v: v.decode((1e300, 0)), "point[0]"),
    (lambda v: v.decode((True, 0)), "point[0]"), (lambda v: v.decode(("1", 0)), "point[0]"),
    (lambda v: v.decode((1, 2, 3)), "point"), (lambda v: v.decode("ab"), "point"), (lambda v: v.decode(None), "point"),
    (lambda v: v.latent_map(n=1), "n"), (lambda v: v.latent_map(n=10**6), "n"), (lambda v: v.latent_map(n=4.0), "n"),
    (lambda v: v.latent_map(quantile=0.5), "quantile"), (lambda v: v.latent_map(quantile=0), "quantile"),
    (lambda v: v.latent_map(quantile=float("nan")), "quantile"),
    (lambda v: v.interpolate(seven(), seven(), steps=1), "steps"),
    (lambda v: v.interpolate(seven(), seven(), steps=10**9), "steps"),
    (lambda v: v.interpolate(seven(), None), "end"), (lambda v: v.interpolate(np.zeros((1, 1)), seven()), "start"),
    (lambda v: v(seven(), sample="yes"), "sample"), (lambda v: v(seven(), seed=-1, sample=True), "seed"),
    (lambda v: v(seven(), seed=2**70), "seed"), (lambda v: v(seven(), invert="no"), "invert"),
    (lambda v: v(np.zeros((40, 40))), "image"), (lambda v: v(np.zeros((1, 500))), "image"),
    (lambda v: v(True), "image"), (lambda v: v.encode({"layers": []}), "image"),
])
def test_mnist_bad_input_is_an_input_error(vae, call, argument):
    with pytest.raises(InputError) as info:
        call(vae)
    assert info.value.argument == argument


@pytest.mark.parametrize(("image", "needle"), [
    (np.zeros((0, 0, 3), dtype=np.uint8), "shape"), (np.zeros((1, 1, 3), dtype=np.uint8), "1x1"),
    (np.zeros((1, 500, 3), dtype=np.uint8), "500x1"), (np.full((20, 20, 3), np.inf), "NaN or infinite"),
    ("no/such/photo.jpg", "No such file"), (None, "image"), (3.5, "image"),
])
def test_sd_bad_images_are_input_errors(ae, image, needle):
    with pytest.raises(InputError, match=needle) as info:
        ae(image)
    assert info.value.argument == "image"


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"max_size": 0}, "max_size"), ({"max_size": 10**9}, "max_size"), ({"max_size": float("nan")}, "max_size"),
    ({"sample": 1}, "sample"), ({"seed": "7", "sample": True}, "seed"), ({"seed": -3}, "seed"),
    ({"sampel": True}, "sampel"),
])
def test_sd_bad_arguments_are_input_errors(ae, photo, kwargs, argument):
    with pytest.raises(InputError) as info:
        ae(photo, **kwargs)
    assert info.value.argument == argument


def test_corrupt_file_is_an_input_error(ae, vae, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for pipeline in (ae, vae):
        with pytest.raises(InputError, match="cannot be read as an image"):
            pipeline(str(corrupt))


def test_loading_the_mnist_vae_the_hub_way(tmp_path, monkeypatch):
    digit_cnn = tiny.build("digit-recognition")  # from the shared cache, before it is moved away
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match="python -m finetune.vae") as info:
        load("autoencoder", model="local:mnist-vae")
    assert info.value.reason == "not_found"
    MnistVAE(hidden_units=16).save_pretrained(tmp_path / "mine")
    mine = load("autoencoder", model=str(tmp_path / "mine"), device="cpu")
    assert mine.kind == "mnist-vae" and mine.model.fc1.out_features == 16 and mine.latent_dim == 2
    MnistVAE(latent_dim=20).save_pretrained(tmp_path / "twenty")
    twenty = load("autoencoder", model=str(tmp_path / "twenty"), device="cpu")
    assert twenty(seven()).latent_shape == [20] and twenty(seven()).point is None
    with pytest.raises(InputError, match="20-D"):
        twenty.latent_map()
    with pytest.raises(ModelLoadError) as info:  # a digit CNN is no VAE
        load("autoencoder", model=str(digit_cnn))
    assert info.value.reason == "wrong_task"
    with pytest.raises(InputError, match="dtype"):
        load("autoencoder", model=str(tmp_path / "mine"), dtype="float16")


def test_cli_saves_the_reconstruction(photo, tmp_path, capsys):
    from pipelines.cli import main

    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert main(["run", "autoencoder", str(tmp_path / "photo.png"), "--model", "tiny", "--output",
                 str(tmp_path / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "sd-vae" and data["latent_shape"] == [4, 24, 32]
    assert Image.open(tmp_path / "out" / "reconstruction.png").size == (64, 48)
    assert (tmp_path / "out" / "image_0.png").exists()


@pytest.mark.gpu
def test_both_autoencoders_on_cuda(photo, digits):
    ae = load("autoencoder", model="tiny", device="cuda")
    result = ae(photo, sample=True, seed=0)
    assert result.compression_ratio == 3.0 and math.isfinite(result.psnr) and ae.model.device.type == "cuda"
    vae_gpu = load("autoencoder", model="tiny-mnist", device="cuda")
    vae_cpu = load("autoencoder", model="tiny-mnist", device="cpu")
    assert vae_gpu(digits[0][0]).point == pytest.approx(vae_cpu(digits[0][0]).point, abs=1e-4)
    assert vae_gpu(digits[0][0], sample=True, seed=3).point == pytest.approx(
        vae_cpu(digits[0][0], sample=True, seed=3).point, abs=1e-4)  # the noise is drawn on the CPU
    tiles = np.asarray(vae_gpu.latent_map(n=4).image, dtype=np.int16)
    assert np.abs(tiles - np.asarray(vae_cpu.latent_map(n=4).image, dtype=np.int16)).max() <= 1
