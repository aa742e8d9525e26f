"""Export one Space as a self-contained Hugging Face Space folder.

    python -m spaces export sentiment build/space-sentiment
    cd build/space-sentiment && python app.py --models tiny      # try it locally, offline
    # deploy: create a Gradio Space on huggingface.co, then push the folder (git, or `hf upload`)

The folder holds ``app.py``, ``requirements.txt`` (pinned), ``README.md`` (the Spaces YAML header), the
``pipelines`` package and the Space's UI code as the package ``mmhub_space`` — never a folder named ``spaces``,
which would shadow Hugging Face's ZeroGPU package that gradio imports on Spaces.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .options import OneLineParser, fail, space_names

if TYPE_CHECKING:
    from .common import SpaceSpec

logger = logging.getLogger(__name__)

PACKAGE = "mmhub_space"
UI_FILES = ("common.py", "launcher.py", "options.py", "llm_endpoint.py", "inside.py")
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

Options: `--lang pl|en`, `--auth user:password`, `--max-file-size 50mb`, `--max-models N`,
`--allow-local-models DIR` (the model field loads no local folder unless you allow a directory);
`python app.py --help`.
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
    """Write `spec`'s Space folder at `folder` (refused when it exists and is not empty, unless `force` and it is
    a folder this function wrote before: `--force` never deletes anything else)."""
    from pipelines import TASKS

    folder = check_folder(folder, force)
    if folder.exists():
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


def is_export(folder: Path) -> bool:
    """True for a folder `export_space` wrote (its ``app.py`` and ``mmhub_space`` package)."""
    return (folder / "app.py").is_file() and (folder / PACKAGE / "__init__.py").is_file()


def check_folder(folder: str | Path, force: bool = False) -> Path:
    """The resolved target folder; `FileExistsError` when it is a file, or not empty (unless `force` and it holds a
    previous export)."""
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not force:
            raise FileExistsError(f"{folder} exists and is not empty; pass --force to replace a previous export")
        if not is_export(folder):
            raise FileExistsError(f"{folder} is not a Space folder written by `python -m spaces export`; "
                                  "--force replaces only those")
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m spaces export SPACE FOLDER [--force]``; a bad argument is one ``error:`` line and exit code 2."""
    from pipelines import TASKS, resolve_task

    prog = "python -m spaces export"
    names = space_names()
    parser = OneLineParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("space", help=f"one of {', '.join(names)} (or a task name, e.g. text-to-image)")
    parser.add_argument("folder", help="where to write the Space (must not exist or be empty)")
    parser.add_argument("--force", action="store_true", help="replace a folder written by an earlier export")
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    key = args.space.strip().replace("-", "_")
    try:  # checked before gradio is imported
        if key not in names:
            resolve_task(args.space)
        folder = check_folder(args.folder, args.force)
    except (FileExistsError, OSError) as err:
        fail(prog, err)
    except ValueError:  # not a task name either
        fail(prog, f"no Space {args.space!r}; known: {', '.join(names)} (or a task: {', '.join(TASKS)})")
    from .app import space

    try:
        folder = export_space(space(args.space), folder, force=args.force)
    except KeyError as err:
        fail(prog, err.args[0])
    except OSError as err:  # permissions, disk full, ...
        fail(prog, f"cannot write {folder}: {err}")
    print(f"Space written to {folder}\nTry it: cd {folder} && python app.py --models tiny")
