"""One hold-out rule for every trainer: a fraction of the rows with a cap, so small data sets train without a flag."""

from __future__ import annotations

import pytest

from finetune.data import DataError, load_sentiment_data
from finetune.holdout import DEFAULT_FRACTION, validation_count
from finetune.lm_data import load_lm_data
from tests.finetune.conftest import write_fasttext


@pytest.mark.parametrize(("rows", "cap", "fraction", "held"), [
    (2, 1000, 0.1, 1), (3, 1000, 0.1, 1), (9, 1000, 0.1, 1), (10, 1000, 0.1, 1), (540, 1000, 0.1, 54),
    (10_000, 1000, 0.1, 1000), (60_000, 5000, 0.1, 5000), (1438, 200, 0.2, 200), (3_600_000, 5000, 0.1, 5000),
    (20, 1000, 0.5, 10), (2, 1, 0.5, 1),
])
def test_a_fraction_with_a_cap_at_least_one_never_all(rows, cap, fraction, held):
    assert validation_count(rows, cap, fraction) == held
    assert 1 <= held < rows


@pytest.mark.parametrize("rows", [0, 1, -5, True, 2.5])
def test_too_few_rows_name_the_data(rows):
    with pytest.raises(DataError, match="corpus.txt: .* too few to hold out"):
        validation_count(rows, 1000, where="corpus.txt")


def test_the_default_is_a_tenth():
    assert DEFAULT_FRACTION == 0.1


def test_540_rows_train_without_a_flag_in_sentiment_and_lm(tmp_path):
    """The issue's case: 540 rows with the default --validation-size (5000 / 1000) used to fail."""
    reviews = write_fasttext(tmp_path / "train.ft.txt", 540)
    data = load_sentiment_data(train_file=str(reviews), cache_dir=str(tmp_path / "s"))
    assert (len(data.train), len(data.validation)) == (486, 54)
    corpus = tmp_path / "korpus.txt"
    corpus.write_text("".join(f"Zdanie numer {i}.\n" for i in range(540)), encoding="utf-8")
    lm = load_lm_data(train_file=str(corpus), cache_dir=str(tmp_path / "l"))
    assert (len(lm.train), len(lm.validation)) == (486, 54) and "54 rows held out" in lm.validation_source


@pytest.mark.parametrize("module", ["finetune.lm", "finetune.sentiment", "finetune.digits", "finetune.vae"])
@pytest.mark.parametrize("value", ["0", "0.9", "nan", "-0.1"])
def test_every_trainer_checks_the_fraction_flag(tmp_path, capsys, module, value):
    import importlib

    cli = importlib.import_module(module).cli
    needed = {"finetune.lm": ["--train-file", "x.txt"], "finetune.sentiment": ["--train-file", "x.txt"]}
    assert cli(["--output-dir", str(tmp_path / "out"), *needed.get(module, []), "--validation-fraction", value]) == 2
    assert "--validation-fraction" in capsys.readouterr().err
