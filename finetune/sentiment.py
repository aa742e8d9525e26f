"""Fine-tune a sentiment classifier on Amazon reviews (a Hub dataset or the Kaggle fastText files), resumably.

The result loads straight into the sentiment pipeline: ``load("sentiment", model="runs/amazon")``.

Commands (run from the repository root)::

    # smoke run on CPU, a few minutes: 2000 reviews streamed from the Hub
    python -m finetune.sentiment --output-dir runs/smoke --streaming --max-samples 2000 --validation-size 200 \\
        --max-eval-samples 200 --eval-steps 20 --save-steps 20 --model distilbert/distilbert-base-multilingual-cased

    # the Kaggle download (fastText format, .bz2 as downloaded; streamed line by line, never all in memory)
    python -m finetune.sentiment --train-file data/train.ft.txt.bz2 --test-file data/test.ft.txt.bz2 \\
        --output-dir runs/amazon-kaggle

    # the Hub dataset, full run on one GPU (bf16 / fp16 are chosen automatically), then after a crash or a kill:
    python -m finetune.sentiment --dataset fancyzhx/amazon_polarity --output-dir runs/amazon
    python -m finetune.sentiment --dataset fancyzhx/amazon_polarity --output-dir runs/amazon --resume

    # several GPUs (accelerate underneath the Trainer)
    accelerate launch -m finetune.sentiment --dataset fancyzhx/amazon_polarity --output-dir runs/amazon

    # 5-star reviews folded to 3 classes (1-2 negative, 3 neutral, 4-5 positive); a LoRA adapter instead of all weights
    python -m finetune.sentiment --dataset Yelp/yelp_review_full --output-dir runs/yelp3 --lora
    python -m finetune.sentiment --dataset mteb/amazon_reviews_multi --dataset-config en --label-scheme stars0 \\
        --output-dir runs/amazon-stars

    # offline test run on the tiny random model
    python -m finetune.sentiment --model tiny --train-file reviews.ft.txt --output-dir /tmp/tiny-run \\
        --max-steps 30 --validation-size 50

Checkpoints go to ``<output-dir>.partial/checkpoints`` every ``--save-steps``; the finished folder (model, tokenizer,
label mapping, README.md model card, metrics.json, training_curve.png) is assembled there and moved to
``<output-dir>`` only when complete, so a killed run never leaves a half-written output folder.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.data import SCHEMES, DataError, SentimentData, load_sentiment_data
from finetune.holdout import DEFAULT_FRACTION
from finetune.run import (
    RunFolders,
    UsageError,
    card_hyperparameters,
    check_lora_targets,
    checkpoint_step,
    cli_main,
    flag_name,
    precision_flags,
    publish_and_push,
    recorded_arguments,
    resolve_model,
    resume_hint,
    run_in_folders,
    write_report,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "FacebookAI/xlm-roberta-base"
METRIC_FOR_BEST = "macro_f1"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir",
                "dataloader_num_workers", "eval_batch_size", "preprocessing_num_workers"}


@dataclass
class FinetuneArguments:
    """Everything `python -m finetune.sentiment` takes; each field is a flag (``--max-samples`` = ``--max_samples``).

    Args:
        output_dir (`str`): the folder to create (model, tokenizer, README.md, metrics.json, training_curve.png).
        model (`str`, defaults to ``"FacebookAI/xlm-roberta-base"``): any sequence-classification checkpoint, a
            local folder, or ``"tiny"`` (the tiny random model of `pipelines.tiny`, for offline tests).
        dataset (`str`, defaults to ``"fancyzhx/amazon_polarity"``): a Hub dataset id or a local dataset folder.
        train_file (`str`, *optional*): a fastText-format file (``__label__2 Title: text``), plain or ``.bz2``;
            replaces `dataset`.
    """

    output_dir: str = field(metadata={"help": "Folder to create with the fine-tuned model, tokenizer, README.md model "
                                              "card, metrics.json and training_curve.png."})
    # model
    model: str = field(default=DEFAULT_MODEL, metadata={
        "help": "Sequence-classification checkpoint to start from: a Hub id, a local folder, or 'tiny' (a tiny random "
                "model, offline, for tests). Default: XLM-RoBERTa base (multilingual, Polish included, MIT)."})
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit)."})
    max_length: int = field(default=256, metadata={
        "help": "Truncate reviews to this many tokens. [1 to 65536; clamped to what the model's position table "
                "takes]"})
    # data
    dataset: str = field(default="fancyzhx/amazon_polarity", metadata={
        "help": "Hub dataset id (or local dataset folder). Ignored when --train-file is given."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration, e.g. 'en'."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset revision."})
    train_file: str | None = field(default=None, metadata={
        "help": "fastText-format training file (Kaggle 'train.ft.txt.bz2'; plain, .bz2 or .gz); replaces --dataset."})
    validation_file: str | None = field(default=None, metadata={"help": "fastText-format validation file."})
    test_file: str | None = field(default=None, metadata={
        "help": "fastText-format test file (Kaggle 'test.ft.txt.bz2'), evaluated once at the end."})
    text_column: str | None = field(default=None, metadata={
        "help": "Hub dataset text column (default: the first of text, content, review_body, review, sentence)."})
    title_column: str | None = field(default=None, metadata={
        "help": "Hub dataset title column, joined as 'title: text' like the fastText files (default: 'title' when "
                "present; pass '' for none)."})
    label_column: str = field(default="label", metadata={"help": "Hub dataset label column."})
    label_scheme: str = field(default="auto", metadata={
        "help": "What the labels mean: auto (fastText files: fasttext; Hub: from the ClassLabel names), "
                "fasttext (__label__1/2), polarity (0/1), stars (1-5 -> 3 classes), stars0 (0-4 -> 3 classes), "
                "three (0/1/2) or names (negative/neutral/positive strings)."})
    streaming: bool = field(default=False, metadata={
        "help": "Read the training data lazily (Hub streaming, or the fastText file line by line) instead of "
                "converting it to Arrow first; needs --max-steps or --max-samples; no length grouping."})
    max_samples: int | None = field(default=None, metadata={"help": "Use at most this many training examples "
                                                                    "(smoke runs). [1 to 1e12]"})
    max_eval_samples: int | None = field(default=5000, metadata={
        "help": "Evaluate on at most this many validation (and test) examples, a seeded random subset. [1 to 1e12]"})
    validation_size: int = field(default=5000, metadata={
        "help": "At most this many examples held out from the training data for validation when the source has no "
                "validation split (a stream: exactly this many, its first). [1 to 1e9]"})
    validation_fraction: float = field(default=DEFAULT_FRACTION, metadata={
        "help": "Share of the training rows held out for validation when the source has no validation split (at "
                "most --validation-size rows). (0, 0.5]"})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets' cache folder."})
    # training
    seed: int = field(default=42, metadata={"help": "Random seed (model head, data order, dropout). [0 to 2**32 - 1]"})
    learning_rate: float | None = field(default=None, metadata={
        "help": "Peak learning rate (default 2e-5, or 2e-4 with --lora). [in (0, 1]]"})
    batch_size: int = field(default=32, metadata={"help": "Training batch size per device. [1 to 65536]"})
    eval_batch_size: int | None = field(default=None, metadata={
        "help": "Evaluation batch size (default 2x). [1 to 65536]"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step. [1 to 65536]"})
    num_train_epochs: float = field(default=1.0, metadata={
        "help": "Epochs (ignored when --max-steps > 0). [in (0, 1000]]"})
    max_steps: int = field(default=-1, metadata={
        "help": "Stop after this many optimizer steps (-1: epochs). [1 to 1e9, or -1]"})
    warmup_ratio: float = field(default=0.06, metadata={
        "help": "Linear warm-up, as a fraction of all steps. [0 to 1]"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay. [0 to 1]"})
    eval_steps: int = field(default=500, metadata={"help": "Evaluate (accuracy, macro-F1) every N steps. [1 to 1e9]"})
    save_steps: int = field(default=500, metadata={
        "help": "Checkpoint every N steps (a multiple of --eval-steps). [1 to 1e9]"})
    save_total_limit: int = field(default=2, metadata={
        "help": "Keep at most this many checkpoints (+ the best). [1 to 1000]"})
    logging_steps: int = field(default=50, metadata={"help": "Log the training loss every N steps. [1 to 1e9]"})
    early_stopping_patience: int = field(default=3, metadata={
        "help": "Stop after this many evaluations without a better macro-F1, and keep the best checkpoint "
                "(0: train to the end, keep the last). [0 to 1000]"})
    group_by_length: bool = field(default=True, metadata={
        "help": "Batch reviews of similar length together (less padding; --no-group-by-length to turn off)."})
    precision: str = field(default="auto", metadata={
        "help": "auto (bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16."})
    dataloader_num_workers: int | None = field(default=None, metadata={
        "help": "DataLoader worker processes that collate batches while the GPU computes (default: 2 with a GPU, "
                "0 on CPU). [0 to 256]"})
    preprocessing_num_workers: int | None = field(default=None, metadata={
        "help": "Processes that tokenise the (non-streamed) data in parallel (default: one). [1 to 256]"})
    # LoRA
    lora: bool = field(default=False, metadata={"help": "Train a LoRA adapter (peft) instead of all weights; it is "
                                                       "merged into the saved model."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank. [1 to 4096]"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha. [1 to 65536]"})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout. [in [0, 1)]"})
    lora_target_modules: str | None = field(default=None, metadata={
        "help": "Comma-separated module names to adapt (default: peft's choice for the architecture)."})
    # run control
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the finished folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push-to-hub "
                                                                     "(default: the output folder's name)."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        """Check every flag before anything loads: finite numbers in range, known choices, consistent combinations.

        `pipelines.validate` raises `InputError` naming the flag (``--max-steps``); the CLI prints it and exits 2.
        """
        from pipelines import validate
        from pipelines.errors import InputError

        flag = flag_name
        for name in ("output_dir", "model"):  # paths may hold undecodable bytes (surrogate escapes): only non-blank
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise InputError(flag(name), getattr(self, name), "a non-empty folder or Hub id")
        if self.label_scheme != "auto" and self.label_scheme not in SCHEMES:
            raise UsageError(f"--label-scheme must be auto or one of {', '.join(SCHEMES)}; got {self.label_scheme!r}.")
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise UsageError(f"--precision must be auto, fp32, fp16 or bf16; got {self.precision!r}.")
        for name, (low, high) in INTEGER_RANGES.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL_INTEGERS:
                continue
            if name == "max_steps" and value == -1:  # the documented sentinel: train by --num-train-epochs
                continue
            hint = {"max_steps": "Or -1 to train for --num-train-epochs.",
                    "early_stopping_patience": "0 turns early stopping off."}.get(name)
            validate.integer(flag(name), value, low=low, high=high, hint=hint)
        for name, (low, high, low_open, high_open) in NUMBER_RANGES.items():
            if getattr(self, name) is not None or name not in OPTIONAL_NUMBERS:
                validate.number(flag(name), getattr(self, name), low=low, high=high, low_open=low_open,
                                high_open=high_open)
        if self.early_stopping_patience > 0 and self.save_steps % self.eval_steps:
            raise UsageError(f"--save-steps ({self.save_steps}) must be a multiple of --eval-steps "
                             f"({self.eval_steps}) so that the best checkpoint can be kept (or pass "
                             f"--early-stopping-patience 0).")
        if self.streaming and self.max_steps <= 0 and self.max_samples is None:
            raise UsageError("--streaming needs --max-steps (or --max-samples): a stream has no length to count "
                             "epochs by.")


# Finite ranges of the numeric flags, checked in `FinetuneArguments.__post_init__` (an optional flag may be None).
_BIG = 10**12
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "max_length": (1, 65_536), "max_samples": (1, _BIG), "max_eval_samples": (1, _BIG),
    "validation_size": (1, 10**9), "seed": (0, 2**32 - 1),  # transformers' set_seed feeds numpy: below 2**32
    "batch_size": (1, 65_536), "eval_batch_size": (1, 65_536), "gradient_accumulation_steps": (1, 65_536),
    "max_steps": (1, 10**9), "eval_steps": (1, 10**9), "save_steps": (1, 10**9), "save_total_limit": (1, 1000),
    "logging_steps": (1, 10**9), "early_stopping_patience": (0, 1000), "dataloader_num_workers": (0, 256),
    "preprocessing_num_workers": (1, 256), "lora_r": (1, 4096), "lora_alpha": (1, 65_536),
}
OPTIONAL_INTEGERS = {"max_samples", "max_eval_samples", "eval_batch_size", "dataloader_num_workers",
                     "preprocessing_num_workers"}
# name -> (low, high, low_open, high_open)
NUMBER_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0.0, 1.0, True, False), "num_train_epochs": (0.0, 1000.0, True, False),
    # warmup_ratio below 1: it reaches the Trainer as warmup_steps, where 1.0 would mean one step, not all of them
    # (transformers' TrainingArguments.get_warmup_steps: a value >= 1 is a step count)
    "warmup_ratio": (0.0, 1.0, False, True), "weight_decay": (0.0, 1.0, False, False),
    "lora_dropout": (0.0, 1.0, False, True), "validation_fraction": (0.0, 0.5, True, False),
}
OPTIONAL_NUMBERS = {"learning_rate"}


def make_parser():
    """The `HfArgumentParser` of `FinetuneArguments` (``--help`` lists every flag with its help text)."""
    from transformers import HfArgumentParser

    return HfArgumentParser(FinetuneArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# model, data, trainer


def tokenize(data: SentimentData, tokenizer, max_length: int, padding: bool | str = False,
             num_proc: int | None = None) -> SentimentData:
    """Tokenise every split in batches with the fast tokenizer; adds ``length`` (tokens) for length grouping.

    Map-style splits are tokenised once into datasets' Arrow cache (a rerun or a ``--resume`` reads it back).
    """
    import datasets

    def encode(batch: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length, padding=padding)
        enc["length"] = [sum(mask) for mask in enc["attention_mask"]]
        return enc

    def run(ds, name: str):
        kwargs: dict[str, Any] = {"batched": True, "batch_size": 1000, "remove_columns": ["text"]}
        if isinstance(ds, datasets.Dataset):
            kwargs.update(desc=f"Tokenising {name}", num_proc=num_proc if num_proc and len(ds) > 10_000 else None)
        return ds.map(encode, **kwargs)

    return dataclasses.replace(data, train=run(data.train, "train"), validation=run(data.validation, "validation"),
                               test=run(data.test, "test") if data.test is not None else None)


class DropLengthCollator:
    """Dynamic padding (`DataCollatorWithPadding`) that drops the ``length`` column the length sampler reads.

    The Trainer's column pruning would drop ``length`` *before* its sampler looks for it, and the sampler would then
    measure every example again; so the Trainer keeps all columns and this collator drops the extra one.
    """

    def __init__(self, tokenizer, pad_to_multiple_of: int | None = None):
        from transformers import DataCollatorWithPadding

        self.collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return self.collator([{k: v for k, v in f.items() if k != "length"} for f in features])


def compute_metrics(eval_pred) -> dict[str, float]:
    """Accuracy and macro-F1 from the Trainer's ``(logits, labels)``."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    preds = np.asarray(logits).argmax(-1)
    return {"accuracy": float(accuracy_score(labels, preds)),
            "macro_f1": float(f1_score(labels, preds, average="macro", zero_division=0))}


def load_model(args: FinetuneArguments, model_path: str, labels: tuple[str, ...]):
    """Tokenizer and classifier with our label mapping (a new head when the class count differs); LoRA if asked."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pipelines.base import translating_load_errors

    id2label = dict(enumerate(labels))
    with translating_load_errors(args.model, "sentiment"):
        tokenizer = AutoTokenizer.from_pretrained(model_path, revision=args.model_revision)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, revision=args.model_revision, num_labels=len(labels), id2label=id2label,
            label2id={v: k for k, v in id2label.items()}, ignore_mismatched_sizes=True)
    if not getattr(tokenizer, "is_fast", False):
        logger.warning("%s has no fast tokenizer; tokenisation will be slow.", args.model)
    if tokenizer.pad_token is None:  # GPT-2-style checkpoints
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    if args.lora:
        from peft import LoraConfig, TaskType, get_peft_model

        targets = [m.strip() for m in args.lora_target_modules.split(",") if m.strip()] \
            if args.lora_target_modules else None
        check_lora_targets(model, targets)
        config = LoraConfig(task_type=TaskType.SEQ_CLS, r=args.lora_r, lora_alpha=args.lora_alpha,
                            lora_dropout=args.lora_dropout, target_modules=targets)
        try:
            model = get_peft_model(model, config)
        except ValueError as err:
            if "target_modules" not in str(err):
                raise
            raise UsageError(f"peft does not know which modules of a {model.config.model_type} model to adapt; "
                             f"name them with --lora-target-modules (e.g. q_lin,v_lin for DistilBERT).") from err
        trainable, total = model.get_nb_trainable_parameters()
        logger.info("LoRA: training %d of %d parameters (%.2f %%)", trainable, total, 100 * trainable / total)
    return tokenizer, model


def effective_max_length(requested: int, config, tokenizer, model_name: str) -> int:
    """`requested` (``--max-length``), clamped to the longest input the model takes, said once in the log.

    A review longer than the model's position table would index past it inside the embeddings ("index 130 is out
    of bounds", "index out of range in self"); `pipelines.sentiment.max_input_length` knows each family's limit.
    """
    from pipelines.sentiment import max_input_length

    limit = max_input_length(config, tokenizer)
    if requested > limit:
        logger.warning("--max-length %d is more than %s takes (%d tokens, special tokens included): reviews are "
                       "truncated to %d tokens.", requested, model_name, limit, limit)
        return limit
    return requested


def training_arguments(args: FinetuneArguments, folders: RunFolders, data: SentimentData):
    """The Trainer's `TrainingArguments` for this run."""
    from transformers import TrainingArguments

    max_steps = args.max_steps
    if data.streaming and max_steps <= 0:  # --max-samples given (checked in __post_init__): count the steps
        per_step = args.batch_size * args.gradient_accumulation_steps * max(1, int(os.environ.get("WORLD_SIZE", 1)))
        max_steps = math.ceil(args.max_samples / per_step) * math.ceil(args.num_train_epochs)
    learning_rate = args.learning_rate or (2e-4 if args.lora else 2e-5)
    workers = args.dataloader_num_workers
    if workers is None:
        import torch

        workers = 2 if torch.cuda.is_available() else 0
    early = args.early_stopping_patience > 0
    return TrainingArguments(
        output_dir=str(folders.checkpoints),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size or 2 * args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=learning_rate,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,
        lr_scheduler_type="linear",
        num_train_epochs=args.num_train_epochs,
        max_steps=max_steps,
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model=METRIC_FOR_BEST,
        greater_is_better=True,
        logging_steps=args.logging_steps,
        logging_first_step=True,
        seed=args.seed,
        data_seed=args.seed,
        train_sampling_strategy="group_by_length" if args.group_by_length and not data.streaming else "random",
        length_column_name="length",
        remove_unused_columns=False,  # DropLengthCollator drops `length` after the sampler has read it
        dataloader_num_workers=workers,
        logging_nan_inf_filter=False,  # its per-step NaN check makes the CPU wait for the GPU at every step
        restore_callback_states_from_checkpoint=True,  # --resume restores early stopping's patience count too
        report_to="none",
        **precision_flags(args.precision),
    )


def build_trainer(args: FinetuneArguments, folders: RunFolders, data: SentimentData, tokenizer, model):
    """A `transformers.Trainer` with dynamic padding, accuracy / macro-F1 and (optionally) early stopping."""
    import torch
    from transformers import EarlyStoppingCallback, Trainer

    training_args = training_arguments(args, folders, data)
    callbacks = [EarlyStoppingCallback(args.early_stopping_patience)] if args.early_stopping_patience > 0 else []
    collator = DropLengthCollator(tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None)
    return Trainer(model=model, args=training_args, train_dataset=data.train, eval_dataset=data.validation,
                   processing_class=tokenizer, data_collator=collator, compute_metrics=compute_metrics,
                   callbacks=callbacks)


# ----------------------------------------------------------------------------------------------------------------
# main


def main(args: FinetuneArguments) -> dict[str, Any]:
    """Fine-tune, evaluate, and write the output folder; returns the metrics written to ``metrics.json``."""
    from accelerate import PartialState

    started = time.perf_counter()
    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite,
                          lambda folders, resume_from: _run(args, folders, resume_from, PartialState(), started),
                          args=args)


def _run(args: FinetuneArguments, folders: RunFolders, resume_from: str | None, state, started: float):
    from transformers import EarlyStoppingCallback, set_seed

    from finetune.report import model_card

    set_seed(args.seed)
    model_path = resolve_model("sentiment", args.model)
    data_args = {k: getattr(args, k) for k in (
        "dataset", "dataset_config", "dataset_revision", "train_file", "validation_file", "test_file", "text_column",
        "title_column", "label_column", "label_scheme", "streaming", "max_samples", "max_eval_samples",
        "validation_size", "validation_fraction", "seed", "cache_dir")}
    with state.main_process_first():
        data = load_sentiment_data(**data_args)
    tokenizer, model = load_model(args, model_path, data.labels)
    max_length = effective_max_length(args.max_length, model.config, tokenizer, args.model)
    with state.main_process_first():
        data = tokenize(data, tokenizer, max_length, num_proc=args.preprocessing_num_workers)
    trainer = build_trainer(args, folders, data, tokenizer, model)
    logger.info("Training %s on %s (labels %s)%s", args.model, data.source, ", ".join(data.labels),
                f", resuming from {resume_from}" if resume_from else "")
    with resume_hint(folders):
        trainer.train(resume_from_checkpoint=resume_from)
    trainer.remove_callback(EarlyStoppingCallback)  # the final evaluations are reports, not training signals
    validation = _evaluate(trainer, data.validation, "validation")
    test = _evaluate(trainer, data.test, "test") if data.test is not None else None
    train_seconds = time.perf_counter() - started

    metrics: dict[str, Any] = {
        "base_model": args.model,
        "labels": list(data.labels),
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        "final_train_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None),
        "train_runtime_s": round(train_seconds, 2),
        "best_step": (checkpoint_step(trainer.state.best_model_checkpoint)
                      if trainer.args.load_best_model_at_end else None),
        "validation": validation,
        "test": test,
        "data": {
            "source": data.source,
            "hub_dataset": None if args.train_file or Path(args.dataset).exists() else args.dataset,
            "train_samples": None if data.streaming else len(data.train),
            "label_scheme": data.scheme.name,
            "validation_source": data.validation_source,
            "test_source": (args.test_file or f"{data.source} split 'test'") if data.test is not None else None,
        },
        "log_history": trainer.state.log_history,
    }
    if trainer.is_world_process_zero():
        source_keys = ("dataset", "dataset_config", "dataset_revision", "text_column", "title_column", "label_column")
        skip = source_keys if args.train_file else ()
        hyperparameters = card_hyperparameters(args, _RESUME_FREE, skip)
        hyperparameters.update(max_length=max_length, learning_rate=trainer.args.learning_rate,
                               max_steps=trainer.args.max_steps,
                               fp16=trainer.args.fp16, bf16=trainer.args.bf16)
        _save(trainer, tokenizer, folders.staging, args.lora, max_length)
        write_report(folders.staging, metrics, model_card(metrics, hyperparameters, repo_id=args.hub_model_id),
                     trainer.state.log_history, title=f"{Path(args.model).name} on {Path(data.source).name}")
        publish_and_push(folders, args, f"Fine-tuned {args.model} with mmhub finetune.sentiment")
    state.wait_for_everyone()
    return metrics


def _evaluate(trainer, dataset, prefix: str) -> dict[str, Any]:
    raw = trainer.evaluate(dataset, metric_key_prefix=prefix)
    out = {k[len(prefix) + 1:]: v for k, v in raw.items() if k.startswith(prefix + "_")}
    out["samples"] = len(dataset)
    return out


def _save(trainer, tokenizer, staging: Path, lora: bool, max_length: int | None = None) -> None:
    """Plain transformers weights (LoRA merged in) + tokenizer, loadable by `load("sentiment", model=...)`.

    The tokenizer is saved with ``model_max_length`` = the length the reviews were truncated to in training
    (`max_length`): transformers' own place for it (``tokenizer_config.json``), which the sentiment pipeline truncates
    to (`pipelines.sentiment.max_input_length`), so a long review is seen at serving time as it was in training and
    the pipeline reproduces ``metrics.json``.
    """
    model = trainer.model
    if lora:
        model = model.merge_and_unload()
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    if max_length is not None:
        tokenizer.model_max_length = int(max_length)
    tokenizer.save_pretrained(staging)


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    """One line: samples, time, final metrics, where the model is."""
    samples = metrics["data"]["train_samples"]
    val, test = metrics["validation"], metrics.get("test")
    line = (f"Fine-tuned {metrics['base_model']} on {samples if samples is not None else 'a stream of'} samples, "
            f"{metrics['global_step']} steps in {metrics['train_runtime_s']:.1f} s: validation accuracy "
            f"{val['accuracy']:.4f}, macro-F1 {val['macro_f1']:.4f}")
    if test:
        line += f"; test accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f}"
    return line + f" -> {output_dir}"


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; clean one-line errors for bad data or folders."""
    return cli_main(argv, FinetuneArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(DataError,), prog="python -m finetune.sentiment")


if __name__ == "__main__":
    sys.exit(cli())
