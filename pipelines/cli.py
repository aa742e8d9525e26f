"""Command line: list the tasks, or run one pipeline and print its result as JSON.

    python -m pipelines list
    python -m pipelines run sentiment "Świetny produkt!" --model tiny
    python -m pipelines run text-generation "Dawno, dawno temu" --param max_new_tokens=40 --param seed=0
    python -m pipelines run text-to-image "a red fox, watercolour" --param num_inference_steps=1 --output out/
    python -m pipelines run digit-recognition digit.png --model tiny
    python -m pipelines run activation-maximisation 3 --model tiny --param steps=100 --output out/

`list` imports no model library, so it answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines import TASKS, load, resolve_task
from pipelines.errors import InputError, ModelLoadError


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="tasks, default models and licences")
    run = commands.add_parser("run", help="run one pipeline on one input, print JSON")
    run.add_argument("task", help="task name or alias (see `list`)")
    run.add_argument("input", help="the input: text, or a file path for image/audio tasks")
    run.add_argument("--model", default=None, help="Hub id, local folder or 'tiny' (default: the task's default)")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)")
    run.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: by device)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a call parameter, VALUE parsed as JSON when it can be (repeatable)")
    run.add_argument("--no-stream", action="store_true", help="text generation: print the result as JSON at the end")
    run.add_argument("--output", type=Path, default=None, help="folder to save images / audio into")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        print(_task_table())
        return 0
    try:
        params = dict(_parse_param(p) for p in args.param)
        spec = resolve_task(args.task)
        pipe = load(spec.name, model=args.model, device=args.device, dtype=args.dtype)
        if spec.name == "text-generation" and not args.no_stream and "stream" not in params:
            for chunk in pipe(args.input, stream=True, **params):
                print(chunk, end="", flush=True)
            print()
            return 0
        with _progress_bar(pipe, params) as progress:
            result = pipe(_parse_input(pipe, args.input), **params, **progress)
    except (InputError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.output is not None:
        for path in save_outputs(result, args.output):
            print(f"saved {path}", file=sys.stderr)
    print(json.dumps(_to_dict(result), ensure_ascii=False, indent=2))
    return 0


def save_outputs(result: Any, folder: Path) -> list[Path]:
    """Save the images / audio a result carries into `folder` (PNG, WAV); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    images = getattr(result, "images", None) or ([result.image] if getattr(result, "image", None) else [])
    for i, image in enumerate(images):
        saved.append(folder / f"image_{i}.png")
        image.save(saved[-1])
    if getattr(result, "reconstruction", None) is not None:  # an autoencoder: the input as encoded, and this
        saved.append(folder / "reconstruction.png")
        result.reconstruction.save(saved[-1])
    rate = getattr(result, "sample_rate", None)
    audio = dict(getattr(result, "stems", None) or {})
    if getattr(result, "audio", None) is not None:
        audio["audio"] = result.audio
    if audio and rate:
        from pipelines.audio import save_audio

        saved.extend(save_audio(folder / f"{name}.wav", samples, rate) for name, samples in audio.items())
    return saved


@contextlib.contextmanager
def _progress_bar(pipe: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A tqdm bar as the pipeline's ``progress(step, total, info)`` callback, when it takes one (and the caller
    passed none)."""
    if "progress" in params or "progress" not in inspect.signature(pipe.__call__).parameters:
        yield {}
        return
    from tqdm import tqdm

    with tqdm(total=None, file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(step: int, total: int, info: dict[str, Any]) -> None:
            bar.total = total
            if info.get("stage"):
                bar.set_description(str(info["stage"]), refresh=False)
            bar.update(step - bar.n)

        yield {"progress": progress}


def _task_table() -> str:
    rows = [("task", "default model", "licence", "aliases")]
    for spec in TASKS.values():
        rows.append((spec.name, spec.default.id, spec.default.licence, ", ".join(spec.aliases)))
        for alt in spec.models[1:]:
            rows.append(("", f"  alt: {alt.id}", alt.licence, ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines) + "\n\nReserved model name: tiny (random weights, offline)."


def _parse_input(pipe: Any, text: str) -> Any:
    """The positional input: an integer where the pipeline's first parameter is one (a class), else the text."""
    first = next(iter(inspect.signature(pipe.__call__).parameters.values()), None)
    if first is not None and first.annotation in (int, "int") and text.strip().lstrip("-").isdigit():
        return int(text)
    return text


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise InputError("--param", text, "NAME=VALUE, e.g. max_new_tokens=32")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _to_dict(result: Any) -> Any:
    if isinstance(result, list):
        return [_to_dict(r) for r in result]
    return result.to_dict() if hasattr(result, "to_dict") else result
