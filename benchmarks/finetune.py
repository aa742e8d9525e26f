"""finetune.sentiment vs a naive fine-tuning script: training samples per second, and data-loader lines per second.

    python -m benchmarks.finetune            # BERT-base-sized classifier (12 x 768): meant for a GPU, slow on CPU
    python -m benchmarks.finetune --quick    # a 4 x 256 encoder: a CPU smoke run of a few minutes

Training: the same randomly initialised BERT classifier, the same synthetic reviews with Amazon-like lengths
(log-normal, median about 60 words, truncated at 256 tokens), the same batch size, optimizer and precision (fp32 on
CPU, bf16 on GPU). The naive script pads every review to 256 tokens and draws batches at random, in a plain PyTorch
loop; finetune.sentiment runs its own Trainer set-up (dynamic padding, length grouping). Each is timed over
`--steps` optimizer steps after one warm-up step, `--repeats` times, alternating; medians are printed.

Data loader: lines per second from a fastText file to token ids, through finetune.data (streamed reader,
Arrow conversion, batched fast tokenizer) against a per-line loop that tokenises one review at a time.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import parser

WORDS = [f"{a}{b}" for a in ("gre", "ter", "pro", "qua", "bat", "boo", "mus", "del", "pri", "wor", "sou", "kit")
         for b in ("at", "rible", "duct", "lity", "tery", "k", "ic", "ivery", "ce", "ks", "nd", "chen", "ly", "ed")]
MAX_LENGTH = 256


def review(rng: random.Random) -> str:
    """A synthetic review whose length follows Amazon polarity's (title + body; median ~60 words, long tail)."""
    n = max(5, min(400, int(rng.lognormvariate(4.1, 0.6))))
    words = [rng.choice(WORDS) for _ in range(n)]
    return f"{' '.join(words[:4]).capitalize()}: {' '.join(words[4:])}."


def write_reviews(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n):
            handle.write(f"__label__{rng.choice('12')} {review(rng)}\n")
    return path


def build_model(folder: Path, layers: int, hidden: int, corpus: Path) -> None:
    """A BERT classifier of the given geometry with a byte-level BPE tokenizer (8k) trained on the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"],
                                  show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(corpus)], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                   unk_token="[UNK]", model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden, pad_token_id=0,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(folder)
    fast.save_pretrained(folder)


# ----------------------------------------------------------------------------------------------------------------
# training throughput


def naive_run(folder: Path, train_file: Path, batch: int, steps: int, device: str, bf16: bool) -> tuple[float, float]:
    """(samples/s, real-token fraction) of a plain loop over reviews padded to MAX_LENGTH, random batches."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from finetune.data import read_fasttext, scheme_for

    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = list(read_fasttext(train_file, scheme_for("fasttext")))
    enc = tokenizer([r["text"] for r in rows], padding="max_length", truncation=True, max_length=MAX_LENGTH,
                    return_tensors="pt")
    labels = torch.tensor([r["label"] for r in rows])
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(folder).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    order = torch.randperm(len(rows))
    real = 0
    start = 0.0
    for step in range(steps + 1):
        if step == 1:
            _sync(device)
            start = time.perf_counter()
        idx = order[step * batch:(step + 1) * batch]
        inputs = {"input_ids": enc["input_ids"][idx], "attention_mask": enc["attention_mask"][idx],
                  "labels": labels[idx]}
        inputs = {k: v.to(device) for k, v in inputs.items()}
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            real += int(inputs["attention_mask"].sum())
    _sync(device)
    elapsed = time.perf_counter() - start
    return steps * batch / elapsed, real / (steps * batch * MAX_LENGTH)


def finetune_run(folder: Path, train_file: Path, work: Path, batch: int, steps: int,
                 bf16: bool) -> tuple[float, float]:
    """(samples/s, real-token fraction) of finetune.sentiment's own data pipeline and Trainer set-up."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

    from finetune.data import load_sentiment_data
    from finetune.sentiment import FinetuneArguments, RunFolders, build_trainer, tokenize

    args = FinetuneArguments(output_dir=str(work / "out"), model=str(folder), train_file=str(train_file),
                             batch_size=batch, max_steps=steps + 1, max_length=MAX_LENGTH, validation_size=16,
                             eval_steps=10_000, save_steps=10_000, logging_steps=10_000, early_stopping_patience=0,
                             precision="bf16" if bf16 else "fp32")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    data = load_sentiment_data(train_file=str(train_file), validation_size=16, cache_dir=str(work / "cache"))
    data = tokenize(data, tokenizer, MAX_LENGTH)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    trainer = build_trainer(args, RunFolders(work / "out"), data, tokenizer, model)
    trainer.args.disable_tqdm = True

    class Clock(TrainerCallback):
        start = end = 0.0

        def on_step_end(self, a, state, control, **kwargs):
            if state.global_step == 1:
                _sync(trainer.args.device.type)
                Clock.start = time.perf_counter()
            elif state.global_step == steps + 1:
                _sync(trainer.args.device.type)
                Clock.end = time.perf_counter()

    trainer.add_callback(Clock)
    trainer.train()
    real = padded = 0
    for i, b in enumerate(trainer.get_train_dataloader()):
        if i == steps:
            break
        real, padded = real + int(b["attention_mask"].sum()), padded + b["attention_mask"].numel()
    return steps * batch / (Clock.end - Clock.start), real / padded


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------------------------
# data-loader throughput


def loader_rates(folder: Path, train_file: Path, work: Path, repeats: int) -> dict[str, float]:
    """Median lines/s of each data-loader stage, end to end, and of a per-line tokenisation loop."""
    import bz2

    from transformers import AutoTokenizer

    from finetune.data import fasttext_dataset, load_sentiment_data, read_fasttext, scheme_for
    from finetune.sentiment import tokenize

    tokenizer = AutoTokenizer.from_pretrained(folder)
    lines = sum(1 for _ in open(train_file, encoding="utf-8"))
    compressed = train_file.with_name(train_file.name + ".bz2")
    compressed.write_bytes(bz2.compress(train_file.read_bytes()))
    scheme = scheme_for("fasttext")
    stages = ("read .txt (finetune.data.read_fasttext)", "read .bz2", "fastText -> Arrow (Dataset.from_generator)",
              "batched tokenisation (Dataset.map, fast tokenizer)", "end to end: .txt -> token ids",
              "end to end again (datasets cache, as on --resume)",
              "per-line loop, one tokenizer call per review")
    times: dict[str, list[float]] = {name: [] for name in stages}

    def timed(name: str, fn) -> None:
        start = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - start)

    def per_line() -> None:
        for row in read_fasttext(train_file, scheme):
            tokenizer(row["text"], truncation=True, max_length=MAX_LENGTH)

    for run in range(repeats):  # a fresh datasets cache each time, so nothing is read back from an earlier run
        timed(stages[0], lambda: sum(1 for _ in read_fasttext(train_file, scheme)))
        timed(stages[1], lambda: sum(1 for _ in read_fasttext(compressed, scheme)))
        timed(stages[2], lambda run=run: fasttext_dataset(train_file, scheme, cache_dir=str(work / f"a{run}")))
        data = load_sentiment_data(train_file=str(train_file), validation_size=1, cache_dir=str(work / f"b{run}"))
        timed(stages[3], lambda data=data: tokenize(data, tokenizer, MAX_LENGTH))
        timed(stages[4], lambda run=run: tokenize(load_sentiment_data(
            train_file=str(train_file), validation_size=1, cache_dir=str(work / f"c{run}")), tokenizer, MAX_LENGTH))
        timed(stages[5], lambda run=run: tokenize(load_sentiment_data(
            train_file=str(train_file), validation_size=1, cache_dir=str(work / f"c{run}")), tokenizer, MAX_LENGTH))
        timed(stages[6], per_line)
    return {name: lines / statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=None, help="optimizer steps timed per repeat (default 20; quick 4)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per method (default 3; quick 2)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size (default 32; quick 16)")
    p.add_argument("--only", choices=("all", "loader", "training"), default="all", help="run one part only")
    args = p.parse_args(argv)
    quick = args.quick
    layers, hidden = (4, 256) if quick else (12, 768)
    steps = args.steps or (4 if quick else 20)
    repeats = args.repeats or (2 if quick else 3)
    batch = args.batch_size or (16 if quick else 32)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    lines = 2000 if quick else 20_000

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train_file = write_reviews(work / "reviews.ft.txt", max(lines, (steps + 2) * batch + 16))
        folder = work / "model"
        build_model(folder, layers, hidden, train_file)

        if args.only in ("all", "loader"):
            rates = loader_rates(folder, train_file, work, repeats)
            print(f"\n## Data loader: {lines} fastText lines (lines per second, median of {repeats})")
            base = rates["per-line loop, one tokenizer call per review"]
            for name, rate in rates.items():
                print(f"  {name:<52} {rate:12,.0f} lines/s  {rate / base:6.2f}x per-line")
        if args.only == "loader":
            return

        naive, ours = [], []
        for run in range(repeats):
            naive.append(naive_run(folder, train_file, batch, steps, device, bf16))
            ours.append(finetune_run(folder, train_file, work / f"run{run}", batch, steps, bf16))
        naive_sps = statistics.median(r[0] for r in naive)
        ours_sps = statistics.median(r[0] for r in ours)
        precision = "bf16" if bf16 else "fp32"
        print(f"\n## Training: BERT {layers} x {hidden}, batch {batch}, {steps} steps x {repeats} repeats, {device} "
              f"{precision} (samples per second, median)")
        print(f"  {'naive: pad to 256, random batches':<48} {naive_sps:10.1f} samples/s  real tokens "
              f"{100 * statistics.median(r[1] for r in naive):5.1f} %")
        print(f"  {'finetune.sentiment: dynamic padding + length groups':<48} {ours_sps:10.1f} samples/s  real tokens "
              f"{100 * statistics.median(r[1] for r in ours):5.1f} %")
        print(f"  speed-up: {ours_sps / naive_sps:.2f}x (target >= 1.5x)")


if __name__ == "__main__":
    main()
