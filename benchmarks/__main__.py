"""Run every benchmark module in this folder: `python -m benchmarks [--quick] [name ...]`."""

import importlib
import pkgutil
import sys
from pathlib import Path

SKIP = {"common", "__main__"}


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("-")]
    wanted = [a for a in argv if not a.startswith("-")]
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name not in SKIP)
    for name in wanted or names:
        print(f"\n# benchmarks.{name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main(flags)
    return 0


sys.exit(main(sys.argv[1:]))
