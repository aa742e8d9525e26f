"""The "Inside a network" tab group: layout, the digit and activation-maximisation Spaces, train-it-now, export."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from spaces.app import discover_spaces, space
from spaces.common import GROUPS, Context, SpaceSpec
from spaces.digit_recognition import LAYERS, feature_grid
from spaces.launcher import build_blocks, tab_layout

from .conftest import ROOT


def seven(size: int = 280) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(80, 60), (200, 60), (120, 230)], fill=(0, 0, 0, 255), width=18)
    return image


def test_grouped_spaces_share_one_top_level_tab():
    layout = tab_layout(discover_spaces())
    groups = [entry for entry in layout if isinstance(entry, tuple)]
    # six top-level tabs, in the order of their first members: a phone sees them all
    assert [key for key, _ in groups] == ["text", "images", "audio", "video", "basics", "inside"]
    assert len(layout) == len(groups) == len({key for key, _ in groups})  # every tab in a group, one tab per group
    members = {key: [spec.name for spec in specs] for key, specs in groups}
    assert members["inside"][:2] == ["digit_recognition", "activation_maximisation"]
    assert members["text"] == ["text_generation", "sentiment", "leaderboard"] and members["video"] == ["video"]
    assert members["audio"][-2:] == ["music", "song"]
    assert members["basics"] == ["playground", "metric_learning", "reinforcement_learning"]
    assert all(set(GROUPS[key]) >= {"en", "pl", "emoji"} for key in GROUPS)


def test_unknown_group_is_refused():
    bogus = SpaceSpec(name="x", title={"en": "X", "pl": "X"}, tasks=(), build=lambda ctx: None, group="nowhere")
    with pytest.raises(ValueError, match="unknown group 'nowhere'"):
        tab_layout([bogus])


def test_the_group_tab_in_both_languages():
    members = [space("digit-recognition"), space("activation-maximisation")]
    for lang, title in (("en", "🔬 Inside a network"), ("pl", "🔬 Wnętrze sieci")):
        demo = build_blocks(members, Context(lang=lang, models="tiny"))
        labels = {getattr(block, "label", None) for block in demo.blocks.values()}
        assert title in labels and ("✏️ Rozpoznawanie cyfr" in labels) == (lang == "pl")
        assert {fn.api_name for fn in demo.fns.values()} >= {"recognise_digit", "train_digits", "maximise_activation"}


def test_a_grouped_space_alone_builds_without_the_group():
    demo = build_blocks([space("digit-recognition")], Context(models="tiny"))
    labels = {getattr(block, "label", None) for block in demo.blocks.values()}
    assert "🔬 Inside a network" not in labels


def test_feature_grids_have_one_tile_per_map():
    conv = feature_grid(np.random.default_rng(0).random((6, 28, 28)), per_row=8, cell=6, gap=4)
    assert conv.size == (6 * 84 + 5 * 4, 84)
    many = feature_grid(np.zeros((16, 5, 5)))
    assert many.size[0] > many.size[1]  # two rows of eight
    assert feature_grid(np.arange(120.0)).size == (20 * 18, 6 * 18)
    assert feature_grid(np.ones(10)).size == (10 * 30, 30)  # the output layer: bigger cells


def test_train_it_now_then_recognise(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("digit-recognition")], Context())
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    sketch = {"background": None, "layers": [np.asarray(seven())], "composite": np.asarray(seven())}
    with pytest.raises(Exception, match="python -m finetune.digits"):  # no model yet: the error says how to get one
        fns["recognise_digit"](sketch, "local:digit-recognition")
    with pytest.raises(Exception, match="cannot be reached"):
        list(fns["train_digits"]("ylecun/mnist", 1, 0))
    *_, (report, curve, model) = fns["train_digits"]("sklearn-digits", 1, 256)  # streamed: the curve grows
    assert "sklearn-digits" in report and str(tmp_path) in report
    assert model["value"] == "local:digit-recognition" and len(curve) >= 2  # the tab switches to it; loss per step
    with pytest.raises(Exception, match="Replace the trained model"):  # a trained model is replaced only when asked
        list(fns["train_digits"]("sklearn-digits", 1, 64))
    *_, (report, _, _) = fns["train_digits"]("sklearn-digits", 1, 256, True)
    guesses, text, downsampled, bars, *maps, layers = fns["recognise_digit"](sketch, "local:digit-recognition")
    assert sum(guesses.values()) == pytest.approx(1.0, abs=1e-4) and "First guess" in text
    assert downsampled.size == (224, 224) and len(bars) == 10 and len(maps) == 8
    assert list(layers) == list(LAYERS)  # kept (a gr.State, not in the API) for the click readout


def test_live_guess_without_a_trained_model_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    import gradio as gr

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("digit-recognition")], Context())
    live = next(fn.fn for fn in demo.fns.values() if fn.fn.__name__ == "live")
    sketch = {"background": None, "layers": [np.asarray(seven())], "composite": np.asarray(seven())}
    with pytest.raises(gr.Error, match="Train the digit model first"):  # as the Recognise button says it
        live(sketch, "local:digit-recognition")
    with pytest.raises(gr.Error, match="Train the digit model first"):
        next(fn.fn for fn in demo.fns.values() if fn.api_name == "recognise_digit")(sketch, "local:digit-recognition")


def test_recognise_and_maximise_through_the_api(client, tmp_path):
    path = tmp_path / "seven.png"
    seven().save(path)
    sketch = {"background": None, "layers": [], "composite": handle_file(str(path))}
    guesses, text, downsampled, bars, *maps = client.predict(sketch, "tiny", api_name="/recognise_digit")
    assert guesses["label"] in [str(i) for i in range(10)] and len(guesses["confidences"]) == 3
    assert "First guess" in text and len(maps) == 8
    image, animation, climb, vectors = client.predict(3, "output", 12, 0, 0.01, 1, 0.5, 1.0, "tiny",
                                                      api_name="/maximise_activation")
    assert animation.endswith(".gif") and "**" in vectors
    rows = climb["value"]["data"] if "value" in climb else climb["data"]
    assert len(rows) == 13 * 10
    with pytest.raises(AppError, match="target"):
        client.predict(12, "output", 5, 0, 0.01, 1, 0.5, 1.0, "tiny", api_name="/maximise_activation")
    with pytest.raises(AppError, match="empty drawing"):
        client.predict({"background": None, "layers": [], "composite": None}, "tiny", api_name="/recognise_digit")


def test_exported_digit_space_carries_the_trainer(tmp_path):
    from spaces.export import export_space

    folder = export_space(space("digit_recognition"), tmp_path / "space")
    assert (folder / "finetune" / "digits.py").exists() and (folder / "pipelines" / "lab.py").exists()
    assert not (folder / "spaces").exists() and (folder / "mmhub_space" / "digit_recognition.py").exists()
    requirements = (folder / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "datasets==" in requirements
    assert (ROOT / "finetune" / "digits.py").read_text() == (folder / "finetune" / "digits.py").read_text()


@pytest.mark.parametrize(("space_name", "api_name", "arguments", "argument"), [
    ("digit-recognition", "train_digits", ("sklearn-digits", float("nan"), 0), "epochs"),
    ("digit-recognition", "train_digits", ("sklearn-digits", 2.5, 0), "epochs"),
    ("autoencoder", "train_vae", ("sklearn-digits", 1, float("inf")), "max_samples"),
    ("autoencoder", "interpolate", (None, None, float("nan"), "tiny-mnist"), "steps"),
    ("activation-maximisation", "maximise_activation", (3, "output", float("nan"), 0, 0.01, 1, 0.5, 1.0, "tiny"),
     "steps"),
    ("deep-dream", "deep_dream", (None, "conv1_1", 1.5, float("nan"), 1, 0, 64, 1.4, 8, "tiny"), "octaves"),
    ("video", "video", ("a cat", "", float("nan"), 32, 5, 1, 5.0, 3, None, "tiny"), "width"),
])
def test_a_nan_slider_value_is_a_message_naming_it(tmp_path, monkeypatch, space_name, api_name, arguments, argument):
    """Checked before int() (which raised a bare ValueError, or a traceback from a handler without @user_errors)."""
    import inspect

    import gradio as gr

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))  # a refused training writes nothing here
    demo = build_blocks([space(space_name)], Context(models="tiny"))
    handler = next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)
    with pytest.raises(gr.Error, match=f"`{argument}` must be"):
        outcome = handler(*arguments)
        if inspect.isgenerator(outcome):
            list(outcome)
    assert not (tmp_path / "models").exists()  # nothing trained
