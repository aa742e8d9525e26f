"""mmhub separation vs raw demucs (`demucs.api.Separator.separate_tensor`) on the same model and audio.

    python -m benchmarks.separation [--quick]

1. Overhead: mmhub ``sep(array, sample_rate=44100)`` against the raw ``Separator.separate_tensor`` on the same
   stereo 44.1 kHz audio (validation and conversion are mmhub's only extra work; target <= 1.05x), for the tiny
   HTDemucs and for full-size HTDemucs geometry (``htdemucs``: depth 4, 5 transformer layers, 512 bottom channels,
   7.8 s segments, ~42M parameters, random weights: the same compute as the real model, no download).
2. Real-time factor of the full-size geometry on this CPU (compute seconds per second of audio, shifts 0 and 1).
3. Peak memory for 1, 5 and 10 minutes of audio (tiny model, one process each): the process's peak RSS above its
   RSS before the call, next to the size of the input + stems the call must hold anyway. demucs cuts the track into
   overlapping segments, so what remains above that (the model's working memory) should not grow with the length.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks.common import compare, parser, print_table

RATE = 44100
SOURCES = ["drums", "bass", "other", "vocals"]


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo test signal: two tones plus noise, float32 ``(2, samples)``, built in float32 to keep memory low."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n, dtype=np.float32) / RATE
    out = np.empty((2, n), dtype=np.float32)
    out[0] = 0.3 * np.sin(2 * np.pi * 220 * t)
    out[1] = 0.3 * np.sin(2 * np.pi * 330 * t)
    out += 0.05 * rng.standard_normal((2, n), dtype=np.float32)
    return out


def build_full_htdemucs(folder: Path) -> None:
    """htdemucs' geometry with random weights, in demucs' local repository format (bag ``full_htdemucs``)."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=SOURCES, dconv_mode=3, depth=4, t_layers=5, bottom_channels=512,
                     segment=Fraction(39, 5))
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()},
               folder / "0full000.th")
    (folder / "full_htdemucs.yaml").write_text("models: ['0full000']\n")


def overhead(name: str, folder: Path, bag: str, seconds: float, repeat: int, warmup: int = 1) -> None:
    import torch
    from demucs.api import Separator

    from pipelines import load

    audio = music(seconds)
    sep = load("separation", model=str(folder), device="cpu")
    raw = Separator(model=bag, repo=folder, device="cpu", shifts=0, progress=False)
    wav = torch.from_numpy(audio)
    n_params = sum(p.numel() for p in raw.model.parameters())

    def raw_call():
        with torch.inference_mode():
            return raw.separate_tensor(wav, RATE)

    rows = compare({"raw Separator.separate_tensor": raw_call,
                    "mmhub sep(array, sample_rate=44100)": lambda: sep(audio, sample_rate=RATE, shifts=0)},
                   repeat=repeat, warmup=warmup)
    print_table(f"{name} ({n_params / 1e6:.2f}M params), {seconds:g} s stereo 44.1 kHz, shifts=0", rows,
                baseline="raw Separator.separate_tensor")
    (_, raw_s), (_, ours_s) = rows
    print(f"  overhead: {ours_s / raw_s:.3f}x (target <= 1.05x); real-time factor {ours_s / seconds:.2f} "
          "(compute s per audio s)")


def real_time_factor(folder: Path, seconds: float, device: str = "cpu") -> None:
    from pipelines import load

    sep = load("separation", model=str(folder), device=device)
    audio = music(seconds)
    print(f"\n## full-size HTDemucs geometry, real-time factor on {device} ({seconds:g} s of audio)")
    for shifts in (0, 1):
        start = time.perf_counter()
        sep(audio, sample_rate=RATE, shifts=shifts, seed=0)
        took = time.perf_counter() - start
        print(f"  shifts={shifts}: {took:7.1f} s  -> {took / seconds:.2f}x real time")


def memory_probe(seconds: float) -> dict:
    """Run in a child process: peak RSS of one separation of `seconds` of audio with the tiny model."""
    import psutil
    import torch

    from pipelines import load

    torch.set_num_threads(1)  # memory does not depend on threads; one thread keeps a shared CPU usable
    sep = load("separation", model="tiny", device="cpu")
    audio = music(seconds)
    sep(music(2.0), sample_rate=RATE, shifts=1, seed=0)  # first-call allocations are not the track's
    before = psutil.Process().memory_info().rss
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak (VmHWM) to the current RSS
    start = time.perf_counter()
    result = sep(audio, sample_rate=RATE, shifts=1, seed=0)
    took = time.perf_counter() - start
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    held = audio.nbytes + sum(s.nbytes for s in result.stems.values())
    return {"seconds": seconds, "before": before, "peak": peak, "held": held, "took": took}


def memory(minutes: list[float]) -> None:
    print("\n## peak memory, tiny HTDemucs (1 s segments), shifts=1, one process per length")
    print(f"  {'audio':>8} {'peak - before':>14} {'input + stems':>14} {'working':>9} {'time':>8}")
    for m in minutes:
        out = subprocess.run([sys.executable, "-m", "benchmarks.separation", "--probe-memory", str(m * 60)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        grown, held = (r["peak"] - r["before"]) / 2**20, r["held"] / 2**20
        print(f"  {m:>6g} min {grown:>11.0f} MiB {held:>11.0f} MiB {grown - held:>6.0f} MiB {r['took']:>7.1f} s")
    print("  ('working' = growth beyond the input and the stems themselves. The model's activations are per segment\n"
          "   and do not grow; demucs' own accumulators in separate_tensor / apply_model (normalised copy, shift\n"
          "   padding, overlap-add sums, de-normalised copy) are a fixed multiple of the track, ~1.5x the stems.)")


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--probe-memory", type=float, help=argparse_hidden())
    args = p.parse_args(argv)
    if args.probe_memory:
        print(json.dumps(memory_probe(args.probe_memory)))
        return
    from pipelines import tiny

    print("(timings on a shared CPU are provisional)")
    overhead("tiny HTDemucs", tiny.build("separation"), "tiny_htdemucs", 10 if args.quick else 30,
             repeat=2 if args.quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_full_htdemucs(folder)
        overhead("full-size HTDemucs geometry", folder, "full_htdemucs", 8 if args.quick else 16,
                 repeat=1 if args.quick else 3)
        real_time_factor(folder, 8 if args.quick else 16)
    memory([0.5, 1, 2] if args.quick else [1, 5, 10])


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
