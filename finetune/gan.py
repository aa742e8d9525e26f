"""Train the DCGAN (28x28 grey) resumably; the generator loads into ``load("gan")`` (``local:gan``).

Commands (run from the repository root)::

    # Fashion-MNIST from the Hub (a few minutes per epoch on a laptop CPU); lands where load("gan") looks
    # ($MMHUB_CACHE/models/gan, default ~/.cache/mmhub/models/gan)
    python -m finetune.gan
    python -m finetune.gan --dataset ylecun/mnist --output-dir runs/gan-digits --overwrite   # digits instead

    # after a crash or a kill: continue from the last checkpoint
    python -m finetune.gan --resume

    # offline: a local folder in the MNIST schema (image, label), or scikit-learn's bundled digits
    python -m finetune.image_data fixture data/fashion --like fashion_mnist
    python -m finetune.gan --dataset data/fashion --output-dir runs/gan
    python -m finetune.gan --dataset sklearn-digits --num-train-epochs 30 --output-dir runs/gan-sklearn

    # smoke run; then upload the finished folder to the Hub
    python -m finetune.gan --max-samples 2000 --max-steps 50 --output-dir runs/smoke
    python -m finetune.gan --output-dir runs/gan --push-to-hub --hub-model-id me/dcgan-fashion-mnist

The networks, the loss and the optimiser are pytorch/examples ``dcgan/main.py``'s (see `pipelines.gan`): BCE with
real = 1 / fake = 0, Adam at 2e-4 with betas (0.5, 0.999), batches of 64, pictures in [-1, 1], and a grid of 64
pictures from fixed noise after each epoch (upstream's ``fake_samples_epoch_NNN.png``) so that the progress shows.
Feature maps default to 32 (upstream's 64 is 4x slower on a CPU for this small picture size; pass
``--generator-features 64 --discriminator-features 64`` on a GPU). The fixed noise is ``gan(64, seed=--seed)``'s, so
the finished model draws the last grid again. Labels are not used (an unconditional GAN), and nothing is held out:
the GAN trains on the whole training split, as upstream does.

The loop is plain PyTorch over `finetune.image_data` batches with `finetune.run`'s folders: checkpoints every
``--save-steps`` in ``<output-dir>.partial/checkpoints`` (``--resume`` continues from the newest; a SIGKILL loses at
most that many steps); the finished folder (the generator as ``config.json`` + ``model.safetensors`` of
`huggingface_hub.PyTorchModelHubMixin`, the discriminator in ``discriminator/``, README.md model card,
metrics.json, training_curve.png with both losses, samples.png, progress.gif, samples/ with one grid per epoch) is
moved to ``<output-dir>`` only when complete. A progress callback returning False ends the run early *with* a
finished folder (any epoch's generator is a usable model); Ctrl-C stops it and keeps the checkpoints for
``--resume``.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.cards import front_matter, hyperparameter_table, session_line
from finetune.image_data import FASHION_MNIST, ImageData, ImageDataError, ImageSplit, load_image_data
from finetune.loop import check_device, restore_training_state, samples_per_second, save_training_state
from finetune.run import (
    RunFolders,
    card_hyperparameters,
    cli_main,
    flag_name,
    publish_and_push,
    recorded_arguments,
    resume_hint,
    run_in_folders,
    write_report,
)
from pipelines import validate

logger = logging.getLogger(__name__)

TASK = "gan"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir", "device"}
SAMPLES = "samples"
# Bounds of the numeric flags: finite, generous, so that a typo (--num-train-epochs 1000000000) is an error.
MAX_EPOCHS, MAX_STEPS, MAX_BATCH = 1000, 10_000_000, 4096


def default_output_dir() -> str:
    """Where ``load("gan")`` looks: ``$MMHUB_CACHE/models/gan``."""
    from pipelines import lab

    return lab.resolve(lab.local_id(TASK))


@dataclass
class GanArguments:
    """Everything `python -m finetune.gan` takes; each field is a flag (``--num-train-epochs``).

    Args:
        output_dir (`str`, *optional*): the folder to create; default where ``load("gan")`` looks.
        dataset (`str`, defaults to ``"zalando-datasets/fashion_mnist"``): a Hub id, a local folder / parquet file
            in the MNIST schema, or ``sklearn-digits``.
    """

    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (generator, discriminator/, README.md, metrics.json, training_curve.png, "
                "samples.png, progress.gif, samples/). Default: $MMHUB_CACHE/models/gan, where load('gan') looks."})
    # data
    dataset: str = field(default=FASHION_MNIST, metadata={
        "help": "Hub dataset id (zalando-datasets/fashion_mnist, ylecun/mnist), a local folder (save_to_disk, parquet "
                "files or an image folder) or .parquet file with an image column, or 'sklearn-digits' (offline)."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset revision."})
    image_column: str = field(default="image", metadata={"help": "Image column (labels are not used)."})
    max_samples: int | None = field(default=None, metadata={"help": "Train on at most this many pictures."})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets' cache folder."})
    # model (pytorch/examples dcgan/main.py: nz 100, ngf = ndf = 64)
    latent_dim: int = field(default=100, metadata={"help": "Length of the noise vector z (upstream's nz)."})
    generator_features: int = field(default=32, metadata={
        "help": "Generator width (upstream's ngf; its layers have 4x, 2x this many maps). Upstream: 64."})
    discriminator_features: int = field(default=32, metadata={
        "help": "Discriminator width (upstream's ndf; its layers have 1x, 2x this many maps). Upstream: 64."})
    # training (upstream: batch 64, Adam 2e-4, beta1 0.5, 25 epochs at 64x64)
    seed: int = field(default=0, metadata={
        "help": "Random seed (weights, data order, the noise of every step, the fixed noise of the sample grids)."})
    batch_size: int = field(default=64, metadata={"help": "Pictures per step (and as many fakes)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Adam's learning rate, both networks."})
    beta1: float = field(default=0.5, metadata={"help": "Adam's beta1 (the DCGAN paper: 0.5; 0.9 oscillates)."})
    num_train_epochs: int = field(default=5, metadata={"help": "Epochs (ignored when --max-steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many steps (-1: epochs)."})
    sample_images: int = field(default=64, metadata={"help": "Pictures in each epoch's grid (fixed noise)."})
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    logging_steps: int = field(default=50, metadata={"help": "Log the mean losses every N steps."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:N (default: CUDA when present)."})
    # run control
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the finished folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push-to-hub."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        """Every number through `pipelines.validate` (finite ranges; NaN, inf, bools refused), named as its flag."""
        flag = flag_name
        for name, low, high in (("batch_size", 1, MAX_BATCH), ("num_train_epochs", 1, MAX_EPOCHS),
                                ("save_steps", 1, MAX_STEPS), ("logging_steps", 1, MAX_STEPS),
                                ("save_total_limit", 1, 1000), ("latent_dim", 1, 1024),
                                ("generator_features", 4, 512), ("discriminator_features", 4, 512),
                                ("sample_images", 1, 256)):
            setattr(self, name, validate.integer(flag(name), getattr(self, name), low=low, high=high))
        self.seed = validate.integer("--seed", self.seed, low=0, high=2**32 - 1)
        if self.max_steps != -1:
            self.max_steps = validate.integer("--max-steps", self.max_steps, low=1, high=MAX_STEPS,
                                              hint="Pass -1 to train for --num-train-epochs.")
        self.max_samples = validate.optional_integer("--max-samples", self.max_samples, low=1, high=10**9)
        self.learning_rate = validate.number("--learning-rate", self.learning_rate, low=0, high=1, low_open=True)
        self.beta1 = validate.number("--beta1", self.beta1, low=0, high=1, high_open=True)
        self.dataset = validate.text("--dataset", self.dataset)
        check_device(self)
        if self.output_dir is None:
            self.output_dir = default_output_dir()


def make_parser():
    """The `HfArgumentParser` of `GanArguments`."""
    from transformers import HfArgumentParser

    return HfArgumentParser(GanArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# the loop


def training_pictures(data: ImageData, max_samples: int | None, seed: int) -> ImageSplit:
    """The whole training split: `load_image_data` holds a validation set out of it when the source has none; a GAN
    has no use for one, so it goes back in (upstream trains on MNIST's 60,000). At most `max_samples` (seeded)."""
    import torch

    train = data.train
    if "held out" in data.validation_source:
        train = ImageSplit("train", torch.cat([train.images, data.validation.images]),
                           torch.cat([train.labels, data.validation.labels]))
    return train.subset(max_samples, seed) if max_samples is not None else train


def sample_grid(generator: Any, noise: Any) -> Any:
    """The generator's pictures for the fixed `noise`, in inference mode (as `pipelines.gan` draws them), as a grid."""
    import torch

    from pipelines.gan import image_grid, to_pictures

    was_training = generator.training
    generator.eval()
    with torch.inference_mode():
        pictures = to_pictures(generator(noise))
    generator.train(was_training)
    return image_grid(pictures)


def train(args: GanArguments, folders: RunFolders, resume_from: str | None, data: ImageData,
          progress: Any = None) -> dict[str, Any]:
    """Train, checkpoint, write and publish the output folder; returns the metrics.

    `progress(step, total, info)` after each step; ``info``: ``stage``, ``epoch`` (float), ``loss_d``, ``loss_g``,
    ``d_real``, ``d_fake`` (the latest logged means), ``log`` (the entry just logged, else None), ``samples`` (the
    fixed-noise grid, a PIL image, at each epoch's end, else None). Returning False ends the run early and still
    publishes the folder; raising (e.g. KeyboardInterrupt) leaves the checkpoints for ``--resume``.
    """
    import torch

    from finetune.report import plot_training_curve  # noqa: F401  (fail before training if matplotlib is missing)
    from pipelines.base import resolve_device
    from pipelines.gan import DCGANDiscriminator, DCGANGenerator, adversarial_step, latents, weights_init

    started = time.perf_counter()
    device = resolve_device(args.device)
    pictures = training_pictures(data, args.max_samples, args.seed)
    torch.manual_seed(args.seed)
    generator = DCGANGenerator(latent_dim=args.latent_dim, features=args.generator_features)
    discriminator = DCGANDiscriminator(features=args.discriminator_features)
    generator.apply(weights_init)
    discriminator.apply(weights_init)
    generator.to(device).train()
    discriminator.to(device).train()
    # upstream's Adam (betas (beta1, 0.999)); fused: the same update in one kernel per tensor list (CPU and CUDA
    # since torch 2.4), 15-20 % faster steps for these small networks on a CPU (benchmarks.gan)
    betas = (args.beta1, 0.999)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=args.learning_rate, betas=betas, fused=True)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=args.learning_rate, betas=betas, fused=True)
    drop_last = len(pictures) >= args.batch_size
    steps_per_epoch = pictures.num_batches(args.batch_size, drop_last=drop_last)
    total = args.max_steps if args.max_steps > 0 else args.num_train_epochs * steps_per_epoch
    fixed_noise = latents(args.sample_images, args.seed, args.latent_dim).to(device)  # = gan(64, seed=--seed)
    modules = {"generator": generator, "discriminator": discriminator, "optimizer_g": optimizer_g,
               "optimizer_d": optimizer_d}
    step, log_history = 0, []
    if resume_from:
        step, log_history, _ = restore_training_state(resume_from, modules)
        logger.info("resuming from %s (step %d of %d)", resume_from, step, total)
    samples_dir = folders.work / SAMPLES
    samples_dir.mkdir(parents=True, exist_ok=True)

    logger.info("Training the DCGAN on %s: %d pictures, %d steps (%d per epoch) on %s", data.source, len(pictures),
                total, steps_per_epoch, device)
    sums: dict[str, Any] = {}
    window = 0
    last: dict[str, float] = {}
    stopped = False
    session_start, session_first_step = time.perf_counter(), step
    while step < total and not stopped:
        epoch, first = divmod(step, steps_per_epoch)
        for real, _ in pictures.batches(args.batch_size, epoch=epoch, seed=args.seed, start=first, scale="symmetric",
                                        drop_last=drop_last, device=device):
            # each step's noise from (seed, step) on the CPU: the same run after a --resume, on any device
            noise = torch.randn(real.shape[0], args.latent_dim,
                                generator=torch.Generator().manual_seed(args.seed * 1_000_003 + step)).to(device)
            out = adversarial_step(generator, discriminator, optimizer_g, optimizer_d, real, noise)
            step += 1
            for key, value in out.items():  # summed on the device: no sync until a log line is due
                sums[key] = sums[key] + value if key in sums else value
            window += 1
            logged = None
            if step % args.logging_steps == 0 or step == 1 or step == total:
                last = {key: float(value) / window for key, value in sums.items()}
                logged = {"step": step, "epoch": round(step / steps_per_epoch, 4), **last}
                log_history.append(logged)
                sums, window = {}, 0
            samples = None
            if step % steps_per_epoch == 0 or step == total:
                samples = sample_grid(generator, fixed_noise)
                samples.save(samples_dir / f"step-{step:07d}.png")
            if step % args.save_steps == 0 and step < total:
                save_training_state(folders, step, modules, log_history, args.save_total_limit)
            info = {"stage": "train", "epoch": step / steps_per_epoch, "log": logged, "samples": samples, **last}
            if progress is not None and progress(step, total, info) is False:
                stopped = True
                break
            if step >= total:
                break
    session_seconds = time.perf_counter() - session_start
    if stopped:
        logger.info("stopped by the progress callback at step %d of %d", step, total)
        if window:
            last = {key: float(value) / window for key, value in sums.items()}
            log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4), **last})
        if not (samples_dir / f"step-{step:07d}.png").exists():
            sample_grid(generator, fixed_noise).save(samples_dir / f"step-{step:07d}.png")

    trained_steps = step - session_first_step
    metrics: dict[str, Any] = {
        "base_model": "DCGAN (pytorch/examples dcgan/main.py, adapted to 28x28), random initialisation",
        "latent_dim": args.latent_dim,
        "generator_features": args.generator_features,
        "discriminator_features": args.discriminator_features,
        "generator_parameters": sum(p.numel() for p in generator.parameters()),
        "discriminator_parameters": sum(p.numel() for p in discriminator.parameters()),
        "global_step": step,
        "epoch": step / steps_per_epoch,
        "final": last,
        "stopped_early": stopped,
        "sample_seed": args.seed,
        "sample_images": args.sample_images,
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "train_samples_per_second": samples_per_second(trained_steps, args.batch_size, session_seconds),
        "data": {"source": data.source, "hub_dataset": data.hub_dataset, "train_samples": len(pictures)},
        "device": str(device),
        "log_history": log_history,
    }
    hyperparameters = card_hyperparameters(args, _RESUME_FREE)
    staging = folders.staging
    generator.eval().cpu().save_pretrained(staging)
    discriminator.eval().cpu().save_pretrained(staging / "discriminator")
    grids = write_samples(samples_dir, staging, steps_per_epoch)
    write_report(staging, metrics, model_card(metrics, hyperparameters, grids, args.hub_model_id), log_history,
                 title=f"DCGAN on {Path(data.source).name}: the discriminator's and the generator's losses")
    publish_and_push(folders, args, "DCGAN trained with mmhub")
    return metrics


def write_samples(samples_dir: Path, staging: Path, steps_per_epoch: int) -> list[tuple[str, float]]:
    """Copy the per-epoch grids to ``samples/``, write ``samples.png`` (the last, twice as large) and
    ``progress.gif`` (all of them); returns ``(file name, epoch)`` of each grid."""
    from PIL import Image

    files = sorted(samples_dir.glob("step-*.png"))
    (staging / SAMPLES).mkdir(parents=True, exist_ok=True)
    grids = []
    for path in files:
        shutil.copy2(path, staging / SAMPLES / path.name)
        grids.append((f"{SAMPLES}/{path.name}", int(path.stem.split("-")[1]) / steps_per_epoch))
    frames = [Image.open(path).convert("L") for path in files]
    last = frames[-1]
    last.resize((last.width * 2, last.height * 2), Image.Resampling.NEAREST).save(staging / "samples.png")
    frames[0].save(staging / "progress.gif", save_all=True, append_images=frames[1:], duration=700, loop=0)
    return grids


def main(args: GanArguments, progress: Any = None) -> dict[str, Any]:
    """Load the data, train (or resume), publish; `progress(step, total, info)` after each step (see `train`)."""
    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        data = load_image_data(args.dataset, config=args.dataset_config, revision=args.dataset_revision,
                               image_column=args.image_column, label_column=None, seed=args.seed,
                               cache_dir=args.cache_dir)
        with resume_hint(folders):
            return train(args, folders, resume_from, data, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          single_process="finetune.gan", args=args)


# ----------------------------------------------------------------------------------------------------------------
# the model card


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], grids: list[tuple[str, float]],
               repo_id: str | None = None) -> str:
    """README.md of the output folder: front matter, what the networks are, data, results, samples, use."""
    data = metrics["data"]
    front = front_matter("mmhub", "unconditional-image-generation", ["gan", "dcgan", "model_hub_mixin",
                                                                     "pytorch_model_hub_mixin"],
                         dataset=data.get("hub_dataset"))
    where = repo_id or "path/to/this/folder"
    final = metrics.get("final") or {}
    epochs = [f"![epoch {epoch:.2f}]({name})" for name, epoch in grids]
    f_g, f_d = metrics["generator_features"], metrics["discriminator_features"]
    return "\n".join([
        *front, "",
        "# DCGAN, 28x28 grey pictures",
        "",
        "A deep convolutional GAN (Radford, Metz & Chintala 2016) as pytorch/examples `dcgan/main.py` builds it, "
        f"adapted to 28x28: the generator maps {metrics['latent_dim']} standard-normal numbers to a picture "
        f"(transposed convolutions 1 -> 7 -> 14 -> 28 pixels with {4 * f_g} and {2 * f_g} feature maps, batch norm, "
        f"ReLU, tanh; {metrics['generator_parameters']:,} weights); the discriminator says how real a picture looks "
        f"(strided convolutions 28 -> 14 -> 7 -> 1 with {f_d} and {2 * f_d} maps, LeakyReLU 0.2, sigmoid; "
        f"{metrics['discriminator_parameters']:,} weights, in `discriminator/`). Trained against each other with "
        "binary cross-entropy and Adam (2e-4, beta1 0.5) by `python -m finetune.gan` (mmhub); saved with "
        "`huggingface_hub.PyTorchModelHubMixin` (config.json + model.safetensors).",
        "",
        "## Data",
        "",
        f"- {data['source']}: {data['train_samples']} training pictures (labels not used)",
        "",
        "## Training",
        "",
        session_line(metrics) + (" (stopped early on request)" if metrics.get("stopped_early") else "") + ". "
        f"Last logged means: discriminator loss {final.get('loss_d', float('nan')):.3f}, generator loss "
        f"{final.get('loss_g', float('nan')):.3f}, D(real) {final.get('d_real', float('nan')):.3f}, D(fake) "
        f"{final.get('d_fake', float('nan')):.3f}. The losses do not fall together: each network's gain is the "
        "other's loss, and a stable run shows them hovering (D(fake) near 0.5 would mean a discriminator reduced "
        "to guessing).",
        "",
        "![training curve](training_curve.png)",
        "",
        "## Samples",
        "",
        f"The same {metrics['sample_images']} noise vectors after each epoch (seed {metrics['sample_seed']}; "
        "`progress.gif` animates them), and the last grid:",
        "",
        "![samples](samples.png)",
        "",
        *epochs,
        "",
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'gan = load("gan", model="{where}")',
        f"gan({metrics['sample_images']}, seed={metrics['sample_seed']}).grid().save('grid.png')   "
        "# the last grid above",
        "gan(16, seed=1, truncation=1.0).images       # less varied, more typical pictures",
        "gan.interpolate(1, 2, steps=8).strip()       # a walk between two noise vectors",
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
    ])


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    final = metrics.get("final") or {}
    return (f"Trained the DCGAN for {metrics['global_step']} steps ({metrics['epoch']:.2f} epochs) in "
            f"{metrics['train_runtime_s']:.1f} s: loss_d {final.get('loss_d', float('nan')):.3f}, loss_g "
            f"{final.get('loss_g', float('nan')):.3f} -> {output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; one-line errors for bad data, arguments or folders."""
    return cli_main(argv, GanArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(ImageDataError,))


if __name__ == "__main__":
    sys.exit(cli())
