"""Activation maximisation on the tiny digit CNN: the climb, determinism, regularisation, frames, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pipelines import InputError, load
from pipelines.activation_maximisation import ActivationMaximisationResult, gaussian_blur


@pytest.fixture(scope="module")
def am():
    return load("activation-maximisation", model="tiny", device="cpu")


def roughness(pixels: np.ndarray) -> float:
    return float(np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean())


def test_the_class_probability_climbs(am):
    result = am(3, steps=60, seed=0)
    assert isinstance(result, ActivationMaximisationResult)
    assert len(result.history) == 61 and all(len(h) == 10 for h in result.history)
    climb = [h[3] for h in result.history]
    assert climb[0] < 0.3 and climb[-1] > 0.8 and climb[-1] > climb[0]
    assert sum(b >= a - 0.02 for a, b in zip(climb, climb[1:], strict=False)) >= 0.9 * 60  # monotone enough to plot
    assert all(sum(h) == pytest.approx(1.0, abs=1e-4) for h in result.history)
    assert result.activation[-1] > result.activation[0]
    assert result.image.mode == "L" and result.image.size == (28, 28)
    assert result.pixels.shape == (28, 28) and 0 <= result.pixels.min() and result.pixels.max() <= 1
    assert np.array_equal(np.asarray(result.image), (result.pixels * 255 + 0.5).astype(np.uint8))


def test_seeded_runs_are_identical_and_seeds_differ(am):
    a, b = am(7, steps=15, seed=11), am(7, steps=15, seed=11)
    assert np.array_equal(a.pixels, b.pixels) and a.history == b.history and a.seed == 11
    assert not np.array_equal(a.pixels, am(7, steps=15, seed=12).pixels)
    assert isinstance(am(7, steps=2).seed, int)  # no seed: a random one, reported


def test_every_class_can_be_raised(am):
    for target in range(10):
        result = am(target, steps=8, seed=target)
        assert result.history[-1][target] > result.history[0][target]


@pytest.mark.parametrize(("layer", "target"), [("conv1", 5), ("pool2", 15), ("fc1", 119), ("fc2", 0)])
def test_a_hidden_neuron_can_be_maximised(am, layer, target):
    result = am(target, layer=layer, steps=20, seed=1)
    assert result.layer == layer and result.activation[-1] >= result.activation[0]
    assert len(result.activation) == 21


def test_concurrent_runs_on_one_model_are_each_their_own(am):
    """The Space runs two maximisations at once on one cached model: each must equal its single-threaded twin."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(3, "output"), (5, "conv2"), (7, "output"), (40, "fc1")] * 2
    run = lambda job: am(job[0], layer=job[1], steps=12, seed=job[0])  # noqa: E731
    alone = [run(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(run, jobs))
    for single, threaded in zip(alone, together, strict=True):
        assert threaded.history == single.history and threaded.activation == single.activation
        assert np.array_equal(threaded.pixels, single.pixels)


def test_regularisation_keeps_it_smooth_not_noise(am):
    regularised = am(2, steps=80, seed=4)
    plain = am(2, steps=80, seed=4, jitter=0, blur_sigma=0, l2=0, learning_rate=0.05)
    assert roughness(regularised.pixels) < roughness(plain.pixels)
    assert regularised.pixels.mean() < plain.pixels.mean()  # L2 keeps the background dark, as in MNIST


def test_frames_progress_and_stopping(am, tmp_path):
    calls = []

    def progress(step, total, info):
        calls.append((step, total, info["image"] is not None))
        assert 0.0 <= info["probability"] <= 1.0
        return step < 7

    result = am(1, steps=30, seed=0, num_frames=4, progress=progress)
    assert result.interrupted and result.steps == 7 and len(result.history) == 8
    assert [c[0] for c in calls] == list(range(1, 8)) and calls[0][1] == 30
    assert result.frame_steps == [0, 7] and len(result.frames) == 2
    full = am(1, steps=30, seed=0, num_frames=4)
    assert full.frame_steps == [0, 10, 20, 30] and len(full.frames) == 4 and not full.interrupted
    gif = full.save_gif(tmp_path / "climb.gif")
    with Image.open(gif) as animation:
        assert animation.n_frames == 4 and animation.size == (224, 224)


def test_result_json_and_blur():
    blurred = gaussian_blur(__import__("torch").ones(1, 1, 9, 9), 1.0)
    assert np.allclose(blurred.numpy(), 1.0, atol=1e-6)  # a normalised kernel keeps a flat picture flat


def test_result_serialises(am):
    data = json.loads(am(0, steps=3, seed=0, num_frames=2).to_json())
    assert data["image"] == {"image": {"size": [28, 28], "mode": "L"}}
    assert len(data["history"]) == 4 and data["target"] == 0 and data["layer"] == "output"


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"target": 10}, "target"), ({"target": -1}, "target"), ({"target": 3.0}, "target"), ({"target": "3"}, "target"),
    ({"target": True}, "target"), ({"target": None}, "target"), ({"target": 16, "layer": "conv2"}, "target"),
    ({"target": 6, "layer": "conv1"}, "target"),
    ({"layer": "input"}, "layer"), ({"layer": "conv9"}, "layer"), ({"layer": 3}, "layer"),
    ({"steps": 0}, "steps"), ({"steps": 10**9}, "steps"), ({"steps": float("nan")}, "steps"),
    ({"steps": float("inf")}, "steps"), ({"seed": -1}, "seed"), ({"seed": 2**70}, "seed"),
    ({"learning_rate": 0}, "learning_rate"), ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": 1e300}, "learning_rate"), ({"jitter": -1}, "jitter"), ({"jitter": 9}, "jitter"),
    ({"blur_sigma": float("inf")}, "blur_sigma"), ({"blur_every": 0}, "blur_every"), ({"l2": -0.1}, "l2"),
    ({"num_frames": 1}, "num_frames"), ({"progress": "bar"}, "progress"), ({"neuron": 2}, "neuron"),
])
def test_bad_arguments_are_input_errors(am, kwargs, argument):
    kwargs = {"steps": 2, **kwargs}
    with pytest.raises(InputError) as info:
        am(**kwargs)
    assert info.value.argument == argument


def test_cli_takes_the_class_as_its_input(tmp_path, capsys):
    from pipelines.cli import main

    argv = ["run", "activation-maximisation", "3", "--model", "tiny", "--device", "cpu", "--param", "steps=4",
            "--param", "num_frames=2", "--output", str(tmp_path)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == 3 and len(out["history"]) == 5 and (tmp_path / "image_0.png").exists()
    assert main(["run", "activation-maximisation", "12", "--model", "tiny"]) == 2
    assert "`target`" in capsys.readouterr().err
