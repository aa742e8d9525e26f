"""The ``mmhub`` command (installed by ``pip install .``): one entry point with a subcommand for each of mmhub's CLIs.

    mmhub list                                   # = python -m pipelines list
    mmhub run sentiment "Świetny produkt!" --model tiny          # = python -m pipelines run ...
    mmhub app --models tiny --lang pl            # = python -m spaces ... (the Gradio app, every tab)
    mmhub space sentiment --models tiny          # = python -m spaces.sentiment ... (one Space alone)
    mmhub export sentiment build/space-sentiment # = python -m spaces export ...
    mmhub finetune digits --dataset sklearn-digits --output-dir runs/digits     # = python -m finetune.digits ...
    mmhub eval --model tiny --data-dir eval/fixtures --num-fewshot 0            # = python -m eval ...
    mmhub bench --quick sentiment                # = python -m benchmarks ...
    mmhub doctor                                 # which installed distributions share mmhub's package names

Each subcommand runs the module exactly as ``python -m`` does (`runpy`), with the rest of the command line as its
arguments, so options, output and exit status are the module's own. The ``python -m`` forms keep working from the
repository root. Installed, the app's package is ``mmhub_spaces`` (the repository's ``spaces/`` folder under
another name, see pyproject.toml): Hugging Face's own ``spaces`` package (ZeroGPU), which gradio imports, then
stays what ``import spaces`` finds.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "mmhub"
#: The app's package: installed under this name (pyproject.toml's package-dir), ``spaces`` in a bare checkout.
SPACES_PACKAGE = "mmhub_spaces"
#: The top-level import names an installed mmhub provides.
TOP_LEVEL = ("pipelines", SPACES_PACKAGE, "finetune", "eval", "benchmarks")
DISTRIBUTION = "mmhub"

# subcommand -> (module run as __main__, arguments put before the user's, help)
COMMANDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "list": ("pipelines", ("list",), "tasks, default models and licences (python -m pipelines list)"),
    "run": ("pipelines", ("run",), "run one pipeline on one input or a whole file (python -m pipelines run)"),
    "app": ("{spaces}", (), "the Gradio app, a tab per pipeline (python -m spaces)"),
    "space": ("{spaces}.{name}", (), "one Space alone: mmhub space NAME [options] (python -m spaces.NAME)"),
    "export": ("{spaces}", ("export",), "write one Space as a Hugging Face Space folder (python -m spaces export)"),
    "finetune": ("finetune.{name}", (), "a training script: mmhub finetune NAME [options] (python -m finetune.NAME)"),
    "eval": ("eval", (), "the Open PL LLM Leaderboard suite on a model (python -m eval)"),
    "bench": ("benchmarks", (), "mmhub vs the raw libraries, as ratios (python -m benchmarks)"),
    "doctor": ("", (), "check that no other installed distribution provides mmhub's package names"),
}


def spaces_package() -> str:
    """``mmhub_spaces`` when mmhub is installed, else ``spaces`` (a checkout run from its root)."""
    return SPACES_PACKAGE if importlib.util.find_spec(SPACES_PACKAGE) is not None else "spaces"


def module_names(package: str) -> list[str]:
    """The modules of `package` that run as scripts (their source has an ``if __name__ == "__main__"`` block)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    names = []
    for info in pkgutil.iter_modules(spec.submodule_search_locations):
        if info.name.startswith("_"):
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / f"{info.name}.py"
        if path.is_file() and '__name__ == "__main__"' in path.read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [ARGS...]   ({PROG} COMMAND --help: that command's options)", "",
             "mmhub: pipelines over Hugging Face Hub models, a Gradio app, fine-tuning, the Polish LLM leaderboard.",
             "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in COMMANDS.items()]
    lines += ["", "Offline: --model tiny (run, eval) or --models tiny (app, space): tiny random models, no network."]
    return "\n".join(lines)


def _named(command: str, rest: list[str], package: str) -> tuple[str, list[str]]:
    """The module of ``space NAME`` / ``finetune NAME``, or exit 2 naming the choices."""
    choices = module_names(package)
    if command == "space":
        shared = importlib.import_module(f"{package}.options").NOT_SPACES  # torch- and gradio-free
        choices = [c for c in choices if c not in shared]
    if not rest or rest[0].startswith("-"):
        _fail(f"{command} needs a NAME first: one of {', '.join(choices)}")
    name = rest[0].replace("-", "_")
    if name not in choices:
        _fail(f"no {command} {rest[0]!r}; choose one of {', '.join(choices)}")
    return f"{package}.{name}", rest[1:]


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message} (see {PROG} --help)", file=sys.stderr)
    raise SystemExit(2)


def clashes() -> dict[str, list[str]]:
    """mmhub's top-level names that another installed distribution provides too: ``{name: [distributions]}``.

    Two distributions that install the same top-level package write into one folder in site-packages: whichever
    was installed last overwrites the other's files, and both break. (``spaces`` is not one of mmhub's installed
    names, so Hugging Face's ``spaces`` never clashes; it is reported by `main`'s ``doctor`` for information.)
    """
    import importlib.metadata

    provided = importlib.metadata.packages_distributions()
    found = {}
    for name in TOP_LEVEL:
        others = sorted({d for d in provided.get(name, []) if d.lower() != DISTRIBUTION})
        if others:
            found[name] = others
    return found


def doctor() -> int:
    """Print where each of mmhub's names comes from; exit status 1 when another distribution provides one."""
    import importlib.metadata

    found = clashes()
    for name in TOP_LEVEL:
        spec = importlib.util.find_spec(name)
        where = spec.origin if spec is not None else "not importable"
        if spec is None and name == SPACES_PACKAGE:
            where += " (mmhub is not installed: from a checkout's root, `python -m spaces` runs the app)"
        print(f"{name:<13} {where}" + (f"   CLASH: also installed by {', '.join(found[name])}" if name in found
                                          else ""))
    owners = importlib.metadata.packages_distributions().get("spaces", [])
    spec = importlib.util.find_spec("spaces")
    if spec is None:
        print("spaces        not installed (gradio runs without Hugging Face's ZeroGPU package)")
    else:
        print(f"spaces        {spec.origin} ({', '.join(owners) or 'no distribution: a folder on sys.path'}; "
              "gradio imports it, mmhub does not)")
    if found:
        print(f"\n{len(found)} name(s) clash: uninstall one of the distributions, or install mmhub in its own "
              "virtual environment.", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mmhub COMMAND ARGS...``: the module behind COMMAND as ``python -m`` would, with ARGS."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        _fail(f"unknown command {command!r}; choose one of {', '.join(COMMANDS)}")
    if command == "doctor":
        return doctor()
    module, prefix, _ = COMMANDS[command]
    package = spaces_package()
    if "{name}" in module:
        module, rest = _named(command, rest, module.split(".")[0].format(spaces=package))
    else:
        module = module.format(spaces=package)
    sys.argv = [f"{PROG} {command}", *prefix, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)  # a module's sys.exit(...) ends the command
    return 0


if __name__ == "__main__":
    sys.exit(main())
