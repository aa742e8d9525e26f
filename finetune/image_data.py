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
                    cache_dir: str | None = None, validation_fraction: float = DEFAULT_FRACTION) -> ImageData:
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
    """
    if validation_size < 1:
        raise ImageDataError(f"validation_size must be >= 1; got {validation_size}.")
    splits, hub_dataset, names = _open(dataset, config, revision, cache_dir)
    train_name = "train" if "train" in splits else next(iter(splits))
    arrays: dict[str, ImageSplit] = {}
    labels: tuple[str, ...] | None = None
    for split_name, ds in splits.items():
        images, split_labels, split_names = _to_arrays(ds, dataset, split_name, image_column, label_column, names,
                                                      cache_dir)
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
            loaded = datasets.load_dataset("parquet", data_files={"train": str(path)}, cache_dir=cache_dir)
        elif path.is_dir():
            if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
                loaded = datasets.load_from_disk(str(path))
            else:
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
               names: tuple[str, ...] | None, cache_dir: str | None
               ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Decode one split into uint8 ``(N, 28, 28)`` pictures and int64 labels, cached by the split's fingerprint."""
    if isinstance(ds, tuple):
        images, labels = ds
        return images, labels, names or MNIST_LABELS
    import datasets

    where = f"dataset {dataset!r} split {split!r}"
    columns = list(ds.column_names)
    if image_column not in columns:
        raise ImageDataError(f"{where} has no image column {image_column!r}; its columns are {columns}. Name it "
                             f"with --image-column.")
    if label_column is not None and label_column not in columns:
        raise ImageDataError(f"{where} has no label column {label_column!r}; its columns are {columns}. Name it "
                             f"with --label-column.")
    feature = ds.features[label_column] if label_column is not None else None
    if len(ds) == 0:
        raise ImageDataError(f"{where} is empty.")

    cache = _cache_file(ds, image_column, label_column, cache_dir)
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
                labels[i: i + len(batch[label_column])] = _labels(batch[label_column], where, i)
            i += len(batch[image_column])
        if resized:
            logger.warning("%s: %d pictures were not 28x28 and were resized", where, resized)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            staging = cache.with_name(f".{cache.name}.{os.getpid()}.npz")
            np.savez(staging, images=images, labels=labels)
            os.replace(staging, cache)

    if isinstance(feature, datasets.ClassLabel):
        found = tuple(feature.names)
    elif label_column is None:
        found = names or ()
    else:
        found = names or tuple(str(i) for i in range(int(labels.max()) + 1))
    if label_column is not None and (labels.min() < 0 or labels.max() >= len(found)):
        raise ImageDataError(f"{where}: labels must be 0..{len(found) - 1} (class names {list(found)}); found "
                             f"{int(labels.min())}..{int(labels.max())}.")
    return images, labels, found


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

    if isinstance(value, dict) and value.get("bytes") is not None:  # an undecoded Image feature
        import io

        value = Image.open(io.BytesIO(value["bytes"]))
    if not isinstance(value, Image.Image):
        raise ImageDataError(f"{where} row {row}: the image column holds {type(value).__name__}, not a picture.")
    try:  # the one stored-picture preparation, shared with the pipelines (saved beside the weights)
        return MnistImageProcessor.stored_array(value)
    except OSError as err:
        raise ImageDataError(f"{where} row {row}: the picture cannot be decoded ({err}).") from err


def _labels(values: Sequence[Any], where: str, offset: int) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for j, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ImageDataError(f"{where} row {offset + j}: label {value!r} is not a class index (an integer).")
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
