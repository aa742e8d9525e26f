"""`python -m spaces`, `python -m spaces export` and `python -m spaces.<space>`: a bad option is one ``error:``
line and exit code 2, no traceback, before gradio or any model is imported."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from spaces import export
from spaces.options import parse_launch_args

from .conftest import ROOT

BAD_LAUNCH = [  # (argv, environment, a word the message must hold)
    (["--port", "99999"], {}, "port"),
    (["--port", "0"], {}, "port"),
    (["--port", "-1"], {}, "port"),
    (["--port", "abc"], {}, "port"),
    (["--port", "80.5"], {}, "port"),
    ([], {"GRADIO_SERVER_PORT": "abc"}, "GRADIO_SERVER_PORT"),
    (["--max-file-size", "abc"], {}, "file size"),
    (["--max-file-size", "0mb"], {}, "file size"),
    (["--max-file-size=-5mb"], {}, "file size"),
    (["--max-file-size", "5xb"], {}, "file size"),
    (["--max-file-size", "2tb"], {}, "file size"),
    (["--max-models", "0"], {}, "models kept loaded"),
    (["--max-models", "-1"], {}, "models kept loaded"),
    (["--max-models", "2.5"], {}, "models kept loaded"),
    (["--max-models", "100000"], {}, "models kept loaded"),
    (["--max-model-memory", "nan"], {}, "memory"),
    (["--max-model-memory", "inf"], {}, "memory"),
    (["--max-model-memory", "-1"], {}, "memory"),
    (["--max-model-memory", "0"], {}, "memory"),
    (["--max-model-memory", "lots"], {}, "memory"),
    (["--queue-size", "0"], {}, "queue size"),
    (["--queue-size", "1e9"], {}, "queue size"),
    (["--allow-local-models", "/no/such/folder"], {}, "not an existing directory"),
    (["--allow-local-models", str(ROOT / "README.md")], {}, "not an existing directory"),
    (["--allow-local-models", ""], {}, "directory"),
    (["--lang", "de"], {}, "UI language"),
    (["--models", "huge"], {}, "model set"),
    ([], {"MMHUB_MODELS": "big"}, "MMHUB_MODELS"),
    (["--auth", "nopassword"], {}, "USER:PASSWORD"),
    (["--log-level", "loud"], {}, "log level"),
    (["--host", ""], {}, "host"),
    (["--host", "no host here"], {}, "host"),
    (["--port"], {}, "expected one argument"),
    (["--bogus"], {}, "unrecognized arguments"),
]


def one_error_line(stderr: str, prog: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"{prog}: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(("argv", "env", "word"), BAD_LAUNCH, ids=[" ".join(a) or str(e) for a, e, _ in BAD_LAUNCH])
def test_bad_launch_option_is_one_error_line_and_exit_2(monkeypatch, capsys, argv, env, word):
    for name in ("GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "MMHUB_MODELS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        parse_launch_args(argv, prog="python -m spaces")
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and word in one_error_line(err, "python -m spaces")


def test_bad_export_arguments_are_one_error_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("precious")
    cases = [([], "required"), (["nosuch", str(tmp_path / "x")], "no Space 'nosuch'"),
             (["sentiment", str(tmp_path / "a-file")], "is not a folder"),
             (["sentiment", str(tmp_path / "full")], "--force"),
             (["sentiment", str(tmp_path / "full"), "--force"], "replaces only those"),
             (["sentiment", str(tmp_path / "x"), "--bogus"], "unrecognized")]
    for argv, word in cases:
        with pytest.raises(SystemExit) as exited:
            export.main(argv)
        assert exited.value.code == 2, argv
        assert word in one_error_line(capsys.readouterr().err, "python -m spaces export"), argv
    assert (tmp_path / "full" / "keep.txt").read_text() == "precious"  # --force never deletes a stranger's folder


CHECK_IMPORTS = """
import runpy, sys
sys.argv = [sys.argv[0], *sys.argv[1:]]
try:
    runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
finally:
    print(sorted(m for m in ("gradio", "torch", "transformers") if m in sys.modules))
"""


@pytest.mark.parametrize(("argv", "prog"), [
    (["spaces", "--port", "99999"], "python -m spaces"),
    (["spaces", "--max-models", "0", "--models", "tiny"], "python -m spaces"),
    (["spaces", "export", "nosuch", "somewhere"], "python -m spaces export"),
])
def test_entry_point_fails_before_importing_gradio_or_torch(argv, prog):
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    one_error_line(done.stderr, prog)
    assert done.stdout.strip() == "[]"  # nothing heavy was imported: no model could have loaded


def test_a_space_alone_refuses_a_bad_option(capsys):
    from spaces.sentiment import main

    with pytest.raises(SystemExit) as exited:
        main(["--max-models", "0"])
    assert exited.value.code == 2
    assert "--max-models" in one_error_line(capsys.readouterr().err, "python -m spaces.sentiment")


def test_a_busy_port_is_one_error_line_before_anything_loads():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, "spaces", "--models", "tiny", "--port", str(port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(done.stderr, "python -m spaces")
    assert done.stdout.strip() == "[]"
