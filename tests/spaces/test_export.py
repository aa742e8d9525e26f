"""`python -m spaces export`: a self-contained Hugging Face Space folder that starts and answers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from gradio_client import Client

from spaces.app import space
from spaces.export import export_space, pinned_requirements

from .conftest import ROOT, serving


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "space-sentiment"
    result = subprocess.run([sys.executable, "-m", "spaces", "export", "sentiment", str(folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return folder


def test_folder_has_app_requirements_readme_and_no_spaces_package(exported):
    names = {p.name for p in exported.iterdir()}
    assert names == {"app.py", "requirements.txt", "README.md", "pipelines", "mmhub_space"}
    assert not (exported / "spaces").exists()  # it would shadow Hugging Face's ZeroGPU package
    assert (exported / "mmhub_space" / "sentiment.py").is_file()
    assert (exported / "mmhub_space" / "__init__.py").read_text() == ""


def test_readme_has_the_spaces_yaml_header(exported):
    text = (exported / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert header["sdk_version"].count(".") == 2
    assert "cardiffnlp/twitter-xlm-roberta-base-sentiment" in header["models"]
    assert len(header["short_description"]) <= 60


def test_requirements_are_pinned(exported):
    lines = (exported / "requirements.txt").read_text().split()
    assert "torch==2.13.0" in lines and any(line.startswith("transformers==") for line in lines)
    assert not any(line.startswith(("torchvision", "torchaudio", "timm")) for line in lines)
    assert pinned_requirements(["no-such-package-xyz"]) == ["no-such-package-xyz"]


def test_a_non_empty_folder_is_refused(exported):
    with pytest.raises(FileExistsError, match="--force"):
        export_space(space("sentiment"), exported)


def test_exported_space_starts_and_answers(exported):
    with serving(["app.py", "--models", "tiny"], cwd=exported) as url:
        result = Client(url, verbose=False).predict("Świetny produkt!", "tiny", api_name="/sentiment")
    assert result["label"] in {"negative", "neutral", "positive"}
