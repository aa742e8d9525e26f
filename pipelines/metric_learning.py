"""Clustering and metric learning: k-means on raw digits against k-means on embeddings learned with a triplet loss
and with a softmax-family loss, their 2-D maps, the scores people expect, and "find similar".

The lecture (``seed/lecture.txt``) names distance metric learning, "softmax-loss and triplet-loss", as the better
way to group data than an autoencoder's code. Here a small CNN (`EmbeddingNet`) maps a 28x28 digit to a point on the
unit sphere, trained by ``python -m finetune.metric`` with pytorch-metric-learning's losses (`make_criterion`):

- ``triplet``: `TripletMarginLoss` on the triplets a `TripletMarginMiner` finds in each batch ("semihard"), cosine
  similarity, margin 0.2, `ThresholdReducer(low=0)`: the settings of the library's ``TripletMarginLossMNIST``
  example notebook;
- ``normalized-softmax`` (Zhai & Wu 2018, "Classification is a Strong Baseline for Deep Metric Learning":
  temperature 0.05) and ``arcface`` (Deng et al. 2019: margin 28.6 degrees = 0.5 rad, scale 64): softmax over
  cosine similarities to one learned weight vector per class; each has its own parameters and optimizer, as the
  library's docs require.

The pipeline compares representations on one set of labelled pictures: ``pixels`` (the 784 raw values) and each
trained embedding. For each it runs scikit-learn's k-means (``n_init=4``, seeded, as scikit-learn's "A demo of
K-Means clustering on the handwritten digits data") and reports:

- ``ari``: adjusted Rand index of the clusters against the true classes (1 = the same partition, ~0 = chance);
- ``nmi``: normalised mutual information of the same (1 = the same partition, 0 = independent);
- ``silhouette``: mean silhouette coefficient of the k-means clusters in that space (euclidean, as in that demo;
  on at most 2,000 seeded pictures above that size): how compact and apart the clusters are, no labels needed;
- ``knn_accuracy``: k-nearest-neighbour accuracy, each picture classified by a majority vote of its `k` nearest
  pictures of a labelled *reference* set (`KNeighborsClassifier`; default: the training split of the digits). With
  ``k=1`` this is pytorch-metric-learning's ``precision_at_1`` (tested), the score of its MNIST examples.

and a 2-D map, coloured by the true class: t-SNE by default (scikit-learn's `TSNE`, PCA initialisation, seeded),
because it keeps each point's nearest neighbours together, which is exactly what a metric is learned for and what
k-means and k-NN use, so clusters show as clusters; its distances between clusters and their sizes mean nothing
(Wattenberg et al. 2016, "How to Use t-SNE Effectively"). ``projection="pca"`` is the linear, instant
alternative whose axes are the two directions of largest variance (ten classes overlap in any two of them).

>>> from pipelines import load
>>> ml = load("metric-learning", model="tiny")        # or local:metric-learning (python -m finetune.metric first)
>>> result = ml(seed=0)                                # scikit-learn's digits: 359 test pictures, 1438 reference
>>> [(row["representation"], round(row["ari"], 2)) for row in result.table()]
[('pixels', 0.58), ('normalized-softmax', 0.77), ('triplet', 0.87)]
>>> result.image.save("maps.png")                      # the maps side by side
>>> ml.similar("my_seven.png", k=8).neighbours[0]      # {'index': ..., 'label': 7, 'class': '7', 'distance': ...}

Pictures given as files, PIL images, drawings or a folder are prepared for each network as its training pictures
were: ``python -m finetune.metric`` saves its data's preparation beside the weights (``preprocessor_config.json``,
`pipelines.mnist_processor`), loaded into ``ml.processors``; folders without one get MNIST's (crop, fit 20x20, centre
by mass). MNIST-ready arrays go in as they are.

Every input is checked first (`InputError` naming it): pictures, labels, `k`, `n_clusters`, `projection`, `seed`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from pipelines import validate
from pipelines.base import Pipeline, ProgressCallback, Result, report_progress
from pipelines.errors import InputError, ModelLoadError
from pipelines.mnist_processor import DEFAULT as DEFAULT_PROCESSOR
from pipelines.mnist_processor import MnistImageProcessor

logger = logging.getLogger(__name__)

TASK = "metric-learning"
TRAIN_COMMAND = "python -m finetune.metric"
PIXELS = "pixels"
TRIPLET = "triplet"
SOFTMAX_LOSSES = ("normalized-softmax", "arcface")
LOSSES = (TRIPLET, *SOFTMAX_LOSSES)
#: The order of representations in results, tables and maps: raw pixels, the softmax family, the triplet loss.
ORDER = (PIXELS, *SOFTMAX_LOSSES, TRIPLET)
PROJECTIONS = ("tsne", "pca", "none")
SCORES = ("ari", "nmi", "silhouette", "knn_accuracy")
SKLEARN_DIGITS = "sklearn-digits"
#: Mean and standard deviation of MNIST's training pixels in [0, 1] (pytorch/examples mnist/main.py Normalize, also
#: in pytorch-metric-learning's MNIST notebooks): the network standardises its input with them (saved in config.json).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SIZE = 28
EMBED_BATCH = 1000  # pictures per forward pass when embedding (the trainer and the pipeline alike)
MAP_POINTS = 2000  # the maps show at most this many pictures (a seeded choice); the scores use all of them
SILHOUETTE_SAMPLE = 2000  # silhouette on a seeded sample of this many above it (the k-means demo samples 300): O(N²)
KMEANS_INIT = 4  # k-means restarts (sklearn's k-means demo: n_init=4)
MAX_PICTURES = 70_000  # MNIST's whole size
MAX_K, MAX_CLUSTERS, MAX_SIMILAR = 50, 100, 64
MAX_SIDE = 4096


# ----------------------------------------------------------------------------------------------------------------
# the network and its losses


class EmbeddingNet(nn.Module, PyTorchModelHubMixin, library_name="mmhub", pipeline_tag="image-feature-extraction",
                   tags=["mmhub", "mnist", "metric-learning", "pytorch-metric-learning"],
                   repo_url="https://github.com/KevinMusgrave/pytorch-metric-learning"):
    """A small CNN from a 28x28 picture to a unit-length embedding: conv 5x5 -> 2x2 max pool -> conv 5x5 -> 2x2 max
    pool -> fully connected -> ReLU -> fully connected, ReLU after each convolution.

    Input: ``(B, 1, 28, 28)`` white-on-black pictures in [0, 1], standardised inside with `mean` / `std` (the
    picture preparation travels in config.json with the weights). Output: ``(B, embedding_dim)``, L2-normalised:
    every loss here compares directions (cosine similarity), so the embedding is the direction. `loss` records which
    loss trained it (``triplet``, ``normalized-softmax`` or ``arcface``).
    """

    def __init__(self, embedding_dim: int = 64, conv1_channels: int = 16, conv2_channels: int = 32,
                 hidden_units: int = 128, loss: str = TRIPLET, mean: float = MNIST_MEAN, std: float = MNIST_STD,
                 labels: list[str] | None = None):
        super().__init__()
        if loss not in LOSSES:
            raise TypeError(f"loss must be one of {list(LOSSES)}; got {loss!r}")
        self.loss = loss
        self.mean, self.std = float(mean), float(std)
        self.labels = list(labels) if labels is not None else [str(i) for i in range(10)]
        self.conv1 = nn.Conv2d(1, conv1_channels, 5, padding=2)  # 28 -> 28, pooled to 14
        self.conv2 = nn.Conv2d(conv1_channels, conv2_channels, 5, padding=2)  # 14 -> 14, pooled to 7
        self.fc1 = nn.Linear(conv2_channels * 7 * 7, hidden_units)
        self.fc2 = nn.Linear(hidden_units, embedding_dim)

    @property
    def embedding_dim(self) -> int:
        return self.fc2.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.normalize(self.fc2(F.relu(self.fc1(x.flatten(1)))), dim=1)


@dataclasses.dataclass
class Criterion:
    """A pytorch-metric-learning loss with its miner (triplet) or its own learned class weights (softmax family).

    ``criterion(embeddings, labels)`` is the batch loss: ``loss(embeddings, labels, miner(embeddings, labels))``
    with a miner, else ``loss(embeddings, labels)``. `parameters()` are the loss's own weights (empty for triplet):
    the softmax-family losses "require an optimizer" of their own (the library's docs).
    """

    name: str
    loss: Any
    miner: Any = None

    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.miner is not None:
            return self.loss(embeddings, labels, self.miner(embeddings, labels))
        return self.loss(embeddings, labels)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.loss.parameters())

    @property
    def mined(self) -> int | None:
        """Triplets the miner found in the last batch (None without a miner)."""
        return int(self.miner.num_triplets) if self.miner is not None else None


def make_criterion(loss: str, num_classes: int, embedding_dim: int, *, margin: float = 0.2,
                   type_of_triplets: str = "semihard", arcface_margin: float = 28.6, arcface_scale: float = 64.0,
                   temperature: float = 0.05) -> Criterion:
    """The loss `loss` of pytorch-metric-learning with the settings its examples and papers use.

    - ``triplet``: ``TripletMarginLoss(margin, distance=CosineSimilarity(), reducer=ThresholdReducer(low=0))`` and
      ``TripletMarginMiner(margin, distance=CosineSimilarity(), type_of_triplets)``: the library's
      examples/notebooks/TripletMarginLossMNIST.ipynb (margin 0.2, "semihard");
    - ``normalized-softmax``: ``NormalizedSoftmaxLoss(num_classes, embedding_dim, temperature)`` (0.05: the paper's,
      the library's default);
    - ``arcface``: ``ArcFaceLoss(num_classes, embedding_dim, margin=arcface_margin, scale=arcface_scale)`` (28.6
      degrees and 64: the paper's, the library's defaults).
    """
    from pytorch_metric_learning import distances, losses, miners, reducers

    if loss == TRIPLET:
        distance = distances.CosineSimilarity()
        return Criterion(loss, losses.TripletMarginLoss(margin=margin, distance=distance,
                                                        reducer=reducers.ThresholdReducer(low=0)),
                         miners.TripletMarginMiner(margin=margin, distance=distance,
                                                   type_of_triplets=type_of_triplets))
    if loss == "normalized-softmax":
        return Criterion(loss, losses.NormalizedSoftmaxLoss(num_classes, embedding_dim, temperature=temperature))
    if loss == "arcface":
        return Criterion(loss, losses.ArcFaceLoss(num_classes, embedding_dim, margin=arcface_margin,
                                                  scale=arcface_scale))
    raise InputError("loss", loss, f"one of {list(LOSSES)}")


def embed_pictures(model: EmbeddingNet | None, pictures: torch.Tensor) -> np.ndarray:
    """Vectors ``(N, D)`` float32 of ``(N, 1, 28, 28)`` pictures in [0, 1]: the model's embeddings (`EMBED_BATCH` at
    a time, no gradients), or the 784 raw pixels with `model` None."""
    if model is None:
        return pictures.reshape(len(pictures), -1).float().cpu().numpy()
    device = next(model.parameters()).device
    with torch.inference_mode():
        parts = [model(batch.to(device)).float().cpu() for batch in pictures.split(EMBED_BATCH)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, model.embedding_dim), dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# the scores and the maps


def cluster_scores(vectors: np.ndarray, labels: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray, *,
                   n_clusters: int, k: int, seed: int) -> tuple[dict[str, float | None], np.ndarray]:
    """k-means on `vectors` and the four scores (see the module docstring); returns ``(scores, cluster of each)``.

    The silhouette is None when k-means finds fewer than 2 distinct clusters (it is undefined then).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    random_state = seed % 2**32  # numpy's RandomState range
    clusters = KMeans(n_clusters=n_clusters, n_init=KMEANS_INIT, random_state=random_state).fit_predict(vectors)
    found = len(np.unique(clusters))
    silhouette = None
    if 2 <= found <= len(vectors) - 1:
        sample = SILHOUETTE_SAMPLE if len(vectors) > SILHOUETTE_SAMPLE else None
        silhouette = float(silhouette_score(vectors, clusters, metric="euclidean", sample_size=sample,
                                            random_state=random_state))
    knn = KNeighborsClassifier(n_neighbors=k).fit(reference, reference_labels)
    scores = {"ari": float(adjusted_rand_score(labels, clusters)),
              "nmi": float(normalized_mutual_info_score(labels, clusters)),
              "silhouette": silhouette,
              "knn_accuracy": float(knn.score(vectors, labels))}
    return scores, clusters.astype(np.int64)


def project(vectors: np.ndarray, projection: str, seed: int) -> np.ndarray:
    """``(N, 2)`` float32 coordinates of `vectors`: PCA, or t-SNE (perplexity 30, less for few points) started from
    the PCA map scaled to a standard deviation of 1e-4 as scikit-learn's ``init="pca"`` does; seeded.

    The PCA start is computed here so that a set without spread (identical pictures, or nearly) keeps its PCA map:
    scikit-learn's TSNE divides by that spread and crashed the process on such input (a segmentation fault).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    random_state = seed % 2**32
    if len(vectors) < 3 or np.ptp(vectors, axis=0).max() == 0:  # nothing to spread
        return np.zeros((len(vectors), 2), dtype=np.float32)
    start = PCA(n_components=2, random_state=random_state).fit_transform(vectors).astype(np.float32)
    spread = float(np.std(start[:, 0]))
    if projection == "pca" or not np.isfinite(start).all() or not spread > 1e-6:
        return np.nan_to_num(start)
    perplexity = min(30.0, max(1.0, (len(vectors) - 1) / 3))  # TSNE needs perplexity < n_samples
    points = TSNE(n_components=2, init=start / spread * 1e-4, perplexity=perplexity, random_state=random_state
                  ).fit_transform(vectors)
    return np.asarray(points, dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# pictures in, checked


def sklearn_digit_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits made MNIST-like (`pipelines.mnist.sklearn_digits`), split as ``finetune.image_data``
    splits ``sklearn-digits``: every fifth picture to ``test`` (359), the rest ``train`` (1438)."""
    from pipelines.mnist import sklearn_digits

    images, labels = sklearn_digits()
    test = np.arange(len(labels)) % 5 == 4
    return {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}


@functools.lru_cache(maxsize=1)
def _sklearn_tensors() -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    return {name: (to_tensor(images, "data"), labels) for name, (images, labels) in sklearn_digit_splits().items()}


PICTURES = ("MNIST-ready pictures: an array (N, 28, 28) or (N, 784), uint8 0-255 or floats in [0, 1], white digits on "
            "black; or a list of pictures of digits (files, PIL images, arrays, sketches), each prepared as the "
            "network's training pictures were; or 'sklearn-digits', or a folder <class>/<picture> of labelled "
            "pictures")


def to_tensor(images: Any, argument: str) -> torch.Tensor:
    """``(N, 1, 28, 28)`` float32 in [0, 1] from an array or tensor of MNIST-ready pictures; `InputError` otherwise."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer)
                                       or np.issubdtype(array.dtype, np.floating)):
        raise InputError(argument, f"an array of dtype {array.dtype}", PICTURES)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[1] == SIZE * SIZE:
        array = array.reshape(-1, SIZE, SIZE)
    if array.ndim != 3 or array.shape[1:] != (SIZE, SIZE):
        raise InputError(argument, f"an array of shape {array.shape}", PICTURES,
                         "Pass a list of pictures instead to have each one normalised to 28x28.")
    if len(array) == 0:
        raise InputError(argument, "no pictures", "at least 3 pictures")
    if len(array) > MAX_PICTURES:
        raise InputError(argument, f"{len(array)} pictures", f"at most {MAX_PICTURES} pictures")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError(argument, "pictures with NaN or infinite values", PICTURES)
        if array.min() < 0.0 or array.max() > 1.0:
            raise InputError(argument, f"floats from {array.min():g} to {array.max():g}", "floats in [0, 1]",
                             "Divide 0-255 pixel values by 255 (or pass them as uint8).")
        floats = array.astype(np.float32)
    else:
        if array.min() < 0 or array.max() > 255:
            raise InputError(argument, f"integers from {array.min()} to {array.max()}", "integers from 0 to 255")
        floats = array.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(floats)).unsqueeze(1)


def _picture_list(values: Any, argument: str, processors: list[MnistImageProcessor]) -> list[torch.Tensor]:
    """Each picture of a list prepared by each of `processors` (`MnistImageProcessor.prepare`: a picture stored as
    the training pictures were goes in as in training, a drawing is laid out like them; sizes checked as digit
    recognition does): one ``(N, 1, 28, 28)`` tensor per processor. Each picture is decoded once."""
    from pipelines.mnist import sketch_image

    out: list[list[np.ndarray]] = [[] for _ in processors]
    for i, value in enumerate(values):
        name = f"{argument}[{i}]"
        picture = sketch_image(value, name)
        validate.image_size(name, picture.size, min_side=8, max_side=MAX_SIDE)
        for prepared, processor in zip(out, processors, strict=True):
            prepared.append(processor.prepare(picture, argument=name, sketch=isinstance(value, dict)))
    return [torch.from_numpy(np.stack(prepared)).unsqueeze(1) for prepared in out]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _folder(folder: Path, argument: str, processors: list[MnistImageProcessor]
            ) -> tuple[list[torch.Tensor], np.ndarray, list[str]]:
    """``<folder>/<class>/<picture>``: the pictures (prepared by each of `processors`, see `_picture_list`), their
    class indices and the class names (sorted)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(c, f) for c, name in enumerate(classes) for f in sorted((folder / name).iterdir())
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if len(classes) < 2 or not files:
        raise InputError(argument, str(folder), "a folder with one sub-folder of pictures per class (at least 2)",
                         f"It has {len(classes)} sub-folder(s) and {len(files)} picture(s).")
    if len(files) > MAX_PICTURES:
        raise InputError(argument, f"{len(files)} pictures", f"at most {MAX_PICTURES} pictures")
    pictures = _picture_list([str(f) for _, f in files], argument, processors)
    return pictures, np.array([c for c, _ in files], dtype=np.int64), classes


def read_labels(labels: Any, count: int, argument: str = "labels") -> np.ndarray:
    """``(count,)`` int64 class indices (>= 0) from a list / array of integers; `InputError` otherwise."""
    if labels is None:
        raise InputError(argument, None, f"one class index per picture ({count})",
                         "The scores compare the clusters with the true classes.")
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1 or len(array) != count:
        raise InputError(argument, f"{array.shape[0] if array.ndim == 1 else array.shape} labels",
                         f"one class index per picture ({count})")
    if np.issubdtype(array.dtype, np.floating) and np.isfinite(array).all() and (array == np.round(array)).all():
        array = array.astype(np.int64)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise InputError(argument, f"labels of dtype {array.dtype}", "integer class indices from 0")
    if array.min() < 0:
        raise InputError(argument, f"a label {array.min()}", "integer class indices from 0")
    return array.astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass
class ClusteringResult(Result):
    """Each representation's k-means clusters, scores and 2-D map on one set of labelled pictures.

    Attributes:
        representations (`list[str]`): ``pixels`` and the embeddings compared, in `ORDER`.
        scores (`dict[str, dict]`): per representation ``ari``, ``nmi``, ``silhouette`` (None when undefined) and
            ``knn_accuracy``.
        clusters (`dict[str, np.ndarray]`): per representation the k-means cluster of each picture ``(N,)``.
        maps (`dict[str, np.ndarray]`): per representation ``(M, 2)`` map coordinates of the pictures `map_index`
            (empty with ``projection="none"``).
        map_index (`np.ndarray`): ``(M,)`` which pictures the maps show (all, up to `MAP_POINTS`).
        labels (`np.ndarray`): ``(N,)`` the true class of each picture; `class_names` names them.
        n_clusters, k, projection, seed: the settings used (`seed`: the one drawn when None was passed).
        samples, reference_samples (`int`): pictures clustered, pictures in the k-NN reference set.
        stopped (`bool`): the progress callback asked to stop; the representations done so far are here.
    """

    representations: list[str]
    scores: dict[str, dict[str, float | None]]
    clusters: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]
    map_index: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    n_clusters: int
    k: int
    projection: str
    seed: int
    samples: int
    reference_samples: int
    stopped: bool = False

    def table(self) -> list[dict[str, Any]]:
        """One row per representation: ``{"representation", "ari", "nmi", "silhouette", "knn_accuracy"}``."""
        return [{"representation": name, **self.scores[name]} for name in self.representations]

    def map_classes(self) -> list[str]:
        """The class name of each point on the maps."""
        return [self._name(int(label)) for label in self.labels[self.map_index]]

    def _name(self, label: int) -> str:
        return self.class_names[label] if label < len(self.class_names) else str(label)

    @property
    def image(self) -> Any:
        """The maps side by side as one PIL picture (matplotlib), each point coloured by its true class."""
        return render_maps(self)


@dataclasses.dataclass
class SimilarResult(Result):
    """The pictures of the reference set nearest to one query picture in one representation.

    Attributes:
        query (`np.ndarray`): ``(28, 28)`` float32, the picture as the network saw it.
        representation (`str`): ``pixels`` or the embedding searched.
        neighbours (`list[dict]`): nearest first: ``{"index", "label", "class", "distance"}`` (euclidean: between
            unit vectors for an embedding, ``sqrt(2 - 2 cos)``).
        pictures (`list[np.ndarray]`): each neighbour's ``(28, 28)`` float32 picture.
    """

    query: np.ndarray
    representation: str
    neighbours: list[dict[str, Any]]
    pictures: list[np.ndarray]


def render_maps(result: ClusteringResult) -> Any:
    """A PNG-ready PIL picture: one scatter plot per representation with a map, points coloured by class (tab10)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from PIL import Image

    names = [name for name in result.representations if name in result.maps]
    if not names:
        raise InputError("projection", result.projection, "'tsne' or 'pca' for a picture of the maps")
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.4), dpi=100, squeeze=False)
    labels = result.labels[result.map_index]
    for ax, name in zip(axes[0], names, strict=True):
        points = result.maps[name]
        for c in np.unique(labels):
            mask = labels == c
            ax.scatter(points[mask, 0], points[mask, 1], s=6, color=plt.cm.tab10(int(c) % 10),
                       label=result._name(int(c)))
        score = result.scores[name]
        ax.set_title(f"{name}\nARI {score['ari']:.2f} · NMI {score['nmi']:.2f} · {result.k}-NN "
                     f"{score['knn_accuracy']:.2f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2, frameon=False)
    title = f"{'t-SNE' if result.projection == 'tsne' else 'PCA'} maps of {len(labels)} pictures, coloured by class"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# ----------------------------------------------------------------------------------------------------------------
# the pipeline


class MetricLearningPipeline(Pipeline):
    """Pixels vs learned embeddings: k-means, scores and maps on labelled digits; nearest neighbours of a drawing.

    >>> from pipelines import load
    >>> ml = load("metric-learning")                     # local:metric-learning: what python -m finetune.metric trains
    >>> ml(seed=0).table()                               # pixels / normalized-softmax / triplet on sklearn's digits
    >>> ml(images, labels, reference=(train_images, train_labels), projection="pca", k=1)
    >>> ml.similar(sketch, k=8, representation="triplet").neighbours
    """

    task = TASK

    def __init__(self, models: dict[str, EmbeddingNet], model_id: str, device: Any, dtype: Any,
                 processors: dict[str, MnistImageProcessor] | None = None):
        super().__init__(model_id, device, dtype)
        self.models = {name: models[name] for name in ORDER if name in models}
        processors = processors or {}
        networks = {name: processors.get(name, DEFAULT_PROCESSOR) for name in self.models}
        #: per representation, how a picture given as a file, PIL image, drawing or folder becomes its input: each
        #: network's preparation saved with it (``preprocessor_config.json``, `pipelines.mnist_processor`; the MNIST
        #: defaults for folders without one); ``pixels`` takes the first network's (MNIST's with none).
        self.processors = {PIXELS: next(iter(networks.values()), DEFAULT_PROCESSOR), **networks}
        self._reference_vectors: dict[str, np.ndarray] = {}  # the default reference set's, per representation

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> MetricLearningPipeline:
        """Load the embedding networks of `model`: ``local:metric-learning`` (the default: one sub-folder per loss
        trained there by ``python -m finetune.metric``), a folder holding such sub-folders, one model's folder
        (config.json + model.safetensors) or a Hub id of one.

        Args:
            model (`str`): as above, or the tiny twin's folder.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype: float32 only (the networks are small); anything else is an `InputError`.
            revision (`str`, *optional*): a Hub revision.
        """
        from pipelines import lab
        from pipelines.base import is_local_path, resolve_device

        if dtype not in (None, "float32", torch.float32, "auto"):
            raise InputError("dtype", dtype, "float32 (or None) for these small networks")
        device = resolve_device(device)
        path = Path(lab.resolve(model)).expanduser()
        folders = [str(path)]
        if (lab.is_local_id(model) or is_local_path(str(path))) and path.is_dir() and not (path / lab.CONFIG).exists():
            folders = [str(sub) for sub in sorted(path.iterdir()) if (sub / lab.CONFIG).is_file()]
            if not folders:
                raise ModelLoadError(model, "not_found", f"no trained {TASK} model in {path} yet (neither a "
                                                         f"{lab.CONFIG} nor sub-folders with one). {train_hint()}")
        elif lab.is_local_id(model) and not path.is_dir():
            raise ModelLoadError(model, "not_found", f"no trained {TASK} model in {path} yet. {train_hint()}")
        models: dict[str, EmbeddingNet] = {}
        processors: dict[str, MnistImageProcessor] = {}
        for folder in folders:
            net = lab.load_module(EmbeddingNet, folder, task=TASK, train_command=TRAIN_COMMAND, device=device,
                                  revision=revision)
            if net.loss in models:
                raise ModelLoadError(model, "incompatible", f"two of its models were trained with the {net.loss} "
                                                            f"loss; keep one per loss ({folder}).")
            models[net.loss] = net
            processors[net.loss] = MnistImageProcessor.from_pretrained(folder, revision=revision, task=TASK)
        return cls(models, model, device, torch.float32, processors)

    @property
    def representations(self) -> list[str]:
        """``pixels`` and the loss of each loaded network, in `ORDER`."""
        return [PIXELS, *self.models]

    @property
    def class_names(self) -> list[str]:
        first = next(iter(self.models.values()), None)
        return list(first.labels) if first is not None else [str(i) for i in range(10)]

    def vectors(self, representation: str, pictures: torch.Tensor) -> np.ndarray:
        """``(N, D)`` vectors of checked pictures (`to_tensor`) in one representation (`embed_pictures`)."""
        return embed_pictures(self.models.get(representation), pictures)

    def embed(self, images: Any, representation: str | None = None) -> np.ndarray:
        """The ``(N, D)`` float32 vectors of `images` (see `__call__`'s `data`) in `representation` (default: the
        triplet network when loaded, else the first one; ``pixels``: the 784 raw values)."""
        representation = self._representation(representation)
        pictures, _, _ = self._data(images, None, argument="images", need_labels=False)
        return self.vectors(representation, pictures[representation])

    def _representation(self, value: Any) -> str:
        if value is None:
            return TRIPLET if TRIPLET in self.models else self.representations[-1]
        return validate.choice("representation", value, self.representations)

    def _per_representation(self, tensors: list[torch.Tensor] | torch.Tensor) -> dict[str, torch.Tensor]:
        """``{representation: pictures}``: one tensor for all (MNIST-ready arrays), or one per distinct processor in
        the order of `_distinct_processors`."""
        if isinstance(tensors, torch.Tensor):
            return {name: tensors for name in self.representations}
        by = dict(zip(self._distinct_processors(), tensors, strict=True))
        return {name: by[self.processors[name]] for name in self.representations}

    def _distinct_processors(self) -> list[MnistImageProcessor]:
        return list(dict.fromkeys(self.processors.values()))

    def _data(self, data: Any, labels: Any, argument: str = "data", need_labels: bool = True
              ) -> tuple[dict[str, torch.Tensor], np.ndarray | None, list[str] | None]:
        """``({representation: pictures}, labels, class names or None)`` of `data` (see `__call__`), checked;
        pictures given as files / PIL images / drawings / a folder are prepared with each representation's
        processor, arrays are MNIST-ready and the same for all."""
        names = None
        if data is None or isinstance(data, str) and data == SKLEARN_DIGITS:
            if labels is not None:
                raise InputError("labels", "labels", f"no labels with {SKLEARN_DIGITS!r} (it has its own)")
            pictures, digit_labels = _sklearn_tensors()["test"]
            return self._per_representation(pictures), digit_labels, None
        if isinstance(data, (str, os.PathLike)):
            folder = Path(data).expanduser()
            if not folder.is_dir():
                raise InputError(argument, str(data), PICTURES, f"No such folder: {str(folder)!r}.")
            if labels is not None:
                raise InputError("labels", "labels", "no labels with a folder (its sub-folders are the classes)")
            tensors, found, names = _folder(folder, argument, self._distinct_processors())
            return self._per_representation(tensors), found, names
        if isinstance(data, (list, tuple)):
            if not data:
                raise InputError(argument, "an empty list", "at least 3 pictures")
            if len(data) > MAX_PICTURES:
                raise InputError(argument, f"{len(data)} pictures", f"at most {MAX_PICTURES} pictures")
            pictures = self._per_representation(_picture_list(data, argument, self._distinct_processors()))
        elif isinstance(data, (np.ndarray, torch.Tensor)) or hasattr(data, "__array__"):
            pictures = self._per_representation(to_tensor(data, argument))
        else:
            raise InputError(argument, data, PICTURES)
        label_argument = "labels" if argument == "data" else f"{argument} labels"
        count = len(pictures[PIXELS])
        found = read_labels(labels, count, label_argument) if need_labels or labels is not None else None
        return pictures, found, names

    def _reference(self, reference: Any) -> tuple[dict[str, torch.Tensor], np.ndarray, bool]:
        """``({representation: pictures}, labels, is the default set)`` of the k-NN / "find similar" reference
        set."""
        if reference is None or isinstance(reference, str) and reference == SKLEARN_DIGITS:
            pictures, labels = _sklearn_tensors()["train"]
            return self._per_representation(pictures), labels, True
        if isinstance(reference, (str, os.PathLike)):
            pictures, labels, _ = self._data(reference, None, argument="reference")
            return pictures, labels, False
        if not isinstance(reference, (tuple, list)) or len(reference) != 2:
            raise InputError("reference", reference, f"None ({SKLEARN_DIGITS!r}'s training split), a folder "
                                                     "<class>/<picture>, or a pair (pictures, labels)")
        images, labels = reference
        pictures, found, _ = self._data(images, labels, argument="reference")
        return pictures, found, False

    def _reference_vectors_of(self, representation: str, pictures: torch.Tensor, default: bool) -> np.ndarray:
        if not default:
            return self.vectors(representation, pictures)
        if representation not in self._reference_vectors:  # the default set, embedded once per network
            self._reference_vectors[representation] = self.vectors(representation, pictures)
        return self._reference_vectors[representation]

    def __call__(self, data: Any = None, labels: Any = None, *, reference: Any = None, n_clusters: int | None = None,
                 k: int = 5, projection: str = "tsne", representations: list[str] | None = None,
                 seed: int | None = None, progress: ProgressCallback | None = None) -> ClusteringResult:
        """Cluster `data` in each representation with k-means; score it against `labels`; map it to 2-D.

        Args:
            data: None or ``"sklearn-digits"`` (scikit-learn's digits made MNIST-like, the 359 pictures of the test
                split); an array ``(N, 28, 28)`` / ``(N, 784)`` of MNIST-ready pictures (uint8, or floats in [0,
                1]; white on black), used as they are; a list of pictures of digits (paths, PIL images, arrays,
                sketches) or a folder ``<class>/<picture>``, each prepared for each representation as its network's
                training pictures were (``self.processors``). 3 to 70,000 pictures.
            labels: the class index of each picture (required for an array or a list).
            reference: the labelled set k-NN votes from: None (the 1,438 training pictures of the same digits), a
                folder, or ``(pictures, labels)``.
            n_clusters (`int`, *optional*): clusters for k-means, 2 to 100 and fewer than the pictures; default the
                number of distinct labels.
            k (`int`, *optional*, defaults to 5): neighbours of the k-NN vote, 1 to 50 and at most the reference size.
            projection (`str`, *optional*, defaults to ``"tsne"``): the 2-D maps: ``tsne``, ``pca`` or ``none``.
            representations (`list[str]`, *optional*): which of `representations` to compare (default all).
            seed (`int`, *optional*): k-means, silhouette sampling and the maps; None draws one (in the result).
            progress: ``progress(step, total, info)`` after each stage of each representation; False stops.
        """
        projection = validate.choice("projection", projection, PROJECTIONS)
        seed = validate.seed(seed)
        progress = validate.callback("progress", progress, "progress(step, total, info)")
        wanted = self.representations if representations is None else self._wanted(representations)
        prepared, truth, names = self._data(data, labels)
        assert truth is not None
        count = len(truth)
        if count < 3:
            raise InputError("data", f"{count} picture(s)", "at least 3 pictures")
        ref_prepared, ref_labels, default_reference = self._reference(reference)
        ref_count = len(ref_labels)
        k = validate.integer("k", k, low=1, high=min(MAX_K, ref_count),
                             hint=f"The reference set has {ref_count} pictures.")
        distinct = len(np.unique(truth))
        if n_clusters is None:
            n_clusters = max(2, distinct)
        n_clusters = validate.integer("n_clusters", n_clusters, low=2, high=min(MAX_CLUSTERS, count - 1),
                                      hint=f"There are {count} pictures of {distinct} classes.")
        if n_clusters > count - 1:
            raise InputError("data", f"{count} pictures", f"more pictures than clusters ({n_clusters})")
        map_index = np.arange(count)
        if projection != "none" and count > MAP_POINTS:
            map_index = np.sort(np.random.default_rng(seed % 2**32).choice(count, MAP_POINTS, replace=False))
        stages = 3 if projection != "none" else 2
        total, step = stages * len(wanted), 0
        scores, clusters, maps, done = {}, {}, {}, []
        stopped = False
        for name in wanted:
            vectors = self.vectors(name, prepared[name])
            reference_vectors = self._reference_vectors_of(name, ref_prepared[name], default_reference)
            step += 1
            if not report_progress(progress, step, total, stage="embed", representation=name):
                stopped = True
                break
            scores[name], clusters[name] = cluster_scores(vectors, truth, reference_vectors, ref_labels,
                                                          n_clusters=n_clusters, k=k, seed=seed)
            done.append(name)
            step += 1
            if not report_progress(progress, step, total, stage="cluster", representation=name,
                                   scores=scores[name]):
                stopped = True
                break
            if projection != "none":
                maps[name] = project(vectors[map_index], projection, seed)
                step += 1
                if not report_progress(progress, step, total, stage="map", representation=name):
                    stopped = True
                    break
        return ClusteringResult(representations=done, scores=scores, clusters=clusters, maps=maps,
                                map_index=map_index if projection != "none" else np.zeros(0, dtype=np.int64),
                                labels=truth, class_names=names or self.class_names, n_clusters=n_clusters, k=k,
                                projection=projection, seed=seed, samples=count,
                                reference_samples=ref_count, stopped=stopped)

    def _wanted(self, representations: Any) -> list[str]:
        if isinstance(representations, str) or not isinstance(representations, (list, tuple)) or not representations:
            raise InputError("representations", representations, f"a non-empty list from {self.representations}")
        chosen = {validate.choice("representations", name, self.representations) for name in representations}
        return [name for name in self.representations if name in chosen]

    def similar(self, image: Any, k: int = 8, representation: str | None = None, reference: Any = None,
                invert: bool | None = None) -> SimilarResult:
        """The `k` pictures of the reference set nearest to `image` in `representation`.

        Args:
            image: a drawing (a Gradio Sketchpad value), a path, a PIL image or an array of one digit, 8 to 4096
                pixels a side; prepared with `representation`'s processor (``self.processors``: as the network's
                training pictures were, a drawing laid out like them; `pipelines.mnist_processor`).
            k (`int`, *optional*, defaults to 8): neighbours, 1 to 64 and at most the reference size.
            representation (`str`, *optional*): ``pixels`` or a loaded embedding (default: triplet when loaded).
            reference: as in `__call__` (default: the 1,438 training pictures of scikit-learn's digits).
            invert (`bool`, *optional*): True for dark-on-light, False for light-on-dark; default from the border.
        """
        from sklearn.neighbors import NearestNeighbors

        from pipelines.mnist import sketch_image

        representation = self._representation(representation)
        if invert is not None:
            invert = validate.boolean("invert", invert)
        ref_prepared, ref_labels, default_reference = self._reference(reference)
        ref_pictures = ref_prepared[representation]
        k = validate.integer("k", k, low=1, high=min(MAX_SIMILAR, len(ref_pictures)),
                             hint=f"The reference set has {len(ref_pictures)} pictures.")
        picture = sketch_image(image, "image")
        validate.image_size("image", picture.size, min_side=8, max_side=MAX_SIDE)
        query = self.processors[representation].prepare(picture, invert, sketch=isinstance(image, dict))
        vector = self.vectors(representation, torch.from_numpy(query).view(1, 1, SIZE, SIZE))
        reference_vectors = self._reference_vectors_of(representation, ref_pictures, default_reference)
        distances, indices = NearestNeighbors(n_neighbors=k).fit(reference_vectors).kneighbors(vector)
        names = self.class_names
        neighbours = [{"index": int(i), "label": int(ref_labels[i]),
                       "class": names[ref_labels[i]] if ref_labels[i] < len(names) else str(ref_labels[i]),
                       "distance": float(d)} for d, i in zip(distances[0], indices[0], strict=True)]
        pictures = [ref_pictures[i, 0].numpy().copy() for i in indices[0]]
        return SimilarResult(query=query, representation=representation, neighbours=neighbours, pictures=pictures)


def train_hint() -> str:
    """How to train the models ``local:metric-learning`` loads (minutes on a CPU)."""
    return (f"Train them (minutes on a CPU): `{TRAIN_COMMAND} --loss triplet` and `{TRAIN_COMMAND} --loss "
            f"normalized-softmax` (add --dataset sklearn-digits offline); or use model='tiny' (small stand-ins, "
            f"offline).")
