"""python -m finetune.sentiment: every bad flag is one `error:` line and exit 2 before anything loads; reviews
longer than the model's position table are truncated to what it takes, never an IndexError."""

from __future__ import annotations

import json
import logging
import random
import time

import pytest

from finetune.sentiment import cli, main, make_parser
from pipelines import tiny
from tests.finetune.conftest import review, write_fasttext

# The model and the data do not exist: had anything been loaded before the flags were checked, the error would
# name them instead of the flag.
BASE = ["--model", "nobody/no-such-model", "--train-file", "/no/such/reviews.ft.txt"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--max-steps", "-5"], "`--max-steps` must be an integer from 1 to 1000000000; got -5. Or -1"),
    (["--max-steps", "0"], "`--max-steps`"),
    (["--learning-rate", "nan"], "`--learning-rate` must be a number in (0, 1]; got nan"),
    (["--learning-rate", "inf"], "`--learning-rate`"),
    (["--learning-rate", "0"], "`--learning-rate`"),
    (["--num-train-epochs", "nan"], "`--num-train-epochs`"),
    (["--num-train-epochs", "1e300"], "`--num-train-epochs`"),
    (["--warmup-ratio", "2"], "`--warmup-ratio`"),
    (["--weight-decay", "-0.1"], "`--weight-decay`"),
    (["--lora-dropout", "1"], "`--lora-dropout`"),
    (["--seed", "-1"], "`--seed`"),
    (["--seed", str(2**32)], "`--seed`"),  # numpy's seed range, which transformers' set_seed feeds
    (["--batch-size", "0"], "`--batch-size`"),
    (["--eval-batch-size", "0"], "`--eval-batch-size`"),
    (["--max-length", "0"], "`--max-length`"),
    (["--max-samples", "-3"], "`--max-samples`"),
    (["--early-stopping-patience", "-1"], "`--early-stopping-patience`"),
    (["--gradient-accumulation-steps", str(10**12)], "`--gradient-accumulation-steps`"),
    (["--precision", "fp8"], "--precision must be auto"),
    (["--model", " "], "`--model`"),
])
def test_bad_flags_are_one_line_and_exit_2_before_anything_loads(tmp_path, capsys, flags, message):
    output = tmp_path / "out"
    started = time.perf_counter()
    assert cli([*BASE, "--output-dir", str(output), *flags]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and "no-such-model" not in err and "reviews.ft.txt" not in err
    assert not output.exists() and time.perf_counter() - started < 30


@pytest.mark.parametrize("argv", [
    ["--max-steps", "abc"],  # not an integer: argparse's own error
    ["--train-file", "x"],  # no --output-dir
    ["--output-dir", "x", "--no-such-flag", "1"],  # HfArgumentParser raises ValueError for these
])
def test_argparse_errors_exit_2(capsys, argv):
    try:
        code = cli(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert sum("error:" in line for line in err.splitlines()) == 1 and "Traceback" not in err


def test_output_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "model.bin"
    target.write_text("not a folder")
    assert cli(["--model", "tiny", "--train-file", str(tmp_path / "none.ft.txt"), "--output-dir", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err


def long_reviews(path, n=48, words=400):
    """fastText lines of a few hundred words each: far past 64 or 128 tokens."""
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            positive = i % 2 == 1
            text = " ".join(review(rng, positive) for _ in range(words // 10))
            handle.write(f"__label__{2 if positive else 1} {text}\n")
    return path


def short_position_model(folder, positions):
    """The tiny XLM-R with a `positions`-long position table and a tokenizer that reports no limit (1e30)."""
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForSequenceClassification

    base = tiny.build("sentiment")
    XLMRobertaForSequenceClassification(
        XLMRobertaConfig.from_pretrained(base, max_position_embeddings=positions)).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.model_max_length = int(1e30)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize(("positions", "tokens"), [(64, 62), (130, 128)])
def test_reviews_longer_than_the_position_table_are_truncated(tmp_path, caplog, positions, tokens):
    model = short_position_model(tmp_path / "model", positions)
    data = long_reviews(tmp_path / "long.ft.txt")
    argv = ["--model", model, "--train-file", str(data), "--output-dir", str(tmp_path / "out"), "--max-length",
            "256", "--max-steps", "2", "--batch-size", "8", "--validation-size", "8", "--eval-steps", "2",
            "--save-steps", "2", "--logging-steps", "1", "--cache-dir", str(tmp_path / "cache")]
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    with caplog.at_level(logging.WARNING, logger="finetune.sentiment"):
        metrics = main(args)  # unclamped, 256 tokens index past the table: "index 64 is out of bounds"
    assert metrics["global_step"] == 2
    warnings = [r.getMessage() for r in caplog.records if "--max-length 256" in r.getMessage()]
    assert len(warnings) == 1 and f"truncated to {tokens} tokens" in warnings[0]
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"| `max_length` | `{tokens}` |" in card
    assert json.loads((tmp_path / "out" / "config.json").read_text())["max_position_embeddings"] == positions


def test_fixture_reviews_still_train(tmp_path):
    """A flag check that is too strict would refuse the documented smoke-run flags: they still parse."""
    data = write_fasttext(tmp_path / "r.ft.txt", 40)
    (args,) = make_parser().parse_args_into_dataclasses(args=[
        "--model", "tiny", "--train-file", str(data), "--output-dir", str(tmp_path / "o"), "--max-steps", "-1",
        "--learning-rate", "3e-3", "--warmup-ratio", "0", "--lora-dropout", "0", "--max-samples", "20",
        "--validation-size", "10", "--seed", str(2**32 - 1), "--early-stopping-patience", "0"])
    assert args.max_steps == -1 and args.seed == 2**32 - 1
