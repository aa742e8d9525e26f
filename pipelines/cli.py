"""Command line: list the tasks, or run one pipeline and print its result as JSON.

    python -m pipelines list
    python -m pipelines list voice-cloning       # one task: its models and every language it speaks
    python -m pipelines run sentiment "Świetny produkt!" --model tiny
    python -m pipelines run text-generation "Dawno, dawno temu" --param max_new_tokens=40 --param seed=0
    python -m pipelines run text-to-image "a red fox, watercolour" --param num_inference_steps=1 --output out/
    python -m pipelines run text-to-music "lo-fi piano" --model tiny --param duration=1 --output out/
    python -m pipelines run text-to-video "a cat surfing" --model tiny --param num_inference_steps=2 --output out/
    python -m pipelines run sentiment --input reviews.csv.gz --column review_body --output scores.jsonl
    python -m pipelines run text-generation "Napisz haiku." --endpoint http://gpu-box:8000/v1   # a vLLM server
    python -m pipelines run digit-recognition digit.png --model tiny
    python -m pipelines run autoencoder digit.png --model tiny --output out/
    python -m pipelines run activation-maximisation 3 --model tiny --param steps=100 --output out/
    python -m pipelines run reinforcement-learning CartPole-v1 --model tiny --param episodes=3 --output out/
    python -m pipelines run metric-learning sklearn-digits --model tiny --param projection=pca --output out/

`list` imports no model library, so it answers at once. Bad arguments (an unknown task or `--param`, a value that
is not valid JSON or is NaN / Infinity, an input file that does not exist, an `--output` that is a file) print one
`error: ...` line and exit with status 2 before any model loads; so do a model that cannot be loaded and a value
the pipeline refuses.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from pipelines import TASKS, bulk, load, resolve_task
from pipelines.errors import InputError, ModelLoadError


class OneLineParser(argparse.ArgumentParser):
    """argparse with its own errors (a bad flag, a missing argument) as one ``error: ...`` line and exit status 2,
    without the usage block; `add_subparsers` makes the subcommands' parsers of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m pipelines", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="tasks, default models and licences")
    listing.add_argument("task", nargs="?", default=None, help="one task: its models and languages")
    run = commands.add_parser("run", help="run one pipeline on one input, print JSON")
    run.add_argument("task", help="task name or alias (see `list`)")
    run.add_argument("input", nargs="?", default=None,
                     help="the input: text, or a file path for image/audio tasks (or --input FILE: a whole file)")
    run.add_argument("--model", default=None, help="Hub id, local folder or 'tiny' (default: the task's default)")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)")
    run.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: by device)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a call parameter, VALUE parsed as JSON when it can be (repeatable)")
    run.add_argument("--no-stream", action="store_true", help="text generation: print the result as JSON at the end")
    run.add_argument("--output", type=Path, default=None,
                     help="folder to save images / audio into; with --input, the JSON-lines file to write")
    bulk.add_arguments(run)
    return parser


# Tasks whose input is a file path: checked before the model loads.
FILE_INPUTS = {"style-transfer": "content image", "separation": "audio file", "voice-conversion": "speech file",
               "deep-dream": "photo", "digit-recognition": "image of a digit", "autoencoder": "image"}


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    # An optional positional is taken (empty) at the first chance, so `run TASK --model M "text"` leaves "text" over.
    if args.command == "run" and args.input is None and len(extra) == 1 and not extra[0].startswith("-"):
        args.input, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        try:
            print(_task_table() if args.task is None else _task_detail(resolve_task(args.task)))
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        spec, params = _check_params(args)  # everything that can be checked without a model
        if (args.input is None) == (args.input_file is None):
            raise InputError("input", args.input, "one input, or --input FILE with --output OUT.jsonl")
        if args.input_file is not None:
            _check_required_params(spec, params)
            return bulk.main(args, spec.name, params)
        bulk.check_single_input(args)
        stream = _check_single_input(args, spec, params)
        _check_required_params(spec, params)
        pipe = load(spec.name, model=args.model, device=args.device, dtype=args.dtype, **bulk.server_options(args))
        if stream:
            for chunk in pipe(args.input, stream=True, **params):
                print(chunk, end="", flush=True)
            print()
            return 0
        with _progress_bar(pipe, params) as progress:
            result = pipe(_parse_input(pipe, args.input), **params, **progress)
        saved = save_outputs(result, args.output) if args.output is not None else []
    except (InputError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    for path in saved:
        print(f"saved {path}", file=sys.stderr)
    print(json.dumps(_to_dict(result), ensure_ascii=False, indent=2))
    return 0


def _check_params(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The task and the call parameters, checked before any model loads (`InputError`)."""
    import importlib

    from pipelines.base import check_keywords

    spec = resolve_task(args.task)
    params = dict(_parse_param(p) for p in args.param)
    module_name, class_name = spec.target.split(":")
    try:
        call = getattr(importlib.import_module(module_name), class_name).__call__
    except ModuleNotFoundError:
        call = None  # a missing optional library: load() names the pip package
    if call is not None:
        check_keywords(call, params, f"the {spec.name} pipeline", skip=2)  # self, inputs
    if "progress" in params:
        raise InputError("--param", "progress=...", "a call parameter other than progress",
                         "The command line shows its own progress bar.")
    return spec, params


def _check_required_params(spec: Any, params: dict[str, Any]) -> None:
    """A call parameter without a default (style-transfer's `style`) named as the flag to pass, before loading."""
    module_name, class_name = spec.target.split(":")
    try:
        call = getattr(importlib.import_module(module_name), class_name).__call__
    except ModuleNotFoundError:
        return  # load() names the pip package
    for p in list(inspect.signature(call).parameters.values())[2:]:  # self, inputs
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in params:
            raise InputError(f"--param {p.name}", None, f"given: the {spec.name} pipeline has no default for it",
                             f"Pass --param {p.name}=VALUE.")


def _check_single_input(args: argparse.Namespace, spec: Any, params: dict[str, Any]) -> bool:
    """The one input and the ``--output`` folder, checked before any model loads; returns whether to stream."""
    from pipelines import validate

    stream = False
    if spec.name == "text-generation":
        stream = validate.boolean("--param stream", params.pop("stream", not args.no_stream))
    if spec.name in FILE_INPUTS and not Path(args.input).expanduser().is_file():
        raise InputError("input", args.input, f"an existing {FILE_INPUTS[spec.name]} for {spec.name}")
    if args.output is not None:
        output = args.output.expanduser()
        if output.exists() and not output.is_dir():
            raise InputError("--output", str(args.output), "a folder (it is a file)")
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError("--output", str(args.output), "a folder that can be created", f"({err})") from None
    return stream


def save_outputs(result: Any, folder: Path) -> list[Path]:
    """Save the images / audio / video a result carries into `folder` (PNG, WAV, MP4); returns the paths written.

    What is saved is decided by each value's type, not by its field's name: `VideoResult.image` is a flag (whether
    the video started from an image), `DigitResult.downsampled` an array that is not a picture.
    """
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    if type(result).__name__ == "VideoResult":  # pipelines.video_generation (not imported: it needs torch)
        saved.append(result.save(folder / "video.mp4"))
    if type(result).__name__ == "EpisodesResult" and result.frames is not None:  # the filmed episodes of an agent
        saved.append(result.save(folder / "episodes.mp4"))

    def pictures(value: Any) -> list[Any]:
        values = value if isinstance(value, list | tuple) else [value]
        return [v for v in values if isinstance(v, Image.Image)]

    for i, image in enumerate(pictures(getattr(result, "images", None)) or pictures(getattr(result, "image", None))):
        saved.append(folder / f"image_{i}.png")
        image.save(saved[-1])
    for reconstruction in pictures(getattr(result, "reconstruction", None)):  # an autoencoder's output
        saved.append(folder / "reconstruction.png")
        reconstruction.save(saved[-1])
    rate = getattr(result, "sample_rate", None)
    audio = {name: samples for name, samples in dict(getattr(result, "stems", None) or {}).items()
             if isinstance(samples, np.ndarray)}
    if isinstance(getattr(result, "audio", None), np.ndarray):
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
    notes = [importlib.import_module(spec.language_table).summary() for spec in TASKS.values() if spec.language_table]
    return ("\n".join(line.rstrip() for line in lines) + "\n\n" + "".join(note + "\n" for note in notes)
            + "Reserved model name: tiny (random weights, offline).")


def _task_detail(spec: Any) -> str:
    """One task: its models (id, licence, languages, note) and, when it has one, its full language table."""
    lines = [f"{spec.name}: {spec.description}", ""]
    for info in spec.models:
        licence = info.licence + ("" if info.commercial_use else " (non-commercial)")
        lines.append(f"  {info.id}  [{licence}]  languages: {', '.join(info.languages)}" +
                     (f"  ({info.note})" if info.note else ""))
    lines.append(f"  tiny variants: {', '.join(spec.tiny_variants)}")
    if spec.language_table:
        lines += ["", importlib.import_module(spec.language_table).table()]
    return "\n".join(lines)


def _parse_input(pipe: Any, text: str) -> Any:
    """The positional input: an integer where the pipeline's first parameter is one (a class), else the text."""
    first = next(iter(inspect.signature(pipe.__call__).parameters.values()), None)
    if first is not None and first.annotation in (int, "int") and text.strip().lstrip("-").isdigit():
        return int(text)
    return text


def _parse_param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``: VALUE as JSON when it parses (``32``, ``0.7``, ``true``, ``["a", "b"]``), else a string.

    JSON's non-standard ``NaN`` / ``Infinity`` are refused: no parameter takes them.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise InputError("--param", text, "NAME=VALUE with NAME a parameter name, e.g. max_new_tokens=32")

    def refuse(constant: str) -> Any:
        raise InputError(f"--param {name}", value, "a finite value", f"{constant} is not a number any parameter "
                                                                      f"takes.")

    def finite(number: str) -> float:
        result = float(number)
        return result if math.isfinite(result) else refuse(number)  # 1e400 parses as inf

    try:
        return name, json.loads(value, parse_constant=refuse, parse_float=finite)
    except json.JSONDecodeError:
        return name, value


def _to_dict(result: Any) -> Any:
    if isinstance(result, list):
        return [_to_dict(r) for r in result]
    return result.to_dict() if hasattr(result, "to_dict") else result
