"""The playground pipeline against TensorFlow Playground itself, and as people use it.

``playground_upstream/reference.json`` was produced by the Playground's own ``src/nn.ts`` and ``src/dataset.ts``
(github.com/tensorflow/playground, commit 02469bd) under node with seedrandom 2.4.3 and d3 3.5.17, driven by the
page-load sequence of ``src/playground.ts`` (``make_reference.js`` beside it says how to regenerate it): the same
seeds must give the same points, the same initial weights and the same losses, epoch by epoch.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.playground import (
    OVERFITTING,
    Playground,
    PlaygroundNet,
    PlaygroundSettings,
    check_points,
    grid_points,
    overfitting_preset,
)
from pipelines.playground_data import (
    CsvDataError,
    SeedRandom,
    csv_data,
    make_data,
    read_csv,
)
from pipelines.playground_svg import render_html

REFERENCE = json.loads((Path(__file__).parent / "playground_upstream" / "reference.json").read_text())
RUNS = REFERENCE["runs"]
FEATURE = {"x": "x1", "y": "x2", "xSquared": "x1_squared", "ySquared": "x2_squared", "xTimesY": "x1_x2",
           "sinX": "sin_x1", "sinY": "sin_x2"}


def settings_of(config: dict) -> PlaygroundSettings:
    """The page's state (src/state.ts names) as our settings."""
    return PlaygroundSettings(
        dataset=config["dataset"], noise=config["noise"], train_ratio=config["percTrainData"],
        batch_size=config["batchSize"], features=[FEATURE[f] for f in config["features"]],
        hidden=config["networkShape"], activation=config["activation"], learning_rate=config["learningRate"],
        regularization=config["regularization"], regularization_rate=config["regularizationRate"],
        seed=int(config["seed"]))


def run_id(run: dict) -> str:
    c = run["config"]
    return f"{c['dataset']}-{c['activation']}-{c['regularization']}-seed{c['seed']}"


# -- the page's random stream, data and training ------------------------------------------------------------------


@pytest.mark.parametrize("seed", REFERENCE["seedrandom"])
def test_seedrandom_is_the_pages(seed):
    rng = SeedRandom(seed)
    assert [rng.random() for _ in range(5)] == REFERENCE["seedrandom"][seed]


@pytest.mark.parametrize("run", RUNS, ids=run_id)
def test_data_sets_are_the_pages_points(run):
    c = run["config"]
    data = make_data(c["dataset"], c["noise"], c["percTrainData"], seed=c["seed"])
    for name, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        expected = run[name]
        assert len(x) == expected["n"]
        np.testing.assert_allclose(np.column_stack([x[:3], y[:3]]), expected["first"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.column_stack([x[-3:], y[-3:]]), expected["last"], rtol=0, atol=1e-12)
        sums = [x[:, 0].sum(), x[:, 1].sum(), y.sum(), (x[:, 0] ** 2).sum(), (x[:, 1] * y).sum()]
        np.testing.assert_allclose(sums, expected["sums"], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("run", RUNS, ids=run_id)
def test_training_matches_the_page_epoch_by_epoch(run):
    trainer = Playground(settings_of(run["config"]))
    for layer, weights, biases in zip(trainer.network.layers, run["initial_weights"], run["initial_biases"],
                                      strict=True):
        assert layer.weight.detach().numpy().tolist() == weights  # Math.random() - 0.5, bit for bit
        assert layer.bias.detach().numpy().tolist() == biases  # 0.1
    for epoch, train, test in run["losses"]:
        if epoch:
            trainer.step(epoch - trainer.epoch)
        assert trainer.history[-1][0] == epoch
        np.testing.assert_allclose(trainer.history[-1][1:], [train, test], rtol=1e-9)
    for layer, weights, biases in zip(trainer.network.layers, run["final_weights"], run["final_biases"], strict=True):
        np.testing.assert_allclose(layer.weight.detach().numpy(), weights, rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.bias.detach().numpy(), biases, rtol=0, atol=1e-10)
    frame = trainer.frame()
    assert [d.astype(int).tolist() for d in frame.dead] == run["final_dead"]  # L1's dead links


def test_the_reference_covers_what_it_should():
    configs = [run["config"] for run in RUNS]
    assert {c["dataset"] for c in configs} == {"circle", "xor", "gauss", "spiral", "reg-plane", "reg-gauss"}
    assert {c["activation"] for c in configs} == {"relu", "tanh", "sigmoid", "linear"}
    assert {c["regularization"] for c in configs} == {"none", "L1", "L2"}
    assert any(c["batchSize"] > 1 and run["train"]["n"] % c["batchSize"] for c, run in zip(configs, RUNS,
                                                                                             strict=True))
    assert any(sum(map(sum, [sum(d, []) for d in run["final_dead"]])) for run in RUNS)  # some links died


# -- the generators' definitions, with the page's own parameters -------------------------------------------------


def test_generators_follow_the_definitions_without_noise():
    circle = make_data("circle", seed=1)
    points = np.concatenate([circle.train_x, circle.test_x])
    labels = np.concatenate([circle.train_y, circle.test_y])
    radius = np.hypot(points[:, 0], points[:, 1])
    assert len(points) == 500 and (radius[labels > 0] < 2.5).all() and (radius[labels < 0] >= 3.5).all()
    xor = make_data("xor", seed=1)
    x, y = xor.train_x[:, 0], xor.train_x[:, 1]
    assert (np.abs(xor.train_x) >= 0.3).all() and (np.abs(xor.train_x) <= 5.3).all()
    assert ((x * y >= 0) == (xor.train_y > 0)).all()
    gauss = make_data("gauss", seed=1, num_samples=4000)
    blue = np.concatenate([gauss.train_x, gauss.test_x])[np.concatenate([gauss.train_y, gauss.test_y]) > 0]
    np.testing.assert_allclose(blue.mean(axis=0), [2, 2], atol=0.06)
    np.testing.assert_allclose(blue.var(axis=0), [0.5, 0.5], atol=0.06)  # variance 0.5 at noise 0, 4 at 50
    noisy = make_data("gauss", noise=50, seed=1, num_samples=4000)
    assert 3.6 < np.concatenate([noisy.train_x, noisy.test_x])[:, 0].var() < 8.5
    spiral = make_data("spiral", seed=1)
    assert np.hypot(spiral.train_x[:, 0], spiral.train_x[:, 1]).max() <= 5
    plane = make_data("reg-plane", seed=1)
    assert len(plane.train_x) + len(plane.test_x) == 1200 and plane.problem == "regression"
    np.testing.assert_allclose(plane.train_y, plane.train_x.sum(axis=1) / 10, atol=1e-12)
    bumps = make_data("reg-gauss", seed=1)
    assert np.abs(bumps.train_y).max() <= 1 and bumps.train_y.min() < -0.8 and bumps.train_y.max() > 0.8


def test_split_and_sizes():
    data = make_data("circle", train_ratio=70, seed=3, num_samples=41)  # each class `for (i = 0; i < n / 2; i++)`
    assert (len(data.train_x), len(data.test_x)) == (29, 13)  # 42 points, floor(42 * 70 / 100) to train
    assert data.train_x.dtype == np.float64 and data.train_x.shape == (29, 2) and data.train_y.shape == (29,)


# -- the trainer ----------------------------------------------------------------------------------------------------


def test_seeded_runs_repeat_and_reset_starts_again():
    a = Playground(dataset="spiral", hidden=(3, 3), seed=5)
    b = Playground(dataset="spiral", hidden=(3, 3), seed=5)
    fa, fb = a.step(3), b.step(3)
    assert fa.history == fb.history and np.array_equal(fa.surface, fb.surface)
    start = a.reset()
    assert start.epoch == 0 and a.history == [fb.history[0]]
    assert np.array_equal(a.frame().weights[0], Playground(dataset="spiral", hidden=(3, 3), seed=5).frame().weights[0])
    other = Playground(dataset="spiral", hidden=(3, 3), seed=6)
    assert not np.array_equal(other.data.train_x, a.data.train_x)
    drawn = Playground(seed=None)
    assert isinstance(drawn.settings.seed, int)  # a random seed, kept so that the run can be repeated
    with pytest.raises(InputError, match="seed"):
        drawn.reset(seed=-3)
    assert isinstance(drawn.settings.seed, int) and drawn.settings.seed >= 0  # a refused reset changes nothing
    assert a.reset(seed=6).history[0] == other.history[0]


def test_it_learns_xor_and_circle():
    xor = Playground(dataset="xor", hidden=(4,), learning_rate=0.3, batch_size=25, seed=0).step(60)
    assert xor.test_accuracy >= 0.95 and xor.history[-1][2] < xor.history[0][2] / 5  # 600 updates
    circle = Playground(dataset="circle", hidden=(4,), learning_rate=0.3, batch_size=25, seed=0).step(40)
    assert circle.test_accuracy >= 0.97


@pytest.fixture(scope="module")
def overfitted():
    """The "what is overfitting?" preset after 150 epochs (seed 1)."""
    trainer = Playground(**OVERFITTING, seed=1)
    return trainer, trainer.step(150)


def test_overfitting_preset_shows_the_test_loss_rising(overfitted):
    trainer, frame = overfitted
    history = np.asarray(frame.history)
    best = history[:, 2].argmin()
    assert history[best, 0] < 100  # the test loss falls first...
    assert history[-1, 2] > 1.8 * history[best, 2]  # ...then climbs while the training loss keeps falling
    assert history[-1, 1] < 0.01 and history[-1, 1] < history[best, 1]
    assert len(trainer.data.train_x) == 30 and trainer.settings.hidden == (8,) * 6
    assert overfitting_preset().replace(seed=1) == trainer.settings


def test_regularisation_shrinks_the_weights_and_the_overfitting(overfitted):
    _, plain = overfitted
    l2 = Playground(**{**OVERFITTING, "regularization": "L2", "regularization_rate": 0.01}, seed=1).step(150)
    size = lambda frame: sum(float(np.abs(w).sum()) for w in frame.weights)  # noqa: E731
    assert size(l2) < 0.7 * size(plain) and l2.test_loss < 0.7 * plain.test_loss
    assert l2.train_loss > plain.train_loss  # it fits the noisy training points less closely
    assert sum(int(d.sum()) for d in plain.dead) == 0
    l1 = Playground(**{**OVERFITTING, "regularization": "L1", "regularization_rate": 0.01}, seed=1).step(30)
    dead = sum(int(d.sum()) for d in l1.dead)
    assert dead > 50 and all((w[d] == 0).all() for w, d in zip(l1.weights, l1.dead, strict=True))
    assert size(l1) < 0.5 * size(plain)


def test_live_changes_and_the_batch_carry():
    trainer = Playground(dataset="gauss", batch_size=30, seed=2)  # 250 training points: 10 carried each epoch
    trainer.step(1)
    assert trainer._carry is not None and len(trainer._carry) == 10
    trainer.update(learning_rate=0.1, batch_size=25, regularization_rate=0.01)
    assert trainer.settings.learning_rate == 0.1 and trainer.epoch == 1  # no reset
    with pytest.raises(InputError, match="activation"):
        trainer.update(activation="relu")
    with pytest.raises(InputError, match="from 1 to 250"):
        trainer.update(batch_size=251)


def test_progress_reports_and_stops():
    seen = []

    def progress(step, total, info):
        seen.append((step, total, info["epoch"]))
        return step < 3

    frame = Playground(dataset="xor", hidden=(2,), seed=0).step(10, progress=progress)
    assert seen == [(1, 10, 1), (2, 10, 2), (3, 10, 3)] and frame.epoch == 3 and frame.stopped


def test_two_threads_stepping_one_trainer():
    trainer = Playground(dataset="circle", hidden=(2,), batch_size=25, seed=0)
    threads = [threading.Thread(target=trainer.step, args=(5,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trainer.epoch == 10 and [h[0] for h in trainer.history] == list(range(11))
    assert trainer.history == Playground(dataset="circle", hidden=(2,), batch_size=25, seed=0).step(10).history


def test_frame_shapes_and_orientation():
    trainer = Playground(dataset="spiral", features=["x1", "x2", "sin_x1"], hidden=(5, 3), seed=0)
    frame = trainer.step(2)
    assert frame.surface.shape == (100, 100)
    assert [m.shape for m in frame.neuron_maps] == [(3, 20, 20), (5, 20, 20), (3, 20, 20), (1, 20, 20)]
    assert [w.shape for w in frame.weights] == [(5, 3), (3, 5), (1, 3)] and [b.shape for b in frame.biases] == [
        (5,), (3,), (1,)]
    corners = trainer.predict([[-6, 6], [6, 6], [-6, -6], [6, -6]])  # top left, top right, bottom left, right
    np.testing.assert_allclose([frame.surface[0, 0], frame.surface[0, -1], frame.surface[-1, 0],
                                frame.surface[-1, -1]], corners, rtol=1e-12)
    np.testing.assert_allclose(frame.neuron_maps[0][0][0], np.linspace(-6, 6, 100).reshape(20, 5).mean(axis=1))
    assert grid_points(4).tolist()[:2] == [[-6.0, 6.0], [-2.0, 6.0]]
    json.loads(frame.to_json())  # JSON-serialisable (arrays described by their shape)


def test_render_draws_every_link_point_and_the_epoch():
    trainer = Playground(dataset="xor", hidden=(4, 2), seed=0)
    frame = trainer.step(1)
    html = render_html(frame, trainer.data)
    assert html.count("<path ") == 2 * 4 + 4 * 2 + 2 * 1  # one line per weight
    assert html.count("<circle ") == len(trainer.data.train_x)
    assert 'id="pg-epoch">000,001<' in html and html.count("data:image/png;base64,") == 2
    from pipelines.playground_svg import RenderOptions, colour, link_width

    with_test = render_html(frame, trainer.data, RenderOptions(show_test=True, lang="pl"))
    assert with_test.count("<circle ") == 500 and "Epoka" in with_test
    assert colour(-1) == "#f59322" and colour(0) == "#e8eaeb" and colour(5) == "#0877bd"
    assert link_width(0) == 1 and link_width(-5) == 10 and link_width(100) == 10


def test_the_pages_url_opens_the_same_run():
    url = PlaygroundSettings(dataset="reg-gauss", hidden=(6, 4), features=["x1", "sin_x2"], regularization="L1",
                             regularization_rate=0.001, seed=99).url()
    assert url.startswith("https://playground.tensorflow.org/#")
    state = dict(part.split("=", 1) for part in url.split("#", 1)[1].split("&"))
    assert state["seed"] == "99" and state["networkShape"] == "6,4" and state["problem"] == "regression"
    assert state["regDataset"] == "reg-gauss" and state["x"] == "true" and state["sinY"] == "true"
    assert state["y"] == "false" and state["regularization"] == "L1" and state["regularizationRate"] == "0.001"


# -- generated PyTorch code --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"dataset": "spiral", "features": ["x1", "x2", "sin_x1", "x1_x2"], "hidden": (8, 8), "regularization": "L1",
     "regularization_rate": 0.001},
    {"dataset": "reg-gauss", "hidden": (), "activation": "relu", "regularization": "L2", "regularization_rate": 0.01},
])
def test_the_pytorch_code_runs_and_is_the_same_network(kwargs, capsys):
    trainer = Playground(**kwargs, seed=3)
    code = trainer.code()
    namespace = {"__name__": "playground_snippet"}
    exec(compile(code, "playground_snippet.py", "exec"), namespace)  # noqa: S102 - our own generated script
    model = namespace["model"]
    ours = trainer.network.state_dict()
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linear] == [tuple(ours[f"layers.{i}.weight"].shape)
                                                       for i in range(len(linear))]
    model.load_state_dict({f"{model_index}.{name}": ours[f"layers.{i}.{name}"]
                           for i, model_index in enumerate(i for i, m in enumerate(model)
                                                           if isinstance(m, torch.nn.Linear))
                           for name in ("weight", "bias")})
    inputs = torch.as_tensor(np.random.default_rng(0).uniform(-6, 6, (50, 2)))
    with torch.no_grad():
        np.testing.assert_allclose(model(namespace["features"](inputs)).squeeze(1).numpy(),
                                   trainer.predict(inputs.numpy()), rtol=1e-12)
    namespace["train"](epochs=2)
    assert "epoch 2: training loss" in capsys.readouterr().out


# -- CSV points ---------------------------------------------------------------------------------------------------


def test_csv_with_header_classes_and_semicolons(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("\ufeffweight;height;kind\n" + "".join(f"{10 + i};{i % 7};{'cat' if i % 2 else 'dog'}\n"
                                                            for i in range(20)), encoding="utf-8")
    points, problem, scaling = read_csv(path)
    assert problem == "classification" and scaling.classes == ("cat", "dog") and scaling.columns == (
        "weight", "height", "kind")
    xs = np.asarray(points)[:, :2]
    np.testing.assert_allclose([xs.min(axis=0), xs.max(axis=0)], [[-5, -5], [5, 5]])
    trainer = Playground(data=path, hidden=(3,), batch_size=5, seed=0)
    assert trainer.settings.dataset == "csv" and len(trainer.data.train_x) == 10
    folder = trainer.export(tmp_path / "pets")
    pg = load("playground", model=str(folder))
    assert set(pg([[12, 3], [25, 1]]).labels) <= {"cat", "dog"}  # raw units in, class names out
    assert pg.evaluate(data=path) == trainer.evaluate()
    with pytest.raises(InputError, match="the CSV this network was trained on"):
        pg.evaluate()


def test_csv_regression_without_header(tmp_path):
    path = tmp_path / "plane.csv"
    rows = [(x, y, 3 * x - y + 100) for x in range(-3, 4) for y in range(0, 5)]
    path.write_text("\n".join(f"{x},{y},{t}" for x, y, t in rows) + "\n# a comment\n\n")
    points, problem, scaling = read_csv(path)
    assert problem == "regression" and len(points) == 35 and scaling.columns is None
    targets = np.asarray(points)[:, 2]
    assert targets.min() == -1 and targets.max() == 1
    trainer = Playground(data=path, hidden=(), activation="linear", learning_rate=0.1, batch_size=5, seed=0)
    trainer.step(100)
    pg = load("playground", model=str(trainer.export(tmp_path / "plane")))
    assert pg.problem == "regression"
    np.testing.assert_allclose(pg([[1, 2], [-2, 4]]).labels, [101, 90], atol=1.5)  # back in the CSV's units


BAD_CSV = [
    (b"", 0, "no rows"),
    (b"x1,x2,label\n", 0, "0 points"),
    (b"1,2,1\n", 0, "1 point"),
    (b"1,2,1\n3,4,-1\n5,6\n7,8,1\n", 3, "2 columns"),
    (b"1,2,1\n3,abc,-1\n5,6,1\n7,8,1\n", 2, "'abc' is not a finite number"),
    (b"1,2,1\n3,nan,-1\n5,6,1\n7,8,1\n", 2, "'nan' is not a finite number"),
    (b"1,2,1\ninf,3,-1\n5,6,1\n7,8,1\n", 2, "'inf' is not a finite number"),
    (b"1,2,1\n1e300,3,-1\n5,6,1\n7,8,1\n", 2, "not a finite number"),
    (b"1,2,1\n3,4,\n5,6,1\n7,8,1\n", 2, "an empty label"),
    (b"1,2,a\n3,4,b\n5,6,c\n7,8,a\n", 0, "3 distinct labels"),
    (b"1,2,1\n3,4,1\n5,6,1\n7,8,1\n", 0, "the target is the same (1) in every row"),
    (b"1,2,cat\n3,4,cat\n5,6,cat\n7,8,cat\n", 0, "1 distinct label"),
    (b"1,2,1\n1,4,-1\n1,6,1\n1,8,-1\n", 0, "feature x1 is the same"),
    (b"1,2,1\n3,\xff\xfe,-1\n5,6,1\n7,8,1\n", 2, "not UTF-8"),
    (b"1,2,1\n3,4\x00,1\n5,6,1\n7,8,1\n", 2, "NUL byte"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", 1, "not UTF-8"),
    (b"a,b\n1,2\n", 1, "a header of 2 columns"),
]


@pytest.mark.parametrize("content, line, problem", BAD_CSV, ids=[case[2] for case in BAD_CSV])
def test_bad_csv_names_the_file_and_line(tmp_path, content, line, problem):
    path = tmp_path / "points.csv"
    path.write_bytes(content)
    with pytest.raises(CsvDataError) as caught:
        read_csv(path)
    error = caught.value
    assert error.path == "points.csv" and error.line == line and problem in str(error), str(error)
    assert isinstance(error, InputError) and (f"points.csv:{line}" if line else "points.csv") in str(error)


def test_more_bad_csv_cases(tmp_path):
    regression = tmp_path / "r.csv"
    regression.write_text("1,2,0.5\n3,4,0.7\n5,6,x\n7,8,0.1\n")
    with pytest.raises(CsvDataError, match=r"r.csv:3: target 'x' is not a finite number"):
        read_csv(regression, problem="regression")
    with pytest.raises(CsvDataError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="`data`"):
        read_csv(12)
    few = tmp_path / "few.csv"
    few.write_text("1,2,1\n3,4,-1\n5,6,1\n7,8,-1\n")
    with pytest.raises(InputError, match="train_ratio"):
        csv_data(few, train_ratio=10)  # floor(4 * 0.1) = 0 training points
    with pytest.raises(InputError, match="batch_size"):
        Playground(data=few, batch_size=10, seed=0)  # 2 training points
    data = csv_data(few.read_bytes(), name="upload.csv")
    assert data.source == "upload.csv" and data.size == 4


# -- export, load, tiny --------------------------------------------------------------------------------------------


def test_export_and_load_round_trip(tmp_path):
    trainer = Playground(dataset="reg-plane", hidden=(3,), activation="sigmoid", num_samples=200, seed=4)
    trainer.step(5)
    folder = trainer.export(tmp_path / "plane")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["hidden"] == [3] and config["problem"] == "regression" and config["trained_with"]["epoch"] == 5
    pg = load("regression", model=str(folder))
    points = np.random.default_rng(1).uniform(-6, 6, (20, 2))
    np.testing.assert_array_equal(pg(points).outputs, trainer.predict(points))
    assert pg.evaluate() == trainer.evaluate()  # the data generated again from the saved seed
    again = pg.trainer().step(5)
    assert again.history == trainer.history  # the same settings: the same run
    with pytest.raises(ModelLoadError) as caught:
        load("digit-recognition", model=str(folder))
    assert caught.value.reason == "wrong_task" and "a Playground network" in str(caught.value)
    with pytest.raises(ModelLoadError) as caught:
        load("playground", model=str(tiny.build("digit-recognition")))
    assert caught.value.reason == "wrong_task" and "load('digit-recognition'" in str(caught.value)
    with pytest.raises(ModelLoadError, match="not_found|no such"):
        load("playground", model=str(tmp_path / "nothing"))


def test_tiny_and_the_fresh_default(tmp_path, monkeypatch):
    pg = load("tensorflow-playground", model="tiny")
    assert pg.is_tiny and pg.trained and pg([[3, 3], [-3, 3], [-3, -3], [3, -3]]).labels == [1.0, -1.0, 1.0, -1.0]
    assert pg.evaluate()["test_accuracy"] > 0.9
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    fresh = load("classification")
    assert fresh.model_id == "local:playground" and not fresh.trained
    assert fresh.network.sizes == [2, 4, 2, 1] and fresh.settings().dataset == "circle"
    with pytest.raises(InputError, match="dtype"):
        load("playground", model="tiny", dtype="float16")


def test_the_network_config_is_checked():
    with pytest.raises(InputError, match="hidden"):
        PlaygroundNet(hidden=[9])
    with pytest.raises(InputError, match="activation"):
        PlaygroundNet(activation="gelu")
    net = PlaygroundNet(features=["x", "y", "x1^2"], hidden=[], problem="regression")
    assert net.features == ["x1", "x2", "x1_squared"] and net.sizes == [3, 1]


# -- hostile input ---------------------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ("noise", float("nan")), ("noise", float("inf")), ("noise", -5), ("noise", 51), ("noise", "10"),
    ("noise", True), ("train_ratio", 5), ("train_ratio", 95), ("train_ratio", None), ("batch_size", 0),
    ("batch_size", 2.5), ("batch_size", 10**9), ("features", []), ("features", ["x3"]), ("features", 7),
    ("features", [None]), ("hidden", (4,) * 7), ("hidden", (9,)), ("hidden", (0,)), ("hidden", (-1,)),
    ("hidden", "4,x"), ("hidden", 4), ("hidden", (2.0,)), ("activation", "gelu"), ("activation", None),
    ("learning_rate", 0), ("learning_rate", -0.1), ("learning_rate", 11), ("learning_rate", float("nan")),
    ("regularization", "L3"), ("regularization", 2), ("regularization_rate", -1), ("regularization_rate", 1e300),
    ("num_samples", 1), ("num_samples", 10**6), ("num_samples", 3.0), ("seed", -2), ("seed", 2**70),
    ("seed", "42"), ("dataset", "moons"), ("dataset", ""), ("dataset", None),
]


@pytest.mark.parametrize("name, value", BAD_SETTINGS, ids=[f"{n}={v!r}"[:40] for n, v in BAD_SETTINGS])
def test_bad_settings_are_refused_by_name(name, value):
    with pytest.raises(InputError) as caught:
        PlaygroundSettings(**{name: value})
    assert caught.value.argument.split("[")[0] == name, str(caught.value)


def test_good_spellings_are_taken():
    settings = PlaygroundSettings(dataset=" Spiral ", regularization="l2", activation="ReLU",
                                  features="x₁, x₂, sin(x₁), xTimesY", hidden="8, 8,", seed=np.int64(3))
    assert settings.dataset == "spiral" and settings.regularization == "L2" and settings.activation == "relu"
    assert settings.features == ("x1", "x2", "x1_x2", "sin_x1") and settings.hidden == (8, 8)
    assert PlaygroundSettings(hidden="").hidden == () and PlaygroundSettings(regularization=None).regularization == \
        "none"
    with pytest.raises(InputError, match="not_a_setting"):
        PlaygroundSettings().replace(not_a_setting=1)


@pytest.mark.parametrize("epochs", [0, -1, 10**9, 2.5, "3", True, None])
def test_bad_step_counts(epochs):
    trainer = Playground(dataset="xor", hidden=(2,), seed=0)
    with pytest.raises(InputError, match="epochs"):
        trainer.step(epochs)
    with pytest.raises(InputError, match="progress"):
        trainer.step(1, progress="yes")
    assert trainer.epoch == 0


@pytest.mark.parametrize("points", [
    [[float("nan"), 1]], [[1, float("inf")]], [[1e300, 0]], [1, 2, 3], [[1, 2, 3]], [], "1,2", None, [["a", "b"]],
    [[True, False]], np.zeros((0, 2)), {"x": 1}, "[[NaN, 1]]", "[[1, 2]", '"text"', b"[[1, 2]]",
])
def test_bad_points(points):
    pg = load("playground", model="tiny")
    with pytest.raises(InputError, match="points"):
        pg(points)


def test_points_shapes():
    assert check_points([1, 2]).shape == (1, 2) and check_points(np.ones((3, 2), dtype=np.int32)).dtype == np.float64
    assert check_points("[[1, 2], [3.5, -4]]").tolist() == [[1, 2], [3.5, -4]]  # as `pipelines run` passes it
    assert math.isclose(float(load("playground", model="tiny")([0.5, -0.5]).outputs[0]),
                        float(load("playground", model="tiny")([[0.5, -0.5]]).outputs[0]))


def test_trainer_arguments():
    with pytest.raises(InputError, match="data"):
        Playground(dataset="csv")
    with pytest.raises(InputError, match="settings"):
        Playground(settings={"dataset": "xor"})
    with pytest.raises(InputError, match="folder"):
        Playground(dataset="xor", seed=0).export("")
    with pytest.raises(InputError, match="dataset"):
        PlaygroundSettings(dataset="csv").url()


def test_a_broken_config_is_a_load_error(tmp_path):
    import shutil

    folder = tmp_path / "net"
    shutil.copytree(tiny.build("playground"), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden": [9]}))
    with pytest.raises(ModelLoadError) as caught:
        load("playground", model=str(folder))
    assert caught.value.reason == "incompatible" and "hidden" in str(caught.value)
    (folder / "config.json").write_text(json.dumps({**config, "hidden": [5]}))  # valid, but not these weights
    with pytest.raises(ModelLoadError, match="do not fit"):
        load("playground", model=str(folder))
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load("playground", model=str(folder))
