"""mmhub Stable Diffusion vs raw diffusers on the same tiny pipeline, prompt, seed and settings.

    python -m benchmarks.image_generation [--quick]

The tiny SD components (diffusers' dummy-components sizes, 64 px) make the denoising loop cheap, so the ratio
shows what mmhub adds around it: validation, the seeded generator, the result object, the progress callback.
Target: overhead <= 1.05x for text-to-image and image-to-image.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import compare, parser, print_table
from pipelines import load, tiny
from pipelines.image_generation import ImageToImagePipeline

PROMPT = "a watercolor fox in a snowy forest"


def main(argv: list[str] | None = None) -> None:
    from diffusers import AutoPipelineForImage2Image, StableDiffusionPipeline
    from PIL import Image

    args = parser(__doc__).parse_args(argv)
    steps, repeat = (4, 3) if args.quick else (10, 15)
    t2i = load("text-to-image", model="tiny", device="cpu")
    i2i = ImageToImagePipeline.from_pipe(t2i)
    raw = StableDiffusionPipeline.from_pretrained(tiny.build("text-to-image"))
    raw.set_progress_bar_config(disable=True)
    raw_i2i = AutoPipelineForImage2Image.from_pipe(raw)
    start = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    settings = {"num_inference_steps": steps, "guidance_scale": 7.5, "height": 64, "width": 64}

    def raw_t2i() -> None:
        raw(PROMPT, generator=torch.Generator().manual_seed(0), **settings)

    def ours_t2i() -> None:
        t2i(PROMPT, seed=0, **settings)

    def ours_t2i_progress() -> None:
        t2i(PROMPT, seed=0, progress=lambda step, total, info: None, **settings)

    rows = compare({"raw diffusers pipe(...)": raw_t2i, "mmhub t2i(...)": ours_t2i,
                    "mmhub t2i(..., progress=fn)": ours_t2i_progress}, repeat)
    print_table(f"text-to-image, tiny SD, 64x64, {steps} steps, CFG on", rows, baseline="raw diffusers pipe(...)")

    def raw_i2i_call() -> None:
        raw_i2i(PROMPT, image=start, strength=0.8, num_inference_steps=steps, guidance_scale=7.5,
                generator=torch.Generator().manual_seed(0))

    def ours_i2i() -> None:
        i2i(PROMPT, image=start, strength=0.8, num_inference_steps=steps, guidance_scale=7.5, seed=0)

    rows_i2i = compare({"raw diffusers img2img(...)": raw_i2i_call, "mmhub i2i(...)": ours_i2i}, repeat)
    print_table(f"image-to-image, tiny SD, 64x64, strength 0.8, {steps} steps", rows_i2i,
                baseline="raw diffusers img2img(...)")
    ratio_t2i, ratio_i2i = rows[1][1] / rows[0][1], rows_i2i[1][1] / rows_i2i[0][1]
    print(f"  mmhub overhead: text-to-image {ratio_t2i:.3f}x, image-to-image {ratio_i2i:.3f}x (target <= 1.05x)")


if __name__ == "__main__":
    main()
