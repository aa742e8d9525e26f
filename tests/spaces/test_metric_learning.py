"""The Clustering & metric learning Space: in the Basics group, both languages; compare through gradio_client on the
served app; find similar from a drawing; "train it now" streaming its loss curve, Stop, and bad settings. The page's
events (the run controls): progress, outcome and seed on the status line, refusals in a person's words (English and
Polish), Stop ending a comparison with what it made and a training with the network saved as it is."""

from __future__ import annotations

import json
import shutil
import time

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from spaces.app import discover_spaces, space
from spaces.common import Context
from spaces.launcher import build_blocks, tab_layout


def handler(demo, api_name: str):
    """The API endpoint's function (a generator: the tab's handlers stream; the last item is the result)."""
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


def last(stream):
    return list(stream)[-1]


def in_page(demo, name: str):
    """The page's event of handler `name`: it yields the outputs and the status line (`spaces.common.RunControls`)."""
    return next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == f"{name}_in_page")


def stop_button(demo, run_id: str):
    """What the Stop button beside the Run button `run_id` does when pressed (takes the browser's request)."""
    return next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "_stop"
                and fn.fn.__self__.run.elem_id == run_id)


@pytest.fixture(scope="module")
def demo():
    return build_blocks([space("metric-learning")], Context(models="tiny"))


def sketch_of_a_seven() -> dict:
    """What the Sketchpad sends: black strokes on a transparent RGBA layer."""
    layer = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line([(80, 60), (200, 60), (120, 230)], fill=(0, 0, 0, 255), width=20)
    array = np.asarray(layer)
    return {"background": None, "layers": [array], "composite": array}


def test_the_tab_sits_in_the_basics_group_in_both_languages():
    from spaces.metric_learning import ERROR_TEXTS, TEXTS

    assert set(TEXTS["en"]) == set(TEXTS["pl"])  # every string in both languages
    assert set(ERROR_TEXTS["en"]) == set(ERROR_TEXTS["pl"])
    for table in (TEXTS, ERROR_TEXTS):  # plural forms: two in English, three in Polish
        for key, text in table["en"].items():
            assert (text.count("|"), table["pl"][key].count("|")) in ((0, 0), (1, 2)), key
    groups = dict(entry for entry in tab_layout(discover_spaces()) if isinstance(entry, tuple))
    assert "metric_learning" in [spec.name for spec in groups["basics"]]
    for lang, title in (("en", "Find similar"), ("pl", "Znajdź podobne")):
        built = build_blocks([space("metric-learning")], Context(lang=lang, models="tiny"))
        assert title in {getattr(block, "label", None) for block in built.blocks.values()}
        assert {fn.api_name for fn in built.fns.values()} >= {"metric_compare", "metric_similar", "metric_train"}


def test_compare_shows_three_maps_and_the_scores(demo):
    *maps, table, status = last(handler(demo, "metric_compare")("tiny", 120, 10, 5, "pca", 4))
    assert [m["label"].split(" · ")[0] for m in maps] == ["Pixels", "Normalized softmax", "Triplet"]
    for plot in maps:
        frame = plot["value"]
        assert list(frame.columns) == ["x", "y", "class"] and len(frame) == 120
        assert set(frame["class"]) == {str(d) for d in range(10)}
    assert list(table["representation"]) == ["Pixels", "Normalized softmax", "Triplet"]
    assert table["ARI"].iloc[2] > table["ARI"].iloc[0]  # the triplet embedding clusters better than the pixels
    assert status == "120 pictures · 10 clusters · 5-NN · PCA · seed 4"


@pytest.mark.parametrize(("lang", "progress", "outcome"), [
    ("en", "Pixels: computing the vectors (step 1 of 9)", "3 representations compared · seed "),
    ("pl", "Piksele: obliczanie wektorów (krok 1 z 9)", "porównano 3 reprezentacje · ziarno "),
])
def test_the_page_shows_progress_outcome_and_the_seed_drawn_on_the_status_line(demo, lang, progress, outcome):
    import re

    built = demo if lang == "en" else build_blocks([space("metric-learning")], Context(lang=lang, models="tiny"))
    steps = list(in_page(built, "compare")("tiny", 60, 10, 3, "pca", -1))  # −1: a seed is drawn
    lines = [step[-1] for step in steps]
    assert any('data-state="running"' in line and progress in line for line in lines)
    assert 'data-state="done"' in lines[-1] and outcome in lines[-1] and "|" not in lines[-1]
    summary = steps[-2][-2]  # the outputs (maps, scores, summary), then the status line
    drawn = re.search(r"(?:seed|ziarno) (\d+)$", summary).group(1)
    assert lines[-1].rstrip("</div>").endswith(f" {drawn}")  # the seed shown is the seed used
    assert len(steps[-2][0]["value"]) == 60  # the maps came with the outcome


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "Draw a digit or upload a picture first."),
    ("pl", "Najpierw narysuj cyfrę albo wgraj obrazek."),
])
def test_a_refused_drawing_is_said_in_words_on_the_page(demo, lang, words):
    built = demo if lang == "en" else build_blocks([space("metric-learning")], Context(lang=lang, models="tiny"))
    steps = list(in_page(built, "similar")("tiny", {"background": None, "layers": [], "composite": None}, None,
                                           "triplet", 8))
    *outputs, line = steps[-1]
    assert 'data-state="error"' in line and words in line and "`image`" not in line
    assert all(isinstance(output, type(gr.skip())) for output in outputs)  # no "Error" badge on the outputs


def test_compare_through_the_api(client):
    *maps, table, status = client.predict("tiny", 60, 10, 3, "pca", 2, api_name="/metric_compare")
    assert "seed 2" in status and len(table["data"]) == 3
    assert all(len(m["value"]["data"]) == 60 for m in maps)  # the three scatter plots' points
    with pytest.raises(AppError, match="`k`"):
        client.predict("tiny", 60, 10, 2.5, "pca", 2, api_name="/metric_compare")
    with pytest.raises(AppError, match="`seed`"):
        client.predict("tiny", 60, 10, 3, "pca", 2**70, api_name="/metric_compare")
    with pytest.raises(AppError, match="'umap'.*not in the list of choices"):  # the Radio's own check
        client.predict("tiny", 60, 10, 3, "umap", 2, api_name="/metric_compare")


def test_find_similar_from_a_drawing_and_bad_pictures(demo, tmp_path):
    find = handler(demo, "metric_similar")
    gallery, seen, text = last(find("tiny", sketch_of_a_seven(), None, "triplet", 8))
    assert len(gallery) == 8 and sum(caption.startswith("7 ·") for _, caption in gallery) >= 6
    assert seen.size == (224, 224) and "**Triplet**" in text
    upload = Image.fromarray(255 - np.asarray(sketch_of_a_seven()["composite"])[..., 3])
    gallery, _, _ = last(find("tiny", None, upload, "pixels", 3))  # an uploaded picture wins over the (empty) drawing
    assert len(gallery) == 3
    corrupt = tmp_path / "seven.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(100)))
    with pytest.raises(Exception, match="cannot be read as an image"):
        last(find("tiny", None, str(corrupt), "triplet", 8))
    with pytest.raises(Exception, match="a drawing or an uploaded picture"):
        last(find("tiny", {"background": None, "layers": [], "composite": None}, None, "triplet", 8))
    with pytest.raises(Exception, match="empty drawing"):
        last(find("tiny", {"background": None, "layers": [np.zeros((280, 280, 4), np.uint8)],
                           "composite": np.zeros((280, 280, 4), np.uint8)}, None, "triplet", 8))
    with pytest.raises(Exception, match="`k`"):
        last(find("tiny", sketch_of_a_seven(), None, "triplet", float("nan")))
    with pytest.raises(Exception, match="representation"):
        last(find("tiny", sketch_of_a_seven(), None, "arcface", 8))


def test_train_it_now_streams_the_curve_then_the_other_tabs_use_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    built = build_blocks([space("metric-learning")], Context(models="tiny"))
    updates = list(handler(built, "metric_train")("triplet", "sklearn-digits", 1, 640, 3))
    curves = [u[0] for u in updates if isinstance(u[0], pd.DataFrame) and len(u[0])]
    assert curves and list(curves[-1].columns) == ["step", "Loss", "curve"] and curves[-1]["step"].iloc[0] == 1
    curve, status, model = updates[-1]
    folder = tmp_path / "tiny" / "metric-live"
    assert status.startswith("✅ Triplet trained on sklearn-digits for 5 steps (") and str(folder) in status
    assert model["value"] == str(folder)
    metrics = json.loads((folder / "triplet" / "metrics.json").read_text())
    assert metrics["global_step"] == 5 and metrics["evaluation"]["map_projection"] == "none"
    *maps, table, _ = last(handler(built, "metric_compare")(model["value"], 40, 5, 3, "pca", 0))
    assert list(table["representation"]) == ["Pixels", "Triplet"]
    assert maps[1]["value"] is None and "not trained yet" in maps[1]["label"]  # no softmax network there yet
    with pytest.raises(Exception, match="not trained in this model yet"):
        last(handler(built, "metric_similar")(model["value"], sketch_of_a_seven(), None, "softmax", 8))
    *_, line = last(in_page(built, "similar")(model["value"], sketch_of_a_seven(), None, "softmax", 8))
    assert "The network picked under “Search in” is not trained in this model yet" in line


@pytest.mark.parametrize(("arguments", "message"), [
    (("contrastive", "sklearn-digits", 1, 0, 0), "`loss`"),
    (("triplet", "sklearn-digits", float("nan"), 0, 0), "`epochs`"),
    (("triplet", "sklearn-digits", 1, -5, 0), "`max_samples`"),
    (("triplet", "sklearn-digits", 1, 0, 2**40), "`seed`"),
    (("triplet", "./nowhere", 1, 0, 0), "Training failed: .*no such local folder"),
])
def test_train_it_now_refuses_bad_settings(tmp_path, monkeypatch, arguments, message):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    built = build_blocks([space("metric-learning")], Context(models="tiny"))
    with pytest.raises(Exception, match=message):
        list(handler(built, "metric_train")(*arguments))
    assert not list((tmp_path / "tiny").glob("metric-live/*"))  # no model, no checkpoints left behind


def test_stop_ends_the_training_early_and_keeps_the_network(tmp_path, monkeypatch):
    """Stop cancels the streaming event: gradio closes the handler's generator, and the training ends at its next
    step with a finished folder (stopped_early)."""
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    built = build_blocks([space("metric-learning")], Context(models="tiny"))
    stream = handler(built, "metric_train")("normalized-softmax", "sklearn-digits", 30, 0, 1)
    for update in stream:
        if isinstance(update[0], pd.DataFrame) and len(update[0]):  # the first losses are on the curve
            break
    stream.close()  # what gradio does when Stop cancels the event
    metrics = tmp_path / "tiny" / "metric-live" / "normalized-softmax" / "metrics.json"
    deadline = time.monotonic() + 120
    while not metrics.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    saved = json.loads(metrics.read_text())
    assert saved["stopped_early"] and saved["global_step"] < 30 * 11 and saved["loss"] == "normalized-softmax"


def test_stop_on_the_page_keeps_the_curve_and_saves_the_network(tmp_path, monkeypatch):
    """The page's Stop (the button beside Train): the trainer saves the network as it is and ends; the curve and the
    report stay, the status line says it stopped, with the steps and the seed; the model field points at it."""
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    built = build_blocks([space("metric-learning")], Context(models="tiny"))
    request = gr.Request(session_hash="metric-stop")
    stream = in_page(built, "train_live")("normalized-softmax", "sklearn-digits", 30, 0, 1, request)
    steps = []
    for step in stream:
        steps.append(step)
        if isinstance(step[0], pd.DataFrame) and len(step[0]):  # the first losses are on the curve
            break
    assert 'data-state="running"' in steps[-1][-1] and "Step " in steps[-1][-1]
    stop_button(built, "metric-train-run")(request)
    steps += list(stream)
    curve, report, model, _ = steps[-2]
    line = steps[-1][-1]
    assert 'data-state="stopped"' in line and "the network is saved · seed 1" in line and "Stopping" not in line
    assert isinstance(curve, pd.DataFrame) and len(curve) and ", stopped early" in report
    folder = tmp_path / "tiny" / "metric-live"
    assert model["value"] == str(folder)
    saved = json.loads((folder / "normalized-softmax" / "metrics.json").read_text())
    assert saved["stopped_early"] and saved["global_step"] < 30 * 11
    assert f"{saved['global_step']} steps" in line


def test_train_it_now_replaces_a_trained_network_only_when_asked(tmp_path, monkeypatch):
    """Outside tiny mode Train never replaces the loss's trained network unasked (issue 19 §4): with "Replace the
    trained model" unticked it is refused in words on the status line (Polish here) and the network stays; ticked,
    that loss's network is replaced and the other losses' stay."""
    from pipelines import tiny

    user = tmp_path / "models" / "metric-learning"
    shutil.copytree(tiny.build("metric-learning"), user)  # a user's triplet and normalized-softmax networks
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    weights = {loss: (user / loss / "model.safetensors").read_bytes() for loss in ("triplet", "normalized-softmax")}
    built = build_blocks([space("metric-learning")], Context(lang="pl"))
    box = next(b for b in built.blocks.values() if getattr(b, "elem_id", None) == "metric-replace")
    assert box.visible and box.label == f"Zastąp wytrenowany model w {user}" and box.value is False
    with pytest.raises(Exception, match="A trained model is already in .*triplet: tick “Replace the trained model”"):
        list(handler(built, "metric_train")("triplet", "sklearn-digits", 1, 640, 3))  # the API's default: False
    request = gr.Request(session_hash="metric-replace")
    *_, line = last(in_page(built, "train_live")("triplet", "sklearn-digits", 1, 640, 3, False, request))
    assert f"W {user / 'triplet'} jest już wytrenowany model: zaznacz „Zastąp wytrenowany model”" in line
    assert not (user / "triplet" / "metrics.json").exists()
    _, report, model = last(handler(built, "metric_train")("triplet", "sklearn-digits", 1, 640, 3, True))
    assert report.startswith("✅") and model["value"] == "local:metric-learning"
    assert json.loads((user / "triplet" / "metrics.json").read_text())["global_step"] == 5
    assert (user / "triplet" / "model.safetensors").read_bytes() != weights["triplet"]
    assert (user / "normalized-softmax" / "model.safetensors").read_bytes() == weights["normalized-softmax"]
