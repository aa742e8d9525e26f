"""The Playground: live updates per second (training + picture), and training against a plain PyTorch loop.

    python -m benchmarks.playground [--quick] [--frames 60] [--hidden 8,8,8,8] [--dataset circle] [--threads N]

1. Updates per second, what the tab's Play does each frame: one epoch (`Playground.step`: 25 SGD updates for the
   page's 250 training points in batches of 10, both losses), the frame (the output on the 100x100 grid, every
   neuron's map, weights) and the picture (`pipelines.playground_svg.render_html` with the test points: two PNGs and
   the SVG). Default: a 4x8 network (``--hidden 8,8,8,8``) on the page's 500 circle points; the goal is >= 10 per
   second on a 2-core CPU. The time per part is printed too.
2. Training throughput (epochs per second, no pictures): `Playground.train` (the page's batching with the carried
   leftover points, L2 regularisation after the step as the page does it, both losses every epoch) against a plain
   PyTorch loop on the same network, data and batch size (``nn.Sequential`` of the same `Linear` layers, float64,
   ``torch.optim.SGD`` with ``weight_decay`` on the weights, ``0.5 * mse_loss``, both losses every epoch),
   interleaved; the ratio (target >= 0.8x: what mmhub adds per update is the page's regularisation rule and
   dead-link bookkeeping).
"""

from __future__ import annotations

import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import interleaved_throughput, parser, print_throughput


def plain_loop(trainer, epochs: int) -> float:
    """The same network, data and batches as `trainer` in a textbook PyTorch loop; returns epochs per second."""
    s = trainer.settings
    layers: list[nn.Module] = []
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}[s.activation]
    for i, linear in enumerate(trainer.network.layers):
        copy = nn.Linear(linear.in_features, linear.out_features, dtype=torch.float64)
        copy.load_state_dict(linear.state_dict())
        last = i == len(trainer.network.layers) - 1
        layers += [copy, nn.Tanh() if last else act()]
    model = nn.Sequential(*layers)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear)]
    decay = s.regularization_rate if s.regularization == "L2" else 0.0
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": decay}, {"params": biases}],
                                lr=s.learning_rate, foreach=True)
    x, y, xt, yt = trainer._train_x, trainer._train_y, trainer._test_x, trainer._test_y
    start = time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(x), s.batch_size):
            optimizer.zero_grad(set_to_none=True)
            (0.5 * F.mse_loss(model(x[i:i + s.batch_size]).squeeze(1), y[i:i + s.batch_size])).backward()
            optimizer.step()
        with torch.no_grad():
            _ = float(0.5 * F.mse_loss(model(x).squeeze(1), y)), float(0.5 * F.mse_loss(model(xt).squeeze(1), yt))
    return epochs / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    from pipelines.playground import Playground
    from pipelines.playground_svg import PointsCache, RenderOptions, render_html

    p = parser(__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=60, help="frames timed for the updates per second")
    p.add_argument("--epochs", type=int, default=40, help="epochs per throughput run")
    p.add_argument("--repeat", type=int, default=5, help="interleaved throughput runs")
    p.add_argument("--hidden", default="8,8,8,8", help="neurons per hidden layer (default: 4 layers of 8)")
    p.add_argument("--dataset", default="circle", help="a Playground data set (default circle: 500 points)")
    p.add_argument("--regularization", default="L2", help="none, L1 or L2 (default L2 at 0.001)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.epochs, args.repeat = 10, 10, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    rate = 0.001 if args.regularization != "none" else 0.0
    make = lambda seed: Playground(dataset=args.dataset, hidden=args.hidden, regularization=args.regularization,  # noqa: E731
                                   regularization_rate=rate, seed=seed)
    trainer = make(0)
    shape = "x".join(args.hidden.split(","))
    data = f"{args.dataset}: {len(trainer.data.train_x)} training + {len(trainer.data.test_x)} test points"

    # 1. live updates: step + frame + picture
    options, points = RenderOptions(show_test=True), PointsCache()
    for _ in range(3):
        render_html(trainer.step(1), trainer.data, options, points)
    parts: dict[str, list[float]] = {"train one epoch": [], "frame (grid, maps)": [], "picture (PNG + SVG)": []}
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.frames):
        t0 = time.perf_counter()
        trainer.train(1)
        t1 = time.perf_counter()
        frame = trainer.frame()
        t2 = time.perf_counter()
        html = render_html(frame, trainer.data, options, points)
        t3 = time.perf_counter()
        for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name].append(seconds)
    fps = args.frames / (time.perf_counter() - start)
    cpu_fps = args.frames / max(time.process_time() - cpu, 1e-9)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n## Playground live updates: {shape} network, {data}, batch 10, {torch.get_num_threads()} torch "
          f"thread(s), load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'updates per second (train + frame + picture)':<48} {fps:9.1f} /s  (goal >= 10)")
    print(f"  {'the same per CPU second of this process':<48} {cpu_fps:9.1f} /s  (what a machine to itself gives "
          f"with 1 thread)")
    for name, seconds in parts.items():
        print(f"  {name:<48} {statistics.median(seconds) * 1000:9.1f} ms")
    print(f"  {'picture size':<48} {len(html) / 1024:9.0f} KB")

    # 2. training throughput against a plain PyTorch loop
    def ours(i: int) -> float:
        t = make(i)
        start = time.perf_counter()
        t.train(args.epochs)
        return args.epochs / (time.perf_counter() - start)

    def theirs(i: int) -> float:
        return plain_loop(make(i), args.epochs)

    ours(0), theirs(0)  # warm up
    a, b = interleaved_throughput(ours, theirs, args.repeat)
    print_throughput(f"Playground training, {shape} network, {data}, {args.regularization}",
                     ("mmhub Playground.train", a), ("plain PyTorch loop (nn.Sequential + SGD)", b), "epochs/s",
                     "plain")


if __name__ == "__main__":
    main()
