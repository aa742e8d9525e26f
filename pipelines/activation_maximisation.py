"""Activation maximisation: gradient ascent on the pixels until a trained digit CNN is sure it sees a class.

The lecture's "inverted training": keep the weights, change the picture so that the chosen output (or any neuron
of any layer) grows, and watch the class probability climb from about 0.1 to 1.00. Unregularised, the ascent finds
adversarial noise; the three classic regularisers keep it a digit-like pattern (Yosinski et al. 2015, "Understanding
Neural Networks Through Deep Visualization": L2 decay, Gaussian blur every few steps; Mordvintsev et al. 2015,
"Inceptionism" / Olah et al. 2017 "Feature Visualization": random jitter of the picture at every step).

>>> from pipelines import load
>>> am = load("activation-maximisation")                 # the digit CNN of local:digit-recognition, or model="tiny"
>>> result = am(3, steps=200, seed=0)                     # class 3
>>> round(result.history[0][3], 2), round(result.history[-1][3], 2)
(0.1, 1.0)
>>> result.image.save("three.png"); result.save_gif("three.gif")
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipelines import validate
from pipelines.base import Pipeline, ProgressCallback, Result, report_progress
from pipelines.digit_recognition import LAYERS, TRAIN_COMMAND, DigitCNN
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

TASK = "activation-maximisation"
#: Layers whose neurons can be maximised (the input is what is being optimised).
TARGET_LAYERS = LAYERS[1:]
MAX_STEPS = 5000

# `pipelines.base.ProgressCallback` here:
# ``progress(step, total, info)`` after each step; ``info``: ``{"probability": float (of the chosen class, or of
# the most probable one for a hidden neuron), "activation": float, "image": PIL.Image | None}`` (the picture at
# each recorded frame). Return ``False`` to stop early (the result says ``interrupted``).


@dataclasses.dataclass
class ActivationMaximisationResult(Result):
    """The optimised picture, the climb, and frames to animate it.

    Attributes:
        image (`PIL.Image.Image`): the final 28x28 picture (mode ``L``, white on black as MNIST).
        pixels (`np.ndarray`): the same picture as ``(28, 28)`` float32 in [0, 1].
        history (`list[list[float]]`): the network's 10 output probabilities at step 0 (the start) and after every
            step: ``history[s][c]`` is class c's probability after s steps.
        activation (`list[float]`): the maximised quantity at each of those steps (the class's log-probability, or
            the neuron's mean activation).
        frames (`list[PIL.Image.Image]`): the picture at `frame_steps`, for an animation (`save_gif`).
        frame_steps (`list[int]`): the step of each frame (0 and the last included).
        target, layer (`int`, `str`): what was maximised; ``layer == "output"`` means class `target`.
        steps, seed (`int`): steps done and the seed of the start noise and the jitter.
        interrupted (`bool`): the progress callback stopped the run early.
    """

    image: Any
    pixels: np.ndarray
    history: list[list[float]]
    activation: list[float]
    frames: list[Any]
    frame_steps: list[int]
    target: int
    layer: str
    steps: int
    seed: int
    interrupted: bool = False

    def save_gif(self, path: str | Path, scale: int = 8, duration_ms: int = 80) -> Path:
        """Write the frames as an animated GIF, each pixel `scale` x `scale` (nearest neighbour)."""
        from PIL import Image

        frames = [f.resize((28 * scale, 28 * scale), Image.Resampling.NEAREST) for f in self.frames]
        path = Path(path)
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
        return path


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur ``(B, 1, H, W)`` with a Gaussian of `sigma` pixels (a separable kernel, reflected borders)."""
    radius = max(1, int(round(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    padded = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(padded, kernel.view(1, 1, -1, 1))


def _picture(pixels: torch.Tensor) -> Any:
    from PIL import Image

    array = (pixels.detach().clamp(0, 1).cpu().numpy().reshape(28, 28) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array, mode="L")


class ActivationMaximisationPipeline(Pipeline):
    """Optimise a 28x28 picture so that a trained digit CNN's chosen class (or neuron) responds as much as it can.

    >>> from pipelines import load
    >>> am = load("activation-maximisation", model="runs/digits")
    >>> am(5, layer="conv2", steps=100, seed=1).image       # what excites feature map 5 of the second convolution
    """

    task = TASK

    def __init__(self, model: DigitCNN, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.model = model.requires_grad_(False)
        self.shapes = model.layer_shapes()

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> ActivationMaximisationPipeline:
        """The digit CNN (see `pipelines.digit_recognition.DigitRecognitionPipeline.from_pretrained`)."""
        from pipelines import lab

        if dtype not in (None, "float32", torch.float32, "auto"):
            raise InputError("dtype", dtype, "float32 (or None) for this small network")
        net = lab.load_module(DigitCNN, model, task=cls.task, train_command=TRAIN_COMMAND, device=device,
                              revision=revision)
        return cls(net, model, net.fc3.weight.device, torch.float32)

    def neurons(self, layer: str) -> int:
        """How many targets `layer` has: its channels (conv / pool) or units (fully connected, output)."""
        return self.shapes[layer][0]

    def __call__(self, target: int = 0, layer: str = "output", steps: int = 200, seed: int | None = None,
                 learning_rate: float = 0.01, jitter: int = 1, blur_sigma: float = 0.5, blur_every: int = 4,
                 l2: float = 1.0, num_frames: int = 20, progress: ProgressCallback | None = None
                 ) -> ActivationMaximisationResult:
        """Gradient ascent on the pixels (Adam), with jitter, blur and L2 decay keeping the result digit-like.

        Args:
            target (`int`, defaults to 0): the class 0-9 when ``layer="output"``; else the channel (conv / pool) or
                unit (fc) index in `layer`.
            layer (`str`, defaults to ``"output"``): one of conv1, pool1, conv2, pool2, fc1, fc2, output. For the
                output the objective is the class's log-probability (it can only rise by taking probability from the
                others); for a hidden layer, the neuron's mean activation.
            steps (`int`, defaults to 200): 1 to 5000.
            seed (`int`, *optional*): the start noise and the jitter; default a random one, reported.
            learning_rate (`float`, defaults to 0.01): Adam's step on pixels in [0, 1]; in (0, 1].
            jitter (`int`, defaults to 1): shift the picture by up to this many pixels (random, each step) before
                the forward pass, 0 to 4: features must survive small moves.
            blur_sigma (`float`, defaults to 0.5): the Gaussian blur's width in pixels, 0 to 3 (0: no blur).
            blur_every (`int`, defaults to 4): blur the picture every this many steps, 1 to 1000.
            l2 (`float`, defaults to 1.0): weight of the mean squared pixel value subtracted from the objective,
                0 to 10: keeps the background black.
            num_frames (`int`, defaults to 20): frames kept for the animation, 2 to 200 (evenly spaced).
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each step.
        """
        layer = validate.choice("layer", layer, TARGET_LAYERS)
        count = self.neurons(layer)
        what = "a class" if layer == "output" else f"a neuron index of layer {layer!r}"
        target = validate.integer("target", target, low=0, high=count - 1, hint=f"({what})")
        steps = validate.integer("steps", steps, low=1, high=MAX_STEPS)
        seed = validate.seed(seed)
        learning_rate = validate.number("learning_rate", learning_rate, low=0, high=1, low_open=True)
        jitter = validate.integer("jitter", jitter, low=0, high=4)
        blur_sigma = validate.number("blur_sigma", blur_sigma, low=0, high=3)
        blur_every = validate.integer("blur_every", blur_every, low=1, high=1000)
        l2 = validate.number("l2", l2, low=0, high=10)
        num_frames = validate.integer("num_frames", num_frames, low=2, high=200)
        progress = validate.callback("progress", progress, "progress(step, total, info)")

        generator = torch.Generator().manual_seed(seed)
        start = 0.1 + 0.1 * torch.rand(1, 1, 28, 28, generator=generator)  # dim grey noise: no class favoured yet
        pixels = start.to(self.device).requires_grad_(True)
        optimizer = torch.optim.Adam([pixels], lr=learning_rate)
        frame_at = {round(i * steps / (num_frames - 1)) for i in range(num_frames)}
        history: list[list[float]] = []
        activation: list[float] = []

        def measure(step: int) -> float:
            with torch.no_grad():
                seen = self.model.forward_layers(pixels)  # this call's own activations: no hooks on the shared model
            probs = seen["output"][0]
            value = self._objective(seen[layer], probs, layer, target)
            history.append([float(p) for p in probs.cpu()])
            activation.append(float(value))
            return float(probs[target] if layer == "output" else probs.max())

        measure(0)
        frames, frame_steps = [_picture(pixels)], [0]
        interrupted = False
        done = 0
        for step in range(1, steps + 1):
            shifted = pixels
            if jitter:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                shifted = torch.roll(pixels, shifts=(dy, dx), dims=(2, 3))
            seen = self.model.forward_layers(shifted)
            probs = seen["output"][0]
            loss = -self._objective(seen[layer], probs, layer, target) + l2 * pixels.pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                if blur_sigma > 0 and step % blur_every == 0:
                    pixels.copy_(gaussian_blur(pixels, blur_sigma))
                pixels.clamp_(0.0, 1.0)
            done = step
            probability = measure(step)
            image = None
            if step in frame_at:
                image = _picture(pixels)
                frames.append(image)
                frame_steps.append(step)
            if not report_progress(progress, step, steps, probability=probability, activation=activation[-1],
                                   image=image):
                interrupted = step < steps
                break
        if frame_steps[-1] != done:
            frames.append(_picture(pixels))
            frame_steps.append(done)
        final = pixels.detach().clamp(0, 1).cpu().numpy().reshape(28, 28).astype(np.float32)
        return ActivationMaximisationResult(
            image=_picture(pixels), pixels=final, history=history, activation=activation, frames=frames,
            frame_steps=frame_steps, target=target, layer=layer, steps=done, seed=seed,
            interrupted=interrupted)

    @staticmethod
    def _objective(activations: torch.Tensor, probs: torch.Tensor, layer: str, target: int) -> torch.Tensor:
        if layer == "output":
            return torch.log(probs[target].clamp_min(1e-12))
        return activations[0, target].mean()
