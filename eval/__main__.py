"""`python -m eval`: the Open PL LLM Leaderboard suite on a model, printed as the leaderboard's table.

    python -m eval --model speakleash/Bielik-1.5B-v3.0-Instruct --num-fewshot 0 5 --batch-size auto
    python -m eval --model openai-community/gpt2 --tasks polish_mc --num-fewshot 5 --device cpu
    python -m eval --model speakleash/Bielik-11B-v2.6-Instruct --backend vllm --apply-chat-template
    python -m eval --backend openai --endpoint http://gpu-box:8000/v1 --model speakleash/Bielik-11B-v2.6-Instruct
    python -m eval --model tiny --data-dir eval/fixtures --num-fewshot 0 5     # offline smoke run (noise scores)

Writes ``<output>/<model>/`` results_<n>shot.json (lm-eval's), leaderboard.md, leaderboard.json and
leaderboard.png; model responses are cached in ``<output>/cache`` so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipelines.errors import MmhubError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--model", required=True, help="Hub id, local folder, or 'tiny' (offline test model)")
    p.add_argument("--tasks", nargs="+", default=["polish"],
                   help="tasks or groups (space or comma separated): polish (all 23), polish_mc, polish_generate, "
                        "or single tasks such as polemo2_in; default: polish")
    p.add_argument("--num-fewshot", nargs="+", type=int, default=[5], metavar="N",
                   help="n-shot settings, run in turn on the same loaded model (the leaderboard: 0 and 5); default 5")
    p.add_argument("--limit", type=float, default=None,
                   help="the first N docs of each task (or a fraction < 1): smoke runs only, scores not comparable")
    p.add_argument("--batch-size", default="1", help="an integer, 'auto' or 'auto:N' (default 1)")
    p.add_argument("--max-batch-size", type=int, default=64, help="upper bound for --batch-size auto (default 64)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: bf16/fp16 on GPU, fp32 on CPU)")
    p.add_argument("--revision", default=None, help="model revision (branch, tag or commit)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model repository's own code")
    p.add_argument("--apply-chat-template", action="store_true", help="format prompts with the chat template")
    p.add_argument("--fewshot-as-multiturn", action="store_true",
                   help="with --apply-chat-template: few-shot examples as chat turns (the leaderboard's ',multiturn')")
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf",
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging(args.verbose)
    tasks = [t for item in args.tasks for t in item.split(",") if t]
    batch_size = int(args.batch_size) if args.batch_size.isdigit() else args.batch_size
    limit = None if args.limit is None else (int(args.limit) if args.limit >= 1 else args.limit)

    import eval as pl_eval

    try:
        report = pl_eval.run(
            args.model, tasks=tasks, num_fewshot=args.num_fewshot, limit=limit, batch_size=batch_size,
            max_batch_size=args.max_batch_size, device=args.device, dtype=args.dtype, revision=args.revision,
            trust_remote_code=args.trust_remote_code, apply_chat_template=args.apply_chat_template,
            fewshot_as_multiturn=args.fewshot_as_multiturn, backend=args.backend, output_dir=args.output,
            data_dir=args.data_dir, use_cache=not args.no_cache, log_samples=args.log_samples,
            published=not args.no_published, plot=not args.no_plot, endpoint=args.endpoint,
            api_key=_api_key(args.api_key_env), max_length=args.max_length,
        )
    except (MmhubError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.markdown)
    for row in report.rows:
        rank = f", would rank {row.rank}" if row.rank else ""
        print(f"\n{row.model} {row.n_shot}-shot: Average {row.average:.2f} (Avg g {row.avg_g:.2f}, "
              f"Avg mc {row.avg_mc:.2f}, Avg RAG {row.avg_rag:.2f}){rank}"
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


class _DropNoise(logging.Filter):
    """lm-eval warns once per task that uses `custom_dataset` (all of ours); that is by design here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in ("lm_eval", "lm_eval.api.task"):
        logging.getLogger(name).addFilter(_DropNoise())
    if not verbose:
        logging.getLogger("lm_eval.evaluator").setLevel(logging.ERROR)  # "Overwriting default num_fewshot" x23


if __name__ == "__main__":
    sys.exit(main())
