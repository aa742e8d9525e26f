"""The Deep Dream and Autoencoder Spaces: in the "Inside a network" group, both languages, every endpoint through
gradio_client on the served app (tiny models), train-it-now for the MNIST VAE, bad input shown as an error."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from spaces.app import build_app, discover_spaces, space
from spaces.autoencoder import AXIS_BOTTOM, AXIS_LEFT, AXIS_RIGHT, AXIS_TOP
from spaces.common import Context
from spaces.deep_dream import layer_choices
from spaces.launcher import build_blocks, tab_layout

# a 6 x 6 latent map, twice its size, with its axes' margins
MAP_SIZE = (6 * 28 * 2 + AXIS_LEFT + AXIS_RIGHT, 6 * 28 * 2 + AXIS_TOP + AXIS_BOTTOM)


def seven(size: int = 280) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 230)], fill=(0, 0, 0, 255), width=18)
    return image


def zero(size: int = 280) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([80, 50, 200, 230], outline=(0, 0, 0, 255), width=18)
    return image


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dream-media")
    yy, xx = np.mgrid[0:60, 0:80] / 80.0
    photo = (np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.8 - 0.5 * xx * yy], axis=-1) * 255).astype(np.uint8)
    Image.fromarray(photo).save(folder / "photo.png")
    seven().save(folder / "seven.png")
    zero().save(folder / "zero.png")
    return {name: folder / f"{name}.png" for name in ("photo", "seven", "zero")}


def sketch(path) -> dict:
    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def test_both_spaces_sit_in_the_inside_group_after_the_digit_ones():
    members = dict(entry for entry in tab_layout(discover_spaces()) if isinstance(entry, tuple))["inside"]
    names = [spec.name for spec in members]
    assert names.index("deep_dream") > names.index("activation_maximisation")
    assert names.index("autoencoder") == names.index("deep_dream") + 1
    for lang in ("en", "pl"):
        demo = build_app(Context(lang=lang, models="tiny"))
        assert {fn.api_name for fn in demo.fns.values()} >= {"deep_dream", "autoencode", "latent_map",
                                                             "encode_drawing", "decode_point", "interpolate",
                                                             "train_vae"}


def test_layer_choices_are_vgg19s():
    names = [value for _, value in layer_choices("block")]
    assert len(names) == 16 + 5 and names[:3] == ["conv1_1", "conv1_2", "pool1"] and names[-1] == "pool5"


def test_dream_through_the_api(client, files):
    dream, animation, objective = client.predict(handle_file(str(files["photo"])), "conv3_1", 1.5, 2, 2, 0, 64, 1.4,
                                                 8, "tiny", api_name="/deep_dream")
    assert Image.open(dream).size == (64, 48) and animation.endswith(".gif")
    with Image.open(animation) as gif:
        assert gif.n_frames == 3  # the photo, octave 1, the dream
    rows = objective["value"]["data"] if "value" in objective else objective["data"]
    assert len(rows) == 4
    with pytest.raises(AppError, match="layer"):
        client.predict(handle_file(str(files["photo"])), "conv9_9", 1.5, 1, 1, 0, 64, 1.4, 8, "tiny",
                       api_name="/deep_dream")
    with pytest.raises(AppError, match="image"):
        client.predict(None, "conv1_1", 1.5, 1, 1, 0, 64, 1.4, 8, "tiny", api_name="/deep_dream")


def test_autoencoder_endpoints_through_the_api(client, files):
    seen, rebuilt, figures, channels = client.predict(handle_file(str(files["photo"])), 64, False, 0, "tiny",
                                                      api_name="/autoencode")
    assert Image.open(seen).size == Image.open(rebuilt).size == (64, 48)
    assert "Compression ratio:** 3×" in figures and "PSNR" in figures and len(channels) == 4
    the_map = client.predict(6, "tiny-mnist", api_name="/latent_map")
    assert Image.open(the_map).size == MAP_SIZE
    marked, decoded, text, x, y = client.predict(sketch(files["seven"]), 6, "tiny-mnist", api_name="/encode_drawing")
    assert "Point:" in text and Image.open(decoded).size == (224, 224) and -5 < x < 5 and -5 < y < 5
    assert Image.open(marked).mode == "RGB"
    decoded, marked = client.predict(0.5, -0.5, 6, "tiny-mnist", api_name="/decode_point")
    assert Image.open(decoded).size == (224, 224)
    strip = client.predict(sketch(files["seven"]), sketch(files["zero"]), 5, "tiny-mnist", api_name="/interpolate")
    assert Image.open(strip).size == (5 * 112, 112)
    with pytest.raises(AppError, match="MNIST VAE"):  # Stable Diffusion's VAE has no 2-D map
        client.predict(6, "tiny", api_name="/latent_map")
    with pytest.raises(AppError, match="empty drawing"):
        client.predict({"background": None, "layers": [], "composite": None}, 6, "tiny-mnist",
                       api_name="/encode_drawing")


def test_train_it_now_then_the_map(tmp_path, monkeypatch, files):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("autoencoder")], Context())
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    with pytest.raises(Exception, match="python -m finetune.vae"):  # no model yet: the error says how to get one
        fns["latent_map"](6, "local:mnist-vae")
    with pytest.raises(Exception, match="cannot be reached"):
        list(fns["train_vae"]("ylecun/mnist", 1, 0))
    *_, (report, curve, model) = fns["train_vae"]("sklearn-digits", 1, 256)
    assert "sklearn-digits" in report and str(tmp_path) in report
    assert model["value"] == "local:mnist-vae" and len(curve) >= 2
    assert fns["latent_map"](6, "local:mnist-vae").size == MAP_SIZE
    decoded, marked = fns["decode_point"](0.0, 0.0, 6, "local:mnist-vae")
    assert decoded.size == (224, 224) and marked.mode == "RGB"
