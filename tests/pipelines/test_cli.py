"""The command line: `python -m pipelines list` and `run`, as a user types them."""

import json
import subprocess
import sys

import pytest

from pipelines.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, timeout=300)


def test_run_sentiment_prints_json():
    done = run_cli("run", "sentiment", "Świetny produkt!", "--model", "tiny")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["label"] in {"positive", "neutral", "negative"}
    assert abs(sum(result["scores"].values()) - 1) < 1e-5


def test_run_text_generation_streams_text():
    done = run_cli("run", "generate", "Ala ma kota", "--model", "tiny", "--param", "max_new_tokens=6",
                   "--param", "temperature=0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.strip()


def test_errors_are_one_line_and_exit_2():
    unknown_task = run_cli("run", "sentimnt", "x")
    assert unknown_task.returncode == 2 and "Did you mean 'sentiment'" in unknown_task.stderr
    bad_param = run_cli("run", "sentiment", "  ", "--model", "tiny")
    assert bad_param.returncode == 2 and "`inputs` must be non-empty text" in bad_param.stderr
    offline = run_cli("run", "sentiment", "x", "--model", "nobody/nothing")
    assert offline.returncode == 2 and "cannot be reached" in offline.stderr


def test_run_saves_outputs_and_shows_progress(tmp_path):
    from PIL import Image

    for name, size in (("content.png", (40, 32)), ("style.png", (24, 24))):
        Image.new("RGB", size, (200, 30, 90) if name == "style.png" else (20, 120, 200)).save(tmp_path / name)
    done = run_cli("run", "style-transfer", str(tmp_path / "content.png"), "--model", "tiny",
                   "--param", f"style={tmp_path / 'style.png'}", "--param", "steps=3",
                   "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "3/3" in done.stderr  # the tqdm bar fed by the pipeline's progress callback
    assert Image.open(tmp_path / "out" / "image_0.png").size == (40, 32)
    assert json.loads(done.stdout)["image"] == {"image": {"size": [40, 32], "mode": "RGB"}}


# A model that cannot load here: had it been loaded before the arguments were checked, the error would say so.
NOWHERE = ["--model", "nobody/nothing"]


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "sentiment", "x", *NOWHERE, "--param", "bad"], "`--param` must be NAME=VALUE"),
    (["run", "sentiment", "x", *NOWHERE, "--param", "=5"], "`--param` must be NAME=VALUE"),
    (["run", "sentiment", "x", *NOWHERE, "--param", "batch_size=NaN"], "`--param batch_size` must be a finite"),
    (["run", "sentiment", "x", *NOWHERE, "--param", "batch_size=1e400"], "`--param batch_size` must be a finite"),
    (["run", "sentiment", "x", *NOWHERE, "--param", "temperature=0.5"], "`temperature` must be a parameter"),
    (["run", "text-to-image", "x", *NOWHERE, "--param", "progress=1"], "`--param` must be a call parameter other"),
    (["run", "generate", "x", *NOWHERE, "--param", "stream=maybe"], "`--param stream` must be True or False"),
    (["run", "style-transfer", "/no/such/photo.png", *NOWHERE], "`input` must be an existing content image"),
    (["run", "separation", "/no/such/song.wav", *NOWHERE], "`input` must be an existing audio file"),
    (["run", "sentimnt", "x", *NOWHERE], "Did you mean 'sentiment'"),
    (["run", "sentiment", "x", "--model", " "], "`model`"),
    (["run", "sentiment", "x", *NOWHERE, "--device", "quantum"], "`device`"),
    (["run", "sentiment", "x", *NOWHERE, "--dtype", "float8"], "`dtype`"),
])
def test_bad_arguments_are_one_line_exit_2_before_any_model_loads(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err and "cannot be reached" not in err


def test_output_that_is_a_file(tmp_path, capsys):
    taken = tmp_path / "taken.png"
    taken.write_text("a file")
    for output in (taken, taken / "inside"):
        assert main(["run", "sentiment", "x", *NOWHERE, "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: `--output` must be a folder") and "cannot be reached" not in err


BULK = ["run", "sentiment", "--input", "in.txt", "--output", "o.jsonl"]


@pytest.mark.parametrize("argv", [["run", "sentiment"], ["run", "sentiment", "x", "--bogus"], ["launch"], [],
                                  [*BULK, "--batch-size", "abc"], [*BULK, "--on-error", "maybe"]])
def test_argparse_errors_exit_2(capsys, argv):
    try:
        code = main(argv)  # a missing input: the input is optional since `--input FILE`, so main reports it
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    # one line, no usage block (as every other mmhub CLI)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "error:" in err and "usage:" not in err


def test_output_file_error_has_no_traceback_end_to_end(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    done = run_cli("run", "style-transfer", str(tmp_path / "missing.png"), "--model", "tiny", "--output", str(taken))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: ")


@pytest.mark.parametrize(("task", "what"), [("deep-dream", "photo"), ("digit-recognition", "image of a digit"),
                                            ("autoencoder", "image")])
def test_image_tasks_check_their_file_before_any_model_loads(capsys, task, what):
    assert main(["run", task, "/no/such/picture.png", *NOWHERE]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: `input` must be an existing {what} for {task}") and "cannot be reached" not in err


def test_run_autoencoder_on_an_image_file_saves_both_pictures(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (28, 28), 0).save(tmp_path / "digit.png")
    assert main(["run", "autoencoder", str(tmp_path / "digit.png"), "--model", "tiny",
                 "--output", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["image_0.png", "reconstruction.png"]
    assert "psnr" in json.loads(capsys.readouterr().out)


def test_saving_dispatches_on_the_value_not_the_field_name(tmp_path):
    """`VideoResult.image` is a flag (the video began from an image), not a picture to save."""
    import numpy as np

    from pipelines.cli import save_outputs
    from pipelines.video_generation import VideoResult

    frames = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    video = VideoResult(frames, fps=8, seed=0, num_inference_steps=1, guidance_scale=1.0, width=16, height=16,
                        image=True)
    assert [p.name for p in save_outputs(video, tmp_path)] == ["video.mp4"]
    assert (tmp_path / "video.mp4").stat().st_size > 0


def test_a_missing_required_param_is_named_before_the_model_loads(capsys):
    # style-transfer's `style` has no default: named as the flag to pass, before loading (NOWHERE would fail to load)
    assert main(["run", "style-transfer", __file__, *NOWHERE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: `--param style`") and "--param style=" in err and "cannot be reached" not in err
