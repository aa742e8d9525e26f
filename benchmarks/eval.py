"""`python -m eval` vs the stock `lm_eval` command: wall time on the same model, tasks and data, and the scores.

    python -m benchmarks.eval [--quick]

Both commands run as fresh processes (imports, model load, task loading, evaluation, writing), in turn, on the
tiny GPT-2 (``pipelines.tiny``) and the shipped fixtures (``eval/fixtures``), 0-shot, batch size 32, CPU:

    python -m eval --model tiny --tasks <tasks> --num-fewshot 0 --data-dir eval/fixtures --no-cache ...
    lm_eval run --model hf --model_args pretrained=<tiny folder>,dtype=float32 --tasks <tasks> \\
        --include_path eval/tasks --metadata '{"data_dir": "<abs eval/fixtures>"}' --num_fewshot 0 ...

Tasks: the leaderboard's 23 averaged tasks and its 4 "other" ones (polish_other), minus the two EQ-Bench tasks
(their 512 new tokens exceed the tiny model's 512 positions, which stock lm-eval refuses; mmhub caps them) —
25 tasks; --quick: polemo2_in and polemo2_in_multiple_choice.
The ratio is mmhub / stock (below 1.0: mmhub is faster). Every metric of every task must be identical.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import parser

ROOT = Path(__file__).resolve().parents[1]
QUICK_TASKS = ["polemo2_in", "polemo2_in_multiple_choice"]


def tasks(quick: bool) -> list[str]:
    from eval import leaderboard

    return QUICK_TASKS if quick else [t.task for t in leaderboard.COLUMNS
                                      if t.task not in ("polish_eq_bench_first_turn", "polish_eq_bench")]


def commands(names: list[str], folder: str, out: Path) -> dict[str, list[str]]:
    fixtures = str(ROOT / "eval" / "fixtures")
    return {
        "python -m eval": [sys.executable, "-m", "eval", "--model", "tiny", "--tasks", ",".join(names),
                           "--num-fewshot", "0", "--data-dir", fixtures, "--batch-size", "32", "--device", "cpu",
                           "--no-cache", "--no-plot", "--output", str(out / "mmhub")],
        "stock lm_eval": [str(Path(sys.executable).with_name("lm_eval")), "run", "--model", "hf", "--model_args",
                          f"pretrained={folder},dtype=float32", "--tasks", ",".join(names), "--include_path",
                          str(ROOT / "eval" / "tasks"), "--metadata", json.dumps({"data_dir": fixtures}),
                          "--num_fewshot", "0", "--batch_size", "32", "--device", "cpu",
                          "--output_path", str(out / "stock")],
    }


def timed(command: list[str]) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def metrics(results: dict) -> dict[str, dict[str, float]]:
    return {task: {k: v for k, v in values.items() if "," in k and "stderr" not in k}
            for task, values in results.items()}


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    from pipelines import tiny

    folder = str(tiny.build("text-generation"))
    names = tasks(args.quick)
    repeat = 1 if args.quick else 3
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(repeat):  # interleaved, so that a drifting machine load hits both alike
            for name, command in commands(names, folder, out).items():
                times.setdefault(name, []).append(timed(command))
        ours = json.loads((out / "mmhub" / "tiny" / "results_0shot.json").read_text())["results"]
        stock = json.loads(next((out / "stock").rglob("results_*.json")).read_text())["results"]
    mine, theirs = metrics(ours), metrics(stock)
    same = mine == theirs
    print(f"\n## python -m eval vs stock lm_eval: tiny GPT-2, {len(names)} tasks on the fixtures, 0-shot, "
          f"median of {repeat}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in medians.items():
        print(f"  {name:<20} {seconds:8.1f} s   (runs: {', '.join(f'{t:.1f}' for t in times[name])})")
    print(f"  ratio mmhub / stock: {medians['python -m eval'] / medians['stock lm_eval']:.2f}x (target <= 1.0)")
    print(f"  scores identical: {same} ({sum(len(v) for v in theirs.values())} metrics over {len(theirs)} tasks)")
    if not same:
        diff = {t: (mine.get(t), theirs.get(t)) for t in theirs if mine.get(t) != theirs.get(t)}
        print(f"  differences: {diff}")


if __name__ == "__main__":
    main()
