"""DeepDream: mmhub's `deep-dream` against a plain PyTorch port of Google's notebook loop, same VGG-19, same work.

    python -m benchmarks.deep_dream [--quick] [--size 256] [--layer conv4_3] [--device cpu]

The VGG-19 is full size with random weights (no download; the compute is the real model's). The reference is what
a tutorial writes from google/deepdream's ``dream.ipynb``: torchvision-style ``nn.Sequential`` features sliced at the
layer, ``F.interpolate`` for the octaves and the detail, and per step ``torch.roll`` jitter, forward, backward on the
L2 objective, ``x += step_size / mean|g| * g``, unroll, clip. Both run the same octaves, steps and jitter draws, so
steps per second compare like with like (target: mmhub >= 1.0x the plain loop). Then seconds for a default dream
(4 octaves x 10 steps) at ``--size``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from benchmarks.common import parser
from benchmarks.style_transfer import tutorial_features
from pipelines import load
from pipelines.tiny import IMAGENET_MEAN, IMAGENET_STD, vgg_features_state_dict


def sequential_cut(features: torch.nn.Sequential, layer: str) -> torch.nn.Sequential:
    """The torchvision-style features up to and including `layer`'s ReLU (conv<b>_<n>) or pool (pool<b>)."""
    block, n, cut = 1, 0, None
    for i, module in enumerate(features):
        if isinstance(module, torch.nn.Conv2d):
            n += 1
        elif isinstance(module, torch.nn.ReLU) and layer == f"conv{block}_{n}":
            cut = i
        elif isinstance(module, torch.nn.MaxPool2d):
            if layer == f"pool{block}":
                cut = i
            block, n = block + 1, 0
    if cut is None:
        raise ValueError(f"no layer {layer}")
    return features[: cut + 1]


def plain_deepdream(net: torch.nn.Sequential, image: np.ndarray, iter_n: int = 10, octave_n: int = 4,
                    octave_scale: float = 1.4, step_size: float = 1.5, jitter: int = 32, seed: int = 0,
                    device: torch.device = torch.device("cpu")) -> np.ndarray:
    """The notebook's ``deepdream`` + ``make_step``, ported to torch as a tutorial would."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    octaves = [torch.from_numpy(image).float().permute(2, 0, 1)[None].to(device)]
    for _ in range(octave_n - 1):
        h, w = octaves[-1].shape[-2:]
        size = (int(round(h * (1.0 / octave_scale))), int(round(w * (1.0 / octave_scale))))
        octaves.append(F.interpolate(octaves[-1], size=size, mode="bilinear", align_corners=True))
    detail = torch.zeros_like(octaves[-1])
    for octave, octave_base in enumerate(octaves[::-1]):
        if octave > 0:
            detail = F.interpolate(detail, size=octave_base.shape[-2:], mode="bilinear", align_corners=True)
        src = octave_base + detail
        for _ in range(iter_n):
            ox, oy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
            src = torch.roll(src, (oy, ox), (2, 3)).requires_grad_(True)
            dst = net((src / 255.0 - mean) / std)
            dst.backward(dst.detach())  # objective_L2
            with torch.no_grad():
                src = src + step_size / src.grad.abs().mean() * src.grad
                src = torch.roll(src, (-oy, -ox), (2, 3)).clamp(0, 255)
        detail = src - octave_base
    return src[0].permute(1, 2, 0).cpu().numpy()


def photo(width: int) -> np.ndarray:
    height = width * 3 // 4
    yy, xx = np.mgrid[0:height, 0:width] / width
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.9 - 0.6 * xx * yy], axis=-1)
    return (rgb * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=256, help="long side of the photo")
    p.add_argument("--layer", default="conv4_3", help="layer to dream at")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = p.parse_args(argv)
    size = 96 if args.quick else args.size
    octaves, steps, repeat = (2, 3, 1) if args.quick else (3, 4, 5)
    device = torch.device(args.device)
    state = vgg_features_state_dict()  # full VGG-19 widths, random weights
    with tempfile.TemporaryDirectory() as folder:
        save_file(state, str(Path(folder) / "model.safetensors"))
        dd = load("deep-dream", model=folder, device=device)
    net = sequential_cut(tutorial_features(state), args.layer).to(device)
    image = photo(size)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn) -> tuple[float, float]:
        """Steps per second of wall time, and per second of this process's CPU time (steadier on a busy machine)."""
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        return octaves * steps / (time.perf_counter() - start), octaves * steps / (time.process_time() - cpu)

    def ours() -> tuple[float, float]:
        return timed(lambda: dd(image, layer=args.layer, steps=steps, octaves=octaves, seed=0, max_size=size))

    def plain() -> tuple[float, float]:
        return timed(lambda: plain_deepdream(net, image, iter_n=steps, octave_n=octaves, seed=0, device=device))

    dd(image, layer=args.layer, steps=1, octaves=1, seed=0, max_size=size)  # warm-up
    plain_deepdream(net, image, iter_n=1, octave_n=1, device=device)
    rates: dict[str, list[tuple[float, float]]] = {"plain": [], "mmhub": []}
    for _ in range(repeat):  # interleaved, so a drifting machine load hits both alike
        rates["plain"].append(plain())
        rates["mmhub"].append(ours())
    reference, mine = (statistics.median(r[0] for r in rates[k]) for k in ("plain", "mmhub"))
    reference_cpu, mine_cpu = (statistics.median(r[1] for r in rates[k]) for k in ("plain", "mmhub"))
    print(f"\n## DeepDream, VGG-19 (random weights) at {args.layer}, {size}x{size * 3 // 4} px, {octaves} octaves x "
          f"{steps} steps, {device.type}, {torch.get_num_threads()} torch threads, median of {repeat}")
    print(f"  {'plain loop (the notebook in torch)':<44} {reference:8.2f} steps/s")
    print(f"  {'mmhub dd()':<44} {mine:8.2f} steps/s  {mine / reference:5.2f}x plain loop (target >= 1.0x)")
    print(f"  {'the same per second of process CPU time':<44} {mine_cpu:8.2f} vs {reference_cpu:.2f} steps/s  "
          f"{mine_cpu / reference_cpu:5.2f}x")
    if not args.quick:
        start = time.perf_counter()
        result = dd(image, layer=args.layer, seed=0, max_size=size)
        sync()
        print(f"  a default dream (4 octaves x 10 steps) at {size}x{size * 3 // 4}: "
              f"{time.perf_counter() - start:.1f} s ({result.steps} steps)")


if __name__ == "__main__":
    main()
