"""The long jobs' and Ray Serve's launch options: each bad value is one ``error:`` line and exit code 2, before
gradio, torch or Ray is imported; good values reach the job settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spaces.api.job_options import JobSettings, job_settings
from spaces.api.options import add_api_arguments, finish_api_arguments
from spaces.options import parse_launch_args
from tests.spaces.test_cli import CHECK_IMPORTS, one_error_line

from ..conftest import ROOT

PROG = "python -m spaces"


def parse(argv):
    return parse_launch_args(argv, prog=PROG, extra=add_api_arguments, finish=finish_api_arguments)


@pytest.mark.parametrize(("argv", "word"), [
    (["--job-ttl", "nan"], "--job-ttl"),
    (["--job-ttl", "0"], "--job-ttl"),
    (["--job-ttl", "1e309"], "--job-ttl"),
    (["--job-limit", "0"], "--job-limit"),
    (["--job-limit", "１"], "--job-limit"),
    (["--job-workers", "-1"], "--job-workers"),
    (["--job-workers", "65"], "--job-workers"),
    (["--jobs-dir", "/etc/passwd"], "--jobs-dir"),
    (["--ray-config", "/no/such/serve.yaml"], "--ray-config"),
    (["--ray-address", "two words"], "--ray-address"),
])
def test_bad_job_and_ray_options_are_one_error_line(monkeypatch, capsys, argv, word):
    monkeypatch.delenv("MMHUB_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2 and word in one_error_line(capsys.readouterr().err, PROG)


def test_a_jobs_dir_in_use_is_refused_at_once(tmp_path, capsys):
    from spaces.api.jobs import JobStore

    store = JobStore(JobSettings(root=str(tmp_path)))  # a running server's
    try:
        with pytest.raises(SystemExit):
            parse(["--jobs-dir", str(tmp_path)])
        assert "in use by another mmhub server" in one_error_line(capsys.readouterr().err, PROG)
    finally:
        store.close()
    assert parse(["--jobs-dir", str(tmp_path)]).jobs_dir == str(tmp_path)


def test_job_options_reach_the_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("MMHUB_API_KEY", raising=False)
    assert job_settings(parse([])) == JobSettings()
    args = parse(["--jobs-dir", str(tmp_path / "jobs"), "--job-ttl", "2.5", "--job-limit", "7", "--job-workers", "3"])
    assert job_settings(args) == JobSettings(root=str(tmp_path / "jobs"), ttl=2.5, limit=7, workers=3)
    assert args.ray_config is None and args.ray_address is None


def test_a_bad_ray_config_is_refused_before_anything_heavy():
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, "spaces", "--ray-config", "/no/such.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--ray-config" in one_error_line(done.stderr, PROG)
    assert done.stdout.strip() == "[]"


BAD_CONFIGS = [
    ("applications: [{name: mmhub, import_path: spaces.api.ray_serve:app_builder, "
     "args: {groups: {text: [no-such-task]}}}]", "no-such-task"),
    ("applications: [{name: mmhub, import_path: spaces.api.ray_serve:app_builder, args: {colour: blue}}]", "colour"),
    ("applications: [{name: mmhub, import_path: x:y, deployments: [{name: text, num_replicas: -3}]}]", "num_replicas"),
    ("applications: [{name: a, route_prefix: /a, import_path: x:y}, {name: b, route_prefix: /b, import_path: x:y}]",
     "one application"),
    ("applications: [unclosed", "flow sequence"),
]


@pytest.mark.parametrize(("text", "word"), BAD_CONFIGS)
def test_a_bad_serve_config_is_refused_naming_what(tmp_path, text, word):
    import yaml

    from spaces.api.ray_serve import build_application, deployment_overrides, read_config

    config = tmp_path / "serve.yaml"
    config.write_text(text)
    with pytest.raises((ValueError, yaml.YAMLError), match=word):
        app = read_config(config).applications[0]
        build_application(dict(app.args or {}), deployment_overrides(app))


def test_python_m_spaces_says_it_in_one_error_line(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(BAD_CONFIGS[0][0])
    done = subprocess.run([sys.executable, "-m", "spaces", "--ray-config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no-such-task" in one_error_line(done.stderr, PROG)
