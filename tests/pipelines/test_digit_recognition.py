"""Digit recognition on the tiny nn_vis LeNet: real-forward activations, MNIST preprocessing, sketches, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.digit_recognition import LAYERS, DigitCNN, DigitResult
from pipelines.mnist import sklearn_digits, to_mnist

SHAPES = {"input": (1, 28, 28), "conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10),
          "pool2": (16, 5, 5), "fc1": (120,), "fc2": (100,), "output": (10,)}


@pytest.fixture(scope="module")
def dr():
    return load("digit-recognition", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def digits():
    return sklearn_digits()


def seven(background=(255, 255, 255, 255), ink=(0, 0, 0, 255), size=400) -> Image.Image:
    """A hand-drawn-like 7: a bar and a slanted stroke, 30 px wide, on `background`."""
    image = Image.new("RGBA", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.line([(120, 90), (290, 90), (170, 330)], fill=ink, width=30, joint="curve")
    return image


def test_the_network_is_nn_vis_lenet(dr):
    # adamharley.com/nn_vis: 6 and 16 5x5 filters, 2x2 max pooling, fully connected 120, 100, 10; 32x32 input.
    model = dr.model
    assert [m.kernel_size for m in (model.conv1[0], model.conv2[0])] == [(5, 5), (5, 5)]
    assert (model.conv1[0].out_channels, model.conv2[0].out_channels) == (6, 16)
    assert (model.fc1[1].out_features, model.fc2[0].out_features, model.fc3.out_features) == (120, 100, 10)
    assert model.layer_shapes() == SHAPES
    assert sum(p.numel() for p in model.parameters()) == 156 + 2416 + 48120 + 12100 + 1010


def test_result_shape_and_the_output_layer_is_the_probabilities(dr, digits):
    images, labels = digits
    result = dr(images[0])
    assert isinstance(result, DigitResult)
    assert list(result.layers) == list(LAYERS)
    assert {k: v.shape for k, v in result.layers.items()} == SHAPES
    assert np.array_equal(result.layers["output"], np.asarray(result.probabilities, dtype=np.float32))
    assert sum(result.probabilities) == pytest.approx(1.0, abs=1e-5) and len(result.probabilities) == 10
    assert result.label == int(np.argmax(result.probabilities)) == result.top[0]["label"]
    assert len(result.top) == 3 and result.top[0]["probability"] >= result.top[1]["probability"]
    assert result.downsampled.shape == (28, 28) and np.array_equal(result.layers["input"][0], result.downsampled)
    assert result.labels == [str(i) for i in range(10)]


def test_activations_are_the_real_forward_pass(dr, digits):
    result = dr(digits[0][3])
    model = dr.model
    x = torch.from_numpy(result.downsampled).view(1, 1, 28, 28)
    with torch.no_grad():
        conv1 = model.conv1((torch.nn.functional.pad(x, (2, 2, 2, 2)) - model.mean) / model.std)
        fc2 = model.fc2(model.fc1(model.pool2(model.conv2(model.pool1(conv1)))))
    assert np.allclose(result.layers["conv1"], conv1[0].numpy(), atol=1e-6)
    assert np.allclose(result.layers["fc2"], fc2[0].numpy(), atol=1e-6)
    assert (result.layers["pool1"] == torch.nn.functional.max_pool2d(conv1, 2)[0].numpy()).all()


def test_forward_layers_are_the_prediction(dr):
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        seen = dr.model.forward_layers(x)
        assert list(seen) == list(LAYERS)
        assert torch.equal(seen["output"], dr.model(x, probabilities=True))
        assert torch.equal(seen["input"], x)


def test_concurrent_calls_each_get_their_own_activations(dr, digits):
    """The Space serves several drawings at once on one cached model: no result may hold another's layers."""
    from concurrent.futures import ThreadPoolExecutor

    images = list(digits[0][:40])
    alone = [dr(image) for image in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(dr, images))
    for single, threaded in zip(alone, together, strict=True):
        assert threaded.probabilities == single.probabilities
        for name in LAYERS:
            assert np.array_equal(threaded.layers[name], single.layers[name]), name
        assert np.array_equal(threaded.layers["output"], np.asarray(threaded.probabilities, dtype=np.float32))


def test_tiny_twin_recognises_clear_digits(dr, digits):
    images, labels = digits
    picks = range(0, len(labels), 36)
    correct = sum(dr(images[i]).label == labels[i] for i in picks)
    assert correct / len(picks) > 0.85


def test_sketch_on_transparent_canvas_equals_sketch_on_paper(dr):
    transparent = seven(background=(0, 0, 0, 0))
    paper = seven().convert("RGB")
    dark = seven(background=(0, 0, 0, 255), ink=(255, 255, 255, 255)).convert("L")
    a, b, c = (dr(image) for image in (transparent, paper, dark))
    assert np.allclose(a.downsampled, b.downsampled, atol=1e-6) and np.allclose(b.downsampled, c.downsampled,
                                                                                  atol=1e-6)
    assert a.label == b.label == c.label


def test_gradio_sketchpad_value(dr):
    canvas = np.asarray(seven(background=(0, 0, 0, 0)))
    from_composite = dr({"background": None, "layers": [canvas], "composite": canvas})
    from_layers = dr({"background": np.zeros_like(canvas), "layers": [canvas], "composite": None})
    assert np.allclose(from_composite.downsampled, from_layers.downsampled)


def test_preprocessing_follows_mnist(dr):
    picture = dr(seven()).downsampled
    rows, cols = np.nonzero(picture > 0.1)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= 21 and picture.max() == pytest.approx(1.0)
    mass = picture / picture.sum()
    ys, xs = np.indices(picture.shape)
    assert abs((ys * mass).sum() - 14) <= 0.75 and abs((xs * mass).sum() - 14) <= 0.75
    assert picture[0].max() == 0 and picture[:, 0].max() == 0  # black border, as MNIST (a 7 heavy on top may reach
    # the bottom edge: the centre of mass, not the box, is centred)
    # an MNIST-sized sample passed as it is, without renormalising
    sample = np.zeros((28, 28), dtype=np.uint8)
    sample[5:20, 12:15] = 255
    assert np.array_equal(dr(sample, normalise=False).downsampled, sample / 255.0)
    assert to_mnist(sample).shape == (28, 28)


def test_invert_forces_the_polarity(dr):
    paper = seven().convert("L")
    forced = dr(paper, invert=True).downsampled
    assert np.allclose(forced, dr(paper).downsampled)
    with pytest.raises(InputError, match="empty drawing"):
        dr(paper, invert=False)  # white paper read as ink everywhere: nothing stands out


def test_result_serialises_with_arrays_described(dr, digits):
    data = json.loads(dr(digits[0][1]).to_json())
    assert data["downsampled"] == {"array": {"shape": [28, 28], "dtype": "float32"}}
    assert data["layers"]["conv2"] == {"array": {"shape": [16, 10, 10], "dtype": "float32"}}
    assert len(data["probabilities"]) == 10 and isinstance(data["label"], int)


def test_cli_prints_json(tmp_path, capsys):
    from pipelines.cli import main

    path = tmp_path / "digit.png"
    seven().save(path)
    assert main(["run", "digit-recognition", str(path), "--model", "tiny", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"label", "probabilities", "top", "downsampled", "layers"}
    assert out["layers"]["input"]["array"]["shape"] == [1, 28, 28]
    assert main(["run", "digit-recognition", str(tmp_path / "none.png"), "--model", "tiny"]) == 2


BAD_IMAGES = [
    (None, "image"),
    (123, "image"),
    (b"\x89PNG", "image"),
    ("no/such/file.png", "image"),
    (np.zeros((0, 0)), "image"),
    (np.zeros((1, 1)), "image"),
    (np.zeros((1, 500)), "image"),
    (np.full((28, 28), np.nan), "image"),
    (np.full((28, 28), np.inf), "image"),
    (np.zeros((28, 28), dtype=bool), "image"),
    (np.array([["a"] * 28] * 28), "image"),
    (np.zeros((28, 28, 2)), "image"),
    (np.zeros((5000, 10)), "image"),
    (np.zeros((28, 28), dtype=np.uint8), "image"),  # an empty (black) canvas
    (np.full((28, 28), 255, dtype=np.uint8), "image"),  # empty white paper
    ({"background": None, "layers": [], "composite": None}, "image"),  # Gradio's empty Sketchpad
    ({"composite": np.zeros((64, 64, 4), dtype=np.uint8)}, "image"),  # transparent, nothing drawn
    ({"picture": 1}, "image"),
    ([[0, 1], [1, 0]], "image"),
]


@pytest.mark.parametrize(("image", "argument"), BAD_IMAGES,
                         ids=[f"bad-image-{i}" for i in range(len(BAD_IMAGES))])
def test_bad_images_are_input_errors(dr, image, argument):
    with pytest.raises(InputError) as info:
        dr(image)
    assert info.value.argument == argument


def test_corrupt_and_non_image_files(dr, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    for path in (corrupt, text):
        with pytest.raises(InputError, match="cannot be read") as info:
            dr(str(path))
        assert info.value.argument == "image"


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"invert": "yes"}, "invert"), ({"invert": 1}, "invert"), ({"normalise": "no"}, "normalise"),
    ({"top_k": 0}, "top_k"), ({"top_k": 1}, "top_k"),
    ({"top_k": 11}, "top_k"), ({"top_k": 2.0}, "top_k"), ({"top_k": float("nan")}, "top_k"),
    ({"top_k": 2**70}, "top_k"), ({"top_k": True}, "top_k"), ({"topk": 3}, "topk"),
])
def test_bad_parameters_are_input_errors(dr, kwargs, argument):
    with pytest.raises(InputError) as info:
        dr(seven(), **kwargs)
    assert info.value.argument == argument


def test_missing_local_model_names_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="python -m finetune.digits") as info:
        load("digit-recognition")
    assert info.value.reason == "not_found" and str(tmp_path) in str(info.value)


def test_models_of_another_kind_are_refused(tmp_path):
    with pytest.raises(ModelLoadError) as info:
        load("digit-recognition", model=str(tiny.build("style-transfer")))
    assert info.value.reason == "wrong_task"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError) as info:
        load("digit-recognition", model=str(tmp_path / "empty"))
    assert info.value.reason == "not_found"
    with pytest.raises(ModelLoadError) as info:
        load("digit-recognition", model="nobody/no-digit-model")
    assert info.value.reason == "offline"
    with pytest.raises(InputError):
        load("digit-recognition", model="tiny", dtype="float16")


def test_saved_model_round_trips_through_from_pretrained(tmp_path):
    torch.manual_seed(3)
    model = DigitCNN(fc1_units=32, fc2_units=16)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["fc1_units"] == 32 and config["labels"] is None
    dr = load("digit-recognition", model=str(tmp_path / "m"), device="cpu")
    assert dr.model.fc1[1].out_features == 32
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(dr.model(x), model.eval()(x))
