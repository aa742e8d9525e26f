"""`python -m eval`: the Open PL LLM Leaderboard suite on a model, printed as the leaderboard's table.

    python -m eval --model speakleash/Bielik-1.5B-v3.0-Instruct --num-fewshot 0 5 --batch-size auto
    python -m eval --model openai-community/gpt2 --tasks polish_mc --num-fewshot 5 --device cpu
    python -m eval --model speakleash/Bielik-1.5B-v3.0-Instruct --tasks polish polish_other --num-fewshot 0
    python -m eval --model speakleash/Bielik-11B-v2.6-Instruct --backend vllm --apply-chat-template
    python -m eval --backend openai --endpoint http://gpu-box:8000/v1 --model speakleash/Bielik-11B-v2.6-Instruct
    python -m eval --model tiny --data-dir eval/fixtures --num-fewshot 0 5     # offline smoke run (noise scores)
    python -m eval --compare speakleash/Bielik-1.5B-v3.0-Instruct ./my-finetune --tasks polish --num-fewshot 5
    python -m eval --compare eval_results/speakleash__Bielik-1.5B-v3.0-Instruct/leaderboard.json ./my-finetune

Writes ``<output>/<model>/`` (the model id with "/" written "__") results_<n>shot.json (lm-eval's), leaderboard.md,
leaderboard.json and leaderboard.png; model responses are cached in ``<output>/cache`` so an interrupted run resumes
where it stopped.
--compare also writes ``<output>/compare__<base>__vs__<candidate>.md`` and ``.json``.
Every option is checked before a model loads: a bad one is a one-line ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from eval import catalog
from eval.runner import BACKENDS, LIMIT_MODES, MAX_FEWSHOT, MAX_LIMIT, validate
from pipelines.errors import InputError, MmhubError

# `run` / `validate` argument -> the flag that sets it, so errors name what the user typed
FLAGS = {"tasks": "--tasks", "num_fewshot": "--num-fewshot", "limit": "--limit", "limit_mode": "--limit-mode",
         "batch_size": "--batch-size", "max_batch_size": "--max-batch-size", "backend": "--backend",
         "data_dir": "--data-dir", "output_dir": "--output", "model": "--model", "base": "--compare BASE",
         "candidate": "--compare CANDIDATE", "endpoint": "--endpoint", "max_length": "--max-length",
         "device": "--device", "dtype": "--dtype", "revision": "--revision",
         "apply_chat_template": "--apply-chat-template", "fewshot_as_multiturn": "--fewshot-as-multiturn"}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (``error: argument --limit: ...``) and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (python -m eval --help)\n")


def _number(text: str) -> int | float:
    """--limit's value: an integer, or a float (fractions); the range is checked by `eval.runner.validate`."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number: give a number of documents from 1 to "
                                             f"{MAX_LIMIT}, or a fraction in (0, 1)") from None


def _batch(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m eval", description=__doc__.splitlines()[0],
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n".join(__doc__.splitlines()[2:]))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="Hub id, local folder, or 'tiny' (offline test model)")
    which.add_argument("--compare", nargs=2, metavar=("BASE", "CANDIDATE"),
                       help="evaluate two models (or read their results .json: leaderboard.json or lm-eval's "
                            "results file) and print both rows with candidate - base per task and per average")
    p.add_argument("--list-tasks", action="store_true", help="list the task and group names, then exit")
    p.add_argument("--tasks", nargs="+", default=["polish"],
                   help="tasks or groups (space or comma separated): polish (the 23 averaged tasks), polish_mc, "
                        "polish_generate, polish_other (the leaderboard's 4 tasks outside every average), or single "
                        "tasks such as polemo2_in; default: polish")
    p.add_argument("--num-fewshot", nargs="+", type=int, default=[5], metavar="N",
                   help=f"n-shot settings from 0 to {MAX_FEWSHOT}, run in turn on the same loaded model (the "
                        "leaderboard: 0 and 5); default 5")
    p.add_argument("--limit", type=_number, default=None, metavar="N",
                   help=f"evaluate N documents per task (1 to {MAX_LIMIT}, or a fraction in (0, 1)): a smoke run, "
                        "not a leaderboard score. Which documents: see --limit-mode")
    p.add_argument("--limit-mode", choices=LIMIT_MODES, default="random",
                   help="random (default): the leaderboard harness' seeded random subset -- each task's documents "
                        "shuffled with seed 0, task after task in the harness' order, then the first N -- so a "
                        "limited run is a sample like the leaderboard's; first: the first N in dataset order")
    p.add_argument("--batch-size", type=_batch, default=1, help="an integer from 1 to 4096, 'auto' or 'auto:N' "
                                                                "(default 1)")
    p.add_argument("--max-batch-size", type=int, default=64, help="upper bound for --batch-size auto (default 64)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                   help="default: bfloat16/float16 on GPU, float32 on CPU")
    p.add_argument("--revision", default=None, help="model revision (branch, tag or commit)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model repository's own code")
    p.add_argument("--apply-chat-template", action="store_true", help="format prompts with the chat template")
    p.add_argument("--fewshot-as-multiturn", action="store_true",
                   help="with --apply-chat-template: few-shot examples as chat turns (the leaderboard's ',multiturn')")
    p.add_argument("--backend", choices=BACKENDS, default="hf",
                   help="hf (transformers, default), vllm (lm-eval's vLLM model; needs vllm and a GPU) or openai "
                        "(--model served at --endpoint by vLLM, TGI, transformers serve...; multiple-choice tasks "
                        "need a server that returns prompt log-probabilities, as vLLM does)")
    p.add_argument("--endpoint", default=None, metavar="URL",
                   help="--backend openai: the server's base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="--backend openai: the environment variable holding the server's API key")
    p.add_argument("--max-length", type=int, default=None,
                   help="--backend openai: the served model's context (default: what the server reports, else 2048)")
    p.add_argument("--output", default="eval_results", help="output folder (default eval_results)")
    p.add_argument("--data-dir", default=None,
                   help="read datasets from DIR/<hub id>/<split>.jsonl, not the Hub (eval/fixtures: offline)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--log-samples", action="store_true", help="keep every prompt and response in the results")
    p.add_argument("--no-published", action="store_true", help="leave the published leaderboard rows out")
    p.add_argument("--no-plot", action="store_true", help="do not write leaderboard.png")
    p.add_argument("-v", "--verbose", action="store_true", help="show lm-eval's info logs")
    return p


def check(args: argparse.Namespace) -> list[str]:
    """Validate every option (no model, no lm-eval); returns the task list. Raises `InputError`."""
    if not args.model and not args.compare:
        raise InputError("model", None, "given: --model MODEL, or --compare BASE CANDIDATE")
    tasks = [t for item in args.tasks for t in item.split(",") if t]
    validate(tasks=tasks, num_fewshot=args.num_fewshot, limit=args.limit, limit_mode=args.limit_mode,
             batch_size=args.batch_size, max_batch_size=args.max_batch_size, backend=args.backend,
             data_dir=args.data_dir, output_dir=args.output, endpoint=args.endpoint, max_length=args.max_length,
             device=args.device, dtype=args.dtype, revision=args.revision,
             apply_chat_template=args.apply_chat_template, fewshot_as_multiturn=args.fewshot_as_multiturn)
    for role, spec in zip(("base", "candidate"), args.compare or (), strict=False):
        if not spec.strip():
            raise InputError(role, spec, "a model or a results .json file")
        if spec.lower().endswith(".json") and not Path(spec).expanduser().is_file():
            raise InputError(role, spec, "a model, or a results .json file that exists")
    return tasks


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list_tasks:
        for name in catalog.names():
            entry = catalog.index()[name]
            print(f"{name:<42} {entry.kind}" + (f": {', '.join(entry.members)}" if entry.members else ""))
        return 0
    try:
        tasks = check(args)
        api_key = _api_key(args.api_key_env)
    except InputError as err:
        return _fail(err)
    _setup_logging(args.verbose)
    options = dict(tasks=tasks, num_fewshot=args.num_fewshot, limit=args.limit, limit_mode=args.limit_mode,
                   batch_size=args.batch_size, max_batch_size=args.max_batch_size, device=args.device,
                   dtype=args.dtype, revision=args.revision, trust_remote_code=args.trust_remote_code,
                   apply_chat_template=args.apply_chat_template, fewshot_as_multiturn=args.fewshot_as_multiturn,
                   backend=args.backend, data_dir=args.data_dir, use_cache=not args.no_cache,
                   log_samples=args.log_samples, published=not args.no_published, plot=not args.no_plot,
                   endpoint=args.endpoint, api_key=api_key, max_length=args.max_length)
    try:
        if args.compare:
            return _compare(args, options)
        return _run(args, options)
    except InputError as err:
        return _fail(err)
    except (MmhubError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _fail(err: InputError) -> int:
    flag = FLAGS.get(err.argument, err.argument)
    got = "" if err.value is None else f"; got {err.value!r}"
    print(f"error: {flag} must be {err.allowed}{got}." + (f" {err.hint}" if err.hint else ""), file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, options: dict) -> int:
    import eval as pl_eval

    report = pl_eval.run(args.model, output_dir=args.output, **options)
    print(report.markdown)
    from eval import leaderboard

    published = [] if args.no_published else leaderboard.published_rows()
    for row in report.rows:
        note = leaderboard.rank_note(row, published, limited=args.limit is not None)
        print(f"\n{row.model} {row.n_shot}-shot: Average {row.average:.2f} (Avg g {row.avg_g:.2f}, "
              f"Avg mc {row.avg_mc:.2f}, Avg RAG {row.avg_rag:.2f})" + (f", {note}" if note else "")
              + (f"; {len(row.missing)} tasks not run count as 0" if row.missing else ""))
    for task, change in report.adjusted.items():
        print(f"note: {task}: {change}")
    if report.files:
        print("\nwrote " + ", ".join(report.files.values()))
    print(f"({report.seconds:.0f} s)")
    return 0


def _api_key(variable: str | None) -> str | None:
    import os

    from pipelines.errors import InputError

    if variable is None:
        return None
    if not os.environ.get(variable):
        raise InputError("--api-key-env", variable, "the name of a set environment variable",
                         f"${variable} is not set.")
    return os.environ[variable]


def _compare(args: argparse.Namespace, options: dict) -> int:
    from eval import compare

    base, candidate = args.compare
    result = compare.compare(base, candidate, output_dir=args.output, **options)
    print(result.markdown)
    if result.files:
        print("wrote " + ", ".join(result.files.values()))
    return 0


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    sys.exit(main())
