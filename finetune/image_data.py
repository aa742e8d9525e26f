"""28x28 grey image datasets for the lecture-lab trainers (digits CNN, VAE, GAN): one loader, one shape, offline too.

Every source ends as `ImageData`: ``train`` / ``validation`` / ``test`` `ImageSplit`s of uint8 pictures ``(N, 28,
28)`` (white on black, as MNIST) and int64 labels ``(N,)``, plus the class names. The trainers draw seeded,
resumable batches of normalised floats from them with `ImageSplit.batches`.

Sources (``dataset``), all in the schema of the Hub's MNIST (``image``: a 28x28 ``L`` picture, ``label``: a
``ClassLabel``):

- a Hub id: ``ylecun/mnist`` (default of the digits and VAE trainers), ``zalando-datasets/fashion_mnist`` (GAN);
- a local folder: one written by ``Dataset(Dict).save_to_disk``, or parquet files / an image folder
  (``train/<label>/*.png``) that ``datasets.load_dataset(folder)`` reads; or one ``.parquet`` file;
- ``sklearn-digits``: scikit-learn's bundled 8x8 digits, normalised to 28x28 as MNIST was (1797 pictures): works
  anywhere, with no file at all.

Offline, write a folder in the exact MNIST schema and train from it::

    python -m finetune.image_data fixture data/digits                       # parquet, like the Hub's files
    python -m finetune.image_data fixture data/fashion --like fashion_mnist # the GAN's schema (digits as stand-ins)
    python -m finetune.image_data info data/digits                          # splits, sizes, labels
    python -m finetune.digits --dataset data/digits --output-dir runs/digits

API for the trainers:

>>> from finetune.image_data import load_image_data
>>> data = load_image_data("ylecun/mnist", validation_size=5000, seed=0)
>>> data.labels, len(data.train), len(data.validation), len(data.test)
(('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), 55000, 5000, 10000)
>>> for x, y in data.train.batches(128, epoch=0, seed=0, scale="unit"):   # x: (128, 1, 28, 28) float32 in [0, 1]
...     ...
>>> x_all = data.test.floats("symmetric")                                 # (N, 1, 28, 28) in [-1, 1] (GANs)

Bad data raises `ImageDataError` (a `finetune.data.DataError`) naming the dataset, the split and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finetune.data import DataError
from finetune.holdout import DEFAULT_FRACTION, validation_count
from pipelines.mnist_processor import SIZE, MnistImageProcessor

logger = logging.getLogger(__name__)

MNIST = "ylecun/mnist"
FASHION_MNIST = "zalando-datasets/fashion_mnist"
SKLEARN_DIGITS = "sklearn-digits"
#: ClassLabel names of the Hub datasets (their README's ``dataset_info``).
MNIST_LABELS = tuple(str(i) for i in range(10))
FASHION_MNIST_LABELS = ("T - shirt / top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                        "Bag", "Ankle boot")
#: Value ranges of `ImageSplit.floats` / `batches`: ``unit`` [0, 1] (classifiers, a VAE's BCE), ``symmetric``
#: [-1, 1] (a GAN generator's tanh).
SCALES = ("unit", "symmetric")
VALIDATION_SPLITS = ("validation", "valid", "dev")
FIXTURE_FORMATS = ("parquet", "imagefolder", "saved")
#: Integer labels without class names (a plain int column) name classes 0..N-1; N is at most this. A label of 10**9
#: would otherwise ask for a billion class names (and a head that size).
MAX_CLASSES = 1000
#: A local dataset folder is walked (files and folders, hidden ones included: datasets' loader walks them too) before
#: it is loaded; one with more entries than this is not a dataset folder (``--dataset ~``) and is refused.
MAX_FOLDER_ENTRIES = 200_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageDataError(DataError):
    """The image data is unusable as it is; the message names the dataset / split and what to pass instead."""


def to_float(images: Any, scale: str = "unit") -> Any:
    """uint8 pictures ``(N, 28, 28)`` (tensor) -> float32 ``(N, 1, 28, 28)`` in [0, 1] (``unit``: the saved
    `MnistImageProcessor.rescale`, what the pipelines apply) or [-1, 1]."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    x = MnistImageProcessor.rescale(images.unsqueeze(1))
    return x.mul_(2.0).sub_(1.0) if scale == "symmetric" else x


@dataclasses.dataclass(frozen=True)
class ImageSplit:
    """One split in memory: ``images`` uint8 ``(N, 28, 28)`` and ``labels`` int64 ``(N,)`` torch tensors."""

    name: str
    images: Any
    labels: Any

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def floats(self, scale: str = "unit") -> Any:
        """All pictures as float32 ``(N, 1, 28, 28)`` (see `to_float`)."""
        return to_float(self.images, scale)

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        n = len(self)
        return n // batch_size if drop_last else -(-n // batch_size)

    def order(self, epoch: int, seed: int | None) -> Any:
        """The example order of `epoch`: a permutation drawn from ``(seed, epoch)``, or 0..N-1 without a seed."""
        import torch

        if seed is None:
            return torch.arange(len(self))
        generator = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
        return torch.randperm(len(self), generator=generator)

    def batches(self, batch_size: int, *, epoch: int = 0, seed: int | None = None, start: int = 0,
                scale: str = "unit", drop_last: bool = False, device: Any = None) -> Iterator[tuple[Any, Any]]:
        """``(x, y)`` batches of `epoch`: x float32 ``(B, 1, 28, 28)`` in `scale`, y int64 ``(B,)``.

        Shuffled by ``(seed, epoch)`` when `seed` is given (the same order on every machine and after a resume);
        `start` skips that many batches (a resumed run continues mid-epoch). Indexing in-memory tensors, no workers:
        on these small pictures it beats a `DataLoader`.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        order = self.order(epoch, seed)
        for b in range(start, self.num_batches(batch_size, drop_last)):
            index = order[b * batch_size: (b + 1) * batch_size]
            x, y = to_float(self.images[index], scale), self.labels[index]
            yield (x, y) if device is None else (x.to(device, non_blocking=True), y.to(device, non_blocking=True))

    def subset(self, n: int, seed: int) -> ImageSplit:
        """At most `n` examples, a seeded random choice (all of them, in order, when there are fewer)."""
        if n >= len(self):
            return self
        index = self.order(0, seed)[:n].sort().values
        return ImageSplit(self.name, self.images[index], self.labels[index])


@dataclasses.dataclass(frozen=True)
class ImageData:
    """The splits of one source, its class names, and where each split came from (for the model card)."""

    train: ImageSplit
    validation: ImageSplit
    test: ImageSplit | None
    labels: tuple[str, ...]
    source: str
    hub_dataset: str | None
    validation_source: str

    def processor(self) -> MnistImageProcessor:
        """The picture preparation a model trained on these pictures is served with (saved beside its weights as
        ``preprocessor_config.json``): the stored preparation, and the drawing layout measured on ``train``."""
        return MnistImageProcessor.for_training(self.train.images.numpy())

    def describe(self) -> dict[str, Any]:
        """Sizes and sources, JSON-ready (``metrics.json``'s ``data`` entry)."""
        return {"source": self.source, "hub_dataset": self.hub_dataset, "labels": list(self.labels),
                "train_samples": len(self.train), "validation_samples": len(self.validation),
                "validation_source": self.validation_source,
                "test_samples": len(self.test) if self.test is not None else None}


# ----------------------------------------------------------------------------------------------------------------
# loading


def load_image_data(dataset: str = MNIST, *, config: str | None = None, revision: str | None = None,
                    image_column: str = "image", label_column: str | None = "label", validation_size: int = 5000,
                    max_samples: int | None = None, max_eval_samples: int | None = None, seed: int = 0,
                    cache_dir: str | None = None, validation_fraction: float = DEFAULT_FRACTION,
                    classes: Sequence[str] | None = None) -> ImageData:
    """Load `dataset` (Hub id, local folder / parquet file, or ``sklearn-digits``) as in-memory 28x28 splits.

    Args:
        dataset (`str`, defaults to ``"ylecun/mnist"``): where the pictures are (see the module docstring).
        config, revision (`str`, *optional*): the Hub dataset's configuration and revision.
        image_column, label_column (`str`): the columns (``label_column=None``: unlabelled, all labels 0).
        validation_size (`int`, defaults to 5000): at most this many examples held out of ``train`` (seeded)
            when the source has no validation split (`finetune.holdout.validation_count`).
        validation_fraction (`float`, defaults to 0.1): the share of ``train`` held out (at most `validation_size`).
        max_samples (`int`, *optional*): keep at most this many training examples (a seeded random subset).
        max_eval_samples (`int`, *optional*): at most this many validation and test examples.
        seed (`int`, defaults to 0): the hold-out and subset choices.
        cache_dir (`str`, *optional*): datasets' cache folder (also where decoded pictures are cached).
        classes (`Sequence[str]`, *optional*): the model's classes (the digit CNN's ``"0"`` .. ``"9"``). Given, every
            label must be one of them: class names (a ``ClassLabel``, an image folder's label folders) are matched
            by name and re-indexed in this order, integer labels must lie in ``0 .. len(classes) - 1``; anything
            else (``cat`` / ``dog``, ``99``) is an `ImageDataError` before training. Without it the classes come from
            the data: a ``ClassLabel``'s names, or ``0 .. max label`` for plain integers (at most `MAX_CLASSES`).

    Every picture is decoded here, so an undecodable one is an `ImageDataError` naming its split and row.
    """
    if validation_size < 1:
        raise ImageDataError(f"validation_size must be >= 1; got {validation_size}.")
    splits, hub_dataset, names = _open(dataset, config, revision, cache_dir)
    train_name = "train" if "train" in splits else next(iter(splits))
    arrays: dict[str, ImageSplit] = {}
    labels: tuple[str, ...] | None = None
    for split_name, ds in splits.items():
        images, split_labels, split_names = _to_arrays(ds, dataset, split_name, image_column, label_column, names,
                                                      cache_dir, tuple(classes) if classes is not None else None)
        labels = labels or split_names
        arrays[split_name] = _split(split_name, images, split_labels)
    assert labels is not None
    train = arrays[train_name]
    validation_name = next((s for s in VALIDATION_SPLITS if s in arrays), None)
    if validation_name is not None:
        validation, validation_source = arrays[validation_name], f"{dataset} split {validation_name!r}"
    else:
        try:
            held = validation_count(len(train), validation_size, validation_fraction,
                                    f"dataset {dataset!r} split {train_name!r}")
        except DataError as err:
            raise ImageDataError(str(err)) from None
        order = train.order(0, seed)
        validation = ImageSplit("validation", train.images[order[:held]], train.labels[order[:held]])
        train = ImageSplit(train.name, train.images[order[held:]], train.labels[order[held:]])
        validation_source = f"{held} pictures held out of {dataset} split {train_name!r} (seed {seed})"
    test = arrays.get("test")
    if max_samples is not None:
        train = train.subset(max_samples, seed)
    if max_eval_samples is not None:
        validation = validation.subset(max_eval_samples, seed)
        test = test.subset(max_eval_samples, seed) if test is not None else None
    logger.info("%s: %d train, %d validation, %s test pictures; labels %s", dataset, len(train), len(validation),
                len(test) if test is not None else "no", ", ".join(labels))
    return ImageData(train, validation, test, labels, dataset, hub_dataset, validation_source)


def _split(name: str, images: np.ndarray, labels: np.ndarray) -> ImageSplit:
    import torch

    return ImageSplit(name, torch.from_numpy(images), torch.from_numpy(labels))


def _open(dataset: str, config: str | None, revision: str | None,
          cache_dir: str | None) -> tuple[dict[str, Any], str | None, tuple[str, ...] | None]:
    """The source's splits as ``{name: datasets.Dataset or (images, labels) arrays}``, its Hub id, known names."""
    import datasets

    if not isinstance(dataset, str) or not dataset.strip():
        raise ImageDataError(f"--dataset must be a Hub id, a local folder or {SKLEARN_DIGITS!r}; got {dataset!r}.")
    if dataset == SKLEARN_DIGITS:
        return _sklearn_splits(), None, MNIST_LABELS
    path = Path(dataset).expanduser()
    try:
        if path.is_file():
            if path.suffix != ".parquet":
                raise ImageDataError(f"{path}: a dataset file must be .parquet (or pass a folder).")
            _check_parquet(path)
            loaded = datasets.load_dataset("parquet", data_files={"train": str(path)}, cache_dir=cache_dir)
        elif path.is_dir():
            if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
                loaded = datasets.load_from_disk(str(path))
            else:
                _check_folder(path)  # bounded: `--dataset ~` is refused at once, not walked for minutes
                loaded = datasets.load_dataset(str(path), cache_dir=cache_dir)
        elif dataset.startswith((".", "/", "~")) or os.sep in dataset.replace("/", "", 1):
            raise ImageDataError(f"--dataset {dataset!r}: no such local folder or file.")
        else:
            loaded = datasets.load_dataset(dataset, config, revision=revision, cache_dir=cache_dir)
            return _as_dict(loaded), dataset, None
    except ImageDataError:
        raise
    except datasets.exceptions.DatasetNotFoundError as err:
        raise ImageDataError(f"dataset {dataset!r} not found on the Hub, nor as a local folder ({err}).") from err
    except (ConnectionError, OSError) as err:
        if path.exists():
            raise ImageDataError(f"{path}: cannot be read as a dataset ({err}).") from err
        raise ImageDataError(
            f"dataset {dataset!r}: the Hugging Face Hub cannot be reached and the dataset is not in the local cache "
            f"({type(err).__name__}). Download it once with network access, or pass a local folder in the MNIST "
            f"schema (write one with `python -m finetune.image_data fixture DIR`), or --dataset {SKLEARN_DIGITS} "
            f"(scikit-learn's bundled digits).") from err
    except ValueError as err:
        raise ImageDataError(f"dataset {dataset!r}: {err}") from err
    return _as_dict(loaded), None, None


def _check_folder(path: Path) -> None:
    """`ImageDataError` for a folder that is not laid out as a dataset (parquet files, or pictures in label folders),
    found by a walk of at most `MAX_FOLDER_ENTRIES` entries, so that a home folder is refused in about a second."""
    entries, parquet, pictures = 0, [], 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        entries += len(dirs) + len(files)
        if entries > MAX_FOLDER_ENTRIES:
            raise ImageDataError(f"--dataset {path}: the folder holds more than {MAX_FOLDER_ENTRIES:,} files and "
                                 f"folders, so it is not a dataset folder (one in the MNIST schema holds parquet "
                                 f"files, or <split>/<label>/*.png). Point --dataset at the dataset itself.")
        for name in files:
            suffix = os.path.splitext(name)[1].lower()
            if suffix == ".parquet":
                parquet.append(Path(root) / name)
            elif suffix in IMAGE_SUFFIXES:
                pictures += 1
    if not parquet and not pictures:
        raise ImageDataError(f"--dataset {path}: no dataset in the folder: no parquet files, no pictures in label "
                             f"folders (<split>/<label>/*.png), and not a folder written by save_to_disk. Write an "
                             f"example with `python -m finetune.image_data fixture DIR`.")
    for file in parquet:
        _check_parquet(file)


def _check_parquet(path: Path) -> None:
    """`ImageDataError` naming `path` when it is not a readable parquet file, or holds no rows."""
    import pyarrow.parquet

    try:
        rows = pyarrow.parquet.ParquetFile(path).metadata.num_rows
    except Exception as err:  # pyarrow's ArrowInvalid / OSError for a file that is not parquet or is cut short
        raise ImageDataError(f"{path}: not a readable parquet file ({type(err).__name__}: {err}).") from None
    if rows == 0:
        raise ImageDataError(f"{path}: the parquet file holds no rows.")


def _as_dict(loaded: Any) -> dict[str, Any]:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        return dict(loaded)
    return {"train": loaded}


def _sklearn_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits, MNIST-normalised, every fifth picture to ``test`` (1438 train / 359 test)."""
    from pipelines.mnist import sklearn_digits

    images, labels = sklearn_digits()
    test = np.arange(len(labels)) % 5 == 4
    return {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}


def _to_arrays(ds: Any, dataset: str, split: str, image_column: str, label_column: str | None,
               names: tuple[str, ...] | None, cache_dir: str | None, classes: tuple[str, ...] | None = None
               ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode one split into uint8 ``(N, 28, 28)`` pictures and int64 labels, cached by the split's fingerprint."""
    if isinstance(ds, tuple):
        images, labels = ds
        return images, labels, names or MNIST_LABELS
    import datasets

    where = f"dataset {dataset!r} split {split!r}"
    feature = ds.features.get(label_column) if label_column is not None else None
    # A ClassLabel's names mapped onto the model's classes (index in the data -> index in `classes`), checked now,
    # before any picture is decoded.
    remap = _class_map(feature.names, classes, where) if classes is not None and isinstance(
        feature, datasets.ClassLabel) else None

    columns = list(ds.column_names)
    if image_column not in columns:
        raise ImageDataError(f"{where} has no image column {image_column!r}; its columns are {columns}. Name it "
                             f"with --image-column.")
    if label_column is not None and label_column not in columns:
        raise ImageDataError(f"{where} has no label column {label_column!r}; its columns are {columns}. Name it "
                             f"with --label-column.")
    if len(ds) == 0:
        raise ImageDataError(f"{where} is empty.")
    if isinstance(feature, datasets.ClassLabel):
        limit = len(feature.names)
    else:
        limit = len(classes) if classes is not None else MAX_CLASSES

    cache = _cache_file(ds, image_column, label_column, cache_dir)
    if isinstance(ds.features.get(image_column), datasets.Image):  # decoded here, one by one, to name a bad one
        ds = ds.cast_column(image_column, datasets.Image(decode=False))
    if cache is not None and cache.exists():
        with np.load(cache) as stored:
            images, labels = stored["images"], stored["labels"]
    else:
        images = np.empty((len(ds), SIZE, SIZE), dtype=np.uint8)
        labels = np.zeros(len(ds), dtype=np.int64)
        wanted = [image_column] + ([label_column] if label_column is not None else [])
        resized = 0
        i = 0
        for batch in ds.select_columns(wanted).iter(batch_size=1000):
            for j, picture in enumerate(batch[image_column]):
                images[i + j], was_resized = _picture(picture, where, i + j)
                resized += was_resized
            if label_column is not None:
                labels[i: i + len(batch[label_column])] = _labels(batch[label_column], where, i, limit)
            i += len(batch[image_column])
        if resized:
            logger.warning("%s: %d pictures were not 28x28 and were resized", where, resized)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            staging = cache.with_name(f".{cache.name}.{os.getpid()}.npz")
            np.savez(staging, images=images, labels=labels)
            os.replace(staging, cache)

    if label_column is not None:  # also a cached array of an earlier version: the bounds again
        bad = np.flatnonzero((labels < 0) | (labels >= limit))
        if bad.size:
            raise ImageDataError(f"{where} row {int(bad[0])}: label {int(labels[bad[0]])} is not a class index from 0 "
                                 f"to {limit - 1}.")
    if remap is not None:
        return images, remap[labels], classes
    if classes is not None and label_column is not None:
        return images, labels, classes
    if isinstance(feature, datasets.ClassLabel):
        found = tuple(feature.names)
    elif label_column is None:
        found = names or ()
    else:
        found = names or tuple(str(i) for i in range(int(labels.max()) + 1))
    return images, labels, found


def _class_map(names: list[str], classes: tuple[str, ...], where: str) -> np.ndarray:
    """Index in the data's class names -> index in the model's `classes`; `ImageDataError` for a name it lacks."""
    unknown = [name for name in names if str(name).strip() not in classes]
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise ImageDataError(f"{where}: its classes {shown} are not the model's classes ({', '.join(classes)}). A "
                             f"digit model learns the ten digits: name the label folders 0 to 9.")
    return np.array([classes.index(str(name).strip()) for name in names], dtype=np.int64)


def _cache_file(ds: Any, image_column: str, label_column: str | None, cache_dir: str | None) -> Path | None:
    fingerprint = getattr(ds, "_fingerprint", None)
    if not fingerprint:
        return None
    import datasets

    key = hashlib.sha1(f"{fingerprint}|{image_column}|{label_column}|{SIZE}".encode()).hexdigest()[:20]
    root = Path(cache_dir).expanduser() if cache_dir else Path(datasets.config.HF_DATASETS_CACHE)
    return root / "mmhub-image-arrays" / f"{key}.npz"


def _picture(value: Any, where: str, row: int) -> tuple[np.ndarray, bool]:
    from PIL import Image

    source = ""
    try:
        if isinstance(value, dict) and (value.get("bytes") is not None or value.get("path")):  # an undecoded Image
            import io

            source = f" ({value['path']})" if value.get("path") else ""
            value = Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"])
        if not isinstance(value, Image.Image):
            raise ImageDataError(f"{where} row {row}: the image column holds {type(value).__name__}, not a picture.")
        # the one stored-picture preparation, shared with the pipelines (saved beside the weights)
        return MnistImageProcessor.stored_array(value)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:  # PIL's kinds of bad file
        if isinstance(err, ImageDataError):
            raise
        detail = "not a picture file PIL can read" if isinstance(err, Image.UnidentifiedImageError) else \
            f"{type(err).__name__}: {err}"
        raise ImageDataError(f"{where} row {row}{source}: the picture cannot be decoded ({detail}).") from None


def _labels(values: Sequence[Any], where: str, offset: int, limit: int) -> np.ndarray:
    """Class indices, each an integer from 0 to ``limit - 1`` (`ImageDataError` naming the row otherwise)."""
    out = np.empty(len(values), dtype=np.int64)
    for j, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ImageDataError(f"{where} row {offset + j}: label {value!r} is not a class index (an integer).")
        if not 0 <= value < limit:
            raise ImageDataError(f"{where} row {offset + j}: label {value} is not a class index from 0 to "
                                 f"{limit - 1}" + (f" (at most {MAX_CLASSES} classes)." if limit == MAX_CLASSES
                                                   else "."))
        out[j] = int(value)
    return out


# ----------------------------------------------------------------------------------------------------------------
# offline fixtures in the exact Hub schema


def fixture_dataset(like: str = "mnist", per_class: int | None = None):
    """A `datasets.DatasetDict` (``train``, ``test``) in the schema of ``ylecun/mnist`` (or Fashion-MNIST).

    Pictures: scikit-learn's bundled digits normalised to 28x28 (PNG, mode ``L``); labels: ``ClassLabel`` with the
    Hub dataset's names. With ``like="fashion_mnist"`` the digits stand in for clothes (the schema is what matters).
    `per_class` keeps at most that many pictures per class in each split.
    """
    import datasets
    from PIL import Image

    if like not in ("mnist", "fashion_mnist"):
        raise ImageDataError(f"like must be 'mnist' or 'fashion_mnist'; got {like!r}.")
    names = MNIST_LABELS if like == "mnist" else FASHION_MNIST_LABELS
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(names))})
    out = {}
    for split, (images, labels) in _sklearn_splits().items():
        keep = np.ones(len(labels), dtype=bool)
        if per_class is not None:
            keep = np.zeros(len(labels), dtype=bool)
            for c in range(10):
                keep[np.flatnonzero(labels == c)[:per_class]] = True
        pictures = [Image.fromarray(picture, mode="L") for picture in images[keep]]
        out[split] = datasets.Dataset.from_dict({"image": pictures, "label": labels[keep].tolist()}, features=features)
    return datasets.DatasetDict(out)


def write_fixture(folder: str | Path, *, like: str = "mnist", format: str = "parquet",
                  per_class: int | None = None) -> Path:
    """Write `fixture_dataset` to `folder` as parquet files (the Hub's layout), an image folder or a saved dataset.

    ``parquet``: ``<folder>/data/{train,test}-00000-of-00001.parquet``; ``imagefolder``:
    ``<folder>/{train,test}/<label>/<n>.png`` (MNIST only: Fashion-MNIST's names hold a ``/``); ``saved``:
    ``DatasetDict.save_to_disk``. Each loads back with `load_image_data(folder)`.
    """
    if format not in FIXTURE_FORMATS:
        raise ImageDataError(f"format must be one of {FIXTURE_FORMATS}; got {format!r}.")
    if format == "imagefolder" and like != "mnist":
        raise ImageDataError("an image folder needs class names that are folder names; Fashion-MNIST's hold '/'. "
                             "Use --format parquet or saved.")
    folder = Path(folder).expanduser()
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; choose another folder.")
    data = fixture_dataset(like, per_class)
    if format == "saved":
        data.save_to_disk(str(folder))
    elif format == "parquet":
        (folder / "data").mkdir(parents=True, exist_ok=True)
        for split, ds in data.items():
            ds.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    else:
        names = data["train"].features["label"].names
        for split, ds in data.items():
            for n, row in enumerate(ds):
                target = folder / split / names[row["label"]]
                target.mkdir(parents=True, exist_ok=True)
                row["image"].save(target / f"{n}.png")
    logger.info("wrote a %s fixture (%s) to %s", like, format, folder)
    return folder


# ----------------------------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    """``fixture DIR`` writes an offline dataset; ``info DATASET`` prints what `load_image_data` reads from one."""
    from pipelines.cli import OneLineParser

    parser = OneLineParser(prog="python -m finetune.image_data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fixture = commands.add_parser("fixture", help="write an offline dataset in the MNIST schema")
    fixture.add_argument("folder")
    fixture.add_argument("--like", choices=["mnist", "fashion_mnist"], default="mnist")
    fixture.add_argument("--format", choices=FIXTURE_FORMATS, default="parquet")
    fixture.add_argument("--per-class", type=int, default=None, help="at most this many pictures per class and split")
    info = commands.add_parser("info", help="splits, sizes and labels of a dataset")
    info.add_argument("dataset")
    info.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "fixture":
            if args.per_class is not None and args.per_class < 1:
                raise ImageDataError(f"--per-class must be >= 1; got {args.per_class}.")
            folder = write_fixture(args.folder, like=args.like, format=args.format, per_class=args.per_class)
            trainer = "gan" if args.like == "fashion_mnist" else "digits"  # Fashion-MNIST is the GAN's data
            print(f"wrote {folder}; train with: python -m finetune.{trainer} --dataset {folder} "
                  f"--output-dir runs/{trainer}")
        else:
            import json

            print(json.dumps(load_image_data(args.dataset, config=args.config).describe(), indent=2))
    except (DataError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
