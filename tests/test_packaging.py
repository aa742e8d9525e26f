"""mmhub as an installed package: pyproject.toml agrees with requirements.txt, the wheel builds and installs into a
fresh virtual environment, `mmhub` and `from pipelines import load` work from another folder, and Hugging Face's own
``spaces`` package (ZeroGPU) stays what ``import spaces`` finds beside an installed mmhub.

The fresh environment holds only mmhub (``--no-deps``); its dependencies come from the test's own environment
through a ``.pth`` file, so nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipelines import console

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FORBIDDEN = {"torchvision", "torchaudio", "timm"}  # DESIGN.md: CUDA builds from PyPI that break `import transformers`


def requirement_pins() -> dict[str, Requirement]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def declared() -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    items = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in items}


# -- the metadata ------------------------------------------------------------------------------------------------


def test_every_pin_of_requirements_lies_in_its_pyproject_range():
    pins, ranges = requirement_pins(), declared()
    missing = sorted(set(pins) - set(ranges))
    assert not missing, f"add these requirements.txt packages to pyproject.toml (dependencies or an extra): {missing}"
    for name, pin in pins.items():
        version = next(iter(pin.specifier)).version
        assert ranges[name].specifier.contains(version, prereleases=True), (name, version, str(ranges[name]))
        assert set(pin.extras) <= set(ranges[name].extras), (name, pin.extras)  # transformers[serving] ...


def test_torch_is_pinned_and_no_cuda_only_package_is_a_dependency():
    runtime = {canonicalize_name(Requirement(r).name): Requirement(r) for r in PYPROJECT["project"]["dependencies"]}
    assert str(runtime["torch"].specifier) == "==2.13.0"
    assert not FORBIDDEN & set(declared())


def test_every_package_folder_is_in_the_wheel():
    """A new sub-package (a folder with __init__.py) must be listed in pyproject.toml, or the wheel lacks it."""
    setup = PYPROJECT["tool"]["setuptools"]
    renamed = setup.get("package-dir", {})

    def folder_of(name: str) -> str:  # mmhub_spaces.server -> spaces/server
        top, _, rest = name.partition(".")
        return "/".join([renamed.get(top, top), *(rest.split(".") if rest else [])])

    listed = {folder_of(name) for name in setup["packages"]}
    for top in ("pipelines", "spaces", "finetune", "eval", "benchmarks"):
        assert top in listed, top
        for init in (ROOT / top).rglob("__init__.py"):
            folder = init.parent.relative_to(ROOT).as_posix()
            if "__pycache__" not in folder:
                assert folder in listed, f"{folder} is a package missing from [tool.setuptools] packages"
    assert "spaces" not in setup["packages"], "installed as mmhub_spaces: never a top-level `spaces` package"


# -- the console script, in this process ---------------------------------------------------------------------------


def test_mmhub_dispatches_to_the_module_clis(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # runpy(alter_sys=True) rewrites it
    assert console.main(["--help"]) == 0
    assert "finetune" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        console.main(["list"])  # python -m pipelines list: its table, then its own sys.exit(0)
    assert exit_.value.code == 0
    assert "text-generation" in capsys.readouterr().out
    for argv, words in ((["nope"], "unknown command 'nope'"), (["space"], "needs a NAME"),
                        (["space", "chat"], "no space 'chat'"), (["finetune", "--help"], "needs a NAME"),
                        (["finetune", "bogus"], "digits")):
        with pytest.raises(SystemExit) as exit_:
            console.main(argv)
        assert exit_.value.code == 2
        assert words in capsys.readouterr().err
    assert console.main([]) == 2


# -- the wheel in a fresh environment ------------------------------------------------------------------------------


def _fresh_venv(folder: Path) -> Path:
    """A virtual environment without pip whose only outside packages are this test run's (a .pth file)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    shared = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (Path(site) / "outside-packages.pth").write_text("\n".join(shared) + "\n")
    return Path(site)


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """mmhub built as a wheel from a copy of the sources (no build files left in the checkout) and installed with
    ``--no-deps`` into a fresh virtual environment, beside a stand-in of Hugging Face's ``spaces`` distribution."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("pipelines", "spaces", "finetune", "eval", "benchmarks"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    _pip("wheel", "--no-build-isolation", "--no-deps", "--no-index", "-q", "-w", str(work / "dist"), str(source))
    wheel = next((work / "dist").glob("mmhub-*.whl"))
    venv = work / "venv"
    site = _fresh_venv(venv)
    _pip("--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", "-q", str(wheel))
    _fake_zerogpu_spaces(site)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return {"venv": venv, "wheel": wheel, "site": site, "cwd": elsewhere}


def _fake_zerogpu_spaces(site: Path) -> None:
    """A distribution named ``spaces`` shaped like Hugging Face's: the ``GPU`` decorator, and
    ``gradio_auto_wrap``, which gradio calls on every event function when it runs on a Space (``SYSTEM=spaces``);
    the stand-in counts those calls."""
    package = site / "spaces"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""Stand-in for huggingface/spaces (ZeroGPU)."""\nWRAPPED = []\n\n\ndef GPU(fn=None, **kw):\n'
        '    return fn if fn is not None else (lambda f: f)\n\n\ndef gradio_auto_wrap(fn):\n'
        '    WRAPPED.append(getattr(fn, "__name__", fn))\n    return fn\n')
    info = site / "spaces-0.42.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spaces\nVersion: 0.42.0\n")
    (info / "top_level.txt").write_text("spaces\n")
    (info / "RECORD").write_text("spaces/__init__.py,,\nspaces-0.42.0.dist-info/METADATA,,\n")


def _run(installed: dict[str, Path], *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SYSTEM", "SPACE_ID")}
    return subprocess.run(command, cwd=installed["cwd"], capture_output=True, text=True, timeout=300,
                          env=environment | (env or {}))


def test_the_wheel_installs_and_runs_from_another_folder(installed):
    names = {re.split(r"[/.]", n)[0] for n in _zip_names(installed["wheel"])}
    assert {"pipelines", "mmhub_spaces", "finetune", "eval", "benchmarks"} <= names
    assert "spaces" not in names and "tests" not in names
    python = str(installed["venv"] / "bin" / "python")
    done = _run(installed, str(installed["venv"] / "bin" / "mmhub"), "--help")
    assert done.returncode == 0 and "mmhub COMMAND" in done.stdout, done.stderr
    probe = ("import pipelines, mmhub_spaces\nfrom pipelines import load, TASKS\n"
             "from eval import leaderboard, TASKS_DIR\n"
             "print(pipelines.__file__)\nprint(mmhub_spaces.__file__)\nprint(len(leaderboard.published_rows()))\n"
             "print(len(list(TASKS_DIR.glob('*.yaml'))))\nfrom pipelines.tts_languages import supported\n"
             "print(len(supported()))\n")
    done = _run(installed, python, "-c", probe)
    assert done.returncode == 0, done.stderr[-3000:]
    pipelines_file, spaces_file, rows, yamls, languages = done.stdout.split()
    for path in (pipelines_file, spaces_file):
        assert Path(path).is_relative_to(installed["venv"]), path  # the installed copy, not the checkout
    assert int(rows) > 10 and int(yamls) > 20 and int(languages) > 1000  # package data came along
    done = _run(installed, str(installed["venv"] / "bin" / "mmhub"), "space", "nope")
    assert done.returncode == 2 and "sentiment" in done.stderr


def test_huggingface_spaces_stays_what_gradio_imports(installed):
    """Installed side by side, ``import spaces`` is Hugging Face's package; on a Space (``SYSTEM=spaces``) gradio
    wraps mmhub's event functions with its ``gradio_auto_wrap``, and mmhub's app builds."""
    probe = ("import spaces\nfrom mmhub_spaces.common import Context\nfrom mmhub_spaces.launcher import build_blocks\n"
             "from mmhub_spaces.sentiment import SPACE\nbuild_blocks([SPACE], Context(models='tiny'))\n"
             "print(spaces.__file__)\nprint(len(spaces.WRAPPED))\n")
    done = _run(installed, str(installed["venv"] / "bin" / "python"), "-c", probe,
                env={"SYSTEM": "spaces", "SPACE_ID": "someone/mmhub"})
    assert done.returncode == 0, done.stderr[-3000:]
    spaces_file, wrapped = done.stdout.split()[-2:]
    assert Path(spaces_file).parent == installed["site"] / "spaces"
    assert int(wrapped) > 0
    done = _run(installed, str(installed["venv"] / "bin" / "mmhub"), "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(spaces; gradio imports it, mmhub does not)" in done.stdout


def _zip_names(wheel: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()
