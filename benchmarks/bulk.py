"""Bulk inference (`python -m pipelines run sentiment --input FILE --output OUT.jsonl`) vs one in-memory call.

    python -m benchmarks.bulk [--quick]

1. Throughput: the bulk runner (reading the file, batching, writing and flushing the JSON lines) vs the sentiment
   pipeline called once on all the texts already in memory, same MiniLM-sized classifier (random weights, realistic
   compute), same reviews. Target: bulk >= 0.95x the in-memory throughput. Model loading is left out of both.
2. Scaling on the CPU: one process (1 thread, then 2) vs two processes (1 thread each) under
   ``accelerate launch --multi_gpu --num_processes 2`` (torchrun; gloo without CUDA), lines/s of the processing
   (the slower rank) and end to end (process start, model load and merge included).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import compare, parser, print_table
from benchmarks.sentiment import GEOMETRIES, build_classifier, reviews
from pipelines import bulk, load

ROOT = Path(__file__).resolve().parents[1]


def throughput(folder: Path, texts: list[str], repeat: int) -> None:
    path = folder / "reviews.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    model = str(folder / "model")
    clf = load("sentiment", model=model, device="cpu")
    out = folder / "out.jsonl"
    seconds: list[float] = []

    def bulk_run() -> None:
        summary = bulk.run("sentiment", path, out, model=model, overwrite=True, progress=False, pipeline=clf)
        seconds.append(summary.seconds)  # reading, inference, writing, on the same loaded (warm) model

    rows = compare({"in memory: clf(texts)": lambda: clf(texts), "bulk: file -> JSONL": bulk_run}, repeat)
    rows[1] = (rows[1][0], sorted(seconds[-repeat:])[len(seconds[-repeat:]) // 2])
    print_table(f"sentiment, {len(texts)} reviews, MiniLM-sized", rows, baseline="in memory: clf(texts)")
    (_, memory), (_, on_file) = rows
    assert sum(1 for _ in open(out, encoding="utf-8")) == len(texts)
    print(f"  bulk throughput: {len(texts) / on_file:.0f} lines/s = {memory / on_file:.2f}x the in-memory call "
          f"({len(texts) / memory:.0f} lines/s)")


def scaling(folder: Path, texts: list[str]) -> None:
    path = folder / "reviews.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    base = ["-m", "pipelines", "run", "sentiment", "--model", str(folder / "model"), "--input", str(path),
            "--output", str(folder / "scaled.jsonl"), "--overwrite"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    launcher = str(Path(sys.executable).with_name("accelerate"))
    runs = {
        "1 process, 1 thread": ([sys.executable, *base], {**env, "OMP_NUM_THREADS": "1"}),
        "1 process, 2 threads": ([sys.executable, *base], {**env, "OMP_NUM_THREADS": "2"}),
        "2 processes, 1 thread each": ([launcher, "launch", "--multi_gpu", "--num_processes", "2", *base],
                                       {**env, "OMP_NUM_THREADS": "1"}),
    }
    print(f"\n## scaling on the CPU, {len(texts)} reviews (lines/s: processing of the slower rank; end to end)")
    for name, (argv, run_env) in runs.items():
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(f"  {name}: failed\n{done.stderr[-2000:]}")
            continue
        ranks = [float(s) for s in re.findall(r"wrote \d+ lines \(\d+ bad\) in ([\d.]+) s", done.stderr)]
        print(f"  {name:<28} {len(texts) / max(ranks):8.0f} lines/s processing   {len(texts) / wall:8.0f} lines/s "
              f"end to end ({wall:.1f} s)")


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    n, repeat = (300, 2) if args.quick else (2000, 3)
    texts = reviews(n, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_classifier(str(folder / "model"), *GEOMETRIES["MiniLM-sized (6x384)"])
        throughput(folder, texts, repeat)
        scaling(folder, reviews(2 * n, seed=4))


if __name__ == "__main__":
    main()
