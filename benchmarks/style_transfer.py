"""mmhub style transfer vs the PyTorch tutorial's loop on the same VGG-19 weights and image size.

    python -m benchmarks.style_transfer [--quick] [--size 256] [--steps 100] [--device cpu]

The VGG-19 is full size with random weights (no download; the compute is the real model's). The reference is
the structure of the PyTorch tutorial (`advanced_source/neural_style_tutorial.py`): a `nn.Sequential` copy of
the features with Normalization / ContentLoss / StyleLoss modules inserted, the image clamped inside the closure,
`optimizer.step(closure)` repeated until the step count is reached. Both count a step as one loss evaluation
(forward + backward), so steps per second compare like with like (target: mmhub >= 1.0x the reference).
Then: seconds per 100 L-BFGS steps of mmhub at `--size` px; with fewer `--steps` the figure is extrapolated
(and says so).
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
from torch import nn

from benchmarks.common import parser
from pipelines import load
from pipelines.style_transfer import gram_matrix
from pipelines.tiny import IMAGENET_MEAN, IMAGENET_STD, vgg_features_state_dict

CONTENT_CONV, STYLE_CONVS = 10, (1, 3, 5, 9, 13)  # conv4_2; conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 (1-based)


# ---------------------------------------------------------------------------------------------- the tutorial


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(-1, 1, 1))

    def forward(self, img):
        return (img - self.mean) / self.std


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        self.loss = F.mse_loss(gram_matrix(input), self.target)
        return input


def tutorial_features(state: dict[str, torch.Tensor]) -> nn.Sequential:
    """torchvision's ``vgg19().features`` rebuilt from the state dict (what the tutorial downloads)."""
    layers, index, in_channels = [], 0, 3
    while f"features.{index}.weight" in state:
        weight = state[f"features.{index}.weight"]
        conv = nn.Conv2d(in_channels, weight.shape[0], 3, padding=1)
        conv.weight.data.copy_(weight)
        conv.bias.data.copy_(state[f"features.{index}.bias"])
        layers += [conv, nn.ReLU(inplace=True)]
        index, in_channels = index + 2, weight.shape[0]
        if f"features.{index}.weight" not in state:
            layers.append(nn.MaxPool2d(2, 2))
            index += 1
    return nn.Sequential(*layers).eval().requires_grad_(False)


def get_style_model_and_losses(cnn, style_img, content_img):
    model = nn.Sequential(Normalization(IMAGENET_MEAN, IMAGENET_STD).to(content_img.device))
    content_losses, style_losses, i = [], [], 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name, layer = f"relu_{i}", nn.ReLU(inplace=False)
        else:
            name = f"pool_{i}"
        model.add_module(name, layer)
        if name == f"relu_{CONTENT_CONV}":
            content_loss = ContentLoss(model(content_img).detach())
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in {f"relu_{c}" for c in STYLE_CONVS}:
            style_loss = StyleLoss(model(style_img).detach())
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for last in range(len(model) - 1, -1, -1):
        if isinstance(model[last], (ContentLoss, StyleLoss)):
            break
    return model[: last + 1], style_losses, content_losses


def run_style_transfer(cnn, content_img, style_img, input_img, num_steps=300, style_weight=1_000_000,
                       content_weight=1):
    model, style_losses, content_losses = get_style_model_and_losses(cnn, style_img, content_img)
    input_img.requires_grad_(True)
    model.eval().requires_grad_(False)
    optimizer = torch.optim.LBFGS([input_img])
    run = [0]
    while run[0] < num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = sum(sl.loss for sl in style_losses) * style_weight
            content_score = sum(cl.loss for cl in content_losses) * content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            return style_score + content_score

        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img, run[0]


# ---------------------------------------------------------------------------------------------- the benchmark


def pictures(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth content picture and a random-noise style picture, both size x 3/4 size (the tutorial needs one
    size for both), floats in [0, 1]."""
    height = size * 3 // 4
    yy, xx = np.mgrid[0:height, 0:size] / size
    content = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.9 - 0.6 * xx * yy], axis=-1).astype(np.float32)
    style = np.random.default_rng(0).random((height, size, 3)).astype(np.float32)
    return content, style


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--size", type=int, default=256, help="long side of the content image for the 100-step figure")
    p.add_argument("--steps", type=int, default=None, help="steps timed for that figure (default 100; quick 5)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = p.parse_args(argv)
    # The tutorial's L-BFGS runs 20 evaluations per step() call: step counts that are multiples of 20 compare evenly.
    compare_size, compare_steps, repeat = (64, 20, 1) if args.quick else (128, 40, 3)
    steps = args.steps or (5 if args.quick else 100)
    device = torch.device(args.device)
    state = vgg_features_state_dict()  # full VGG-19 widths, random weights
    with tempfile.TemporaryDirectory() as folder:
        save_file(state, str(Path(folder) / "model.safetensors"))
        st = load("style-transfer", model=folder, device=device)
    cnn = tutorial_features(state).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def tutorial(content: np.ndarray, style: np.ndarray, n: int) -> tuple[float, int]:
        start = time.perf_counter()
        content_t = torch.from_numpy(content).permute(2, 0, 1)[None].contiguous().to(device)
        style_t = torch.from_numpy(style).permute(2, 0, 1)[None].contiguous().to(device)
        _, done = run_style_transfer(cnn, content_t, style_t, content_t.clone(), num_steps=n)
        sync()
        return time.perf_counter() - start, done

    def ours(content: np.ndarray, style: np.ndarray, n: int, **options) -> tuple[float, int]:
        start = time.perf_counter()
        result = st(content, style, steps=n, tv_weight=0.0, seed=0, max_size=max(content.shape[:2]), **options)
        sync()
        return time.perf_counter() - start, result.steps

    def ours_line_search(content: np.ndarray, style: np.ndarray, n: int) -> tuple[float, int]:
        return ours(content, style, n, line_search=True)

    content, style = pictures(compare_size)
    ours(content, style, 2), tutorial(content, style, 2)  # warm-up
    runs = {"tutorial loop": tutorial, "mmhub st()": ours, "mmhub st(line_search=True)": ours_line_search}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # interleaved, so a drifting machine load hits all alike
        for name, fn in runs.items():
            seconds, done = fn(content, style, compare_steps)
            rates[name].append(done / seconds)
    reference, mine, searched = (statistics.median(r) for r in rates.values())
    torch_threads = torch.get_num_threads()
    print(f"\n## VGG-19 (random weights), {compare_size}x{compare_size * 3 // 4} px, {compare_steps} L-BFGS steps, "
          f"{device.type}, {torch_threads} torch threads")
    print(f"  {'tutorial loop (reference)':<44} {reference:8.2f} steps/s")
    print(f"  {'mmhub st()':<44} {mine:8.2f} steps/s  {mine / reference:5.2f}x reference (target >= 1.0x)")
    print(f"  {'mmhub st(line_search=True)':<44} {searched:8.2f} steps/s  {searched / reference:5.2f}x reference")

    content, style = pictures(args.size)
    seconds, done = ours(content, style, steps)
    per_100 = seconds / done * 100
    note = "" if done >= 100 else f" (extrapolated from {done} steps)"
    print(f"\n## mmhub, VGG-19 (random weights), {args.size}x{args.size * 3 // 4} px, {device.type}")
    print(f"  {per_100:.1f} s per 100 L-BFGS steps{note}")


if __name__ == "__main__":
    main()
