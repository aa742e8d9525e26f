"""DeepDream on the tiny VGG-19 twin: the notebook's algorithm (octaves, jitter, normalised step), determinism, frames,
progress, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pipelines import InputError, load, tiny
from pipelines.deep_dream import DeepDreamResult, activations, octave_shapes, zoom
from pipelines.style_transfer import StyleTransferPipeline


@pytest.fixture(scope="module")
def dd():
    return load("deep-dream", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A smooth 64x48 'photo' with some structure (gradients and a disc), uint8 RGB."""
    yy, xx = np.mgrid[0:48, 0:64] / 64.0
    disc = ((xx - 0.5) ** 2 + (yy - 0.35) ** 2 < 0.04).astype(np.float64)
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy + 0.2 * disc, 0.8 - 0.5 * xx * yy], axis=-1)
    return (rgb * 255).astype(np.uint8)


def test_octave_shapes_follow_scipy_zoom_on_the_notebooks_photo():
    # google/deepdream: sky1024px.jpg is 1024x575; octave_n=4, octave_scale=1.4 through scipy.ndimage.zoom gives
    # these (height, width) shapes (computed with scipy 1.17 on that file's size).
    assert octave_shapes(575, 1024, 4, 1.4) == [(575, 1024), (411, 731), (294, 522), (210, 373)]


def test_zoom_is_scipy_ndimage_zoom_order_1():
    import scipy.ndimage as nd

    array = np.random.default_rng(0).random((3, 41, 57)).astype(np.float32)
    for factor in (1 / 1.4, 1.4, 0.5):
        expected = nd.zoom(array, (1, factor, factor), order=1)
        ours = zoom(torch.from_numpy(array)[None], expected.shape[1:])[0].numpy()
        assert ours.shape == expected.shape
        assert np.abs(ours - expected).max() < 1e-5


def test_layers_are_style_transfers_names_plus_relu_and_pool(dd):
    names = set(dd.layers)
    assert {f"conv{b}_{n}" for b, n in [(1, 1), (1, 2), (3, 4), (4, 2), (5, 4)]} <= names
    assert {"relu4_3", "pool1", "pool5"} <= names and len(names) == 16 + 16 + 5
    assert dd.layers["conv4_2"] == dd.layers["relu4_2"] and dd.pools_before("conv4_2") == 3
    assert dd.pools_before("pool5") == 5
    # conv4_2 here is the very tensor style transfer calls conv4_2 (features.21, rectified), same weights
    st = StyleTransferPipeline.from_pretrained(str(tiny.build("style-transfer")), device="cpu")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ours = activations(dd.vgg, x, *dd.layers["conv4_2"])
    assert torch.allclose(ours, st.vgg(x, ("conv4_2",))["conv4_2"], atol=1e-6)
    pooled = activations(dd.vgg, x, *dd.layers["pool3"])
    assert torch.allclose(pooled, torch.nn.functional.max_pool2d(st.vgg(x, ("conv3_4",))["conv3_4"], 2))


def test_one_step_moves_the_pixels_by_step_size_on_average(dd):
    # make_step: x += step_size / mean|g| * g, so the mean absolute change is exactly step_size (no clipping here).
    x = torch.full((1, 3, 40, 40), 128.0) + torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    new, _ = dd._step(x, *dd.layers["conv3_1"], 1.5, 0, torch.Generator().manual_seed(0))
    assert float((new - x).abs().mean()) == pytest.approx(1.5, rel=1e-4)
    shifted, _ = dd._step(x, *dd.layers["conv3_1"], 1.5, 8, torch.Generator().manual_seed(0))
    assert float((shifted - x).abs().mean()) == pytest.approx(1.5, rel=1e-3)  # the jitter is undone, not lost


def notebook_deepdream(dd, image: np.ndarray, layer: str, iter_n: int, octave_n: int, octave_scale: float,
                       step_size: float, jitter: int, seed: int) -> np.ndarray:
    """google/deepdream's `deepdream` + `make_step` in numpy / scipy (the gradient from the same VGG), with the
    jitter drawn from the same torch generator as mmhub's."""
    import scipy.ndimage as nd

    generator = torch.Generator().manual_seed(seed)
    index, pooled = dd.layers[layer]
    octaves = [np.float32(np.rollaxis(image, 2))]
    for _ in range(octave_n - 1):
        octaves.append(nd.zoom(octaves[-1], (1, 1.0 / octave_scale, 1.0 / octave_scale), order=1))
    detail = np.zeros_like(octaves[-1])
    for octave, octave_base in enumerate(octaves[::-1]):
        h, w = octave_base.shape[-2:]
        if octave > 0:
            h1, w1 = detail.shape[-2:]
            detail = nd.zoom(detail, (1, 1.0 * h / h1, 1.0 * w / w1), order=1)
        src = octave_base + detail
        for _ in range(iter_n):
            ox, oy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
            src = np.roll(np.roll(src, ox, -1), oy, -2)
            x = torch.from_numpy(src.copy())[None].requires_grad_(True)
            dst = activations(dd.vgg, x / 255.0, index, pooled)
            dst.backward(dst.detach())  # objective_L2: dst.diff = dst.data
            g = x.grad[0].numpy()
            src = src + step_size / np.abs(g).mean() * g
            src = np.roll(np.roll(src, -ox, -1), -oy, -2)
            src = np.clip(src, 0, 255)
        detail = src - octave_base
    return np.dstack(src)


def test_same_dream_as_the_notebooks_loop(dd, photo):
    expected = notebook_deepdream(dd, photo, "conv3_2", iter_n=3, octave_n=3, octave_scale=1.4, step_size=1.5,
                                  jitter=5, seed=7)
    result = dd(photo, layer="conv3_2", steps=3, octaves=3, jitter=5, seed=7)
    ours = np.asarray(result.image, dtype=np.float32)
    assert ours.shape == expected.shape
    assert np.abs(ours - (np.clip(expected, 0, 255) + 0.5).astype(np.uint8)).max() <= 2  # float32 vs float64 zooms
    assert np.abs(ours - photo.astype(np.float32)).mean() > 1.0  # it did dream


def test_result_frames_objective_and_determinism(dd, photo, tmp_path):
    result = dd(photo, layer="conv2_1", steps=4, octaves=3, seed=3)
    assert isinstance(result, DeepDreamResult)
    assert result.image.size == (64, 48) and result.size == (64, 48) and not result.resized
    assert result.octave_sizes == [(33, 24), (46, 34), (64, 48)] and result.steps == 12
    assert len(result.frames) == 4 and all(f.size == (64, 48) for f in result.frames)
    assert np.array_equal(np.asarray(result.frames[0]), photo) and result.frames[-1] is result.image
    assert len(result.objective) == 12 and result.objective[3] > result.objective[0]  # the layer responds more
    again = dd(photo, layer="conv2_1", steps=4, octaves=3, seed=3)
    assert np.array_equal(np.asarray(again.image), np.asarray(result.image)) and again.objective == result.objective
    other = dd(photo, layer="conv2_1", steps=4, octaves=3, seed=4)
    assert not np.array_equal(np.asarray(other.image), np.asarray(result.image))
    assert isinstance(dd(photo, steps=1, octaves=1).seed, int)
    gif = result.save_gif(tmp_path / "dream.gif")
    with Image.open(gif) as animation:
        assert animation.n_frames == 4
    data = json.loads(result.to_json())
    assert data["image"] == {"image": {"size": [64, 48], "mode": "RGB"}} and data["layer"] == "conv2_1"


def test_large_photo_is_scaled_to_max_size(dd):
    big = np.zeros((300, 400, 3), dtype=np.uint8)
    result = dd(big, layer="conv1_1", steps=1, octaves=1, max_size=64, seed=0)
    assert result.resized and result.size == (64, 48) and result.original_size == (400, 300)


def test_progress_previews_and_stopping(dd, photo):
    calls = []

    def progress(step, total, info):
        calls.append((step, total, info["octave"], info["image"] is not None))
        return step < 5

    result = dd(photo, layer="conv2_2", steps=3, octaves=3, seed=0, progress=progress)
    assert result.interrupted and result.steps == 5 and len(result.objective) == 5
    assert [c[0] for c in calls] == [1, 2, 3, 4, 5] and {c[1] for c in calls} == {9}
    assert [c[2] for c in calls] == [1, 1, 1, 2, 2] and [c[3] for c in calls] == [False, False, True, False, False]
    assert result.image.size == (64, 48)  # the detail so far, carried up to the photo's size
    previews = []
    dd(photo, layer="conv2_2", steps=3, octaves=2, seed=0, preview_every=2,
       progress=lambda s, t, info: previews.append(s) if info["image"] is not None else None)
    assert previews == [2, 3, 4, 6]


def test_a_dead_layer_gives_no_nan(dd):
    black = np.zeros((32, 32, 3), dtype=np.uint8)
    result = dd(black, layer="conv1_1", steps=2, octaves=1, seed=0, jitter=0)
    assert np.isfinite(result.objective).all()


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"layer": "conv6_1"}, "layer"), ({"layer": "fc7"}, "layer"), ({"layer": 3}, "layer"), ({"layer": None}, "layer"),
    ({"steps": 0}, "steps"), ({"steps": 10**9}, "steps"), ({"steps": float("nan")}, "steps"),
    ({"steps": True}, "steps"), ({"steps": "10"}, "steps"), ({"steps": 2.0}, "steps"),
    ({"octaves": 0}, "octaves"), ({"octaves": 10**6}, "octaves"), ({"octaves": -1}, "octaves"),
    ({"octaves": 5, "layer": "pool5"}, "octaves"),  # the smallest octave would be narrower than pool5 allows
    ({"octave_scale": 1.0}, "octave_scale"), ({"octave_scale": float("inf")}, "octave_scale"),
    ({"octave_scale": 1e300}, "octave_scale"), ({"step_size": 0}, "step_size"), ({"step_size": -1.5}, "step_size"),
    ({"step_size": float("nan")}, "step_size"), ({"step_size": "1.5"}, "step_size"), ({"jitter": -1}, "jitter"),
    ({"jitter": 2**70}, "jitter"), ({"jitter": 1.5}, "jitter"), ({"seed": -1}, "seed"), ({"seed": 2**70}, "seed"),
    ({"max_size": 10}, "max_size"), ({"max_size": 10**9}, "max_size"), ({"progress": "bar"}, "progress"),
    ({"preview_every": -1}, "preview_every"), ({"strength": 2}, "strength"),
])
def test_bad_arguments_are_input_errors(dd, photo, kwargs, argument):
    with pytest.raises(InputError) as info:
        dd(photo, **{"steps": 1, "octaves": 1, **kwargs})
    assert info.value.argument == argument


def test_unknown_layer_lists_the_valid_ones(dd, photo):
    with pytest.raises(InputError, match="conv4_2") as info:
        dd(photo, layer="conv4_5")
    assert "pool5" in str(info.value) and "relu1_1" in str(info.value)
    assert dd(photo, layer=" CONV1_1 ", steps=1, octaves=1).layer == "conv1_1"  # spelling is forgiven, names not


@pytest.mark.parametrize(("image", "needle"), [
    (np.zeros((0, 0, 3), dtype=np.uint8), "shape"), (np.zeros((1, 1, 3), dtype=np.uint8), "1x1"),
    (np.zeros((1, 500, 3), dtype=np.uint8), "500x1"), (np.full((20, 20, 3), np.nan), "NaN"),
    ("no/such/photo.jpg", "No such file"), (True, "image"), (None, "image"), (b"\x89PNG", "image"),
])
def test_bad_images_are_input_errors(dd, image, needle):
    with pytest.raises(InputError, match=needle) as info:
        dd(image, steps=1, octaves=1)
    assert info.value.argument == "image"


def test_corrupt_file_and_text_file_are_input_errors(dd, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for path in (corrupt, text):
        with pytest.raises(InputError, match="cannot be read as an image"):
            dd(str(path), steps=1, octaves=1)


def test_cli_dreams_a_file_and_saves_it(photo, tmp_path, capsys):
    from pipelines.cli import main

    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert main(["run", "deep-dream", str(tmp_path / "photo.png"), "--model", "tiny", "--param", "layer=conv2_1",
                 "--param", "steps=2", "--param", "octaves=2", "--param", "seed=0", "--output",
                 str(tmp_path / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == "conv2_1" and data["steps"] == 4 and len(data["frames"]) == 3
    assert Image.open(tmp_path / "out" / "image_0.png").size == (64, 48)
    assert main(["run", "deep-dream", str(tmp_path / "photo.png"), "--model", "tiny", "--param", "octaves=0"]) == 2
    assert "`octaves`" in capsys.readouterr().err


@pytest.mark.gpu
def test_dreams_on_cuda_like_on_cpu(photo):
    cpu = load("deep-dream", model="tiny", device="cpu")(photo, layer="conv3_1", steps=3, octaves=2, seed=0)
    gpu = load("deep-dream", model="tiny", device="cuda")(photo, layer="conv3_1", steps=3, octaves=2, seed=0)
    assert gpu.image.size == cpu.image.size and np.isfinite(gpu.objective).all()
    # the same jitter draws (a CPU generator); cuDNN's sums differ in the last bits
    difference = np.abs(np.asarray(gpu.image, dtype=np.float32) - np.asarray(cpu.image, dtype=np.float32))
    assert difference.mean() < 2.0
