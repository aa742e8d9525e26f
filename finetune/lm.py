"""Fine-tune a language model (GPT-2, Bielik, any causal LM) with TRL's SFTTrainer: full, LoRA or QLoRA, resumably.

Two modes, picked from the data: continued pre-training on plain text (the loss on every token), and supervised
fine-tuning on chats (a ``messages`` column in the model's chat template; the loss on the assistant turns only) or
prompt/completion pairs (the loss on the completion). The output folder loads as ``load("text-generation",
model=DIR)`` (a LoRA adapter on its base, or merged with ``--merge``), runs in ``python -m eval --model DIR`` and
appears in the Chat tab.

Commands (run from the repository root)::

    # GPT-2 learns Polish: continued pre-training on a text file (one example per line; .gz / .bz2 streamed)
    python -m finetune.lm --model openai-community/gpt2 --train-file korpus.txt.gz --output-dir runs/gpt2-pl \\
        --packing --max-length 512 --max-steps 2000

    # Bielik follows your instructions: LoRA on a chat / prompt-completion / Alpaca dataset, on one GPU
    python -m finetune.lm --model speakleash/Bielik-1.5B-v3.0-Instruct \\
        --dataset s3nh/alpaca-dolly-instruction-only-polish --lora --output-dir runs/bielik-pl-lora --max-steps 1000
    python -m finetune.lm ... --resume                               # after a crash or a kill: same arguments
    python -m eval --compare speakleash/Bielik-1.5B-v3.0-Instruct runs/bielik-pl-lora   # did it help Polish?

    # QLoRA (4-bit base, bitsandbytes, CUDA only); several GPUs; the adapter merged into plain weights
    python -m finetune.lm --model speakleash/Bielik-11B-v2.6-Instruct --dataset DATASET --qlora --output-dir runs/b11
    accelerate launch -m finetune.lm --model speakleash/Bielik-4.5B-v3.0-Instruct --dataset DATASET --lora --merge \\
        --output-dir runs/b45

    # offline test run on the tiny random chat model
    python -m finetune.lm --model tiny-chat --train-file chats.jsonl --output-dir /tmp/tiny-lm --max-steps 20 \\
        --validation-size 8

Checkpoints go to ``<output-dir>.partial/checkpoints`` every ``--save-steps``; the finished folder (model or
adapter, tokenizer, README.md card, metrics.json with the validation loss and perplexity before and after,
training_curve.png, mmhub_run.json) is assembled there and moved to ``<output-dir>`` only when complete.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.data import DataError
from finetune.holdout import check_fraction, fraction_field
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

DEFAULT_MODEL = "openai-community/gpt2"  # the registry's text-generation default: CPU-friendly
TASK = "text-generation"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir",
                "dataloader_num_workers", "eval_batch_size", "eval_before", "merge"}
_BASELINE = "baseline.json"  # the validation loss before training, kept in the work folder across --resume


@dataclass
class LMArguments:
    """Everything `python -m finetune.lm` takes; each field is a flag (``--max-samples`` = ``--max_samples``).

    Args:
        output_dir (`str`): the folder to create (model or adapter, tokenizer, card, metrics, curve).
        model (`str`, defaults to ``"openai-community/gpt2"``): any causal LM: a Hub id, a local folder, or
            ``"tiny"`` / ``"tiny-chat"`` (tiny random models of `pipelines.tiny`, for offline tests).
        dataset (`str`, *optional*): a Hub dataset id or local dataset folder (``train`` split, and ``validation``
            if it has one).
        train_file (`str`, *optional*): a local ``.txt`` or ``.jsonl`` file (``.gz`` / ``.bz2`` too); replaces
            `dataset`.
        lora / qlora (`bool`): train a LoRA adapter (on a 4-bit base with `qlora`) instead of all weights.
    """

    output_dir: str = field(metadata={"help": "Folder to create with the model (or LoRA adapter), tokenizer, "
                                              "README.md card, metrics.json, training_curve.png."})
    # model
    model: str = field(default=DEFAULT_MODEL, metadata={
        "help": "Causal LM to start from: a Hub id, a local folder, or 'tiny' / 'tiny-chat' (tiny random models, "
                "offline, for tests). Default: GPT-2 (124M, CPU-friendly)."})
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit)."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow the model repository's own code."})
    # data
    dataset: str | None = field(default=None, metadata={"help": "Hub dataset id (or a local dataset folder)."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset revision."})
    train_file: str | None = field(default=None, metadata={
        "help": "Local .txt (one example per line) or .jsonl file, plain, .gz or .bz2; replaces --dataset."})
    validation_file: str | None = field(default=None, metadata={"help": "Local validation file (same kind)."})
    data_format: str = field(default="auto", metadata={
        "help": "auto (from the columns: messages -> chat; prompt + completion or instruction + output -> "
                "prompt-completion; text -> text), text, chat or prompt-completion."})
    text_column: str | None = field(default=None, metadata={"help": "Plain-text column (default 'text')."})
    messages_column: str | None = field(default=None, metadata={"help": "Chat column (default 'messages')."})
    prompt_column: str | None = field(default=None, metadata={"help": "Prompt column (default 'prompt')."})
    completion_column: str | None = field(default=None, metadata={"help": "Completion column "
                                                                          "(default 'completion')."})
    chat_format: str = field(default="auto", metadata={
        "help": "Prompt/completion strings: auto (as a user/assistant chat when the model has a chat template), "
                "chat, or plain (concatenated text). TRL trains string pairs as plain text; mmhub renders them with "
                "the chat template a chat model is served with."})
    assistant_only_loss: bool = field(default=True, metadata={
        "help": "Chats: the loss on the assistant turns only (--no-assistant-only-loss: on every token, TRL's "
                "default). On by default: the prompts are given at serving time, the replies are what is learnt."})
    max_length: int = field(default=1024, metadata={
        "help": "Truncate (or, with --packing, pack) to this many tokens (TRL's 1024); clamped to the model's "
                "positions (GPT-2: 1024), said once in the log."})
    packing: bool = field(default=False, metadata={
        "help": "Pack short examples into --max-length blocks (fewer padding tokens; attention stays within each "
                "example)."})
    packing_strategy: str = field(default="bfd", metadata={
        "help": "TRL's packing: bfd (best-fit decreasing, keeps examples whole), bfd_split or wrapped."})
    max_samples: int | None = field(default=None, metadata={"help": "Use at most this many training examples "
                                                                    "(smoke runs)."})
    max_eval_samples: int | None = field(default=1000, metadata={
        "help": "Evaluate on at most this many validation examples (a seeded random subset)."})
    validation_size: int = field(default=1000, metadata={
        "help": "At most this many examples held out for validation when the data has no validation split (TRL "
                "holds none out: it evaluates only on an eval set you pass)."})
    validation_fraction: float = fraction_field()
    cache_dir: str | None = field(default=None, metadata={"help": "datasets' cache folder."})
    # training
    seed: int = field(default=42, metadata={"help": "Random seed (LoRA init, data order, dropout)."})
    learning_rate: float | None = field(default=None, metadata={
        "help": "Peak learning rate (default 2e-5, TRL's; 2e-4 with --lora / --qlora: about 10x, as TRL's LoRA "
                "guide and the QLoRA recipe use, where TRL keeps 2e-5)."})
    batch_size: int = field(default=8, metadata={"help": "Training batch size per device."})
    eval_batch_size: int | None = field(default=None, metadata={"help": "Evaluation batch size (default: the "
                                                                        "training one)."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    num_train_epochs: float = field(default=1.0, metadata={
        "help": "Epochs (ignored when --max-steps > 0). 1, not TRL's 3: instruction sets are small and a second "
                "pass mostly memorises them; early stopping on the held-out loss ends a longer run when it stops "
                "helping."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs)."})
    warmup_ratio: float = field(default=0.03, metadata={
        "help": "Linear warm-up, as a fraction of all steps (TRL: none; 0.03 as the Alpaca and QLoRA recipes)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    gradient_checkpointing: bool = field(default=True, metadata={
        "help": "Recompute activations in the backward pass: far less memory, ~30 %% slower "
                "(--no-gradient-checkpointing to turn off). TRL's default."})
    eval_steps: int = field(default=200, metadata={
        "help": "Evaluate (loss, perplexity) every N steps (TRL: no evaluation unless asked)."})
    save_steps: int = field(default=200, metadata={"help": "Checkpoint every N steps (a multiple of --eval-steps)."})
    save_total_limit: int = field(default=2, metadata={
        "help": "Keep at most this many checkpoints (+ the best); TRL keeps all of them."})
    logging_steps: int = field(default=10, metadata={"help": "Log the training loss every N steps."})
    early_stopping_patience: int = field(default=3, metadata={
        "help": "Stop after this many evaluations without a lower validation loss, and keep the best checkpoint "
                "(0: train to the end, keep the last, as TRL does)."})
    eval_before: bool = field(default=True, metadata={
        "help": "Evaluate the base model first, so the card shows the perplexity before and after."})
    precision: str = field(default="auto", metadata={
        "help": "auto (bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16."})
    dataloader_num_workers: int | None = field(default=None, metadata={
        "help": "DataLoader worker processes (default: 2 with a GPU, 0 on CPU)."})
    # LoRA
    lora: bool = field(default=False, metadata={"help": "Train a LoRA adapter (peft) instead of all weights."})
    qlora: bool = field(default=False, metadata={
        "help": "QLoRA: a LoRA adapter on the base model loaded in 4 bits (bitsandbytes NF4; CUDA GPU only)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (the update is scaled by alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str | None = field(default=None, metadata={
        "help": "Comma-separated module names to adapt, or 'all-linear' (default: peft's choice for the "
                "architecture, e.g. q_proj,v_proj)."})
    merge: bool = field(default=False, metadata={
        "help": "Save the LoRA merged into full weights (a plain model) instead of the adapter."})
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
        from pipelines import validate
        from pipelines.errors import InputError

        flag = flag_name  # errors name the flag
        for name, low, high in (("batch_size", 1, 4096), ("gradient_accumulation_steps", 1, 4096),
                                ("eval_steps", 1, 10**9), ("save_steps", 1, 10**9), ("logging_steps", 1, 10**9),
                                ("save_total_limit", 1, 1000), ("max_length", 8, 2**20),
                                ("validation_size", 1, 10**9), ("early_stopping_patience", 0, 1000),
                                ("lora_r", 1, 4096), ("lora_alpha", 1, 65536), ("seed", 0, 2**32 - 1)):
            validate.integer(flag(name), getattr(self, name), low=low, high=high)
        if self.max_steps != -1:  # 0 would mean "by epochs" to the Trainer (it counts max_steps > 0 only)
            validate.integer("--max-steps", self.max_steps, low=1, high=10**9, hint="Or -1: train for the epochs.")
        for name in ("max_samples", "max_eval_samples", "eval_batch_size", "dataloader_num_workers"):
            validate.optional_integer(flag(name), getattr(self, name), low=0 if "workers" in name else 1, high=10**9)
        validate.number("--num-train-epochs", self.num_train_epochs, low=0, high=10_000, low_open=True)
        validate.number("--warmup-ratio", self.warmup_ratio, low=0, high=1, high_open=True)
        validate.number("--weight-decay", self.weight_decay, low=0, high=1)
        validate.number("--lora-dropout", self.lora_dropout, low=0, high=1, high_open=True)
        validate.optional_number("--learning-rate", self.learning_rate, low=0, high=1, low_open=True)
        try:
            validate.choice(flag("data_format"), self.data_format, ("auto", "text", "chat", "prompt-completion"))
            validate.choice(flag("chat_format"), self.chat_format, ("auto", "chat", "plain"))
            validate.choice(flag("packing_strategy"), self.packing_strategy, ("bfd", "bfd_split", "wrapped"))
            validate.choice(flag("precision"), self.precision, ("auto", "fp32", "fp16", "bf16"))
            validate.text(flag("model"), self.model)
        except InputError as err:
            raise UsageError(str(err)) from None
        check_fraction(self.validation_fraction)
        if self.merge and not (self.lora or self.qlora):
            raise UsageError("--merge merges a LoRA adapter: it goes with --lora or --qlora.")
        if self.lora_target_modules is not None and not self.lora_target_modules.strip(", "):
            raise UsageError("--lora-target-modules is empty; name modules (q_proj,v_proj) or pass all-linear.")
        if self.early_stopping_patience > 0 and self.save_steps % self.eval_steps:
            raise UsageError(f"--save-steps ({self.save_steps}) must be a multiple of --eval-steps "
                             f"({self.eval_steps}) so that the best checkpoint can be kept (or pass "
                             f"--early-stopping-patience 0).")

    @property
    def uses_lora(self) -> bool:
        return self.lora or self.qlora


def make_parser():
    """The `HfArgumentParser` of `LMArguments` (``--help`` lists every flag with its help text)."""
    from transformers import HfArgumentParser

    return HfArgumentParser(LMArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# model and data


def check_hardware(args: LMArguments) -> dict[str, bool]:
    """The fp16 / bf16 flags; `UsageError` naming the fix for QLoRA without a CUDA GPU or without bitsandbytes."""
    import importlib.util

    import torch

    if args.qlora:
        if not torch.cuda.is_available():
            raise UsageError("--qlora loads the base model in 4 bits with bitsandbytes, which needs a CUDA GPU; "
                             "on this machine use --lora (a LoRA adapter on the full-precision model).")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UsageError("--qlora needs bitsandbytes: pip install bitsandbytes (or use --lora).")
    return precision_flags(args.precision)


def load_tokenizer(args: LMArguments, model_path: str):
    from transformers import AutoTokenizer

    from pipelines.base import translating_load_errors

    with translating_load_errors(args.model, TASK):
        return AutoTokenizer.from_pretrained(model_path, revision=args.model_revision,
                                             trust_remote_code=args.trust_remote_code)


def load_model(args: LMArguments, model_path: str, flags: dict[str, bool]):
    """The causal LM: fp32 for full fine-tuning (mixed precision autocasts), half precision under LoRA on a GPU
    (the frozen base; peft keeps the adapter in fp32), 4-bit NF4 under QLoRA."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from pipelines.base import check_architecture, translating_load_errors
    from pipelines.text_generation import CAUSAL_LM_SUFFIXES

    half = torch.bfloat16 if flags["bf16"] else torch.float16 if flags["fp16"] else None
    kwargs: dict[str, Any] = {"revision": args.model_revision, "trust_remote_code": args.trust_remote_code,
                              "dtype": half if (args.uses_lora and half is not None) else torch.float32}
    if args.qlora:
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        # The QLoRA recipe (Dettmers et al. 2023; peft / TRL docs): NF4 weights, double quantisation, compute in
        # the training precision.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=half or torch.float16)
        kwargs["device_map"] = {"": PartialState().local_process_index}
    with translating_load_errors(args.model, TASK):
        config = AutoConfig.from_pretrained(model_path, revision=args.model_revision,
                                            trust_remote_code=args.trust_remote_code)
        check_architecture(config, args.model, TASK, CAUSAL_LM_SUFFIXES)
        return AutoModelForCausalLM.from_pretrained(model_path, **kwargs)


def lora_config(args: LMArguments):
    from peft import LoraConfig

    targets: Any = None
    if args.lora_target_modules:
        targets = args.lora_target_modules.strip()
        if targets != "all-linear":
            targets = [m.strip() for m in targets.split(",") if m.strip()]
    return LoraConfig(task_type="CAUSAL_LM", r=args.lora_r, lora_alpha=args.lora_alpha,
                      lora_dropout=args.lora_dropout, target_modules=targets)


def prepare_data(data, tokenizer, args: LMArguments) -> tuple[Any, Any, str, bool]:
    """``(train, validation, loss_on, trl_assistant_only_loss)``: chats tokenised with assistant masks when the
    template lacks generation markers (`finetune.chat_masks`); prompt/completion strings as chats for chat models."""
    from finetune import chat_masks, lm_data

    train, validation, kind = data.train, data.validation, data.kind
    if kind == "prompt-completion" and lm_data.is_string_pairs(train):
        has_template = bool(chat_masks.template_of(tokenizer))
        if args.chat_format == "chat" and not has_template:
            raise DataError(f"--chat-format chat: {args.model} has no chat template; use --chat-format plain.")
        if args.chat_format == "chat" or (args.chat_format == "auto" and has_template):
            logger.info("prompt/completion pairs formatted as user/assistant chats with %s's chat template",
                        args.model)
            train, validation = lm_data.as_chat(train), lm_data.as_chat(validation)
    if kind != "chat":
        return train, validation, kind, False
    if not args.assistant_only_loss:
        if not chat_masks.template_of(tokenizer):
            raise DataError(f"{args.model} has no chat template to format the chats with.")
        return train, validation, "chat-all", False
    strategy = chat_masks.assistant_strategy(tokenizer)
    logger.info("assistant-only loss: %s", {"markers": "the template's {% generation %} markers (TRL)",
                                            "trl-template": "TRL's marked copy of this template",
                                            "prefix": "spans found with the model's own template"}[strategy])
    if strategy != "prefix":
        return train, validation, "chat", True
    return (chat_masks.tokenize_chats(train, tokenizer, "train"),
            chat_masks.tokenize_chats(validation, tokenizer, "validation"), "chat", False)


def effective_max_length(requested: int, config: Any, tokenizer: Any, model_name: str) -> int:
    """`requested` (``--max-length``), clamped to the model's positions, said once in the log.

    A sequence longer than the position table indexes past it inside the embeddings (GPT-2's ``wpe``: "IndexError:
    index out of range in self", mid-training, on the first long line); TRL truncates (or packs) to ``max_length``,
    so clamping it is enough. The limit is the one the text-generation pipeline serves with
    (``max_position_embeddings`` / ``n_positions`` / ..., `pipelines.text_generation`), as `finetune.sentiment` clamps
    to `pipelines.sentiment.max_input_length`.
    """
    from pipelines.text_generation import _context_length

    limit = _context_length(config, tokenizer)
    if requested > limit:
        logger.warning("--max-length %d is more than %s takes (%d positions): examples are truncated (or packed) to "
                       "%d tokens.", requested, model_name, limit, limit)
        return limit
    return requested


def sft_config(args: LMArguments, folders: RunFolders, flags: dict[str, bool], assistant_only_loss: bool,
               max_length: int | None = None):
    """TRL's `SFTConfig` for this run (`max_length`: the clamped ``--max-length``, `effective_max_length`)."""
    import torch
    from trl import SFTConfig

    workers = args.dataloader_num_workers
    if workers is None:
        workers = 2 if torch.cuda.is_available() else 0
    early = args.early_stopping_patience > 0
    return SFTConfig(
        output_dir=str(folders.checkpoints),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size or args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate or (2e-4 if args.uses_lora else 2e-5),
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,  # a float below 1 is a fraction of the steps (transformers 5)
        lr_scheduler_type="linear",
        num_train_epochs=args.num_train_epochs,
        max_steps=args.max_steps,
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=args.logging_steps,
        logging_first_step=True,
        seed=args.seed,
        data_seed=args.seed,
        gradient_checkpointing=args.gradient_checkpointing,
        max_length=max_length or args.max_length,
        packing=args.packing,
        packing_strategy=args.packing_strategy,
        assistant_only_loss=assistant_only_loss,
        dataloader_num_workers=workers,
        logging_nan_inf_filter=False,  # its per-step NaN check makes the CPU wait for the GPU at every step
        restore_callback_states_from_checkpoint=True,  # --resume restores early stopping's patience count too
        report_to="none",
        **flags,
    )


# ----------------------------------------------------------------------------------------------------------------
# main


def main(args: LMArguments) -> dict[str, Any]:
    """Fine-tune, evaluate, and write the output folder; returns the metrics written to ``metrics.json``."""
    from accelerate import PartialState

    started = time.perf_counter()
    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite,
                          lambda folders, resume_from: _run(args, folders, resume_from, PartialState(), started),
                          args=args)


def _run(args: LMArguments, folders: RunFolders, resume_from: str | None, state, started: float) -> dict[str, Any]:
    from transformers import EarlyStoppingCallback, set_seed
    from trl import SFTTrainer

    from finetune.lm_data import load_lm_data

    set_seed(args.seed)
    flags = check_hardware(args)
    model_path = resolve_model(TASK, args.model)
    data_args = {k: getattr(args, k) for k in (
        "dataset", "dataset_config", "dataset_revision", "train_file", "validation_file", "data_format",
        "text_column", "messages_column", "prompt_column", "completion_column", "max_samples", "max_eval_samples",
        "validation_size", "validation_fraction", "seed", "cache_dir")}
    with state.main_process_first():
        data = load_lm_data(**data_args)
    tokenizer = load_tokenizer(args, model_path)
    with state.main_process_first():
        train, validation, loss_on, trl_assistant_only = prepare_data(data, tokenizer, args)
    model = load_model(args, model_path, flags)
    max_length = effective_max_length(args.max_length, model.config, tokenizer, args.model)
    peft_config = lora_config(args) if args.uses_lora else None
    if peft_config is not None:
        check_lora_targets(model, peft_config.target_modules)
    callbacks = [EarlyStoppingCallback(args.early_stopping_patience)] if args.early_stopping_patience > 0 else []
    trainer = SFTTrainer(model=model, args=sft_config(args, folders, flags, trl_assistant_only, max_length),
                         train_dataset=train, eval_dataset=validation, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    if args.uses_lora:
        trainable, total = trainer.model.get_nb_trainable_parameters()
        logger.info("LoRA: training %d of %d parameters (%.2f %%)", trainable, total, 100 * trainable / total)
    baseline = _baseline(trainer, folders, resume_from, args.eval_before, state)
    logger.info("Training %s on %s (%s, %d examples)%s", args.model, data.source, loss_on, len(train),
                f", resuming from {resume_from}" if resume_from else "")
    with resume_hint(folders):
        trainer.train(resume_from_checkpoint=resume_from)
    trainer.remove_callback(EarlyStoppingCallback)  # the final evaluation is a report, not a training signal
    validation_metrics = _evaluate(trainer)
    metrics: dict[str, Any] = {
        "base_model": args.model,
        "base_revision": args.model_revision,
        "mode": loss_on,
        "loss_on": loss_on,
        "prompt_format": prompt_format(loss_on, train),
        "lora": args.uses_lora,
        "adapter": args.uses_lora and not args.merge,
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        "final_train_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None),
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "best_step": (checkpoint_step(trainer.state.best_model_checkpoint)
                      if trainer.args.load_best_model_at_end else None),
        "validation_before": baseline,
        "validation": validation_metrics,
        "data": {
            "source": data.source,
            "hub_dataset": None if args.train_file or (args.dataset and Path(args.dataset).exists()) else args.dataset,
            "kind": data.kind,
            "columns": data.columns,
            "train_samples": len(data.train),
            "validation_source": data.validation_source,
            "validation_samples": len(data.validation),
        },
        "log_history": trainer.state.log_history,
    }
    if trainer.is_world_process_zero():
        hyperparameters = card_hyperparameters(args, _RESUME_FREE)
        hyperparameters.update(learning_rate=trainer.args.learning_rate, max_steps=trainer.args.max_steps,
                               fp16=trainer.args.fp16, bf16=trainer.args.bf16, max_length=max_length)
        _save(trainer, tokenizer, folders.staging, args, model_path)
        from finetune.cards import lm_card
        from finetune.catalog import write_run_info

        write_report(folders.staging, metrics, lm_card(metrics, hyperparameters, repo_id=args.hub_model_id),
                     trainer.state.log_history, title=f"{Path(args.model).name} on {Path(data.source).name}")
        write_run_info(folders.staging, task=TASK, trainer="finetune.lm", base_model=args.model,
                       base_revision=args.model_revision, adapter=metrics["adapter"], mode=loss_on,
                       prompt_format=metrics["prompt_format"], max_length=max_length,
                       validation=validation_metrics, validation_before=baseline)
        publish_and_push(folders, args, f"Fine-tuned {args.model} with mmhub finetune.lm")
    state.wait_for_everyone()
    return metrics


def prompt_format(loss_on: str, train: Any) -> str:
    """``"chat"`` when the model learnt from chats rendered with its chat template (chats, or prompt/completion
    pairs turned into user/assistant chats): serve it chat messages (``gen([{"role": "user", ...}])``), which the
    pipeline renders with the same saved template; ``"plain"`` when it learnt from plain text (serve strings)."""
    from finetune import lm_data

    if loss_on in ("chat", "chat-all"):
        return "chat"
    if loss_on == "prompt-completion" and not lm_data.is_string_pairs(train):
        return "chat"
    return "plain"


def _evaluate(trainer) -> dict[str, Any]:
    raw = trainer.evaluate()
    timing = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")
    out = {k.removeprefix("eval_"): v for k, v in raw.items()
           if k.startswith("eval_") and k.removeprefix("eval_") not in timing}
    out["perplexity"] = math.exp(min(out["loss"], 700.0))  # exp of the mean per-token NLL
    out["samples"] = len(trainer.eval_dataset)
    return out


def _baseline(trainer, folders: RunFolders, resume_from: str | None, enabled: bool, state) -> dict[str, Any] | None:
    """The validation loss and perplexity of the model before training (kept across --resume)."""
    path = folders.work / _BASELINE
    if resume_from is not None and path.exists():
        return json.loads(path.read_text())
    if not enabled:
        return None
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # its DataLoader draws a seed: training stays the same without it
        baseline = _evaluate(trainer)
    logger.info("before training: validation loss %.4f, perplexity %.2f", baseline["loss"], baseline["perplexity"])
    if state.is_main_process:
        path.write_text(json.dumps(baseline))
    return baseline


def _save(trainer, tokenizer, staging: Path, args: LMArguments, model_path: str) -> None:
    """The adapter (on its base), the merged model, or the full model; and the tokenizer."""
    if staging.exists():
        shutil.rmtree(staging)
    model = trainer.model
    if args.uses_lora and args.merge:
        model = _merged(model, staging, args, model_path)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def _merged(peft_model, staging: Path, args: LMArguments, model_path: str):
    """The LoRA merged into full weights. A QLoRA adapter is merged into the base reloaded in half / full
    precision (merging into 4-bit weights would round the update away)."""
    if not args.qlora:
        return peft_model.merge_and_unload()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = staging.with_name("adapter-to-merge")
    peft_model.save_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(model_path, revision=args.model_revision, dtype=torch.bfloat16,
                                                trust_remote_code=args.trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    shutil.rmtree(adapter, ignore_errors=True)
    return merged


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    """One line: what was trained, how far, the perplexity before and after, where it is."""
    after = metrics["validation"]
    before = metrics.get("validation_before")
    change = f"{before['perplexity']:.2f} -> {after['perplexity']:.2f}" if before else f"{after['perplexity']:.2f}"
    kind = "LoRA adapter" if metrics["adapter"] else "model"
    return (f"Fine-tuned {metrics['base_model']} ({metrics['loss_on']}) on {metrics['data']['train_samples']} "
            f"examples, {metrics['global_step']} steps in {metrics['train_runtime_s']:.1f} s: validation loss "
            f"{after['loss']:.4f}, perplexity {change} -> {kind} in {output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; clean one-line errors for bad data or folders."""
    return cli_main(argv, LMArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(DataError,))


if __name__ == "__main__":
    sys.exit(cli())
