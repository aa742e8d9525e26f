"""The GAN pipeline on its tiny twin: seeded sampling (any n is a prefix, raw-generator parity), truncation as
scipy's truncated normal, the latent walk, pytorch/examples' DCGAN step and init, bad input, load errors, the CLI."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pipelines import InputError, ModelLoadError, load
from pipelines.gan import (
    MAX_IMAGES,
    DCGANDiscriminator,
    DCGANGenerator,
    adversarial_step,
    image_grid,
    latents,
    weights_init,
)


@pytest.fixture(scope="module")
def gan():
    return load("gan", model="tiny", device="cpu")


def test_samples_are_pictures_and_seeded(gan):
    result = gan(16, seed=3)
    assert len(result.images) == 16 and {im.size for im in result.images} == {(28, 28)}
    assert {im.mode for im in result.images} == {"L"} and result.pixels.shape == (16, 28, 28)
    assert result.latents.shape == (16, gan.latent_dim) and result.seed == 3 and result.truncation is None
    assert 0.0 <= result.pixels.min() and result.pixels.max() <= 1.0 and result.pixels.std() > 0.01
    again = gan(16, seed=3)
    assert np.array_equal(again.pixels, result.pixels)
    assert not np.allclose(gan(16, seed=4).pixels, result.pixels)
    # fewer pictures: the same first ones (the noise is always drawn for MAX_IMAGES)
    np.testing.assert_allclose(gan(4, seed=3).pixels, result.pixels[:4], atol=1e-6)
    random_seed = gan(2)
    assert isinstance(random_seed.seed, int) and np.allclose(gan(2, seed=random_seed.seed).pixels,
                                                             random_seed.pixels, atol=1e-6)


def test_parity_with_the_raw_generator(gan):
    """What a user writes by hand: the mixin's from_pretrained, a CPU generator seeded, randn, eval mode."""
    from pipelines import tiny

    raw = DCGANGenerator.from_pretrained(str(tiny.build("gan"))).eval()
    z = torch.randn(MAX_IMAGES, raw.latent_dim, generator=torch.Generator().manual_seed(7))[:5]
    with torch.no_grad():
        expected = ((raw(z)[:, 0] + 1) / 2).clamp(0, 1).numpy()
    np.testing.assert_allclose(gan(5, seed=7).pixels, expected, atol=1e-6)
    grid = gan(5, seed=7).grid()
    assert grid.size == (3 * 30 + 2, 2 * 30 + 2)  # 3 columns (ceil sqrt 5), 2 px of black between and around
    assert np.asarray(grid)[2:30, 2:30].tolist() == np.asarray(gan(5, seed=7).images[0]).tolist()


def test_truncation_is_scipys_truncated_normal():
    from scipy.stats import truncnorm

    z = latents(MAX_IMAGES, 0, 100, truncation=1.0).numpy()
    assert np.abs(z).max() <= 1.0
    assert z.std() == pytest.approx(truncnorm(-1, 1).std(), abs=0.01)  # 0.5396
    z = latents(MAX_IMAGES, 0, 100, truncation=0.25).numpy()
    assert np.abs(z).max() <= 0.25 and z.std() == pytest.approx(truncnorm(-0.25, 0.25).std(), abs=0.005)
    plain = latents(MAX_IMAGES, 0, 100).numpy()
    assert plain.std() == pytest.approx(1.0, abs=0.02) and np.abs(plain).max() > 3


def test_truncated_samples_stay_bounded_and_seeded(gan):
    a = gan(8, seed=1, truncation=0.5)
    assert np.abs(a.latents).max() <= 0.5 and a.truncation == 0.5
    assert np.array_equal(a.pixels, gan(8, seed=1, truncation=0.5).pixels)
    assert not np.allclose(a.pixels, gan(8, seed=1).pixels)


def test_walk_ends_at_the_two_seeds(gan):
    walk = gan.interpolate(1, 2, steps=6)
    assert len(walk.images) == 6 and walk.seeds == (1, 2) and walk.strip(scale=2).size == (6 * 56, 56)
    np.testing.assert_allclose(walk.pixels[0], gan(1, seed=1).pixels[0], atol=1e-6)
    np.testing.assert_allclose(walk.pixels[-1], gan(1, seed=2).pixels[0], atol=1e-6)
    steps = np.abs(np.diff(walk.pixels, axis=0)).mean(axis=(1, 2))
    assert steps.max() < np.abs(walk.pixels[-1] - walk.pixels[0]).mean()  # small steps, not a jump


def test_result_is_json(gan):
    data = json.loads(gan(3, seed=0).to_json())
    assert data["seed"] == 0 and len(data["images"]) == 3 and data["pixels"]["array"]["shape"] == [3, 28, 28]


def test_geometry_follows_the_dcgan_guidelines():
    generator, discriminator = DCGANGenerator(features=4), DCGANDiscriminator(features=4)
    sizes = []
    x = torch.randn(2, 100, 1, 1)
    for layer in generator.main:
        x = layer(x)
        if isinstance(layer, nn.ConvTranspose2d):
            sizes.append(x.shape[-1])
    assert sizes == [7, 14, 28] and x.min() >= -1 and x.max() <= 1  # tanh out
    kinds = [type(m).__name__ for m in discriminator.main]
    assert kinds == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d", "Sigmoid"]
    assert discriminator.main[1].negative_slope == 0.2
    p = discriminator(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
    assert not any(getattr(m, "bias", None) is not None for m in generator.main if "Conv" in type(m).__name__)


def test_weights_init_is_upstreams():
    torch.manual_seed(0)
    generator = DCGANGenerator(features=64).apply(weights_init)
    conv = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    norm = torch.cat([m.weight for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert conv.mean().abs() < 1e-3 and conv.std().item() == pytest.approx(0.02, rel=0.02)
    assert norm.mean().item() == pytest.approx(1.0, abs=0.005) and norm.std().item() == pytest.approx(0.02, rel=0.2)
    assert all((m.bias == 0).all() for m in generator.modules() if isinstance(m, nn.BatchNorm2d))


def test_adversarial_step_is_pytorch_examples_loop_body():
    """pytorch/examples dcgan/main.py (77f55b9), lines of its training loop, on copies of the same networks."""
    torch.manual_seed(0)
    net_g, net_d = DCGANGenerator(features=4).apply(weights_init), DCGANDiscriminator(features=4).apply(weights_init)
    ours_g, ours_d = copy.deepcopy(net_g), copy.deepcopy(net_d)

    def adam(model):
        return torch.optim.Adam(model.parameters(), lr=0.0002, betas=(0.5, 0.999))

    optimizer_g, optimizer_d, upstream_g, upstream_d = adam(ours_g), adam(ours_d), adam(net_g), adam(net_d)
    criterion = nn.BCELoss()
    for step in range(3):
        real = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(step)) * 2 - 1
        noise = torch.randn(8, 100, 1, 1, generator=torch.Generator().manual_seed(100 + step))
        # upstream, verbatim but for the names
        net_d.zero_grad()
        label = torch.full((8,), 1, dtype=real.dtype)
        output = net_d(real)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        fake = net_g(noise)
        label.fill_(0)
        output = net_d(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        upstream_d.step()
        net_g.zero_grad()
        label.fill_(1)
        output = net_d(fake)
        err_g = criterion(output, label)
        err_g.backward()
        upstream_g.step()
        out = adversarial_step(ours_g, ours_d, optimizer_g, optimizer_d, real, noise.view(8, 100))
        assert out["loss_d"].item() == pytest.approx((err_d_real + err_d_fake).item(), rel=1e-6)
        assert out["loss_g"].item() == pytest.approx(err_g.item(), rel=1e-6)
    for a, b in zip(net_g.state_dict().values(), ours_g.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(net_d.state_dict().values(), ours_d.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_image_grid_layout():
    pictures = np.ones((10, 28, 28), dtype=np.float32)
    assert image_grid(pictures).size == (4 * 30 + 2, 3 * 30 + 2)
    assert image_grid(pictures, columns=10, padding=0, scale=2).size == (560, 56)
    with pytest.raises(InputError, match="scale"):
        image_grid(pictures, scale=0)


BAD_CALLS = [
    ({"n": 0}, "n"), ({"n": -1}, "n"), ({"n": 257}, "n"), ({"n": 2.5}, "n"), ({"n": float("nan")}, "n"),
    ({"n": float("inf")}, "n"), ({"n": True}, "n"), ({"n": "16"}, "n"), ({"n": 10**30}, "n"), ({"n": None}, "n"),
    ({"seed": 2**70}, "seed"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "0"}, "seed"),
    ({"seed": True}, "seed"), ({"truncation": 0}, "truncation"), ({"truncation": -1.0}, "truncation"),
    ({"truncation": float("nan")}, "truncation"), ({"truncation": math.inf}, "truncation"),
    ({"truncation": 5}, "truncation"), ({"truncation": "1"}, "truncation"), ({"truncation": 1e300}, "truncation"),
    ({"temperature": 1.0}, "temperature"),
]


@pytest.mark.parametrize(("kwargs", "argument"), BAD_CALLS)
def test_bad_input_names_the_argument(gan, kwargs, argument):
    with pytest.raises(InputError) as err:
        gan(**{"n": 4, "seed": 0, **kwargs})
    assert err.value.argument == argument and f"`{argument}`" in str(err.value)


@pytest.mark.parametrize(("args", "argument"), [
    ((None, 2), "start"), ((1, -1), "end"), ((2**70, 1), "start"), ((1, 2.0), "end"), ((1, 2, 1), "steps"),
    ((1, 2, 65), "steps"), ((1, 2, float("nan")), "steps"),
])
def test_bad_walks_name_the_argument(gan, args, argument):
    with pytest.raises(InputError) as err:
        gan.interpolate(*args)
    assert err.value.argument == argument


def test_load_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="python -m finetune.gan") as err:
        load("gan")  # local:gan, not trained yet
    assert err.value.reason == "not_found"
    with pytest.raises(ModelLoadError) as err:
        load("gan", model=str(tmp_path / "nowhere"))
    assert err.value.reason == "not_found"
    digits = tmp_path / "digits"
    from pipelines.digit_recognition import DigitCNN

    DigitCNN().save_pretrained(digits)
    with pytest.raises(ModelLoadError) as err:
        load("gan", model=str(digits))
    assert err.value.reason == "wrong_task"
    with pytest.raises(ModelLoadError) as err:
        load("gan", model="someone/dcgan-fashion")  # a Hub id, with the Hub switched off
    assert err.value.reason == "offline"
    with pytest.raises(InputError, match="dtype"):
        load("gan", model=str(digits), dtype="float16")  # checked before anything loads


def test_cli_saves_the_pictures(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["run", "gan", "3", "--model", "tiny", "--device", "cpu", "--param", "seed=5", "--output",
                 str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["seed"] == 5 and sorted(p.name for p in tmp_path.iterdir()) == [f"image_{i}.png" for i in range(3)]
    assert main(["run", "gan", "0", "--model", "tiny"]) == 2
    assert "`n` must be an integer from 1 to 256" in capsys.readouterr().err
