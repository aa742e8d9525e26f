"""The pieces behind the app's new features, in this process: the layer picture's unit lookup, aspect-ratio sizes,
the leaderboard's rows, filters and rank-gap notes, the mixer's markup and zip, the preset voices, the VAE map's
axes and the 'preparing the model' note. The browser tests (test_browser_features.py) check what a person sees."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spaces.app import space
from spaces.common import Context
from spaces.launcher import build_blocks


def _fn(demo, name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == name or getattr(fn.fn, "__name__", "") == name)


# -- digit recognition: a click on a layer picture names the unit drawn there ----------------------------------------


@pytest.mark.parametrize("shape", [(1, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120,), (100,),
                                   (10,)])
def test_unit_at_finds_the_unit_that_feature_grid_drew(shape):
    from spaces.digit_recognition import _colour, feature_grid, unit_at

    brightest = _colour(np.array([1.0]), 0.0, 1.0)[0]  # the colour scale's top (the gaps are white)
    rng = np.random.default_rng(0)
    for _ in range(5):
        unit = tuple(int(rng.integers(0, n)) for n in shape)
        values = np.zeros(shape, np.float32)
        values[unit] = 1.0  # the only bright unit
        picture = np.asarray(feature_grid(values))
        ys, xs = np.nonzero((picture == brightest).all(axis=-1))
        assert len(xs) > 0
        assert {unit_at(shape, x, y) for x, y in zip(xs, ys, strict=True)} == {unit}
    assert unit_at(shape, -1, 0) is None and unit_at(shape, 10_000, 10_000) is None


# -- image generation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("native", [64, 512, 768])
def test_aspect_presets_keep_the_area_and_the_ratio(native):
    from spaces.image_generation import ASPECTS, aspect_size

    assert aspect_size("", native) == (0, 0)
    for aspect in ASPECTS[1:]:
        w, h = aspect_size(aspect, native)
        a, b = (int(x) for x in aspect.split(":"))
        assert w % 8 == 0 and h % 8 == 0
        assert abs(w / h - a / b) < 0.12 and abs(w * h / native**2 - 1) < 0.12, (aspect, w, h)


# -- the leaderboard -------------------------------------------------------------------------------------------------


def test_rank_gaps_of_the_shipped_rows_are_explained():
    from eval.leaderboard import published_rows
    from spaces.leaderboard import rank_gaps

    notes = dict((values["rank"], (key, values)) for key, values in rank_gaps(published_rows()))
    assert notes[11][0] == "gap_missing"  # no shipped row has rank 11 and no tie covers it
    assert notes[15] == ("gap_tie", {"rank": 15, "shot": 5, "count": 2, "shared": 14, "next": 16})
    assert set(notes) == {11, 15}


@pytest.mark.parametrize(("name", "kind"), [("Bielik-11B-v3.0-Instruct", "instruct"), ("gemma-3-27b-it", "instruct"),
                                            ("Qwen2.5-72B", "base"), ("Bielik-11B-v3.0-Instruct_Q4_K_M.gguf",
                                                                      "quantised"),
                                            ("Meta-Llama-3.1-405B-Instruct-FP8", "quantised"),
                                            ("MSH-v1-Bielik-v2.3-Instruct-MedIT-merge", "merge"),
                                            ("Qwen2-72B-Instruct", "instruct"), ("italian-base", "base")])
def test_model_type_read_from_the_name(name, kind):
    from spaces.leaderboard import model_type

    assert model_type(name) == kind and model_type(name, yours=True) == "yours"


@pytest.fixture(scope="module")
def eval_runs(tmp_path_factory):
    """Two runs as `python -m eval` writes them (`eval.leaderboard.write_json`): a full 5-shot run that ranks, and a
    --limit 0-shot run with one task."""
    from eval import leaderboard as lb

    folder = tmp_path_factory.mktemp("eval_results")
    full = lb.Row.from_scores("my-org/strong-model", 5, {c: 99.0 for c in lb.ALL_TASKS}, params_b=1.5)
    partial = lb.Row.from_scores("tiny", 0, {"belebele_mc": 40.0})
    published = lb.published_rows()
    for row, limited in ((full, False), (partial, True)):
        (folder / row.model.replace("/", "__")).mkdir()
        lb.write_json([row], published, folder / row.model.replace("/", "__") / "leaderboard.json", limited=limited,
                      settings={"limit": 3 if limited else None})
    (folder / "broken").mkdir()
    (folder / "broken" / "leaderboard.json").write_text("{not json")
    return folder


def test_leaderboard_filters_search_and_drops_empty_columns(eval_runs, monkeypatch):
    from eval import leaderboard as lb

    monkeypatch.setenv("MMHUB_EVAL_RESULTS", str(eval_runs))
    demo = build_blocks([space("leaderboard")], Context())
    show = _fn(demo, "leaderboard")
    everyone = ["instruct", "base", "merge", "quantised", "yours"]
    table, plot, notes = show("", ["averages"], [], [0, 5], everyone)
    assert len(table) == len(lb.published_rows()) + 2 and list(table["model"])[0] == "my-org/strong-model"
    assert table.loc[table["model"] == "my-org/strong-model", "rank"].item() == "would be 1"
    assert "a --limit run" in table.loc[table["model"] == "tiny", "note"].item()
    assert list(plot.columns) == ["model", "normalised score", "type"] and len(plot) == len(table)
    # one scale: the plot's bars are the table's Average
    assert sorted(plot["normalised score"]) == sorted(table["Average"].round(2))
    assert "Rank 11 (5-shot)" in notes and "2 rows share rank 14" in notes
    table, _, _ = show("BIELIK; qwq", ["averages", "multiple_choice"], ["polemo2-in_g"], [5],
                       ["instruct", "quantised", "merge", "base"])
    assert all("bielik" in m.lower() or "qwq" in m.lower() for m in table["model"]) and len(table) == 7
    # the shipped rows have no multiple-choice scores: those columns are left out, polemo2-in_g stays
    assert not set(lb.MC_TASKS) & set(table.columns) and "polemo2-in_g" in table.columns
    table, _, _ = show("", ["multiple_choice"], [], [0], ["yours"])
    assert list(table["model"]) == ["tiny"] and "belebele_mc" in table.columns and "dyk_mc" not in table.columns
    table, _, notes = show("no such model", ["averages"], [], [5], everyone)
    assert len(table) == 0 and notes == "No row matches these filters."
    with pytest.raises(Exception, match="search"):
        show("x" * 1000, ["averages"], [], [5], everyone)


# -- separation: the mixer's markup and the zip --------------------------------------------------------------------


def test_mixer_lists_vocals_first_and_the_zip_holds_every_stem(tmp_path):
    from spaces.separation import TEXTS, mixer_html, stem_order, zip_stems

    ctx = Context()
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731
    assert stem_order(["drums", "bass", "other", "vocals"]) == ["vocals", "drums", "bass", "other"]
    assert stem_order(["no_vocals", "vocals"]) == ["vocals", "no_vocals"]
    files = []
    for name in ("vocals", "drums", 'odd"<name>'):
        (tmp_path / f"{name}.wav").write_bytes(b"RIFF....WAVE")
        files.append(str(tmp_path / f"{name}.wav"))
    markup = mixer_html(files, t)
    assert markup.count("data-stem=") == 3 and "gradio_api/file=" in markup
    assert 'odd"<name>' not in markup and "odd&quot;&lt;name&gt;" in markup  # escaped
    assert 'aria-label="Mute vocals"' in markup and 'aria-label="Solo drums"' in markup
    assert "data-stem" not in mixer_html([], t)
    with zipfile.ZipFile(zip_stems(files, tmp_path)) as archive:
        assert sorted(archive.namelist()) == sorted(Path(f).name for f in files)


# -- voices: presets made by the tab's own text-to-speech ------------------------------------------------------------


@pytest.fixture(scope="module")
def voice_ctx():
    """One app context with the tiny voice-cloning bundle loaded, shared by the voice tests (it loads in seconds)."""
    ctx = Context(models="tiny")
    ctx.pipeline("voice-cloning", "tiny")
    return ctx


def test_a_preset_voice_speaks_in_its_language_and_noise_is_no_preset(tmp_path, voice_ctx):
    import hashlib

    import numpy as np
    import soundfile as sf

    from pipelines import InputError
    from pipelines.voice_presets import PRESETS, preset_reference

    vc = voice_ctx.pipeline("voice-cloning", "tiny")
    spoken = vc.speak(PRESETS["mms-pol"].text, language="pol", seed=PRESETS["mms-pol"].seed)
    assert spoken.route == "mms-tts" and spoken.tts_model == vc.mms_model_id("pol")
    assert spoken.licence.startswith("none: tiny random weights")  # a real MMS checkpoint: cc-by-nc-4.0
    # the tiny random VITS makes noise: the one speech check refuses it as a preset, by the argument a person picked,
    # and nothing is kept for the next call
    with pytest.raises(InputError, match=r"`voice`.*made no speech"):
        preset_reference(vc, "mms-eng", tmp_path)
    assert not any(tmp_path.iterdir())
    # a noise clip kept by version 1 (before the speech check) is not used: refused the same way
    digest = hashlib.sha256(f"1|{vc.mms_model_id('eng')}|{PRESETS['mms-eng'].text}|0".encode()).hexdigest()
    rng = np.random.default_rng(0)
    sf.write(tmp_path / f"mms-eng-{digest[:16]}.wav", rng.normal(0, 0.3, 64_000).astype(np.float32), 16_000)
    with pytest.raises(InputError, match=r"`voice`.*made no speech"):
        preset_reference(vc, "mms-eng", tmp_path)
    with pytest.raises(InputError, match="voice"):
        preset_reference(vc, "alba", tmp_path)


def test_the_voice_library_endpoints_refuse_bad_names_ids_and_clips(tmp_path, monkeypatch, media, voice_ctx):
    import gradio as gr

    monkeypatch.setenv("MMHUB_VOICES", str(tmp_path / "voices"))
    demo = build_blocks([space("voice-cloning")], voice_ctx)
    save, delete, clone = _fn(demo, "save_voice"), _fn(demo, "delete_voice"), _fn(demo, "clone_voice")
    for args, words in (((" ", str(media["speech"]), "en"), "`name` must be non-empty text"),
                        (("x" * 65, str(media["speech"]), "en"), "`name`"),
                        (("Ania", None, "en"), "`reference` must be a recording"),
                        (("Ania", str(media["corrupt_wav"]), "en"), "`audio`"),
                        (("Ania", str(media["silent_wav"]), "en"), "`audio`")):
        with pytest.raises(gr.Error, match=words):
            save(*args)
    for voice in ("../../etc", "voice_0000000000000000", "preset:mms-pol"):
        with pytest.raises(gr.Error, match="voice|Pick a saved voice"):
            delete(voice)
    with pytest.raises(gr.Error, match="`voice` must be"):
        next(clone("Hi", None, "en", -1, "tiny", "voice_../../x"))
    with pytest.raises(gr.Error, match="preset voices"):
        next(clone("Hi", None, "en", -1, "tiny", "preset:alba"))
    update, note = save("Ania 🎙️", str(media["speech"]), "pl")
    assert update["value"].startswith("voice_") and "Ania 🎙️" in note
    assert any(label.startswith("Ania 🎙️ · 4.") for label, _ in update["choices"])
    update, note = delete(update["value"])
    assert update["value"] == "" and "Deleted" in note and not list((tmp_path / "voices").glob("voice_*"))


def test_voice_library_root_follows_mmhub_voices(tmp_path, monkeypatch):
    from pipelines.voices import VoiceLibrary, default_root

    monkeypatch.setenv("MMHUB_VOICES", str(tmp_path / "voices"))
    assert default_root() == tmp_path / "voices" and VoiceLibrary().root == tmp_path / "voices"
    monkeypatch.delenv("MMHUB_VOICES")
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache" / "voices"


# -- inside a network ------------------------------------------------------------------------------------------------


def test_the_vae_map_has_axes_and_a_click_decodes_the_point_under_it():
    import gradio as gr

    from spaces.autoencoder import AXIS_LEFT, AXIS_TOP, MAP_SCALE

    ctx = Context(models="tiny")
    demo = build_blocks([space("autoencoder")], ctx)
    the_map = _fn(demo, "latent_map")(15, "tiny-mnist")
    assert the_map.size[0] > 15 * 28 * MAP_SCALE and the_map.size[1] > 15 * 28 * MAP_SCALE  # room for the axes
    vae = ctx.cache.peek("autoencoder", "tiny-mnist")
    where = vae.latent_map(n=15)
    point = (0.8, -1.2)
    px, py = where.pixel_of(point)
    click = gr.SelectData(None, {"index": [AXIS_LEFT + px * MAP_SCALE, AXIS_TOP + py * MAP_SCALE], "value": None})
    _, _, x, y = _fn(demo, "click_map")(15, "tiny-mnist", click)
    assert x == pytest.approx(point[0], abs=0.05) and y == pytest.approx(point[1], abs=0.05)
    on_axis = gr.SelectData(None, {"index": [AXIS_LEFT // 2, AXIS_TOP + 10], "value": None})
    assert all(isinstance(v, type(gr.skip())) for v in _fn(demo, "click_map")(15, "tiny-mnist", on_axis))


def test_the_preparing_note_shows_until_the_model_is_loaded():
    from spaces.inside import preparing_note

    ctx = Context(models="tiny")
    assert preparing_note(ctx, "digit-recognition", "tiny", "wait") == "wait"
    ctx.pipeline("digit-recognition", "tiny")
    assert preparing_note(ctx, "digit-recognition", "tiny", "wait") == ""
    assert preparing_note(ctx, "digit-recognition", "../../etc", "wait") == ""  # refused names: the handler says why


def test_a_neuron_target_plots_its_activation_and_states_the_range():
    ctx = Context(models="tiny")
    demo = build_blocks([space("activation-maximisation")], ctx)
    *_, (image, gif, climb, vectors) = _fn(demo, "maximise_activation")(5, "fc2", 4, 0, 0.01, 1, 0.5, 1.0, "tiny")
    assert climb["y"] == "mean activation" and climb["color"] is None and len(climb["value"]) == 5
    assert "Fully-connected layer 2, neuron 5" in climb["label"]
    *_, (_, _, climb, _) = _fn(demo, "maximise_activation")(3, "output", 2, 0, 0.01, 1, 0.5, 1.0, "tiny")
    assert climb["y"] == "probability" and len(climb["value"]) == 3 * 10
    layer_change = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "target_field")
    assert layer_change("fc1")["label"] == "Neuron number (0–119 in this layer)"
    assert layer_change("conv2")["maximum"] == 15 and layer_change("output")["label"] == "Digit (0–9)"
    assert json.dumps(vectors)  # the table is still there
