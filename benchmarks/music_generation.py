"""mmhub MusicGen vs raw transformers (processor + ``generate``) on the same model, prompt, seed and length.

    python -m benchmarks.music_generation [--quick] [--device cuda]

1. The tiny twin (one 1 s window): what mmhub adds around ``generate`` (validation, the step hook that records the
   codes and feeds progress, the result object). Target: overhead <= 1.05x.
2. A random model of the full ``facebook/musicgen-small`` geometry (T5-base text encoder, a 24-layer 1024-wide
   decoder over 4 codebooks of 2048: transformers' ``convert_musicgen_transformers.py``; EnCodec at 32 kHz / 50 Hz,
   its other sizes EncodecConfig's defaults), built in memory: the same ratio where the decoder dominates, and the
   real-time factor (seconds of compute per second of music; < 1 is faster than real time). On ``--device cuda``
   the model runs in float16, as mmhub loads it there.
"""

from __future__ import annotations

import torch

from benchmarks.common import compare, parser, print_table
from pipelines import load, tiny
from pipelines.music_generation import MusicGenerationPipeline

PROMPT = "lo-fi hip hop with a mellow piano"


def full_size_model(device: str):
    """A randomly initialised MusicGen with musicgen-small's geometry and a processor over the tiny tokenizer."""
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    torch.manual_seed(0)
    text = T5Config(vocab_size=32128, d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_heads=12)
    codec = EncodecConfig(sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
                          codebook_size=2048, use_causal_conv=False, normalize=False)
    decoder = MusicgenDecoderConfig(hidden_size=1024, ffn_dim=4096, num_hidden_layers=24, tie_word_embeddings=False,
                                    pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048)
    model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
                                                            decoder=decoder.to_dict()))
    tiny_music = load("text-to-music", model="tiny", device="cpu")
    model.generation_config = tiny_music.model.generation_config
    model.generation_config.max_length = 1500  # the facebook checkpoints' window
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = model.to(device, dtype).eval()
    return MusicGenerationPipeline(model, tiny_music.processor, tiny_music.tokenizer, None, "random musicgen-small",
                                   torch.device(device), dtype)


def run(music: MusicGenerationPipeline, seconds: float, repeat: int, title: str) -> float:
    frames = round(seconds * music.frame_rate)
    inputs = music.processor(text=[PROMPT], padding=True, return_tensors="pt").to(music.device)

    def raw() -> None:
        torch.manual_seed(0)
        with torch.inference_mode():
            music.model.generate(**inputs, max_new_tokens=frames + 3)

    def ours() -> None:
        music(PROMPT, duration=seconds, seed=0)

    def ours_progress() -> None:
        music(PROMPT, duration=seconds, seed=0, progress=lambda step, total, info: None)

    rows = compare({"raw processor + generate": raw, "mmhub music(...)": ours,
                    "mmhub music(..., progress=fn)": ours_progress}, repeat=repeat)
    print_table(title, rows, baseline="raw processor + generate")
    ratio = rows[1][1] / rows[0][1]
    print(f"  mmhub overhead {ratio:.3f}x (target <= 1.05x); real-time factor {rows[1][1] / seconds:.2f} "
          f"(compute seconds per second of music)")
    return ratio


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args(argv)
    tiny.build("text-to-music")
    music = load("text-to-music", model="tiny", device=args.device)
    run(music, 1.0, 3 if args.quick else 15, f"tiny MusicGen, 1 s (one window), CFG 3, {args.device}")
    seconds = 0.5 if args.quick else 2.0
    run(full_size_model(args.device), seconds, 2 if args.quick else 3,
        f"random musicgen-small geometry, {seconds:g} s, CFG 3, {args.device}")


if __name__ == "__main__":
    main()
