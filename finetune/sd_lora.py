"""Teach Stable Diffusion your own object: DreamBooth-style LoRA on a folder of 5-30 images, resumably.

The training step is diffusers' ``examples/dreambooth/train_dreambooth_lora.py``: LoRA on the UNet's attention
projections (peft ``LoraConfig`` + ``unet.add_adapter``, target modules ``to_k, to_q, to_v, to_out.0, add_k_proj,
add_v_proj``, Gaussian init, alpha = rank), VAE latents scaled by ``vae.config.scaling_factor``, noise added at a
uniformly drawn timestep by the model's ``DDPMScheduler``, MSE between the UNet's prediction and the scheduler's
target (the noise for ``epsilon``, ``get_velocity`` for ``v_prediction``), optional prior preservation (class images
of the same kind, their loss weighted by ``--prior-loss-weight``), AdamW (weight decay 1e-2), gradient clipping at 1.
The output is saved with ``StableDiffusionPipeline.save_lora_weights`` in diffusers' format, so it loads with
diffusers' ``load_lora_weights`` as well as with ``load("text-to-image", lora=DIR)``.

Differences from the example, all of them speed or bookkeeping: the prompt embeddings are computed once (the text
encoder is frozen; the example's ``--pre_compute_text_embeddings``), and each step draws its crop, noise and
timesteps from a generator seeded with (seed, step), so a run resumed after a kill retraces the uninterrupted one.

Commands (run from the repository root)::

    # sd-turbo (the default; 512 px), 500 steps on one GPU
    python -m finetune.sd_lora --instance-dir photos/mug --instance-prompt "a photo of sks mug" --output-dir runs/mug

    # SD 1.5 with prior preservation (100 class images are generated into --class-dir first if missing)
    python -m finetune.sd_lora --model stable-diffusion-v1-5/stable-diffusion-v1-5 --instance-dir photos/mug \\
        --instance-prompt "a photo of sks mug" --prior-preservation --class-dir photos/mugs \\
        --class-prompt "a photo of a mug" --output-dir runs/mug15
    python -m finetune.sd_lora ... --resume    # after a crash or a kill: same arguments, same number of processes

    # use it
    python -c 'from pipelines import load; load("text-to-image", lora="runs/mug")("a sks mug on the moon").images[0]'

    # offline test run on the tiny random model (64 px)
    python -m finetune.sd_lora --model tiny --instance-dir imgs --instance-prompt "a sks mug" --output-dir /tmp/m \\
        --max-steps 20

Checkpoints (the LoRA weights, optimizer and scheduler state) go to ``<output-dir>.partial/checkpoints`` every
``--save-steps``; preview images of ``--sample-prompt`` every ``--sample-every`` steps. The finished folder
(``pytorch_lora_weights.safetensors``, README.md, metrics.json, training_curve.png, samples/, mmhub_run.json) is
moved to ``<output-dir>`` only when complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.data import DataError
from finetune.run import (
    RunFolders,
    UsageError,
    card_hyperparameters,
    cli_main,
    flag_name,
    publish_and_push,
    recorded_arguments,
    resolve_model,
    run_in_folders,
    write_report,
)

logger = logging.getLogger(__name__)

TASK = "text-to-image"
DEFAULT_MODEL = "stabilityai/sd-turbo"  # the registry's text-to-image default
MARKER = "mmhub_state.json"  # written last into each checkpoint: a checkpoint without it is incomplete
# diffusers' train_dreambooth_lora.py: the UNet attention projections (and the added KV projections some UNets have).
TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_v_proj"]
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "sample_every",
                "num_samples", "sample_prompt", "save_steps", "save_total_limit"}


@dataclass
class SDLoraArguments:
    """Everything `python -m finetune.sd_lora` takes; each field is a flag (``--instance-dir`` = ``--instance_dir``).

    Args:
        output_dir (`str`): the folder to create (LoRA weights, card, metrics, curve, samples).
        instance_dir (`str`): the folder of 5-30 pictures of your subject.
        instance_prompt (`str`): a prompt with a rare identifier for it, e.g. ``"a photo of sks mug"``.
        model (`str`, defaults to ``"stabilityai/sd-turbo"``): a Stable Diffusion checkpoint (sd-turbo, SD 1.5, a
            folder) or ``"tiny"``.
    """

    output_dir: str = field(metadata={"help": "Folder to create with the LoRA weights, README.md card, metrics.json, "
                                              "training_curve.png and samples/."})
    instance_dir: str = field(metadata={"help": "Folder with 5-30 pictures of the subject (.png, .jpg, .webp...)."})
    instance_prompt: str = field(metadata={"help": "Prompt naming the subject with a rare identifier, e.g. "
                                                   "'a photo of sks mug'."})
    model: str = field(default=DEFAULT_MODEL, metadata={
        "help": "Stable Diffusion checkpoint: stabilityai/sd-turbo (default), "
                "stable-diffusion-v1-5/stable-diffusion-v1-5, a local folder, or 'tiny' (offline tests)."})
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision of the model."})
    # prior preservation
    prior_preservation: bool = field(default=False, metadata={
        "help": "Also train on class images (the model's own pictures of the class) so the class keeps its look."})
    class_dir: str | None = field(default=None, metadata={
        "help": "Folder of class images; missing ones (up to --num-class-images) are generated into it first."})
    class_prompt: str | None = field(default=None, metadata={"help": "The class, e.g. 'a photo of a mug'."})
    num_class_images: int = field(default=100, metadata={"help": "Class images to use (generated if missing)."})
    prior_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the class-image loss."})
    # images
    resolution: int | None = field(default=None, metadata={
        "help": "Training size in pixels, a multiple of 8 (default: the model's own, 512 for sd-turbo and SD 1.5)."})
    center_crop: bool = field(default=False, metadata={"help": "Crop the centre of each image (default: a random "
                                                               "crop each step)."})
    # LoRA and optimisation
    rank: int = field(default=4, metadata={"help": "LoRA rank (diffusers' example default)."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default: the rank, scale 1)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate (diffusers' DreamBooth LoRA "
                                                                 "README uses 1e-4)."})
    max_steps: int = field(default=500, metadata={"help": "Optimizer steps (the README's 500)."})
    batch_size: int = field(default=1, metadata={"help": "Instance images per step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    lr_scheduler: str = field(default="constant", metadata={
        "help": "constant, constant_with_warmup, linear or cosine (diffusers' get_scheduler)."})
    warmup_steps: int = field(default=0, metadata={"help": "Learning-rate warm-up steps."})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay (the example's 1e-2)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Less memory, slower steps."})
    precision: str = field(default="auto", metadata={
        "help": "auto (fp16 on GPU, fp32 on CPU), fp32, fp16 or bf16 (the frozen weights; LoRA stays fp32)."})
    seed: int = field(default=42, metadata={"help": "Random seed (LoRA init, image order, crops, noise)."})
    # samples, checkpoints, logs
    sample_every: int = field(default=100, metadata={"help": "Draw preview images every N steps (0: only at the "
                                                             "end)."})
    sample_prompt: str | None = field(default=None, metadata={"help": "Preview prompt (default: the instance "
                                                                      "prompt)."})
    num_samples: int = field(default=2, metadata={"help": "Preview images each time (0: none)."})
    save_steps: int = field(default=100, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    logging_steps: int = field(default=10, metadata={"help": "Log the mean loss every N steps."})
    # run control
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the finished folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push-to-hub."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        from pipelines import validate
        from pipelines.errors import InputError

        flag = flag_name  # errors name the flag (--learning-rate), not the field
        try:
            for name, low, high in (("rank", 1, 1024), ("max_steps", 1, 10**8), ("batch_size", 1, 256),
                                    ("gradient_accumulation_steps", 1, 1024), ("warmup_steps", 0, 10**8),
                                    ("num_class_images", 1, 100_000), ("sample_every", 0, 10**8),
                                    ("num_samples", 0, 16), ("save_steps", 1, 10**8), ("save_total_limit", 1, 1000),
                                    ("logging_steps", 1, 10**8), ("seed", 0, 2**32 - 1)):
                validate.integer(flag(name), getattr(self, name), low=low, high=high)
            validate.optional_integer("--lora-alpha", self.lora_alpha, low=1, high=65536)
            validate.optional_integer("--resolution", self.resolution, low=8, high=2048)
            if self.resolution is not None and self.resolution % 8:
                raise UsageError(f"--resolution must be a multiple of 8; got {self.resolution}.")
            validate.number("--learning-rate", self.learning_rate, low=0, high=1, low_open=True)
            validate.number("--lora-dropout", self.lora_dropout, low=0, high=1, high_open=True)
            validate.number("--weight-decay", self.weight_decay, low=0, high=1)
            validate.number("--max-grad-norm", self.max_grad_norm, low=0, high=1e6, low_open=True)
            validate.number("--prior-loss-weight", self.prior_loss_weight, low=0, high=100)
            validate.text("--instance-prompt", self.instance_prompt, max_chars=1000)
            validate.text("--instance-dir", self.instance_dir)
            validate.text("--model", self.model)
            validate.optional_text("--sample-prompt", self.sample_prompt, allow_empty=False)
            validate.choice("--lr-scheduler", self.lr_scheduler, ("constant", "constant_with_warmup", "linear",
                                                                  "cosine"))
            validate.choice("--precision", self.precision, ("auto", "fp32", "fp16", "bf16"))
            if self.prior_preservation:
                if not self.class_dir or not self.class_prompt:
                    raise UsageError("--prior-preservation needs --class-dir (a folder; missing class images are "
                                     "generated into it) and --class-prompt (e.g. 'a photo of a mug').")
                validate.text("--class-prompt", self.class_prompt, max_chars=1000)
            elif self.class_dir or self.class_prompt:
                logger.warning("--class-dir / --class-prompt are only used with --prior-preservation")
        except InputError as err:
            raise UsageError(str(err)) from None


def make_parser():
    """The `HfArgumentParser` of `SDLoraArguments` (``--help`` lists every flag with its help text)."""
    from transformers import HfArgumentParser

    return HfArgumentParser(SDLoraArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# model


def load_pipeline(args: SDLoraArguments, model_path: str, device: Any):
    """The Stable Diffusion pipeline whose components are trained (UNet) and kept frozen (VAE, text encoder)."""
    from diffusers import StableDiffusionPipeline

    from pipelines.base import translating_load_errors
    from pipelines.errors import ModelLoadError

    with translating_load_errors(args.model, TASK):
        pipe = StableDiffusionPipeline.from_pretrained(model_path, revision=args.model_revision,
                                                       safety_checker=None, requires_safety_checker=False,
                                                       use_safetensors=True)
    if getattr(pipe, "unet", None) is None or getattr(pipe, "vae", None) is None:
        raise ModelLoadError(args.model, "wrong_task", "not a Stable Diffusion (UNet + VAE) checkpoint.")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def weight_dtype(precision: str, device: Any):
    import torch

    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type != "cuda":
        raise UsageError(f"--precision {precision} needs a CUDA GPU; use fp32 or bf16 on CPU.")
    return torch.float16


def add_lora(unet, args: SDLoraArguments) -> list:
    """The example's LoRA on the UNet; returns the trainable (fp32) parameters."""
    import torch
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.lora_alpha or args.rank, lora_dropout=args.lora_dropout,
                                init_lora_weights="gaussian", target_modules=TARGET_MODULES))
    cast_training_params(unet, dtype=torch.float32)  # the example does this for fp16; fp32 LoRA is right for all
    return [p for p in unet.parameters() if p.requires_grad]


def make_lr_scheduler(args: SDLoraArguments, optimizer, num_processes: int):
    """diffusers' ``get_scheduler`` with its lengths counted in scheduler steps, for `num_processes` processes.

    accelerate's prepared scheduler (``AcceleratedScheduler.step``, accelerate/scheduler.py) steps the wrapped one
    ``num_processes`` times per optimizer step (unless ``split_batches``), so, as diffusers' training examples do
    (train_text_to_image_lora.py, PR #8312), the warm-up and the total are multiplied by the number of processes:
    the learning rate then follows the same curve over ``--max-steps`` optimizer steps on 1 process or on N.
    """
    from diffusers.optimization import get_scheduler

    return get_scheduler(args.lr_scheduler, optimizer=optimizer, num_warmup_steps=args.warmup_steps * num_processes,
                         num_training_steps=args.max_steps * num_processes)


def lora_state(unet) -> dict:
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    return convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))


def save_lora(unet, folder: Path) -> None:
    """``pytorch_lora_weights.safetensors`` in diffusers' format, with the LoRA config as metadata (rank, alpha)."""
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=lora_state(unet),
                                              unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())


def load_lora(unet, folder: Path) -> None:
    """Put a checkpoint's LoRA weights back into the UNet's adapter (the example's ``load_model_hook``)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft.utils import set_peft_model_state_dict

    state = StableDiffusionPipeline.lora_state_dict(str(folder))[0]
    state = convert_unet_state_dict_to_peft({k.removeprefix("unet."): v for k, v in state.items()
                                             if k.startswith("unet.")})
    result = set_peft_model_state_dict(unet, state, adapter_name="default")
    if getattr(result, "unexpected_keys", None):
        raise RuntimeError(f"{folder}: unexpected LoRA keys {result.unexpected_keys[:3]}")


# ----------------------------------------------------------------------------------------------------------------
# data


@dataclass
class Batchsource:
    """The images and prompt embeddings of a run; `batch(step)` is a pure function of the step (resume-safe)."""

    instances: list
    classes: list
    instance_embeds: Any
    class_embeds: Any
    resolution: int
    center_crop: bool
    batch_size: int
    seed: int

    @property
    def length(self) -> int:
        return max(len(self.instances), len(self.classes))  # the example's DreamBoothDataset length

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.length // self.batch_size)

    def batch(self, index: int, generator) -> tuple[Any, Any]:
        """Batch `index` (counted over all epochs): pixel values and prompt embeddings, class images appended."""
        import torch

        from finetune.images import to_tensor

        epoch, within = divmod(index, self.batches_per_epoch)
        order = torch.randperm(self.length, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        picks = order[within * self.batch_size:(within + 1) * self.batch_size].tolist()
        pixels = [to_tensor(self.instances[i % len(self.instances)], self.resolution, self.center_crop, generator)
                  for i in picks]
        embeds = [self.instance_embeds] * len(picks)
        if self.classes:
            pixels += [to_tensor(self.classes[i % len(self.classes)], self.resolution, self.center_crop, generator)
                       for i in picks]
            embeds += [self.class_embeds] * len(picks)
        return torch.stack(pixels), torch.cat(embeds)


def encode_prompt(pipe, prompt: str):
    import torch

    with torch.no_grad():
        ids = pipe.tokenizer(prompt, padding="max_length", truncation=True, max_length=pipe.tokenizer.model_max_length,
                             return_tensors="pt").input_ids.to(pipe.text_encoder.device)
        return pipe.text_encoder(ids, return_dict=False)[0]


def generate_class_images(pipe, args: SDLoraArguments, turbo: bool) -> None:
    """Fill --class-dir with the base model's pictures of --class-prompt up to --num-class-images (as the example)."""
    import hashlib

    import torch

    folder = Path(args.class_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    from finetune.images import IMAGE_SUFFIXES

    have = len([p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES])
    missing = args.num_class_images - have
    if missing <= 0:
        return
    logger.info("generating %d class images of %r into %s", missing, args.class_prompt, folder)
    steps, guidance = (1, 0.0) if turbo else (25, 7.5)
    generator = torch.Generator("cpu").manual_seed(args.seed)
    for i in range(missing):
        image = pipe(args.class_prompt, num_inference_steps=steps, guidance_scale=guidance,
                     generator=generator).images[0]
        digest = hashlib.sha1(image.tobytes()).hexdigest()[:12]
        image.save(folder / f"{have + i}-{digest}.png")


# ----------------------------------------------------------------------------------------------------------------
# main


def main(args: SDLoraArguments) -> dict[str, Any]:
    """Train, and write the output folder; returns the metrics written to ``metrics.json``."""
    started = time.perf_counter()
    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite,
                          lambda folders, resume_from: _run(args, folders, resume_from, started), marker=MARKER,
                          args=args)


def _run(args: SDLoraArguments, folders: RunFolders, resume_from: str | None, started: float) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from accelerate import Accelerator
    from diffusers import DDPMScheduler
    from tqdm.auto import tqdm

    from finetune.images import image_files, load_image_folder

    image_files(args.instance_dir)  # an empty or missing folder fails before the model loads
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps)
    if resume_from is not None:  # before the model loads; every process reads the same marker and stops alike
        check_resume_processes(resume_from, accelerator.num_processes)
    dtype = weight_dtype(args.precision, accelerator.device)
    model_path = resolve_model(TASK, args.model)
    pipe = load_pipeline(args, model_path, accelerator.device)
    native = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    resolution = args.resolution or native
    instances = load_image_folder(args.instance_dir, resolution)
    if not 5 <= len(instances) <= 30:
        logger.warning("%d instance images: DreamBooth works best with 5-30", len(instances))
    turbo = "turbo" in args.model.lower()
    classes = []
    if args.prior_preservation:
        with accelerator.main_process_first():
            if accelerator.is_main_process:
                generate_class_images(pipe, args, turbo)
        classes = load_image_folder(args.class_dir, resolution, "--class-dir")[: args.num_class_images]

    source = Batchsource(instances, classes, encode_prompt(pipe, args.instance_prompt),
                         encode_prompt(pipe, args.class_prompt) if classes else None, resolution, args.center_crop,
                         args.batch_size, args.seed)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)  # the example: the checkpoint's scheduler
    prediction = noise_scheduler.config.prediction_type
    if prediction not in ("epsilon", "v_prediction"):
        raise UsageError(f"{args.model}: unknown prediction type {prediction!r} (epsilon or v_prediction).")
    unet, vae, text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
    vae.requires_grad_(False)
    text_encoder.requires_grad_(False)
    for module in (vae, text_encoder, unet):  # the frozen weights in the training precision (as the example)
        if module.dtype != dtype:
            module.to(dtype=dtype)
    torch.manual_seed(args.seed)  # the LoRA's Gaussian init
    params = add_lora(unet, args)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate, betas=(0.9, 0.999), weight_decay=args.weight_decay,
                                  eps=1e-8)
    lr_scheduler = make_lr_scheduler(args, optimizer, accelerator.num_processes)
    unet, optimizer, lr_scheduler = accelerator.prepare(unet, optimizer, lr_scheduler)

    step, log_history, samples = 0, [], []
    if resume_from is not None:
        state = json.loads((Path(resume_from) / MARKER).read_text())
        step, log_history, samples = state["global_step"], state["log_history"], state["samples"]
        load_lora(accelerator.unwrap_model(unet), Path(resume_from))
        optimizer.load_state_dict(torch.load(Path(resume_from) / "optimizer.pt", weights_only=True))
        lr_scheduler.load_state_dict(torch.load(Path(resume_from) / "scheduler.pt", weights_only=True))
        logger.info("resuming from %s (step %d)", resume_from, step)

    logger.info("Training a rank-%d LoRA for %s on %d images (%d class images), %d px, %d steps", args.rank,
                args.model, len(instances), len(classes), resolution, args.max_steps)
    progress = tqdm(total=args.max_steps, initial=step, desc="steps", disable=not accelerator.is_local_main_process)
    window: list[float] = []
    unet.train()
    while step < args.max_steps:
        for micro in range(args.gradient_accumulation_steps):
            # each process of `accelerate launch` takes its own batches: the effective batch is batch x processes
            batch_index = ((step * args.gradient_accumulation_steps + micro) * accelerator.num_processes
                           + accelerator.process_index)
            generator = torch.Generator().manual_seed(args.seed * 1_000_003 + batch_index)  # crops, noise, t
            pixels, embeds = source.batch(batch_index, generator)
            with accelerator.accumulate(unet):
                pixels = pixels.to(accelerator.device, dtype=dtype)
                with torch.no_grad():  # a CPU generator: diffusers' randn_tensor draws on CPU, then moves
                    latents = vae.encode(pixels).latent_dist.sample(generator=generator)
                latents = latents * vae.config.scaling_factor
                noise = torch.randn(latents.shape, generator=generator).to(latents)
                timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],),
                                          generator=generator).to(accelerator.device).long()
                noisy = noise_scheduler.add_noise(latents, noise, timesteps)
                pred = unet(noisy, timesteps, embeds.to(accelerator.device, dtype=dtype), return_dict=False)[0]
                target = noise if prediction == "epsilon" else noise_scheduler.get_velocity(latents, noise, timesteps)
                if classes:
                    pred, pred_prior = torch.chunk(pred, 2, dim=0)
                    target, target_prior = torch.chunk(target, 2, dim=0)
                    loss = F.mse_loss(pred.float(), target.float(), reduction="mean")
                    loss = loss + args.prior_loss_weight * F.mse_loss(pred_prior.float(), target_prior.float(),
                                                                      reduction="mean")
                else:
                    loss = F.mse_loss(pred.float(), target.float(), reduction="mean")
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            window.append(float(loss.detach()))
        step += 1
        progress.update(1)
        if step % args.logging_steps == 0 or step == 1 or step == args.max_steps:
            entry = {"step": step, "loss": sum(window) / len(window), "learning_rate": lr_scheduler.get_last_lr()[0]}
            log_history.append(entry)
            progress.set_postfix(loss=f"{entry['loss']:.4f}")
            window = []
        if accelerator.is_main_process:
            if args.num_samples and args.sample_every and step % args.sample_every == 0 and step < args.max_steps:
                samples += _draw_samples(pipe, accelerator.unwrap_model(unet), args, folders, step, turbo)
                unet.train()
            if step % args.save_steps == 0 and step < args.max_steps:
                _checkpoint(accelerator.unwrap_model(unet), optimizer, lr_scheduler, folders, step, log_history,
                            samples, args.save_total_limit, accelerator.num_processes)
    progress.close()
    accelerator.wait_for_everyone()

    metrics: dict[str, Any] = {
        "base_model": args.model,
        "base_revision": args.model_revision,
        "instance_prompt": args.instance_prompt,
        "images": len(instances),
        "class_images": len(classes),
        "prior_preservation": bool(classes),
        "resolution": resolution,
        "global_step": step,
        "final_loss": next((e["loss"] for e in reversed(log_history)), None),
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "log_history": log_history,
    }
    if accelerator.is_main_process:
        from finetune.cards import sd_lora_card
        from finetune.catalog import write_run_info

        lora_unet = accelerator.unwrap_model(unet)
        if args.num_samples:
            samples += _draw_samples(pipe, lora_unet, args, folders, step, turbo)
        staging = folders.staging
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        save_lora(lora_unet, staging)  # the LoRA parameters are fp32 throughout (add_lora)
        if samples:
            shutil.copytree(folders.work / "samples", staging / "samples")
        metrics["samples"] = samples
        hyperparameters = card_hyperparameters(args, _RESUME_FREE)
        hyperparameters.update(resolution=resolution, lora_alpha=args.lora_alpha or args.rank)
        write_report(staging, metrics, sd_lora_card(metrics, hyperparameters, repo_id=args.hub_model_id),
                     log_history, title=f"LoRA on {Path(args.model).name}: {args.instance_prompt}")
        write_run_info(staging, task=TASK, trainer="finetune.sd_lora", base_model=args.model,
                       base_revision=args.model_revision, adapter=True, instance_prompt=args.instance_prompt,
                       rank=args.rank, resolution=resolution)
        publish_and_push(folders, args, f"DreamBooth LoRA for {args.model} with mmhub finetune.sd_lora")
    accelerator.wait_for_everyone()
    return metrics


def _draw_samples(pipe, unet, args: SDLoraArguments, folders: RunFolders, step: int, turbo: bool) -> list[dict]:
    """Preview images of the sample prompt with the current LoRA (fixed seed, so previews compare across steps)."""
    import torch

    unet.eval()
    steps, guidance = (1, 0.0) if turbo else (25, 7.5)
    generator = torch.Generator("cpu").manual_seed(args.seed)
    with torch.inference_mode():
        images = pipe(args.sample_prompt or args.instance_prompt, num_inference_steps=steps,
                      guidance_scale=guidance, num_images_per_prompt=args.num_samples, generator=generator).images
    folder = folders.work / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, image in enumerate(images):
        name = f"step-{step:06d}-{i}.png"
        image.save(folder / name)
        out.append({"step": step, "file": f"samples/{name}"})
    return out


def _checkpoint(unet, optimizer, lr_scheduler, folders: RunFolders, step: int, log_history: list, samples: list,
                limit: int, num_processes: int) -> None:
    """``checkpoint-<step>``: LoRA weights, optimizer and scheduler state, then the marker (last: complete), which
    also records the number of processes (see `check_resume_processes`)."""
    import torch

    folder = folders.checkpoints / f"checkpoint-{step}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    save_lora(unet, folder)
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    torch.save(lr_scheduler.state_dict(), folder / "scheduler.pt")
    (folder / MARKER).write_text(json.dumps({"global_step": step, "log_history": log_history, "samples": samples,
                                             "num_processes": num_processes}))
    done = sorted((int(p.name.split("-")[1]), p) for p in folders.checkpoints.glob("checkpoint-*")
                  if (p / MARKER).exists())
    for _, old in done[:-limit]:
        shutil.rmtree(old, ignore_errors=True)


def check_resume_processes(checkpoint: str, num_processes: int) -> None:
    """`UsageError` unless `checkpoint` was written by a run on `num_processes` processes.

    The saved scheduler counts scheduler steps, which are optimizer steps x processes (`make_lr_scheduler`), and
    batch ``i`` of a step is ``step x processes + rank``: resumed on another number of processes, the learning rate
    would jump to another point of its curve and the images would come in another order, silently. Checkpoints
    written before the count was recorded are resumed as they are (with a warning).
    """
    recorded = json.loads((Path(checkpoint) / MARKER).read_text()).get("num_processes")
    if recorded is None:
        logger.warning("%s does not record how many processes wrote it; resuming on %d (it must be the same number "
                       "as the interrupted run's)", Path(checkpoint).name, num_processes)
    elif recorded != num_processes:
        raise UsageError(f"--resume: the interrupted run trained on {recorded} process(es), this one runs on "
                         f"{num_processes}; the learning-rate schedule and the data order depend on it. Launch with "
                         f"the same number (accelerate launch --num_processes {recorded}"
                         f"{'' if recorded > 1 else ', or plain python -m finetune.sd_lora'}), or start a new run "
                         f"(--overwrite, or another --output-dir).")


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    return (f"Trained a LoRA for {metrics['base_model']} on {metrics['images']} images"
            + (f" (+{metrics['class_images']} class images)" if metrics["class_images"] else "")
            + f", {metrics['global_step']} steps in {metrics['train_runtime_s']:.1f} s, final loss "
            f"{metrics['final_loss']:.4f} -> {output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; clean one-line errors for bad images or folders."""
    return cli_main(argv, SDLoraArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(DataError,))


if __name__ == "__main__":
    sys.exit(cli())
