"""The shared 28x28 image data: fixtures in the Hub's MNIST schema, every local format, batches, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finetune.image_data import (
    FASHION_MNIST_LABELS,
    MNIST_LABELS,
    ImageDataError,
    ImageSplit,
    fixture_dataset,
    load_image_data,
    main,
    to_float,
    write_fixture,
)


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("data") / "digits", per_class=6)


def test_fixture_has_the_exact_mnist_schema():
    import datasets

    data = fixture_dataset(per_class=2)
    assert set(data) == {"train", "test"}
    features = data["train"].features
    assert isinstance(features["image"], datasets.Image)
    assert isinstance(features["label"], datasets.ClassLabel) and features["label"].names == list(MNIST_LABELS)
    row = data["train"][0]
    assert row["image"].mode == "L" and row["image"].size == (28, 28) and row["image"].format == "PNG"
    assert sorted(set(data["train"]["label"])) == list(range(10)) and len(data["train"]) == 20
    fashion = fixture_dataset("fashion_mnist", per_class=1)["test"].features["label"].names
    assert fashion == list(FASHION_MNIST_LABELS) and fashion[0] == "T - shirt / top"  # the Hub card's names


def test_fixture_pictures_look_like_mnist():
    picture = np.asarray(fixture_dataset(per_class=1)["train"][0]["image"], dtype=np.float32) / 255
    assert picture[0].max() == 0 and picture[:, 0].max() == 0  # black border, white digit, as MNIST
    assert picture.max() == 1.0
    ys, xs = np.nonzero(picture > 0.1)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 21  # fitted into the 20x20 box
    mass_y = (np.arange(28)[:, None] * picture).sum() / picture.sum()
    assert abs(mass_y - 14) < 1.0  # centred by its centre of mass


@pytest.mark.parametrize("fmt", ["parquet", "imagefolder", "saved"])
def test_every_local_format_loads_back(tmp_path, fmt):
    folder = write_fixture(tmp_path / fmt, format=fmt, per_class=3)
    data = load_image_data(str(folder), validation_size=5, seed=1, validation_fraction=0.2)
    assert data.labels == MNIST_LABELS
    assert len(data.train) + len(data.validation) == 30 and len(data.validation) == 5 and len(data.test) == 30
    assert data.train.images.dtype == torch.uint8 and tuple(data.train.images.shape[1:]) == (28, 28)
    assert data.hub_dataset is None and "held out" in data.validation_source
    assert sorted(data.test.labels.tolist()) == sorted(list(range(10)) * 3)


def test_single_parquet_file_and_fashion_names(tmp_path):
    folder = write_fixture(tmp_path / "fashion", like="fashion_mnist", per_class=2)
    data = load_image_data(str(folder / "data" / "train-00000-of-00001.parquet"), validation_size=4)
    assert data.labels == FASHION_MNIST_LABELS and data.test is None and len(data.train) == 18  # 10 % of 20


def test_sklearn_digits_is_a_builtin_source():
    data = load_image_data("sklearn-digits", validation_size=100, max_samples=50, max_eval_samples=20)
    assert (len(data.train), len(data.validation), len(data.test)) == (50, 20, 20)
    assert data.labels == MNIST_LABELS


def test_batches_are_seeded_resumable_and_scaled(digits_folder):
    split = load_image_data(str(digits_folder), validation_size=10).train
    first = [y for _, y in split.batches(7, epoch=2, seed=3)]
    again = [y for _, y in split.batches(7, epoch=2, seed=3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    resumed = [y for _, y in split.batches(7, epoch=2, seed=3, start=2)]
    assert all(torch.equal(a, b) for a, b in zip(first[2:], resumed, strict=True))
    other_epoch = torch.cat([y for _, y in split.batches(7, epoch=3, seed=3)])
    assert not torch.equal(torch.cat(first), other_epoch) and sorted(other_epoch) == sorted(torch.cat(first))
    assert len(first) == split.num_batches(7) == -(-len(split) // 7)
    x, _ = next(split.batches(4, scale="symmetric"))
    assert x.shape == (4, 1, 28, 28) and x.min() == -1.0 and x.max() <= 1.0
    assert to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8)).tolist() == [[[[0.0, 1.0]]]]


def test_subset_keeps_order_and_is_seeded():
    split = ImageSplit("train", torch.zeros(10, 28, 28, dtype=torch.uint8), torch.arange(10))
    assert split.subset(4, seed=0).labels.tolist() == split.subset(4, seed=0).labels.tolist()
    assert split.subset(4, seed=0).labels.tolist() == sorted(split.subset(4, seed=0).labels.tolist())
    assert split.subset(99, seed=0) is split


def test_unreachable_hub_dataset_says_what_to_do_offline():
    with pytest.raises(ImageDataError, match="cannot be reached.*fixture.*sklearn-digits"):
        load_image_data("ylecun/mnist")


@pytest.mark.parametrize(("dataset", "kwargs", "match"), [
    ("./no/such/folder", {}, "no such local folder"),
    ("", {}, "--dataset"),
    ("sklearn-digits", {"validation_size": 0}, "validation_size"),
])
def test_bad_sources(dataset, kwargs, match):
    with pytest.raises(ImageDataError, match=match):
        load_image_data(dataset, **kwargs)


def test_wrong_columns_and_bad_labels(tmp_path, digits_folder):
    with pytest.raises(ImageDataError, match="no image column 'img'.*'image', 'label'"):
        load_image_data(str(digits_folder), image_column="img")
    with pytest.raises(ImageDataError, match="no label column 'digit'"):
        load_image_data(str(digits_folder), label_column="digit")
    import datasets

    def save(name, labels, dtype):
        features = datasets.Features({"image": datasets.Image(), "label": datasets.Value(dtype)})
        datasets.Dataset.from_dict({"image": [np.zeros((28, 28), dtype=np.uint8)] * 10, "label": labels},
                                   features=features).save_to_disk(str(tmp_path / name))
        return str(tmp_path / name)

    with pytest.raises(ImageDataError, match="row 0: label -1 is not a class index from 0 to 999"):
        load_image_data(save("negative", [-1] * 10, "int64"), validation_size=2)
    with pytest.raises(ImageDataError, match="label '7' is not a class index"):
        load_image_data(save("strings", ["7"] * 10, "string"), validation_size=2)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ImageDataError, match=".parquet"):
        load_image_data(str(text))


def test_unlabelled_data_and_resizing(tmp_path, caplog):
    import datasets

    pictures = [np.full((32, 30), 200, dtype=np.uint8)] * 10
    datasets.Dataset.from_dict({"image": pictures}, features=datasets.Features({"image": datasets.Image()})) \
        .save_to_disk(str(tmp_path / "plain"))
    data = load_image_data(str(tmp_path / "plain"), label_column=None, validation_size=2,
                           cache_dir=str(tmp_path / "cache"))  # a fresh cache: decoded (and resized) here
    assert data.labels == () and data.train.labels.tolist() == [0] * 9  # 10 % of 10 held out
    assert tuple(data.train.images.shape) == (9, 28, 28) and "resized" in caplog.text
    again = load_image_data(str(tmp_path / "plain"), label_column=None, validation_size=2,
                            cache_dir=str(tmp_path / "cache"))  # read back from the decoded-array cache
    assert torch.equal(again.train.images, data.train.images)
    assert list((tmp_path / "cache" / "mmhub-image-arrays").glob("*.npz"))


def test_cli_writes_and_describes(tmp_path, capsys):
    assert main(["fixture", str(tmp_path / "d"), "--per-class", "2", "--format", "saved"]) == 0
    assert main(["info", str(tmp_path / "d")]) == 0
    assert '"test_samples": 20' in capsys.readouterr().out
    assert main(["fixture", str(tmp_path / "d")]) == 2  # not empty
    assert main(["fixture", str(tmp_path / "e"), "--like", "fashion_mnist", "--format", "imagefolder"]) == 2
    assert "error:" in capsys.readouterr().err


def test_cli_hint_names_the_trainer_and_bad_flags_are_one_line(tmp_path, capsys):
    # a Fashion-MNIST fixture is for the GAN (README section 7), an MNIST one for the digit model
    assert main(["fixture", str(tmp_path / "f"), "--like", "fashion_mnist", "--per-class", "1"]) == 0
    assert "python -m finetune.gan --dataset" in capsys.readouterr().out
    assert main(["fixture", str(tmp_path / "m"), "--per-class", "1"]) == 0
    assert "python -m finetune.digits --dataset" in capsys.readouterr().out
    bad = str(tmp_path / "x")
    for argv in (["fixture", bad, "--per-class", "nan"], ["fixture", bad, "--like", "cifar"], ["fixture"], []):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


# ----------------------------------------------------------------------------------------------------------------
# hostile data: corrupt content inside valid-looking files, labels that cannot be, folders that are not datasets


def _parquet(path, labels, images=None, label_type="int64"):
    """A parquet file in the MNIST schema (or with plain integer labels), with `images` as raw bytes."""
    import io

    import datasets
    from PIL import Image

    picture = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(picture, format="PNG")
    images = images if images is not None else [picture.getvalue()] * len(labels)
    label = datasets.ClassLabel(names=list(MNIST_LABELS)) if label_type == "classlabel" else datasets.Value(
        label_type)
    features = datasets.Features({"image": datasets.Image(), "label": label})
    rows = {"image": [{"bytes": b, "path": None} for b in images], "label": labels}
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))
    return path


def test_corrupt_pictures_empty_files_and_impossible_labels_name_the_file_or_row(tmp_path):
    good = _parquet(tmp_path / "good.parquet", [1, 2] * 5, label_type="classlabel")
    cases = {
        "a picture that is not one": (_parquet(tmp_path / "corrupt.parquet", [1] * 10, images=[
            *[_png()] * 9, b"\x89PNG\r\n\x1a\n garbage"], label_type="classlabel"),
            "split 'train' row 9: the picture cannot be decoded"),
        "not a picture at all": (_parquet(tmp_path / "text.pic.parquet", [1] * 10, images=[
            *[_png()] * 9, b"hello"], label_type="classlabel"), "row 9: the picture cannot be decoded (not a "
                                                                "picture file PIL can read)"),
        "zero rows": (_parquet(tmp_path / "empty.parquet", []), "empty.parquet: the parquet file holds no rows"),
        "not parquet": (_write(tmp_path / "text.parquet", b"PAR1 but not really"), "text.parquet: not a readable "
                                                                                     "parquet file"),
        "a label of 10**9": (_parquet(tmp_path / "huge.parquet", [1] * 9 + [10**9]),
                             "row 9: label 1000000000 is not a class index from 0 to 999 (at most 1000 classes)"),
        "a negative label": (_parquet(tmp_path / "negative.parquet", [-3] + [1] * 9), "row 0: label -3"),
    }
    for what, (path, message) in cases.items():
        with pytest.raises(ImageDataError) as info:
            load_image_data(str(path), validation_size=2, cache_dir=str(tmp_path / "cache"))
        assert message in str(info.value), (what, str(info.value))
    good_data = load_image_data(str(good), validation_size=2, validation_fraction=0.2,
                                cache_dir=str(tmp_path / "cache"))
    assert len(good_data.train) == 8


def _png() -> bytes:
    import io

    from PIL import Image

    picture = io.BytesIO()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(picture, format="PNG")
    return picture.getvalue()


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _image_folder(root, labels, per_label=3):
    from PIL import Image

    for label in labels:
        (root / "train" / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(root / "train" / label / f"{i}.png")
    return root


def test_the_digit_model_takes_only_the_ten_digits(tmp_path):
    """`classes` (the digit CNN's): cat/dog or 99/100 folders are refused before a picture is decoded; folders of
    some digits only are mapped onto the digits' own indices, so the head stays the ten digits."""
    for labels, unknown in ((["cat", "dog"], "'cat', 'dog'"), (["99", "100"], "'100', '99'")):
        folder = _image_folder(tmp_path / "_".join(labels), labels)
        with pytest.raises(ImageDataError, match=f"its classes {unknown} are not the model's classes"):
            load_image_data(str(folder), classes=MNIST_LABELS, validation_size=1)
        assert load_image_data(str(folder), validation_size=1).labels == tuple(sorted(labels))  # no fixed classes
    with pytest.raises(ImageDataError, match="row 0: label 12 is not a class index from 0 to 9"):
        load_image_data(str(_parquet(tmp_path / "twelve.parquet", [12] + [1] * 9)), classes=MNIST_LABELS)
    some = load_image_data(str(_image_folder(tmp_path / "some", ["3", "7"])), classes=MNIST_LABELS, validation_size=1)
    assert some.labels == MNIST_LABELS
    assert sorted(set(torch.cat([some.train.labels, some.validation.labels]).tolist())) == [3, 7]


def test_a_folder_that_is_no_dataset_is_refused_early_and_the_walk_is_bounded(tmp_path, monkeypatch):
    from finetune import image_data

    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "sub" / "todo.txt").write_text("not pictures")
    with pytest.raises(ImageDataError, match="no dataset in the folder: no parquet files, no pictures"):
        load_image_data(str(notes))
    home = _image_folder(tmp_path / "home", ["Pictures"], per_label=2)  # pictures somewhere in a big tree
    for i in range(60):
        (home / f"project{i}").mkdir()
    monkeypatch.setattr(image_data, "MAX_FOLDER_ENTRIES", 50)
    with pytest.raises(ImageDataError, match="holds more than 50 files and folders, so it is not a dataset folder"):
        load_image_data(str(home))
