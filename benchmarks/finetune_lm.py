"""finetune.lm vs a plain TRL script on the same model and data; packing vs padding in tokens per second.

    python -m benchmarks.finetune_lm            # GPT-2 geometry (12 x 768): meant for a GPU, slow on CPU
    python -m benchmarks.finetune_lm --quick    # a 4 x 256 GPT-2: a CPU run of a few minutes

Overhead: the same randomly initialised GPT-2-family model (saved to a folder with a byte-level BPE tokenizer trained
on the corpus), the same text file (one example per line, log-normal lengths, median ~40 tokens), the same
SFTConfig (batch, steps, max length, precision, evaluation and checkpoints every N steps, no gradient
checkpointing). The plain script is the flow of TRL's ``trl/scripts/sft.py``: ``load_dataset("text")``, the same
held-out split, ``SFTTrainer(model=path, ...)``, ``train()``, ``save_model()``, plus one final ``evaluate()`` (which
finetune.lm reports). finetune.lm runs its whole path (argument and data checks, run folders, checkpoints, the final
evaluation, model card, training curve, run info, atomic publish) with ``--no-eval-before``. Wall time of each,
alternated, ``--repeats`` times; medians and the ratio (target <= 1.05x).

Packing: finetune.lm with ``--packing`` (TRL's BFD packing, padding-free: the batch is one flattened sequence whose
attention stays within each example) and with ``--packing-strategy wrapped`` (fixed rows that cut across examples)
against padded batches, one epoch over the same lines: real (non-padding) tokens per second of ``train()``.
Padding-free attention is cheap with FlashAttention on a GPU; with PyTorch's SDPA on CPU the block-diagonal mask of
the flattened batch is materialised, which eats much of the gain.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import parser

#: Time the overhead runs in CPU seconds of this process (`--cpu-time`): steadier than wall time on a shared machine.
CPU_TIME = False

SYLLABLES = ["ka", "no", "wie", "prze", "sta", "ło", "rzy", "ją", "cie", "dzi", "mi", "ko", "szcz", "ęść", "pol",
             "ska", "wa", "rze", "go", "ży"]


def polish_like_lines(n: int, seed: int = 0) -> list[str]:
    """`n` lines of Polish-looking words, log-normal lengths (median ~25 words), the short-example regime."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = max(3, min(300, int(rng.lognormvariate(3.2, 0.7))))
        lines.append(" ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
                              for _ in range(words)).capitalize() + ".")
    return lines


def build_model(folder: Path, corpus: Path, layers: int, hidden: int, positions: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train([str(corpus)], trainers.BpeTrainer(vocab_size=4000, special_tokens=["<|endoftext|>"],
                                                 show_progress=False,
                                                 initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", model_max_length=positions)
    torch.manual_seed(0)
    eos = fast.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(vocab_size=len(fast), n_positions=positions, n_embd=hidden, n_layer=layers,
                        n_head=max(1, hidden // 64), bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)


def sft_settings(output: Path, batch: int, steps: int, max_length: int, bf16: bool, save_steps: int) -> dict:
    """The SFTConfig both runs share (finetune.lm sets the same through its flags)."""
    return dict(output_dir=str(output), per_device_train_batch_size=batch, per_device_eval_batch_size=batch,
                learning_rate=2e-5, warmup_steps=0.03, lr_scheduler_type="linear", max_steps=steps,
                eval_strategy="steps", eval_steps=save_steps, save_strategy="steps", save_steps=save_steps,
                save_total_limit=2, logging_steps=10, seed=42, data_seed=42, gradient_checkpointing=False,
                max_length=max_length, report_to="none", bf16=bf16, fp16=False, dataloader_num_workers=0,
                disable_tqdm=True)


def plain_trl(model: Path, text: Path, work: Path, batch: int, steps: int, max_length: int, bf16: bool,
              save_steps: int, validation: int) -> float:
    """Seconds for TRL's sft.py flow on the same data and settings."""
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    start = time.process_time() if CPU_TIME else time.perf_counter()
    data = load_dataset("text", data_files=str(text), cache_dir=str(work / "cache"))["train"]
    split = data.filter(lambda row: bool(row["text"].strip())).train_test_split(test_size=validation, seed=42)
    trainer = SFTTrainer(model=str(model), args=SFTConfig(**sft_settings(work / "plain", batch, steps, max_length,
                                                                          bf16, save_steps)),
                         train_dataset=split["train"], eval_dataset=split["test"])
    trainer.train()
    trainer.save_model(str(work / "plain-final"))
    trainer.evaluate()
    return (time.process_time() if CPU_TIME else time.perf_counter()) - start


def mmhub_argv(model: Path, text: Path, output: Path, batch: int, steps: int, max_length: int, bf16: bool,
               save_steps: int, validation: int, *extra: str) -> list[str]:
    return ["--model", str(model), "--train-file", str(text), "--output-dir", str(output), "--cache-dir",
            str(output.parent / "cache"), "--batch-size", str(batch), "--max-steps", str(steps), "--max-length",
            str(max_length), "--learning-rate", "2e-5", "--eval-steps", str(save_steps), "--save-steps",
            str(save_steps), "--logging-steps", "10", "--validation-size", str(validation), "--max-eval-samples",
            str(validation), "--early-stopping-patience", "0", "--no-gradient-checkpointing", "--no-eval-before",
            "--precision", "bf16" if bf16 else "fp32", "--dataloader-num-workers", "0", *extra]


def mmhub(argv: list[str]) -> tuple[float, dict]:
    from finetune.lm import main, make_parser

    start = time.process_time() if CPU_TIME else time.perf_counter()
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    metrics = main(args)
    return (time.process_time() if CPU_TIME else time.perf_counter()) - start, metrics


def real_tokens(model: Path, text: Path, work: Path, max_length: int, validation: int) -> int:
    """Non-padding tokens of one epoch over finetune.lm's training split: each line plus its EOS, truncated at
    `max_length` (as TRL prepares them)."""
    from transformers import AutoTokenizer

    from finetune.lm_data import load_lm_data

    lines = load_lm_data(train_file=str(text), validation_size=validation, seed=42,
                         cache_dir=str(work / "count-cache")).train["text"]
    lines = list(lines)
    tokenizer = AutoTokenizer.from_pretrained(model)
    return sum(min(len(ids) + 1, max_length) for ids in tokenizer(lines)["input_ids"])


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=None, help="runs per method (default 3; quick 3)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per overhead run (default 200; quick 60)")
    p.add_argument("--only", choices=("all", "overhead", "packing"), default="all", help="run one part only")
    p.add_argument("--cpu-time", action="store_true",
                   help="overhead in CPU seconds of this process instead of wall time (for a loaded machine)")
    args = p.parse_args(argv)
    global CPU_TIME
    CPU_TIME = args.cpu_time
    quick = args.quick
    layers, hidden, max_length = (4, 256, 128) if quick else (12, 768, 512)
    repeats = args.repeats or 3
    steps = args.steps or (60 if quick else 200)
    batch, validation, save_steps = 8, 64, max(10, steps // 3)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    lines = polish_like_lines(600 if quick else 8000)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        text = work / "corpus.txt"
        text.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = work / "model"
        build_model(model, text, layers, hidden, max_length)
        print(f"\n## GPT-2 {layers} x {hidden}, batch {batch}, max length {max_length}, {device} "
              f"{'bf16' if bf16 else 'fp32'}; {len(lines)} lines")

        if args.only in ("all", "overhead"):
            plain_trl(model, text, work / "warm-p", batch, 4, max_length, bf16, 2, validation)  # imports, caches
            mmhub(mmhub_argv(model, text, work / "warm-m" / "out", batch, 4, max_length, bf16, 2, validation))
            plain, ours = [], []
            for run in range(repeats):  # alternated, so that a drifting machine load hits both alike
                plain.append(plain_trl(model, text, work / f"p{run}", batch, steps, max_length, bf16, save_steps,
                                       validation))
                ours.append(mmhub(mmhub_argv(model, text, work / f"m{run}" / "out", batch, steps, max_length, bf16,
                                             save_steps, validation))[0])
            a, b = statistics.median(plain), statistics.median(ours)
            unit = "CPU seconds of the process" if CPU_TIME else "wall seconds"
            print(f"\n## Overhead: {steps} steps, end to end ({unit}, median of {repeats}, after a warm-up run)")
            print(f"  {'plain TRL script (sft.py flow + evaluate)':<48} {a:8.2f} s")
            print(f"  {'python -m finetune.lm (--no-eval-before)':<48} {b:8.2f} s   {b / a:5.3f}x plain "
                  f"(target <= 1.05x)")
            print(f"  runs: plain {[round(x, 1) for x in plain]}, finetune.lm {[round(x, 1) for x in ours]}")

        if args.only in ("all", "packing"):
            tokens = real_tokens(model, text, work, max_length, validation)
            kinds = {"padding": (), "packing": ("--packing",),
                     "wrapped": ("--packing", "--packing-strategy", "wrapped")}
            rates: dict[str, list[float]] = {name: [] for name in kinds}
            for run in range(repeats):
                for name, extra in kinds.items():
                    argv = mmhub_argv(model, text, work / f"{name}{run}" / "out", batch, -1, max_length, bf16,
                                      10**6, validation, "--num-train-epochs", "1", *extra)
                    _, metrics = mmhub(argv)
                    runtime = next(e["train_runtime"] for e in metrics["log_history"] if "train_runtime" in e)
                    rates[name].append(tokens / runtime)
            pad = statistics.median(rates["padding"])
            print(f"\n## Packing: one epoch, {tokens:,} real tokens (per second of train(), median of {repeats})")
            for name, label in (("padding", "padded batches"), ("packing", "--packing (BFD, padding-free)"),
                                ("wrapped", "--packing-strategy wrapped (crosses examples)")):
                rate = statistics.median(rates[name])
                print(f"  {label:<48} {rate:10,.0f} tokens/s   {rate / pad:5.2f}x padding")


if __name__ == "__main__":
    main()
