"""The GAN Space: in the "Inside a network" group, both languages, sampling and walks through gradio_client on the
served app (tiny model), live training streamed (a grid per epoch, both losses), stopped by closing the stream."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from spaces.app import discover_spaces, space
from spaces.common import Context
from spaces.launcher import build_blocks, tab_layout

from .conftest import ROOT


def test_the_gan_closes_the_inside_group_in_both_languages():
    members = dict(entry for entry in tab_layout(discover_spaces()) if isinstance(entry, tuple))["inside"]
    names = [spec.name for spec in members]
    assert names.index("gan") == names.index("autoencoder") + 1
    for lang, title in (("en", "Train live"), ("pl", "Trening na żywo")):
        demo = build_blocks([space("gan")], Context(lang=lang, models="tiny"))
        labels = {getattr(block, "label", None) for block in demo.blocks.values()}
        assert title in labels
        assert {fn.api_name for fn in demo.fns.values()} >= {"gan_samples", "gan_walk", "train_gan"}


def test_samples_and_walk_through_the_api(client):
    grid, text = client.predict(8, 0, 0, "tiny", api_name="/gan_samples")
    assert Image.open(grid).size == (4 * (3 * 30 + 2),) * 2 and "Seed 0 · 8 pictures · truncation off" in text
    again, _ = client.predict(8, 0, 0, "tiny", api_name="/gan_samples")
    assert np.array_equal(np.asarray(Image.open(grid)), np.asarray(Image.open(again)))  # seeded
    _, text = client.predict(4, 3, 1.5, "tiny", api_name="/gan_samples")
    assert "truncation 1.5" in text
    strip = client.predict(1, 2, 5, 0, "tiny", api_name="/gan_walk")
    assert Image.open(strip).size == (5 * 28 * 4, 28 * 4)
    with pytest.raises(AppError, match="minimum"):  # the slider's own bound, checked by gradio
        client.predict(0, 0, 0, "tiny", api_name="/gan_samples")
    with pytest.raises(AppError, match="`seed`"):
        client.predict(4, 2**70, 0, "tiny", api_name="/gan_samples")
    with pytest.raises(AppError, match="start"):
        client.predict(None, 2, 5, 0, "tiny", api_name="/gan_walk")


def test_train_live_streams_epochs_and_losses_then_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("gan")], Context())
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    with pytest.raises(Exception, match="python -m finetune.gan"):  # no model yet: the error says how to get one
        fns["gan_samples"](4, 0, 0, "local:gan")
    updates = list(fns["train_gan"]("sklearn-digits", 2, 256, 8))  # 4 steps per epoch
    grids = [u for u in updates if u[0] is not None]
    current, gallery, losses, status, model = updates[-1]
    assert len(gallery) == 2 and [caption for _, caption in gallery] == ["1.00", "2.00"]
    assert current.size == (3 * 242, 3 * 242) and len(grids) >= 2  # 64 pictures from the fixed noise
    assert sorted(set(losses.iloc[:, 1])) == ["discriminator", "generator"] and list(losses.iloc[:, 0])[-1] == 8
    assert status.startswith("✅") and str(tmp_path) in status and model["value"] == "local:gan"
    grid, text = fns["gan_samples"](4, 0, 0, "local:gan")
    assert grid.size == (4 * 62, 4 * 62) and "Seed 0" in text


@pytest.mark.parametrize(("arguments", "message"), [
    (("sklearn-digits", 31, 256, 8), "epochs"),
    (("sklearn-digits", 2.5, 256, 8), "epochs"),
    (("sklearn-digits", 2, float("nan"), 8), "max_samples"),
    (("sklearn-digits", 2, 256, 12), "features"),
    (("./nowhere", 1, 256, 8), "no such local folder"),
    (("ylecun/mnist", 1, 256, 8), "cannot be reached"),
])
def test_train_live_refuses_bad_settings(tmp_path, monkeypatch, arguments, message):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("gan")], Context())
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "train_gan")
    with pytest.raises(Exception, match=message):
        list(train(*arguments))
    assert not (tmp_path / "models" / "gan").exists()


def test_closing_the_stream_stops_training_and_keeps_the_generator(tmp_path, monkeypatch):
    """What Stop does: gradio cancels the event and closes the generator; training ends at its next step."""
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    demo = build_blocks([space("gan")], Context())
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "train_gan")
    stream = train("sklearn-digits", 30, 256, 8)  # 120 steps if nobody stops it
    next(stream)
    stream.close()
    metrics = tmp_path / "models" / "gan" / "metrics.json"
    deadline = time.monotonic() + 120
    while not metrics.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    saved = json.loads(metrics.read_text())
    assert saved["stopped_early"] and saved["global_step"] < 120


def test_train_live_on_the_served_app_writes_to_the_tiny_cache(client):
    grid, gallery, losses, status, model = client.predict("sklearn-digits", 1, 128, 8, api_name="/train_gan")
    model = model["value"]  # the Samples tab's model dropdown now points at what was trained
    assert status.startswith("✅") and model.endswith("gan-live") and len(gallery) == 1
    grid, text = client.predict(4, 0, 0, model, api_name="/gan_samples")
    assert Image.open(grid).size == (4 * 62, 4 * 62)


def test_tiny_app_samples_the_gan_it_trained_live_without_allow_local_models(tmp_path, monkeypatch):
    import gradio as gr

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    ctx = Context(models="tiny")  # no --allow-local-models
    demo = build_blocks([space("gan")], ctx)
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    *_, status, model = list(fns["train_gan"]("sklearn-digits", 1, 64, 8))[-1]
    assert status.startswith("✅") and model["value"] == str(tmp_path / "tiny" / "gan-live")
    grid, text = fns["gan_samples"](4, 0, 0, model["value"])
    assert grid.size == (4 * 62, 4 * 62) and "Seed 0" in text
    with pytest.raises(gr.Error, match="loads no local folders"):  # only that folder, not its neighbours
        fns["gan_samples"](4, 0, 0, str(tmp_path / "tiny" / "gan-live" / ".." / "gan-live"))


def test_exported_gan_space_carries_the_trainer(tmp_path):
    from spaces.export import export_space

    folder = export_space(space("gan"), tmp_path / "space")
    assert (folder / "finetune" / "gan.py").exists() and (folder / "pipelines" / "gan.py").exists()
    assert (folder / "mmhub_space" / "gan.py").exists() and not (folder / "spaces").exists()
    assert (ROOT / "finetune" / "gan.py").read_text() == (folder / "finetune" / "gan.py").read_text()


def test_train_live_replaces_a_trained_gan_only_when_asked(tmp_path, monkeypatch):
    """Outside tiny mode Train never replaces a trained GAN unasked (issue 19 §4): with "Replace the trained model"
    unticked it is refused in words on the status line (Polish here) and the model stays; ticked, it is replaced."""
    import shutil

    import gradio as gr

    from pipelines import tiny

    user = tmp_path / "models" / "gan"
    shutil.copytree(tiny.build("gan"), user)  # a trained GAN of the user's (the tiny twin, from the shared cache)
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    weights = (user / "model.safetensors").read_bytes()
    demo = build_blocks([space("gan")], Context(lang="pl"))
    box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "gan-replace")
    assert box.visible and box.label == f"Zastąp wytrenowany model w {user}" and box.value is False
    train = next(fn.fn for fn in demo.fns.values() if fn.api_name == "train_gan")
    with pytest.raises(Exception, match="A trained model is already in .*Replace the trained model"):
        list(train("sklearn-digits", 1, 64, 8))  # the API's default: replace=False
    page = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "train_live_in_page")
    *_, line = list(page("sklearn-digits", 1, 64, 8, False, gr.Request(session_hash="gan-replace")))[-1]
    assert f"W {user} jest już wytrenowany model: zaznacz „Zastąp wytrenowany model”" in line
    assert (user / "model.safetensors").read_bytes() == weights and not (user / "metrics.json").exists()
    *_, status, model = list(train("sklearn-digits", 1, 64, 8, True))[-1]
    assert status.startswith("✅") and model["value"] == "local:gan" and (user / "metrics.json").is_file()
    assert (user / "model.safetensors").read_bytes() != weights
