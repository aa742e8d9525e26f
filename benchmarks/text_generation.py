"""mmhub text generation vs a direct `model.generate` on the same model, prompt and settings.

    python -m benchmarks.text_generation [--quick]

A GPT-2-small geometry (124M parameters, random weights: realistic compute, no download) generates greedily;
mmhub's overhead is the ratio of the two medians (target <= 1.05x). Also: time to the first streamed chunk,
and 8 prompts batched vs one by one.
"""

from __future__ import annotations

import tempfile

import torch
from transformers import AutoModelForCausalLM, GPT2Config

from benchmarks.common import compare, parser, print_table
from pipelines import load
from pipelines.tiny import byte_level_tokenizer

PROMPT = "Dawno, dawno temu, za siedmioma górami i siedmioma lasami, żył sobie"


def build_gpt2_small(folder: str) -> None:
    torch.manual_seed(0)
    tok = byte_level_tokenizer(eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    # Every token but EOS is equally likely to come: keep generation to its full length in both runs.
    config = GPT2Config(vocab_size=len(tok), bos_token_id=eos, eos_token_id=eos)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    new_tokens, repeat = (8, 2) if args.quick else (32, 5)
    with tempfile.TemporaryDirectory() as folder:
        build_gpt2_small(folder)
        gen = load("text-generation", model=folder, device="cpu")
        model, tok = gen.model, gen.tokenizer
        inputs = tok(PROMPT, return_tensors="pt")
        settings = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False,
                    "pad_token_id": tok.pad_token_id}

        def raw() -> None:
            with torch.inference_mode():
                model.generate(**inputs, **settings)

        def ours() -> None:
            gen(PROMPT, max_new_tokens=new_tokens, temperature=0)

        def first_chunk() -> None:
            stream = gen(PROMPT, max_new_tokens=new_tokens, temperature=0, stream=True)
            next(stream)
            stream.close()

        prompts = [PROMPT[: 20 + 6 * i] for i in range(8)]
        rows = compare({"raw model.generate": raw, "mmhub gen()": ours,
                        "mmhub gen(stream=True): first chunk": first_chunk}, repeat)
        print_table(f"GPT-2 small geometry, {new_tokens} new tokens, greedy", rows, baseline="raw model.generate")
        batch_rows = compare({
            "8 prompts one by one": lambda: [gen(p, max_new_tokens=new_tokens, temperature=0) for p in prompts],
            "8 prompts in one batched call": lambda: gen(prompts, max_new_tokens=new_tokens, temperature=0),
        }, max(1, repeat // 2))
        print_table("batching", batch_rows, baseline="8 prompts one by one")


if __name__ == "__main__":
    main()
