"""Timing helpers shared by the benchmarks: warm up, repeat, report medians and ratios."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any


def compare(fns: dict[str, Callable[[], Any]], repeat: int = 5, warmup: int = 1) -> list[tuple[str, float]]:
    """Median wall time of each function, measured round-robin so that a drifting machine load hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return [(name, statistics.median(t)) for name, t in times.items()]


def print_table(title: str, rows: list[tuple[str, float]], baseline: str | None = None) -> None:
    """Print `name  seconds  ratio-to-baseline` (ratio > 1 means slower than the baseline)."""
    reference = dict(rows).get(baseline) if baseline else None
    print(f"\n## {title}")
    for name, seconds in rows:
        ratio = f"  {seconds / reference:5.2f}x {baseline}" if reference else ""
        print(f"  {name:<44} {seconds * 1000:9.1f} ms{ratio}")


def interleaved_throughput(ours: Callable[[int], float], theirs: Callable[[int], float],
                           repeat: int) -> tuple[float, float]:
    """Median of `repeat` runs of ``ours(i)`` and ``theirs(i)`` (each returns items per second; `i` is the run's
    seed), taken in turns so that a drifting machine load hits both alike."""
    a, b = [], []
    for i in range(repeat):
        a.append(ours(i))
        b.append(theirs(i))
    return statistics.median(a), statistics.median(b)


def print_throughput(title: str, ours: tuple[str, float], theirs: tuple[str, float], unit: str,
                     versus: str) -> None:
    """Print ``## title``, our rate with its ratio to theirs (``1.05x versus``), and theirs."""
    (name_a, a), (name_b, b) = ours, theirs
    print(f"\n## {title}")
    print(f"  {name_a:<44} {a:9.0f} {unit}  {a / b:5.2f}x {versus}")
    print(f"  {name_b:<44} {b:9.0f} {unit}")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs: a smoke run")
    return p
