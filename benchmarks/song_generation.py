"""mmhub text-to-song vs diffusers' raw ``AceStepPipeline`` on the same model, prompt, lyrics, seed and length.

    python -m benchmarks.song_generation [--quick] [--device cuda] [--cpu-time]

1. The tiny twin (10 s, ACE-Step's shortest song, 8 steps): what mmhub adds around the diffusers call (validation,
   the step callback that feeds progress and stop, the lock, the result). Target: overhead <= 1.05x.
2. A random model at ACE-Step 1.5's real widths (the 2B turbo DiT's 2048 hidden / 16 heads / 128-dim heads, the
   condition encoder's, Qwen3-Embedding-0.6B's 1024 hidden, the real Oobleck VAE: 128 channels, hop 1920), two
   layers per stack instead of 24 / 8 / 4 / 28 so that it fits a shared CPU box; built in memory over the tiny
   tokenizer. Same ratio where the network, not Python, dominates; plus seconds of compute per second of song.

``--cpu-time`` times CPU seconds of this process with one torch thread: steadier than wall time on a shared machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import parser, print_table
from pipelines import load, tiny
from pipelines.song_generation import SongGenerationPipeline

PROMPT = "polish pop, female vocals, acoustic guitar"
LYRICS = "[verse]\nNad Wisłą rano świeci słońce\n[chorus]\nŚpiewaj ze mną, śpiewaj głośno"


def real_width_model(device: str) -> SongGenerationPipeline:
    """ACE-Step 1.5's widths (acestep-v15-turbo/config.json = diffusers' class defaults; the VAE's config), 2 layers
    per stack, random weights, the tiny twin's tokenizer and scheduler."""
    from diffusers import AceStepPipeline, AceStepTransformer1DModel, AutoencoderOobleck
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    twin = load("text-to-song", model="tiny", device="cpu").pipe
    torch.manual_seed(0)
    transformer = AceStepTransformer1DModel(num_hidden_layers=2, is_turbo=True, model_version="turbo")
    condition_encoder = AceStepConditionEncoder(num_lyric_encoder_hidden_layers=2, num_timbre_encoder_hidden_layers=2)
    vae = AutoencoderOobleck(encoder_hidden_size=128, downsampling_ratios=[2, 4, 4, 6, 10],
                             channel_multiples=[1, 2, 4, 8, 16], decoder_channels=128, decoder_input_channels=64,
                             audio_channels=2, sampling_rate=48000)
    text_encoder = Qwen3Model(Qwen3Config(vocab_size=len(twin.tokenizer), hidden_size=1024, intermediate_size=3072,
                                          num_hidden_layers=2, num_attention_heads=16, num_key_value_heads=8,
                                          head_dim=128, rope_theta=1000000.0, max_position_embeddings=4096))
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pipe = AceStepPipeline(vae=vae, text_encoder=text_encoder, tokenizer=twin.tokenizer, transformer=transformer,
                           condition_encoder=condition_encoder, scheduler=twin.scheduler).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return SongGenerationPipeline(pipe, "random ACE-Step 1.5 widths", torch.device(device), dtype)


def compare(fns: dict[str, Callable[[], Any]], repeat: int, clock: Callable[[], float]) -> list[tuple[str, float]]:
    """`benchmarks.common.compare` (one warm-up, round-robin, median) on the clock given."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return [(name, statistics.median(t)) for name, t in times.items()]


def run(song: SongGenerationPipeline, seconds: float, repeat: int, title: str,
        clock: Callable[[], float] = time.perf_counter) -> float:
    def raw() -> None:
        with torch.inference_mode():
            song.pipe(prompt=PROMPT, lyrics=LYRICS, audio_duration=seconds, vocal_language="pl",
                      generator=torch.Generator("cpu").manual_seed(0), output_type="np")

    def ours() -> None:
        song(PROMPT, lyrics=LYRICS, duration=seconds, language="pl", seed=0)

    def ours_progress() -> None:
        song(PROMPT, lyrics=LYRICS, duration=seconds, language="pl", seed=0, progress=lambda step, total, info: None)

    rows = compare({"raw AceStepPipeline(...)": raw, "mmhub song(...)": ours,
                    "mmhub song(..., progress=fn)": ours_progress}, repeat, clock)
    print_table(title, rows, baseline="raw AceStepPipeline(...)")
    ratio = rows[1][1] / rows[0][1]
    print(f"  mmhub overhead {ratio:.3f}x (target <= 1.05x); {rows[1][1] / seconds:.3f} s of compute per second "
          f"of song")
    return ratio


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--cpu-time", action="store_true", help="CPU seconds of this process, one torch thread")
    args = p.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    if args.cpu_time:
        torch.set_num_threads(1)
    unit = "CPU time, 1 thread" if args.cpu_time else "wall time"
    tiny.build("text-to-song")
    song = load("text-to-song", model="tiny", device=args.device)
    song.pipe.set_progress_bar_config(disable=True)
    run(song, 10.0, 3 if args.quick else 15, f"tiny ACE-Step twin, 10 s, 8 steps, {args.device}, {unit}", clock)
    run(real_width_model(args.device), 10.0, 1 if args.quick else 3,
        f"ACE-Step 1.5 widths (random, 2 layers per stack), 10 s, 8 steps, {args.device}, {unit}", clock)


if __name__ == "__main__":
    main()
