"""The API server's options: keys, limits and the exposure rule (no key and no login: loopback only), each a one-line
error and exit code 2 before gradio or torch is imported; and what a credential proves."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from spaces.api.auth import Credentials, fingerprint
from spaces.api.options import add_api_arguments, check_exposure, finish_api_arguments
from spaces.options import parse_launch_args
from tests.spaces.test_cli import CHECK_IMPORTS, one_error_line

from ..conftest import ROOT

PROG = "python -m spaces"


def parse(argv):
    return parse_launch_args(argv, prog=PROG, extra=add_api_arguments, finish=finish_api_arguments)


@pytest.mark.parametrize(("argv", "word"), [
    (["--api-key", "short"], "API key"),
    (["--api-key", "has a space in it"], "API key"),
    (["--api-key-file", "/no/such/keys.txt"], "API keys"),
    (["--api-concurrency", "bogus=2"], "--api-concurrency"),
    (["--api-concurrency", "sentiment=0"], "--api-concurrency"),
    (["--api-concurrency", "sentiment"], "--api-concurrency"),
    (["--api-queue", "-1"], "--api-queue"),
    (["--shutdown-timeout", "nan"], "shutdown timeout"),
])
def test_bad_api_options_are_one_error_line(monkeypatch, capsys, argv, word):
    monkeypatch.delenv("MMHUB_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2 and word in one_error_line(capsys.readouterr().err, PROG)


def test_keys_from_options_file_and_environment(monkeypatch, tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text("# team keys\nfile-key-0001\n\nfile-key-0002\n")
    monkeypatch.setenv("MMHUB_API_KEY", "env-key-0003")
    args = parse(["--api-key", "cli-key-0000", "--api-key-file", str(keys), "--api-concurrency", "tts=3"])
    assert args.api_keys == ("cli-key-0000", "file-key-0001", "file-key-0002", "env-key-0003")
    assert args.api_limits["voice-cloning"] == 3 and args.api_limits["sentiment"] == 4  # aliases resolve
    keys.write_text("ok-key-00001\nbad key\n")
    with pytest.raises(SystemExit):
        parse(["--api-key-file", str(keys)])
    assert "line 2" in one_error_line(capsys.readouterr().err, PROG)


def test_exposure_rule(monkeypatch):
    monkeypatch.delenv("MMHUB_API_KEY", raising=False)
    assert "refusing to listen on 0.0.0.0" in check_exposure(parse(["--host", "0.0.0.0"]))
    assert "--share" in check_exposure(parse(["--share"]))
    assert check_exposure(parse(["--host", "0.0.0.0", "--api-key", "a-long-key-1"])) is None
    assert check_exposure(parse(["--host", "0.0.0.0", "--auth", "me:secret"])) is None
    assert check_exposure(parse(["--host", "127.0.0.1"])) is None and check_exposure(parse(["--host", "::1"])) is None


def test_the_refusal_comes_before_anything_heavy_loads():
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, "spaces", "--host", "0.0.0.0", "--models", "tiny"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and done.stdout.strip() == "[]"
    assert "--api-key" in one_error_line(done.stderr, PROG)


def test_credentials():
    creds = Credentials(keys=("key-one-0001", "key-two-0002"), login=("me", "pa:ss"))
    assert creds.owner(b"Bearer key-two-0002") == fingerprint("key-two-0002") != fingerprint("key-one-0001")
    assert creds.owner(b"bearer  key-one-0001 ") == fingerprint("key-one-0001")
    basic = b"Basic " + base64.b64encode(b"me:pa:ss")
    assert creds.owner(basic) == "login:me"
    for bad in (None, b"", b"Bearer", b"Bearer key-one-000", b"Basic " + base64.b64encode(b"me:wrong"),
                b"Basic !!!", b"Token key-one-0001", "Bearer kéy".encode("latin-1")):
        assert creds.owner(bad) is None, bad
    assert "key-one" not in fingerprint("key-one-0001")


def test_the_login_protects_the_app_and_the_api(monkeypatch):
    """``--auth`` on the whole app (built as ``python -m spaces`` builds it, here with one tab): the UI needs the
    login, and so does the API (HTTP Basic), so that ``--host 0.0.0.0 --auth`` leaves nothing open."""
    from fastapi.testclient import TestClient

    from spaces.api.server import build_app
    from spaces.app import space

    monkeypatch.delenv("MMHUB_API_KEY", raising=False)
    args = parse(["--models", "tiny", "--auth", "me:secret", "--host", "0.0.0.0"])
    with TestClient(build_app([space("sentiment")], args)) as client:
        assert client.get("/v1/models").status_code == 401 and client.get("/config").status_code == 401
        login = "Basic " + base64.b64encode(b"me:secret").decode()
        assert client.get("/v1/models", headers={"Authorization": login}).status_code == 200
        assert client.post("/login", data={"username": "me", "password": "secret"}).status_code == 200
        assert client.get("/config").status_code == 200
