"""Export one Space as a self-contained Hugging Face Space folder.

    python -m spaces export sentiment build/space-sentiment
    cd build/space-sentiment && python app.py --models tiny      # try it locally, offline
    # deploy: create a Gradio Space on huggingface.co, then push the folder (git, or `hf upload`)

The folder holds ``app.py``, ``requirements.txt`` (pinned), ``README.md`` (the Spaces YAML header), the
``pipelines`` package and the Space's UI code as the package ``mmhub_space`` — never a folder named ``spaces``,
which would shadow Hugging Face's ZeroGPU package that gradio imports on Spaces.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from .common import SpaceSpec

logger = logging.getLogger(__name__)

PACKAGE = "mmhub_space"
UI_FILES = ("common.py", "launcher.py")
ALWAYS = ("gradio", "numpy", "pandas", "psutil", "huggingface-hub")
SPACES_DIR = Path(__file__).resolve().parent
PIPELINES_DIR = SPACES_DIR.parent / "pipelines"
REQUIREMENTS = SPACES_DIR.parent / "requirements.txt"

APP = '''"""{title}: a Hugging Face Space exported from mmhub (`python -m spaces export {name} DIR`).

Locally: pip install -r requirements.txt && python app.py            (add --models tiny to try it offline)
"""

from {package}.{name} import main

if __name__ == "__main__":
    main()
'''

README = """---
title: {title}
emoji: {emoji}
colorFrom: indigo
colorTo: blue
sdk: gradio
sdk_version: {gradio_version}
python_version: "3.11"
app_file: app.py
pinned: false
short_description: {short_description}
{models}tags:
  - mmhub
---

# {title}

{description}

Exported from mmhub with `python -m spaces export {name} DIR`. Run it locally:

```bash
pip install -r requirements.txt
python app.py                    # http://127.0.0.1:7860
python app.py --models tiny      # offline, tiny random models: the output is noise
```

Options: `--lang pl|en`, `--auth user:password`, `--max-file-size 50mb`, `--max-models N`; `python app.py --help`.
The API (gradio_client) lists its named endpoints under "Use via API" at the bottom of the page.

Models: {model_lines}
"""


def pinned_requirements(names: Sequence[str], requirements: Path = REQUIREMENTS) -> list[str]:
    """``name==version`` for each name: the repository's pins first, else the installed version, else unpinned."""
    pins: dict[str, str] = {}
    if requirements.is_file():
        for line in requirements.read_text().splitlines():
            match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
            if match:
                pins[_normal(match.group(1))] = match.group(2)
    lines = []
    for name in dict.fromkeys(names):
        version = pins.get(_normal(name))
        if version is None:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                version = None
        lines.append(f"{name}=={version}" if version else name)
    return lines


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def export_space(spec: SpaceSpec, folder: str | Path, force: bool = False) -> Path:
    """Write `spec`'s Space folder at `folder` (refused when it exists and is not empty, unless `force`)."""
    from pipelines import TASKS

    folder = Path(folder).expanduser().resolve()
    if folder.exists() and any(folder.iterdir()):
        if not force:
            raise FileExistsError(f"{folder} exists and is not empty; pass --force to replace it")
        shutil.rmtree(folder)
    package = folder / PACKAGE
    package.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "__main__.py", "cli.py")
    shutil.copytree(PIPELINES_DIR, folder / "pipelines", ignore=ignore)
    for extra in spec.packages:
        shutil.copytree(SPACES_DIR.parent / extra, folder / extra, ignore=ignore)
    (package / "__init__.py").write_text("")
    for name in (*UI_FILES, f"{spec.name}.py"):
        shutil.copy2(SPACES_DIR / name, package / name)

    title = f"mmhub {spec.title['en']}"
    (folder / "app.py").write_text(APP.format(title=title, name=spec.name, package=PACKAGE))
    requirements = pinned_requirements(ALWAYS + spec.requirements)
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    model_ids = [m.id for task in spec.tasks for m in TASKS[task].models]
    hub_ids = [m for m in dict.fromkeys(model_ids) if "/" in m]
    models = "models:\n" + "".join(f"  - {m}\n" for m in hub_ids) if hub_ids else ""
    model_lines = "; ".join(f"`{m.id}` ({m.licence})" for task in spec.tasks for m in TASKS[task].models)
    short = spec.description if len(spec.description) <= 60 else spec.description[:57].rstrip() + "..."
    (folder / "README.md").write_text(README.format(
        title=title, emoji=spec.emoji, gradio_version=importlib.metadata.version("gradio"),
        short_description=short.replace(":", " -"), models=models, description=spec.description, name=spec.name,
        model_lines=model_lines))
    logger.info("exported Space %s to %s", spec.name, folder)
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    from .app import discover_spaces, space

    names = [s.name for s in discover_spaces()]
    parser = argparse.ArgumentParser(prog="python -m spaces export", description=__doc__.split("\n")[0])
    parser.add_argument("space", help=f"one of {', '.join(names)} (or a task name, e.g. text-to-image)")
    parser.add_argument("folder", help="where to write the Space (must not exist or be empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    try:
        folder = export_space(space(args.space), args.folder, force=args.force)
    except (KeyError, FileExistsError) as err:
        parser.error(str(err.args[0] if isinstance(err, KeyError) else err))
    print(f"Space written to {folder}\nTry it: cd {folder} && python app.py --models tiny")
