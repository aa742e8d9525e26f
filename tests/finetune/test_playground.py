"""``python -m finetune.playground``: a run's folder loads through load() and reproduces its metrics.json; a killed
run resumes to the very same network; bad flags are one ``error:`` line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from finetune.playground import PlaygroundArguments, cli, main
from pipelines import load

QUICK = ["--dataset", "xor", "--hidden", "4", "--learning-rate", "0.3", "--batch-size", "25", "--seed", "3"]


def test_a_run_loads_and_reproduces_its_metrics(tmp_path, capsys):
    out = tmp_path / "xor"
    assert cli([*QUICK, "--epochs", "20", "--logging-epochs", "10", "--output-dir", str(out)]) == 0
    assert "Trained the Playground network for 20 epochs" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "metrics.json", "README.md",
                                                "training_curve.png", "network.html"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epoch"] == 20 and metrics["test_accuracy"] > 0.85
    assert [e["step"] for e in metrics["log_history"]] == [0, 10, 20]
    pg = load("playground", model=str(out))
    again = pg.evaluate()  # the data generated again from the saved seed, through the loaded network
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "epoch"):
        assert again[key] == metrics[key], key
    assert "seed=3" in metrics["playground_url"] and "pg.evaluate()" in (out / "README.md").read_text()
    assert 'id="pg-epoch">000,020<' in (out / "network.html").read_text()


def test_a_killed_run_resumes_to_the_same_network(tmp_path):
    straight = tmp_path / "straight"
    main(PlaygroundArguments(dataset="circle", hidden="3", learning_rate=0.1, batch_size=30, epochs=12,
                             save_epochs=5, output_dir=str(straight)))

    def kill_at_8(epoch, total, info):
        if epoch == 8:
            raise KeyboardInterrupt  # as a Ctrl-C or a SIGKILL would end it: after checkpoint-5

    resumed = tmp_path / "resumed"
    args = dict(dataset="circle", hidden="3", learning_rate=0.1, batch_size=30, epochs=12, save_epochs=5,
                output_dir=str(resumed))
    with pytest.raises(KeyboardInterrupt):
        main(PlaygroundArguments(**args), progress=kill_at_8)
    assert not resumed.exists() and (tmp_path / "resumed.partial" / "checkpoints" / "checkpoint-5").is_dir()
    metrics = main(PlaygroundArguments(**args, resume=True))
    expected = json.loads((straight / "metrics.json").read_text())
    assert metrics["test_loss"] == expected["test_loss"] and metrics["log_history"] == expected["log_history"]
    a, b = load("playground", model=str(straight)), load("playground", model=str(resumed))
    for x, y in zip(a.network.parameters(), b.network.parameters(), strict=True):
        np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())


def test_a_csv_run(tmp_path, capsys):
    data = tmp_path / "points.csv"
    data.write_text("a;b;t\n" + "".join(f"{i};{(i * 7) % 11};{i + (i * 7) % 11}\n" for i in range(30)))
    out = tmp_path / "mine"
    assert cli(["--dataset", str(data), "--hidden", "", "--activation", "linear", "--batch-size", "5",
                "--epochs", "20", "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["problem"] == "regression" and metrics["playground_url"] is None
    assert load("playground", model=str(out)).evaluate(data=data)["test_loss"] == metrics["test_loss"]
    capsys.readouterr()


@pytest.mark.parametrize("flags, fragment", [
    (["--hidden", "9"], "`--hidden` must be an integer from 1 to 8; got 9"),
    (["--hidden", "1,1,1,1,1,1,1"], "7 layers is more than the Playground's 6"),
    (["--noise", "nan"], "`--noise` must be a number from 0 to 50; got nan"),
    (["--features", "x1,z"], "`--features` must be one of"),
    (["--epochs", "0"], "`--epochs` must be an integer from 1 to"),
    (["--learning-rate", "-1"], "`--learning-rate` must be a number in (0, 10]"),
    (["--dataset", "nowhere.csv"], "--dataset must be circle, xor, gauss, spiral, reg-plane, reg-gauss or a CSV"),
    (["--batch-size", "400"], "`batch_size` must be an integer from 1 to 250"),
])
def test_bad_flags_are_one_line(flags, fragment, tmp_path, capsys):
    assert cli([*flags, "--output-dir", str(tmp_path / "never")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.partial").exists()


def test_bad_csv_data_names_the_line(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("1,2,1\n3,4,-1\n5,x,1\n7,8,-1\n")
    assert cli(["--dataset", str(data), "--output-dir", str(tmp_path / "never")]) == 2
    assert "bad.csv:3: 'x' is not a finite number" in capsys.readouterr().err
