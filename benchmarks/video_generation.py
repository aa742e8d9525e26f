"""mmhub Wan text-to-video vs raw diffusers ``WanPipeline`` on the same components, prompt, seed and settings.

    python -m benchmarks.video_generation [--quick] [--device cuda]

1. The tiny twin (diffusers' dummy sizes, 9 frames of 16 px): what mmhub adds around the pipeline call
   (validation, the seeded CPU generator, the uint8 frames, the result). Target: overhead <= 1.05x.
2. A random transformer of the full Wan 2.1 T2V 1.3B geometry (30 layers, 12 heads of 128, ffn 8960, text_dim 4096:
   diffusers' ``scripts/convert_wan_to_diffusers.py``) with the full Wan 2.1 VAE (``AutoencoderKLWan()``), built in
   memory. The text encoder is a one-layer UMT5 of width 4096 instead of UMT5-XXL (24 layers, ~5.7B parameters,
   23 GB in float32), so the figure is the denoising cost. Reported: the same ratio and seconds per denoising step
   (two transformer passes with classifier-free guidance) at a small size; on ``--device cuda`` in bfloat16 with a
   float32 VAE, as mmhub loads Wan there.
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import compare, parser, print_table
from pipelines import load, tiny
from pipelines.video_generation import TextToVideoPipeline

PROMPT = "a red fox trotting through fresh snow, cinematic"


def full_size_pipeline(device: str) -> TextToVideoPipeline:
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128,
                                        in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
                                        num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        eps=1e-6)
    vae = AutoencoderKLWan()
    tok = tiny.t5_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=4096, d_kv=64, d_ff=10240,
                                               num_layers=1, num_heads=64)).eval()
    if dtype != torch.float32:  # the VAE stays in float32
        transformer, text_encoder = transformer.to(dtype), text_encoder.to(dtype)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    pipeline = TextToVideoPipeline(pipe, "random Wan2.1-T2V-1.3B", torch.device(device), dtype)
    pipeline._place(cpu_offload=False, vae_tiling=False, vae_slicing=False)
    return pipeline


def run(video: TextToVideoPipeline, settings: dict, repeat: int, title: str) -> list[tuple[str, float]]:
    from diffusers import WanPipeline

    raw_pipe = WanPipeline(**video.pipe.components)  # the same modules, a plain diffusers pipeline
    raw_pipe.set_progress_bar_config(disable=True)

    from pipelines.video_generation import DEFAULT_NEGATIVE_PROMPT

    def raw() -> None:  # the same work: mmhub passes Wan's default negative prompt when none is given
        raw_pipe(prompt=PROMPT, negative_prompt=DEFAULT_NEGATIVE_PROMPT, generator=torch.Generator().manual_seed(0),
                 **settings)

    def ours() -> None:
        video(PROMPT, seed=0, **settings)

    rows = compare({"raw diffusers WanPipeline(...)": raw, "mmhub video(...)": ours}, repeat=repeat)
    print_table(title, rows, baseline="raw diffusers WanPipeline(...)")
    print(f"  mmhub overhead {rows[1][1] / rows[0][1]:.3f}x (target <= 1.05x)")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args(argv)
    video = load("text-to-video", model="tiny", device=args.device)
    steps = 4 if args.quick else 10
    settings = {"num_frames": 9, "height": 16, "width": 16, "num_inference_steps": steps, "guidance_scale": 5.0}
    run(video, settings, 3 if args.quick else 15, f"tiny Wan, 9 x 16 x 16, {steps} steps, CFG on, {args.device}")

    full = full_size_pipeline(args.device)
    size = (64, 64, 5) if args.device == "cpu" else (480, 832, 17)
    settings = {"height": size[0], "width": size[1], "num_frames": size[2], "guidance_scale": 5.0}
    rows = run(full, {**settings, "num_inference_steps": 1}, 2 if args.quick else 3,
               f"random Wan2.1-1.3B geometry, {size[2]} x {size[0]} x {size[1]}, 1 step, {args.device}")
    # seconds per denoising step: the difference between a 3-step and a 1-step call (the decode cancels out)
    start = time.perf_counter()
    full(PROMPT, seed=0, num_inference_steps=3, **settings)
    per_step = (time.perf_counter() - start - rows[1][1]) / 2
    print(f"  {per_step:.2f} s per denoising step (CFG: 2 transformer passes) at {size[2]} x {size[0]} x {size[1]}")


if __name__ == "__main__":
    main()
