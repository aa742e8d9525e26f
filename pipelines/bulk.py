"""Bulk inference: a pipeline over every input of a file, into a resumable JSON-lines file; split across processes.

    python -m pipelines run sentiment --input reviews.csv.gz --column review_body --output scores.jsonl
    python -m pipelines run sentiment --input train.ft.txt.bz2 --output amazon.jsonl      # the Kaggle file, streamed
    python -m pipelines run text-generation --input prompts.txt --output answers.jsonl \\
        --endpoint http://gpu-box:8000/v1 --model speakleash/Bielik-11B-v2.6-Instruct --param max_new_tokens=64
    accelerate launch --multi_gpu --num_processes 4 -m pipelines run sentiment --input train.ft.txt.bz2 \\
        --output amazon.jsonl                                                          # one share per GPU

The output has one JSON line per input, in input order: ``{"line": 12, "result": {...}}`` (``line`` is the input's
line number; a fastText input adds its ``"label"``), or ``{"line": 13, "error": "..."}`` for a bad line with
``--on-error skip`` (the default; ``fail`` stops at the first one). Rerunning the same command after a crash or a
kill continues after the last complete output line: no duplicates, no gaps. ``--overwrite`` starts over.

A run holds an OS lock on ``OUT.jsonl.lock`` (`pipelines.run_guard.RunLock`): a second run on the same output is
refused at once. ``OUT.jsonl.run.json`` records the settings and a fingerprint of the input; a rerun with other
settings, or over an input that changed, is refused, and every line of the output is checked before a run resumes it
(or calls it complete): a line edited by hand is an error naming it. The output is never the input, ``--overwrite``
or not.

Under ``accelerate launch`` / ``torchrun`` every process reads the input and keeps every N-th record (record
``k`` goes to rank ``k % N``), writes its own part file (resumable in the same way), and rank 0 merges the parts in
input order when all are done. Inputs go to the pipeline ``--batch-size`` at a time: the sentiment pipeline sorts
them by length and runs its own device batches; local text generation pads them into one batch; with
``--endpoint`` they are that many concurrent requests to the server.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import jsonl, validate
from pipelines.errors import InputError
from pipelines.records import FORMATS, Record, check_input, read_records
from pipelines.run_guard import RunLock, changes, check_not_input, fingerprint, lock_path
from pipelines.textfiles import JSONError, parse_json

logger = logging.getLogger(__name__)

#: The tasks whose inputs are text (one per line) and whose pipelines take a list of them in one call.
BULK_TASKS = ("sentiment", "text-generation")
#: Inputs per pipeline call when --batch-size is not given: the sentiment pipeline length-sorts each call's inputs
#: and batches them itself (a large call pads least); local generation pads one batch; a server gets them at once.
DEFAULT_BATCH = {"sentiment": 512, "text-generation": 16, "endpoint": 32}
MAX_BATCH = 1_000_000
MAX_CONCURRENCY = 1024  # = pipelines.text_generation_remote.MAX_CONCURRENCY (not imported: it needs the openai client)
# Settings that may change between a run and its resumption without changing what is written.
_RESUME_FREE = ("batch_size", "on_error", "endpoint", "device", "dtype", "overwrite")


def add_arguments(run: argparse.ArgumentParser) -> None:
    """The options of ``python -m pipelines run TASK --input FILE --output OUT.jsonl`` (and ``--endpoint``)."""
    group = run.add_argument_group("a whole file (bulk)")
    group.add_argument("--input", dest="input_file", metavar="FILE", default=None,
                       help="run every input of FILE (text lines, CSV/TSV, JSONL, fastText; .gz/.bz2 streamed) into "
                            "--output OUT.jsonl, resumably")
    group.add_argument("--format", choices=FORMATS, default=None, help="input format (default: from the file name)")
    group.add_argument("--column", default=None, help="CSV/TSV column to read (default: 'text' or the only one)")
    group.add_argument("--field", default=None, help="JSONL field to read (default: 'text')")
    group.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                       help="a bad input line: write an error line and go on (skip, default), or stop (fail)")
    group.add_argument("--batch-size", type=int, default=None,
                       help="inputs per pipeline call, at most 1000000 (default: sentiment 512, text generation 16; "
                            "with --endpoint: concurrent requests, default 32, at most 1024)")
    group.add_argument("--overwrite", action="store_true", help="replace the output instead of resuming it")
    server = run.add_argument_group("text generation on a server")
    server.add_argument("--endpoint", default=None, metavar="URL",
                        help="an OpenAI-compatible server (vLLM, TGI, transformers serve), e.g. http://host:8000/v1")
    server.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="the environment variable that holds the server's API key")


def check_single_input(args: argparse.Namespace) -> None:
    """`InputError` for a file option given without ``--input FILE`` (it would be silently ignored)."""
    for option, value, default in (("--format", args.format, None), ("--column", args.column, None),
                                   ("--field", args.field, None), ("--on-error", args.on_error, "skip"),
                                   ("--batch-size", args.batch_size, None), ("--overwrite", args.overwrite, False)):
        if value != default:
            raise InputError(option, value, "given together with --input FILE")


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """``load()`` keywords for ``--endpoint`` / ``--api-key-env`` (empty without an endpoint)."""
    if args.endpoint is None:
        if args.api_key_env is not None:
            raise InputError("--api-key-env", args.api_key_env, "given together with --endpoint")
        return {}
    options: dict[str, Any] = {"endpoint": args.endpoint}
    if args.api_key_env is not None:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise InputError("--api-key-env", args.api_key_env, "the name of a set environment variable",
                             f"${args.api_key_env} is not set.")
        options["api_key"] = key
    return options


@dataclass
class Summary:
    """What a bulk run did (this process's share, or all of them on rank 0 after the merge)."""

    output: Path
    written: int = 0
    errors: int = 0
    resumed_after: int = 0
    seconds: float = 0.0  # processing only (after the model is loaded)
    total: int | None = None  # lines in the finished output (rank 0, or the single process)
    merged: bool = False
    already_complete: bool = False
    bad_lines: list[int] = field(default_factory=list)

    @property
    def lines_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def main(args: argparse.Namespace, task: str, params: dict[str, Any]) -> int:
    """Run the bulk command parsed by `pipelines.cli` (`InputError` / `ModelLoadError` are the caller's to print)."""
    summary = run(task, args.input_file, args.output, model=args.model, params=params, fmt=args.format,
                  column=args.column, field_name=args.field, on_error=args.on_error, batch_size=args.batch_size,
                  device=args.device, dtype=args.dtype, overwrite=args.overwrite, **server_options(args))
    if summary.already_complete:
        print(f"{summary.output} is already complete ({summary.total} lines); --overwrite to run again.",
              file=sys.stderr)
        return 0
    resumed = f" (resumed after input line {summary.resumed_after})" if summary.resumed_after else ""
    print(f"wrote {summary.written} lines ({summary.errors} bad) in {summary.seconds:.1f} s, "
          f"{summary.lines_per_second:.1f} lines/s{resumed}", file=sys.stderr)
    if summary.total is not None:
        how = "merged from the processes' parts" if summary.merged else "in all"
        print(f"{summary.output}: {summary.total} lines, {how}", file=sys.stderr)
    return 0


def run(task: str, input_path: Any, output: Any, *, model: str | None = None, params: dict[str, Any] | None = None,
        fmt: str | None = None, column: str | None = None, field_name: str | None = None, on_error: str = "skip",
        batch_size: int | None = None, device: str | None = None, dtype: Any = None, overwrite: bool = False,
        endpoint: str | None = None, api_key: str | None = None, progress: bool = True,
        pipeline: Any = None) -> Summary:
    """Run `task` over every record of `input_path` into the JSON-lines file `output` (see the module docstring).

    Args:
        task (`str`): ``"sentiment"`` or ``"text-generation"`` (or an alias).
        input_path (`str`): the input file; `fmt`, `column`, `field_name` as in `pipelines.records.read_records`.
        output (`str`): the JSON-lines file to write, or to resume when it exists.
        params (`dict`): the pipeline's call parameters (e.g. ``{"max_new_tokens": 64}``).
        on_error (`str`): ``"skip"`` (an error line per bad input) or ``"fail"`` (`InputError` at the first).
        batch_size (`int`, *optional*): inputs per pipeline call (`DEFAULT_BATCH`).
        endpoint, api_key: text generation on an OpenAI-compatible server instead of a local model.
        pipeline (*optional*): an already loaded pipeline of `task` to use (instead of loading `model`).
    """
    from pipelines import resolve_task

    spec = resolve_task(task)
    if spec.name not in BULK_TASKS:
        raise InputError("task", task, f"a task whose inputs are text lines: {', '.join(BULK_TASKS)}",
                         "Other tasks take one input at a time: python -m pipelines run TASK INPUT.")
    params = dict(params or {})
    if "stream" in params:
        raise InputError("stream", params["stream"], "left out of a bulk run", "Each output line is a whole result.")
    input_path = check_input(input_path)
    output = _check_output(output)
    on_error = validate.choice("on_error", on_error, ("skip", "fail"))
    default_batch = DEFAULT_BATCH["endpoint" if endpoint else spec.name]
    # With a server, a batch is that many concurrent requests: the remote pipeline's max_concurrency, at most
    # MAX_CONCURRENCY (checked here, before anything is written, and named as the option the user gave).
    batch_size = default_batch if batch_size is None else validate.integer(
        "batch_size", batch_size, low=1, high=MAX_CONCURRENCY if endpoint else MAX_BATCH,
        hint="With --endpoint it is the number of requests in flight at once." if endpoint else None)
    world, rank, state = _distributed()
    settings = {"task": spec.name, "model": model, "input": str(input_path.resolve()), "format": fmt,
                "column": column, "field": field_name, "params": params, "processes": world,
                "batch_size": batch_size, "on_error": on_error, "endpoint": endpoint}
    run_file = output.with_name(output.name + ".run.json")
    parts = [output] if world == 1 else [output.with_name(f"{output.name}.part{r}of{world}") for r in range(world)]
    # --overwrite removes these, a run writes them: none may be the input (`--input in.txt --output in.txt`).
    check_not_input(output, {"--input": input_path}, "output",
                    also=[run_file, *parts, lock_path(output), output.with_name(output.name + ".merging")])
    lock = RunLock(output, "output")
    if rank == 0:  # the other processes of a launch run under rank 0's lock (a launcher stops them all if it fails)
        lock.acquire()
    try:
        return _locked_run(spec, input_path, output, run_file, parts, settings, world, rank, state, fmt=fmt,
                           column=column, field_name=field_name, params=params, on_error=on_error,
                           batch_size=batch_size, overwrite=overwrite, pipeline=pipeline, model=model, device=device,
                           dtype=dtype, endpoint=endpoint, api_key=api_key, progress=progress)
    finally:
        lock.release()


def _locked_run(spec: Any, input_path: Path, output: Path, run_file: Path, parts: list[Path],
                settings: dict[str, Any], world: int, rank: int, state: Any, *, fmt: str | None,
                column: str | None, field_name: str | None, params: dict[str, Any], on_error: str, batch_size: int,
                overwrite: bool, pipeline: Any, model: str | None, device: str | None, dtype: Any,
                endpoint: str | None, api_key: str | None, progress: bool) -> Summary:
    """`run` from its checks on, while this run holds the output's lock."""
    from pipelines import load

    records = read_records(input_path, fmt, column, field_name)
    first = next(records, None)  # reads the header / first line: a missing column fails here, on every rank
    if first is None:
        raise InputError("input", str(input_path), "a file with at least one input", "It is empty or blank.")
    source = fingerprint(input_path)

    if rank == 0 and overwrite:
        for path in (output, run_file, *parts):
            path.unlink(missing_ok=True)
    _barrier(state)
    previous = _previous_settings(run_file, output, parts, overwrite)
    if previous is not None:
        _check_same_run(previous, settings, output, ignore=("processes",))
        _check_same_input(previous, source, input_path, output)
        if previous.get("complete") and output.exists():
            lines, _ = jsonl.check(output)  # a line edited since is an error naming it, not "complete"
            if isinstance(previous.get("lines"), int) and lines != previous["lines"]:
                raise InputError("output", str(output), "the output as the run that wrote it left it",
                                 f"It holds {lines} lines where that run wrote {previous['lines']}: lines were "
                                 f"removed or added by hand. Restore it, or pass --overwrite to run again.")
            return Summary(output, total=lines, already_complete=True)
        _check_same_run(previous, settings, output)  # an unfinished run's part files are per process count
    _barrier(state)  # every rank has read the old settings before rank 0 rewrites them
    if rank == 0:
        _write_settings(run_file, settings, source, complete=False)

    if pipeline is not None:
        if getattr(pipeline, "task", None) != spec.name:
            raise InputError("pipeline", pipeline, f"a loaded {spec.name} pipeline")
        pipe = pipeline
    else:
        pipe = load(spec.name, model=model, device=device or _rank_device(state), dtype=dtype,
                    **({"endpoint": endpoint, "api_key": api_key, "max_concurrency": batch_size} if endpoint else {}))
    part = parts[rank]
    started = time.perf_counter()
    done = jsonl.resume(part)
    summary = Summary(output, resumed_after=done)
    mine = (r for k, r in enumerate(_chain(first, records)) if k % world == rank and r.line > done)
    bar = _progress_bar(spec.name, rank, progress)
    try:
        with jsonl.JSONLWriter(part) as writer:
            for batch in _batches(mine, batch_size):
                lines = _process(pipe, batch, params, on_error, input_path)
                writer.write_many(lines)
                summary.written += len(lines)
                bad = [line["line"] for line in lines if "error" in line]
                summary.errors += len(bad)
                summary.bad_lines.extend(bad[: max(0, 100 - len(summary.bad_lines))])
                if bar is not None:
                    bar.update(len(lines))
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - started
    _barrier(state)
    if rank == 0:
        if world > 1:
            summary.total, summary.merged = jsonl.merge(parts, output), True
            for path in parts:
                path.unlink(missing_ok=True)
        else:
            summary.total = _count_lines(output)
        _write_settings(run_file, settings, source, complete=True, lines=summary.total)
    return summary


# -- one batch ---------------------------------------------------------------------------------------------------


def _process(pipe: Any, batch: list[Record], params: dict[str, Any], on_error: str,
             input_path: Path) -> list[dict[str, Any]]:
    """The output lines of one batch, in record order: results for good inputs, errors for bad ones."""
    good = [r for r in batch if r.error is None]
    results: dict[int, Any] = {}
    if good:
        try:
            results = dict(zip((r.line for r in good), pipe([r.value for r in good], **params), strict=True))
        except InputError as err:
            if err.argument in params or not _about_the_input(err):
                raise  # a bad --param (or a model that cannot run them at all) is the run's error, not a line's
            for record in good:  # find the line(s) the batch's error came from
                try:
                    results[record.line] = pipe([record.value], **params)[0]
                except InputError as item_error:
                    if item_error.argument in params or not _about_the_input(item_error):
                        raise
                    results[record.line] = item_error
    lines = []
    for record in batch:
        outcome = record.error if record.error is not None else results[record.line]
        if isinstance(outcome, (str, InputError)):
            message = str(outcome)
            if on_error == "fail":
                raise InputError("input", f"{input_path}:{record.line}", "a file whose every line is a valid input",
                                 f"{input_path}:{record.line}: {message} (--on-error skip writes an error line "
                                 f"instead).")
            logger.warning("%s:%d: skipped: %s", input_path, record.line, message)
            lines.append({"line": record.line, "error": message})
        else:
            lines.append({"line": record.line, **record.extra, "result": outcome.to_dict()})
    return lines


# The names pipelines give their input, alone or with an index into a batch: ``inputs[3]`` (sentiment),
# ``prompt[3]`` or ``prompt[3][0]['content']`` (text generation, music).
_INPUT_ARGUMENT = re.compile(r"(inputs|prompt|text|texts|role)(\[.*\])?", re.DOTALL)


def _about_the_input(err: InputError) -> bool:
    """True when `err` is about one of the inputs (a bad line), not about a parameter of the run."""
    return isinstance(err.argument, str) and _INPUT_ARGUMENT.fullmatch(err.argument) is not None


# -- helpers -----------------------------------------------------------------------------------------------------


def _check_output(output: Any) -> Path:
    if not isinstance(output, (str, os.PathLike)) or not str(output).strip():
        raise InputError("output", output, "the path of the JSON-lines file to write, e.g. results.jsonl")
    path = Path(output).expanduser()
    if path.is_dir():
        raise InputError("output", str(output), "a file path, not a folder", "e.g. results.jsonl")
    if not path.parent.exists():
        raise InputError("output", str(output), "a path in an existing folder", f"Create {path.parent} first.")
    return path


def _previous_settings(run_file: Path, output: Path, parts: list[Path], overwrite: bool) -> dict[str, Any] | None:
    if run_file.exists():
        try:
            previous = parse_json(run_file.read_bytes())
        except JSONError as err:
            raise InputError("output", str(output), "the output of an earlier run of this command",
                             f"Its settings file {run_file.name} is damaged ({err.msg}): pass --overwrite to start "
                             f"again, or choose another --output.") from None
        return previous if isinstance(previous, dict) else {}
    if not overwrite and any(p.exists() and p.stat().st_size > 0 for p in (output, *parts)):
        raise InputError("output", str(output), "a new file, or the output of an earlier run of this command",
                         f"It exists and was not written by a bulk run ({run_file.name} is missing): choose another "
                         f"--output, or pass --overwrite to replace it.")
    return None


def _check_same_run(previous: dict[str, Any], settings: dict[str, Any], output: Path,
                    ignore: tuple[str, ...] = ()) -> None:
    changed = {k: (previous.get(k), v) for k, v in settings.items()
               if k not in _RESUME_FREE and k not in ignore and previous.get(k) != v}
    if changed:
        detail = "; ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise InputError("output", str(output), "resumed with the settings of the run that wrote it",
                         f"{detail}. Repeat them, choose another --output, or pass --overwrite.")


def _check_same_input(previous: dict[str, Any], source: dict[str, Any], input_path: Path, output: Path) -> None:
    """`InputError` when the input changed since the run that wrote `output` (its fingerprint, `run_guard`)."""
    before = previous.get("input_fingerprint")
    if not isinstance(before, dict):
        logger.warning("%s was written by a run that recorded no fingerprint of its input: resuming without "
                       "checking that %s is unchanged", output, input_path)
        return
    changed = changes({"--input": before}, {"--input": source})
    if changed:
        raise InputError("input", str(input_path), "the file the run that wrote the output read",
                         f"It changed since that run: {'; '.join(changed)}. Resuming would mix results of the old "
                         f"and the new file in {output}: pass --overwrite to start again, or choose another "
                         f"--output.")


def _write_settings(run_file: Path, settings: dict[str, Any], source: dict[str, Any], complete: bool,
                    lines: int | None = None) -> None:
    temporary = run_file.with_name(run_file.name + ".tmp")
    temporary.write_text(json.dumps({**settings, "input_fingerprint": source, "complete": complete, "lines": lines},
                                    indent=1, default=str), encoding="utf-8")
    os.replace(temporary, run_file)


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _chain(first: Record | None, rest: Iterator[Record]) -> Iterator[Record]:
    if first is not None:
        yield first
        yield from rest


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _distributed() -> tuple[int, int, Any]:
    """(world size, rank, accelerate's PartialState or None) from the launcher's environment.

    On a machine without CUDA the processes talk over gloo (``PartialState(cpu=True)``): accelerate picks the CPU
    backend only when asked (``state.py`` `_prepare_backend`), and ``torchrun`` / ``accelerate launch --multi_gpu``
    do not ask.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return 1, 0, None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state.num_processes, state.process_index, state


def _barrier(state: Any) -> None:
    if state is not None:
        state.wait_for_everyone()


def _rank_device(state: Any) -> str | None:
    return None if state is None else str(state.device)


def _progress_bar(task: str, rank: int, enabled: bool) -> Any:
    if not enabled or rank != 0:
        return None
    from tqdm import tqdm

    return tqdm(desc=task, unit=" lines", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

