"""metric-learning: pixels vs learned embeddings on the offline digits (tiny twin: two briefly trained networks):
shapes, seeded determinism, embeddings beating pixels, the scores against pytorch-metric-learning's own, the losses
against the library called directly, find similar, the command line, and a table of bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pipelines import InputError, ModelLoadError, load
from pipelines.metric_learning import (
    LOSSES,
    PIXELS,
    ClusteringResult,
    EmbeddingNet,
    cluster_scores,
    make_criterion,
    sklearn_digit_splits,
)


@pytest.fixture(scope="module")
def ml():
    return load("metric-learning", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def result(ml) -> ClusteringResult:
    return ml(projection="pca", seed=0)  # the 359 test pictures of scikit-learn's digits, 1438 as the reference


@pytest.fixture(scope="module")
def digits():
    return sklearn_digit_splits()


def drawing(points, size: int = 280) -> Image.Image:
    """Black strokes on white paper, as a person draws on the Sketchpad."""
    image = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(image).line(points, fill="black", width=22, joint="curve")
    return image


def test_result_shapes_and_order(ml, result):
    assert ml.representations == ["pixels", "normalized-softmax", "triplet"] and ml.is_tiny
    assert result.representations == ml.representations and not result.stopped
    assert (result.samples, result.reference_samples, result.n_clusters, result.k) == (359, 1438, 10, 5)
    for name in result.representations:
        assert result.clusters[name].shape == (359,) and set(result.clusters[name]) == set(range(10))
        assert result.maps[name].shape == (359, 2) and result.maps[name].dtype == np.float32
        assert set(result.scores[name]) == {"ari", "nmi", "silhouette", "knn_accuracy"}
    assert [row["representation"] for row in result.table()] == result.representations
    assert result.map_classes()[:3] == [str(c) for c in result.labels[:3]]
    assert result.image.size[0] > 3 * result.image.size[1] // 2  # three maps side by side
    as_json = json.loads(result.to_json())
    assert as_json["scores"]["triplet"]["ari"] == result.scores["triplet"]["ari"]
    pictures = sklearn_digit_splits()["test"][0][:4]
    vectors = ml.embed(pictures, representation="triplet")
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # unit length: the losses compare directions
    assert np.array_equal(ml.embed(pictures), vectors)  # triplet is the default
    assert np.array_equal(ml.embed(pictures, representation="pixels"), pictures.reshape(4, 784) / np.float32(255))


def test_seeded_calls_repeat_and_a_random_seed_is_reported(ml, digits):
    images, labels = digits["test"][0][:90], digits["test"][1][:90]
    first, again = (ml(images, labels, projection="pca", seed=5) for _ in range(2))
    for name in first.representations:
        assert again.scores[name] == first.scores[name]
        assert np.array_equal(again.clusters[name], first.clusters[name])
        assert np.array_equal(again.maps[name], first.maps[name])
    drawn = ml(images, labels, projection="none", representations=["triplet"])
    assert isinstance(drawn.seed, int) and drawn.maps == {}
    repeat = ml(images, labels, projection="none", representations=["triplet"], seed=drawn.seed)
    assert repeat.scores == drawn.scores and np.array_equal(repeat.clusters["triplet"], drawn.clusters["triplet"])


def test_embeddings_beat_pixels_on_ari_and_nmi(result):
    pixels = result.scores[PIXELS]
    for name in ("normalized-softmax", "triplet"):  # two seeded epochs on the training split only
        assert result.scores[name]["ari"] > pixels["ari"] + 0.1, name
        assert result.scores[name]["nmi"] > pixels["nmi"] + 0.05, name
        assert result.scores[name]["silhouette"] > pixels["silhouette"], name


def test_knn_accuracy_is_sane(result, digits):
    for name in result.representations:
        assert 0.9 < result.scores[name]["knn_accuracy"] <= 1.0, name  # chance: 0.1
    images, labels = digits["test"]
    reference, reference_labels = digits["train"]
    vectors = images.reshape(len(images), -1) / 255.0
    shuffled = np.random.default_rng(0).permutation(reference_labels)  # the reference's labels say nothing now
    scores, _ = cluster_scores(vectors, labels, reference.reshape(len(reference), -1) / 255.0, shuffled,
                               n_clusters=10, k=5, seed=0)
    assert scores["knn_accuracy"] < 0.25


def test_scores_agree_with_pytorch_metric_learning(ml, digits):
    """k=1 k-NN accuracy is the library's precision_at_1 (its MNIST examples' score: test set as queries, training
    set as the reference), and NMI its NMI when it is given the same k-means."""
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN
    from sklearn.cluster import KMeans

    images, labels = digits["test"][0][:150], digits["test"][1][:150]
    ours = ml(images, labels, k=1, seed=3, projection="none")
    calculator = AccuracyCalculator(
        include=("precision_at_1", "NMI"), k=1, device=torch.device("cpu"),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=False)),  # faiss is not installed: the library's torch kNN
        kmeans_func=lambda x, n: KMeans(n_clusters=n, n_init=4, random_state=3).fit_predict(x.numpy()))
    reference, reference_labels = digits["train"]
    for name in ml.representations:
        query = ml.embed(images, representation=name)
        gallery = ml.embed(reference, representation=name)
        theirs = calculator.get_accuracy(query, labels, gallery, reference_labels, ref_includes_query=False)
        assert theirs["precision_at_1"] == pytest.approx(ours.scores[name]["knn_accuracy"], abs=1e-12), name
        assert theirs["NMI"] == pytest.approx(ours.scores[name]["nmi"], abs=1e-12), name


@pytest.mark.parametrize("loss", LOSSES)
def test_each_loss_is_the_library_called_directly(loss):
    """`make_criterion` = the pytorch-metric-learning classes with the example / paper settings, called directly."""
    from pytorch_metric_learning import distances, losses, miners, reducers

    embeddings = torch.nn.functional.normalize(torch.randn(64, 16, generator=torch.Generator().manual_seed(1)))
    labels = torch.arange(64) % 10
    torch.manual_seed(0)
    ours = make_criterion(loss, 10, 16)
    torch.manual_seed(0)
    if loss == "triplet":  # examples/notebooks/TripletMarginLossMNIST.ipynb
        distance = distances.CosineSimilarity()
        func = losses.TripletMarginLoss(margin=0.2, distance=distance, reducer=reducers.ThresholdReducer(low=0))
        miner = miners.TripletMarginMiner(margin=0.2, distance=distance, type_of_triplets="semihard")
        theirs = func(embeddings, labels, miner(embeddings, labels))
    elif loss == "normalized-softmax":
        theirs = losses.NormalizedSoftmaxLoss(10, 16, temperature=0.05)(embeddings, labels)
    else:
        theirs = losses.ArcFaceLoss(10, 16, margin=28.6, scale=64)(embeddings, labels)
    value = ours(embeddings, labels).item()
    assert value == pytest.approx(theirs.item(), rel=1e-6) and value > 0
    if loss == "triplet":
        assert ours.mined == miner.num_triplets > 0  # the same semi-hard triplets were mined
    assert (ours.parameters() == []) == (loss == "triplet")  # the softmax family learns class weights


def test_tsne_map_and_pictures_without_spread(ml, digits):
    """The t-SNE map starts where scikit-learn's init="pca" starts (the same map); identical pictures, on which
    scikit-learn's TSNE divided by zero and crashed the process, get a flat map and no silhouette."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from pipelines.metric_learning import project

    vectors = ml.embed(digits["test"][0][:60])
    with threadpool_limits(1, "openmp"):  # t-SNE's OpenMP threads only spin on a busy 2-core machine
        expected = TSNE(n_components=2, init="pca", perplexity=min(30.0, 59 / 3), random_state=4
                        ).fit_transform(vectors)
        assert np.array_equal(project(vectors, "tsne", 4), expected.astype(np.float32))
    from sklearn.exceptions import ConvergenceWarning

    same = np.repeat(digits["test"][0][:1], 12, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):  # scikit-learn says so; nothing breaks
        flat = ml(same, [0] * 6 + [1] * 6, projection="tsne", seed=0)
    for name in flat.representations:
        assert not flat.maps[name].any() and flat.scores[name]["silhouette"] is None
        assert flat.scores[name]["ari"] == 0.0
    nearly = np.zeros((8, 4)) + np.arange(8)[:, None] * 1e-30
    assert np.isfinite(project(nearly, "tsne", 0)).all()


def test_find_similar(ml, digits):
    reference, labels = digits["train"]
    for index in (0, 777):  # a reference picture finds itself: MNIST's normalisation leaves it unchanged
        found = ml.similar(reference[index], k=3)
        assert found.representation == "triplet" and len(found.neighbours) == len(found.pictures) == 3
        assert found.neighbours[0]["index"] == index and found.neighbours[0]["distance"] < 1e-4
        assert np.array_equal(found.pictures[0], reference[index] / np.float32(255))
    seven = drawing([(80, 60), (200, 60), (120, 230)])
    for name in ml.representations:
        found = ml.similar(seven, k=8, representation=name)
        assert sum(n["label"] == 7 for n in found.neighbours) >= 6, name
        assert [n["distance"] for n in found.neighbours] == sorted(n["distance"] for n in found.neighbours)
    assert found.query.shape == (28, 28) and json.loads(found.to_json())["neighbours"][0]["class"] == "7"


def test_a_folder_of_labelled_pictures(ml, tmp_path, digits):
    images, labels = digits["test"]
    for digit in (1, 7, 0):
        (tmp_path / f"class {digit}").mkdir()
        for n, index in enumerate(np.flatnonzero(labels == digit)[:4]):
            Image.fromarray(255 - images[index]).save(tmp_path / f"class {digit}" / f"{n}.png")  # dark on light
    (tmp_path / "class 1" / "notes.txt").write_text("not a picture")
    result = ml(str(tmp_path), projection="none", k=3, seed=0)
    assert result.samples == 12 and result.n_clusters == 3 and result.class_names == ["class 0", "class 1", "class 7"]
    assert result.scores["triplet"]["ari"] > 0.5


def test_the_sklearn_split_is_the_trainers(digits):
    from finetune.image_data import load_image_data

    data = load_image_data("sklearn-digits")
    assert np.array_equal(data.test.images.numpy(), digits["test"][0])
    assert np.array_equal(data.test.labels.numpy(), digits["test"][1])


def test_command_line(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["run", "metric-learning", "sklearn-digits", "--model", "tiny", "--param", "projection=pca",
                 "--param", "representations=[\"pixels\", \"triplet\"]", "--param", "seed=1",
                 "--output", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["representations"] == ["pixels", "triplet"] and out["seed"] == 1
    assert out["scores"]["triplet"]["ari"] > out["scores"]["pixels"]["ari"]
    assert Image.open(tmp_path / "image_0.png").size[0] > 600  # the two maps
    assert main(["run", "metric-learning", "sklearn-digits", "--model", "tiny", "--param", "k=0"]) == 2
    assert "`k` must be an integer from 1 to 50" in capsys.readouterr().err


def test_loading(tmp_path, monkeypatch):
    from pipelines import tiny

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="python -m finetune.metric --loss triplet") as info:
        load("metric-learning")  # local:metric-learning, not trained yet
    assert info.value.reason == "not_found"
    monkeypatch.undo()
    with pytest.raises(ModelLoadError) as info:
        load("metric-learning", model=str(tiny.build("digit-recognition")))
    assert info.value.reason == "wrong_task" and "digit-recognition CNN" in str(info.value)
    one = load("metric-learning", model=str(tiny.build("metric-learning") / "triplet"), device="cpu")
    assert one.representations == ["pixels", "triplet"]  # one model's folder
    with pytest.raises(InputError, match="dtype"):
        load("metric-learning", model="tiny", dtype="float16")
    with pytest.raises(TypeError, match="loss must be one of"):
        EmbeddingNet(loss="contrastive")


def _corrupt(tmp_path):
    path = tmp_path / "digit.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    return str(path)


def _one_class_folder(tmp_path):
    (tmp_path / "only").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "only" / "a.png")
    return str(tmp_path)


# (id, call on the pipeline (ml, digits, tmp_path), the argument named, a part of the message)
BAD = [
    ("nan-pictures", lambda ml, d, p: ml(np.full((5, 28, 28), np.nan), [0, 1, 2, 3, 4]), "data", "NaN"),
    ("inf-pictures", lambda ml, d, p: ml(np.full((5, 784), np.inf), [0, 1, 2, 3, 4]), "data", "NaN or infinite"),
    ("empty-array", lambda ml, d, p: ml(np.zeros((0, 28, 28)), []), "data", "no pictures"),
    ("empty-list", lambda ml, d, p: ml([], []), "data", "empty list"),
    ("wrong-size", lambda ml, d, p: ml(np.zeros((5, 27, 27)), [0] * 5), "data", "shape (5, 27, 27)"),
    ("one-pixel-picture", lambda ml, d, p: ml([Image.new("L", (1, 1))] * 3, [0, 1, 2]), "data[0]", "at least 8x8"),
    ("corrupt-file", lambda ml, d, p: ml([_corrupt(p)] * 3, [0, 1, 2]), "data[0]", "cannot be read as an image"),
    ("bool-pictures", lambda ml, d, p: ml(np.zeros((5, 28, 28), bool), [0] * 5), "data", "dtype bool"),
    ("out-of-range-floats", lambda ml, d, p: ml(np.full((5, 28, 28), 255.0), [0] * 5), "data", "floats in [0, 1]"),
    ("text", lambda ml, d, p: ml("no/such/folder", None), "data", "No such folder"),
    ("one-class-folder", lambda ml, d, p: ml(_one_class_folder(p)), "data", "one sub-folder of pictures per class"),
    ("too-few", lambda ml, d, p: ml(d["test"][0][:2], [0, 1]), "data", "at least 3 pictures"),
    ("no-labels", lambda ml, d, p: ml(d["test"][0][:20]), "labels", "one class index per picture (20)"),
    ("labels-short", lambda ml, d, p: ml(d["test"][0][:20], [1, 2]), "labels", "one class index per picture"),
    ("labels-fractional", lambda ml, d, p: ml(d["test"][0][:3], [0.5, 1, 2]), "labels", "integer class"),
    ("labels-negative", lambda ml, d, p: ml(d["test"][0][:3], [-1, 1, 2]), "labels", "integer class"),
    ("labels-nan", lambda ml, d, p: ml(d["test"][0][:3], [np.nan, 1, 2]), "labels", "integer class"),
    ("labels-with-sklearn", lambda ml, d, p: ml("sklearn-digits", [1]), "labels", "its own"),
    ("k-zero", lambda ml, d, p: ml(k=0), "k", "from 1 to 50"),
    ("k-huge", lambda ml, d, p: ml(k=10**6), "k", "from 1 to 50"),
    ("k-float", lambda ml, d, p: ml(k=2.5), "k", "integer"),
    ("k-nan", lambda ml, d, p: ml(k=float("nan")), "k", "integer"),
    ("k-beyond-reference", lambda ml, d, p: ml(reference=(d["train"][0][:4], [0, 1, 2, 3]), k=5), "k",
     "reference set has 4"),
    ("clusters-one", lambda ml, d, p: ml(n_clusters=1), "n_clusters", "from 2 to 100"),
    ("clusters-too-many", lambda ml, d, p: ml(d["test"][0][:6], [0, 1, 2, 3, 4, 5], n_clusters=6), "n_clusters",
     "from 2 to 5"),
    ("projection", lambda ml, d, p: ml(projection="umap"), "projection", "one of ['tsne', 'pca', 'none']"),
    ("representations-unknown", lambda ml, d, p: ml(representations=["arcface"]), "representations", "one of"),
    ("representations-text", lambda ml, d, p: ml(representations="triplet"), "representations", "non-empty list"),
    ("seed-negative", lambda ml, d, p: ml(seed=-1), "seed", "integer from 0"),
    ("seed-huge", lambda ml, d, p: ml(seed=2**70), "seed", "integer from 0"),
    ("reference-shape", lambda ml, d, p: ml(reference=np.zeros((3, 28, 28))), "reference", "a pair"),
    ("reference-labels", lambda ml, d, p: ml(reference=(d["train"][0][:4], [0, 1])), "reference labels",
     "one class index per picture (4)"),
    ("reference-wrong-size", lambda ml, d, p: ml(reference=(np.zeros((4, 8, 8)), [0, 1, 2, 3])), "reference",
     "shape (4, 8, 8)"),
    ("labels-text", lambda ml, d, p: ml(d["test"][0][:3], ["a", "b", "c"]), "labels", "integer class"),
    ("progress-not-callable", lambda ml, d, p: ml(progress=3), "progress", "progress(step, total, info)"),
    ("similar-k-zero", lambda ml, d, p: ml.similar(d["train"][0][0], k=0), "k", "from 1 to 64"),
    ("similar-one-pixel", lambda ml, d, p: ml.similar(Image.new("L", (1, 1))), "image", "at least 8x8"),
    ("similar-blank", lambda ml, d, p: ml.similar(Image.new("RGB", (64, 64), "white")), "image", "empty drawing"),
    ("similar-corrupt", lambda ml, d, p: ml.similar(_corrupt(p)), "image", "cannot be read as an image"),
    ("similar-nan", lambda ml, d, p: ml.similar(np.full((28, 28), np.nan)), "image", "NaN"),
    ("similar-representation", lambda ml, d, p: ml.similar(d["train"][0][0], representation="tripplet"),
     "representation", "Did you mean 'triplet'"),
]


@pytest.mark.parametrize(("call", "argument", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_inputs_are_input_errors_naming_the_argument(ml, digits, tmp_path, call, argument, message):
    with pytest.raises(InputError) as info:
        call(ml, digits, tmp_path)
    assert info.value.argument == argument and message in str(info.value)


def test_still_serving_after_bad_inputs_and_progress_can_stop(ml, digits):
    images, labels = digits["test"][0][:60], digits["test"][1][:60]
    seen = []

    def stop_after_two(step, total, info):
        seen.append((step, total, info["stage"], info["representation"]))
        return step < 2

    stopped = ml(images, labels, projection="pca", seed=0, progress=stop_after_two)
    assert stopped.stopped and stopped.representations == ["pixels"]
    assert seen == [(1, 9, "embed", "pixels"), (2, 9, "cluster", "pixels")]
    alone = ml(images, labels, projection="none", seed=0)
    assert alone.representations == ml.representations


def test_two_calls_at_once_give_what_each_gives_alone(ml, digits):
    """The app serves two requests of one cached pipeline at once: no state is shared between calls."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(digits["test"][0][:60], digits["test"][1][:60], 0), (digits["test"][0][60:140], digits["test"][1][60:140],
                                                                   1)]
    alone = [ml(images, labels, projection="none", seed=seed).scores for images, labels, seed in jobs]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda job: ml(job[0], job[1], projection="none", seed=job[2]).scores, jobs))
    assert together == alone
    found = list(ThreadPoolExecutor(2).map(lambda i: ml.similar(digits["train"][0][i], k=2), (3, 4)))
    assert [f.neighbours[0]["index"] for f in found] == [3, 4]


def test_each_network_prepares_pictures_with_the_processor_saved_beside_it(tmp_path, digits):
    """A folder whose triplet network was trained on dark digits on white paper (its preprocessor_config.json says
    so) and whose softmax network has none (MNIST's defaults): pictures given as files / PIL images / a folder reach
    each network as its own training pictures were; MNIST-ready arrays reach both as they are."""
    import shutil

    from pipelines import tiny
    from pipelines.mnist_processor import DEFAULT, MnistImageProcessor

    folder = tmp_path / "mixed"
    shutil.copytree(tiny.build("metric-learning"), folder)
    paper = MnistImageProcessor(sketch_box=20, ink="dark-on-light")
    paper.save_pretrained(folder / "triplet")
    ml = load("metric-learning", model=str(folder), device="cpu")
    assert ml.processors == {"pixels": DEFAULT, "normalized-softmax": DEFAULT, "triplet": paper}
    images, labels = digits["test"][0][:30], digits["test"][1][:30]  # uint8, light digits on black, 28x28
    pictures = [Image.fromarray(image) for image in images]
    # the softmax network (MNIST's preparation): a stored 28x28 light-on-dark picture goes in as it is
    np.testing.assert_array_equal(ml.embed(pictures, "normalized-softmax"), ml.embed(images, "normalized-softmax"))
    # the triplet network: the same pictures laid out and inverted like its training pictures (white paper)
    as_trained = np.stack([paper.drawing_array(p) for p in pictures])
    assert as_trained[:, 0, 0].min() == 255  # white paper (these digits already have MNIST's 20x20 layout)
    np.testing.assert_array_equal(ml.embed(pictures, "triplet"), ml.embed(as_trained, "triplet"))
    assert not np.array_equal(ml.embed(pictures, "triplet"), ml.embed(images, "triplet"))
    assert ml.similar(pictures[0], k=1, representation="triplet").query[0, 0] == 1.0
    np.testing.assert_array_equal(ml.similar(pictures[0], k=1, representation="pixels").query,
                                  images[0].astype(np.float32) / np.float32(255))
    by_list = ml(pictures, labels, projection="none", seed=0).scores
    assert by_list["normalized-softmax"] == ml(images, labels, projection="none", seed=0).scores["normalized-softmax"]
    assert by_list["triplet"] == ml(as_trained, labels, projection="none", seed=0).scores["triplet"]
    # a folder <class>/<picture> of the same pictures: the same per-network preparation
    for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        (tmp_path / "pics" / str(label)).mkdir(parents=True, exist_ok=True)
        picture.save(tmp_path / "pics" / str(label) / f"{i:02d}.png")
    files = sorted((tmp_path / "pics").glob("*/*.png"))
    order = [int(f.stem) for f in files]
    np.testing.assert_array_equal(ml.embed(str(tmp_path / "pics"), "triplet"), ml.embed(as_trained[order], "triplet"))
    # a preparation mmhub does not make, or a broken file, is refused at load time (never silently MNIST's)
    (folder / "triplet" / "preprocessor_config.json").write_text('{"image_processor_type": "MnistImageProcessor", '
                                                                  '"ink": "purple"}')
    with pytest.raises(ModelLoadError, match="ink"):
        load("metric-learning", model=str(folder), device="cpu")
    (folder / "triplet" / "preprocessor_config.json").write_bytes(b"\xff\x00")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load("metric-learning", model=str(folder), device="cpu")
