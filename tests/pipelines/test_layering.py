"""The layers: `pipelines` is the bottom one. No module of it imports `finetune` (or the app, the evaluation runner,
the benchmarks, the tests), not even inside a function, so that the readers both use live in `pipelines`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPPER = ("finetune", "spaces", "eval", "benchmarks", "tests")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement in the file, at any depth (functions included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_the_scan_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from finetune.data import open_text\n    import finetune.lm\n"
                      "    importlib.import_module('finetune.run')\n")
    assert [m for _, m in imported_modules(sample)] == ["os", "finetune.data", "finetune.lm", "finetune.run"]


def test_pipelines_imports_no_upper_layer():
    files = sorted((ROOT / "pipelines").rglob("*.py"))
    assert len(files) > 30 and ROOT / "pipelines" / "records.py" in files
    upward = [f"{path.relative_to(ROOT)}:{line} imports {module}" for path in files
              for line, module in imported_modules(path) if module.split(".")[0] in UPPER]
    assert not upward, upward
