"""finetune.data: the fastText reader (plain, .bz2, streaming), the Hub-dataset mapping, and every bad-data error."""

from __future__ import annotations

import bz2
from pathlib import Path

import datasets
import pytest

from finetune.data import (
    DataError,
    fasttext_dataset,
    load_sentiment_data,
    read_fasttext,
    scheme_for,
    scheme_from_class_names,
)
from tests.finetune.conftest import write_fasttext

FASTTEXT = scheme_for("fasttext")


def _bz2_copy(path: Path) -> Path:
    target = path.with_name(path.name + ".bz2")
    target.write_bytes(bz2.compress(path.read_bytes()))
    return target


def test_kaggle_line_format(tmp_path):
    path = tmp_path / "k.ft.txt"
    path.write_text("__label__2 Stuning even for the non-gamer: This sound track was beautiful!\n"
                    "\n"
                    "__label__1 Batteries died within a year ...: I bought this charger in Jul 2003.\n")
    rows = list(read_fasttext(path, FASTTEXT))
    assert rows == [{"text": "Stuning even for the non-gamer: This sound track was beautiful!", "label": 1},
                    {"text": "Batteries died within a year ...: I bought this charger in Jul 2003.", "label": 0}]
    assert FASTTEXT.labels == ("negative", "positive")


def test_bz2_and_streaming_give_the_plain_file_examples(tmp_path, reviews_file):
    plain = list(read_fasttext(reviews_file, FASTTEXT))
    assert len(plain) == 400 and {r["label"] for r in plain} == {0, 1}
    compressed = _bz2_copy(reviews_file)
    assert list(read_fasttext(compressed, FASTTEXT)) == plain
    arrow = fasttext_dataset(compressed, FASTTEXT, cache_dir=str(tmp_path / "cache"))
    assert isinstance(arrow, datasets.Dataset)
    assert arrow.to_list() == plain
    stream = fasttext_dataset(compressed, FASTTEXT, streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    assert list(stream) == plain
    assert list(fasttext_dataset(reviews_file, FASTTEXT, streaming=True)) == plain


def test_limit_never_reads_past_what_it_needs(tmp_path, reviews_file):
    # A broken line after the first 110 rows: a run that needs only 110 never reaches it.
    path = tmp_path / "long.ft.txt"
    path.write_text(reviews_file.read_text() + "this line has no label\n")
    data = load_sentiment_data(train_file=str(path), max_samples=100, validation_size=10,
                               cache_dir=str(tmp_path / "cache"))
    assert len(data.train) == 100 and len(data.validation) == 10
    with pytest.raises(DataError, match=r"long\.ft\.txt:401: .*__label__"):
        load_sentiment_data(train_file=str(path), validation_size=10, cache_dir=str(tmp_path / "cache"))


def test_streaming_split_shapes(reviews_file):
    data = load_sentiment_data(train_file=str(reviews_file), streaming=True, max_samples=50, validation_size=30)
    assert data.streaming
    rows = list(read_fasttext(reviews_file, FASTTEXT))
    assert data.validation.to_list() == rows[:30]  # the stream's head is held out ...
    train = list(data.train)
    assert len(train) == 50
    assert all(r in rows[30:] for r in train)  # ... and the training stream skips it


def test_five_stars_fold_to_three_classes(tmp_path):
    path = tmp_path / "stars.ft.txt"
    path.write_text("".join(f"__label__{s} review with {s} stars\n" for s in (1, 2, 3, 4, 5)))
    stars = scheme_for("stars")
    assert stars.labels == ("negative", "neutral", "positive")
    assert [r["label"] for r in read_fasttext(path, stars)] == [0, 0, 1, 2, 2]
    yelp = scheme_from_class_names(["1 star", "2 star", "3 stars", "4 stars", "5 stars"], "label")
    assert [yelp.encode(i) for i in range(5)] == [0, 0, 1, 2, 2]
    assert [scheme_for("stars0").encode(i) for i in range(5)] == [0, 0, 1, 2, 2]
    assert scheme_for("stars").encode(4.0) == 2  # float ratings, e.g. allegro reviews


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("__label__1 fine: ok\nno prefix here\n", r"bad\.ft\.txt:2: the line does not start with a __label__"),
        ("__label__2 fine: ok\n__label__3 what: is this\n", r"bad\.ft\.txt:2: unknown label '__label__3'.*"
                                                            r"__label__1, __label__2"),
        ("", r"bad\.ft\.txt: the file holds no examples"),
        ("\n  \n", r"bad\.ft\.txt: the file holds no examples"),
        ("__label__1\n", r"bad\.ft\.txt:1: the line has a label but no text"),
    ],
    ids=["no-prefix", "unknown-label", "empty", "blank", "no-text"],
)
def test_bad_fasttext_lines_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.ft.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        list(read_fasttext(path, FASTTEXT))
    with pytest.raises(DataError, match=match):  # the same error through datasets' Arrow conversion
        fasttext_dataset(path, FASTTEXT, cache_dir=str(tmp_path / "cache"))


def test_undecodable_bytes_name_their_own_line_even_deep_in_a_bz2(tmp_path):
    """The decoder reads in chunks: the line named must be the bad one, not the one being parsed (a BOM is fine)."""
    path = tmp_path / "latin.ft.txt.bz2"
    lines = [b"\xef\xbb\xbf__label__2 first: ok\r\n"] + [b"__label__1 fine: text %d\n" % i for i in range(2, 3000)]
    lines[2499] = b"__label__1 caf\xe9: latin-1, not UTF-8\n"
    path.write_bytes(bz2.compress(b"".join(lines)))
    with pytest.raises(DataError, match=r"latin\.ft\.txt\.bz2:2500: not UTF-8 text"):
        list(read_fasttext(path, FASTTEXT))
    assert list(read_fasttext(path, FASTTEXT, limit=1))[0]["text"] == "first: ok"


def test_bad_bz2_and_missing_file(tmp_path):
    broken = tmp_path / "cut.ft.txt.bz2"
    broken.write_bytes(bz2.compress(b"__label__1 a: b\n" * 1000)[:50])
    with pytest.raises(DataError, match=r"cut\.ft\.txt\.bz2:\d+: cannot read"):
        list(read_fasttext(broken, FASTTEXT))
    with pytest.raises(DataError, match="no such file"):
        list(read_fasttext(tmp_path / "missing.txt", FASTTEXT))


# ----------------------------------------------------------------------------------------------------------------
# Hub datasets, as a local folder of parquet files in the exact schema of fancyzhx/amazon_polarity


def _write_parquet(folder: Path, split: str, rows: dict, features: datasets.Features) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}.parquet"))


POLARITY = datasets.Features({"label": datasets.ClassLabel(names=["negative", "positive"]),
                              "title": datasets.Value("string"), "content": datasets.Value("string")})


@pytest.fixture(scope="module")
def polarity_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("amazon_polarity")
    rows = {"label": [1, 0] * 20, "title": ["Great CD", "Broke"] * 20,
            "content": [f"lovely album {i}" if i % 2 == 0 else f"stopped after {i} days" for i in range(40)]}
    _write_parquet(folder, "train", rows, POLARITY)
    _write_parquet(folder, "test", {k: v[:6] for k, v in rows.items()}, POLARITY)
    return folder


@pytest.mark.parametrize("streaming", [False, True], ids=["arrow", "streaming"])
def test_hub_dataset_columns_and_labels(tmp_path, polarity_folder, streaming):
    data = load_sentiment_data(dataset=str(polarity_folder), validation_size=8, streaming=streaming,
                               cache_dir=str(tmp_path / "cache"), validation_fraction=0.5)
    assert data.labels == ("negative", "positive")
    assert data.scheme.name == "classlabel"
    train = list(data.train)
    assert len(train) == 32 and len(data.validation) == 8
    assert data.test.to_list()[:2] == [{"text": "Great CD: lovely album 0", "label": 1},
                                       {"text": "Broke: stopped after 1 days", "label": 0}]
    assert "held out" in data.validation_source
    assert set(train[0]) == {"text", "label"}


def test_hub_dataset_errors(tmp_path, polarity_folder):
    cache = str(tmp_path / "cache")
    with pytest.raises(DataError, match=r"has no text column 'review_text'; its columns are \['label', 'title', "
                                        r"'content'\]"):
        load_sentiment_data(dataset=str(polarity_folder), text_column="review_text", cache_dir=cache)
    with pytest.raises(DataError, match="has no label column 'stars'"):
        load_sentiment_data(dataset=str(polarity_folder), label_column="stars", cache_dir=cache)

    ratings = tmp_path / "ratings"
    plain = datasets.Features({"text": datasets.Value("string"), "rating": datasets.Value("float32")})
    _write_parquet(ratings, "train", {"text": [f"review {i}" for i in range(30)],
                                      "rating": [float(1 + i % 5) for i in range(30)]}, plain)
    with pytest.raises(DataError, match="without class names; say what they mean with --label-scheme"):
        load_sentiment_data(dataset=str(ratings), label_column="rating", cache_dir=cache)
    data = load_sentiment_data(dataset=str(ratings), label_column="rating", label_scheme="stars",
                               validation_size=5, cache_dir=cache)
    assert data.labels == ("negative", "neutral", "positive")
    assert sorted({r["label"] for r in data.train}) == [0, 1, 2]
    with pytest.raises(DataError, match=r"split 'train' row 2: unknown label 3\.0 in column 'rating' for label "
                                        r"scheme 'three'"):
        load_sentiment_data(dataset=str(ratings), label_column="rating", label_scheme="three", cache_dir=cache)


def test_validation_size_larger_than_the_data(tmp_path, reviews_file):
    # a cap above the data is no error: a tenth of the 400 rows is held out (issue 18: 540 rows failed before)
    data = load_sentiment_data(train_file=str(reviews_file), validation_size=400, cache_dir=str(tmp_path / "c"))
    assert (len(data.train), len(data.validation)) == (360, 40) and "40 rows held out" in data.validation_source


def test_fixture_writer_is_balanced(tmp_path):
    rows = list(read_fasttext(write_fasttext(tmp_path / "f.txt", 200, seed=3), FASTTEXT))
    assert 80 <= sum(r["label"] for r in rows) <= 120
