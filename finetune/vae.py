"""Train the MNIST VAE (2-D latent) resumably; the result loads into ``load("autoencoder", model="local:mnist-vae")``.

Commands (run from the repository root)::

    # MNIST from the Hub, minutes on a laptop CPU; lands where load("autoencoder", model="local:mnist-vae")
    # looks ($MMHUB_CACHE/models/mnist-vae, default ~/.cache/mmhub/models/mnist-vae)
    python -m finetune.vae

    # after a crash or a kill: continue from the last checkpoint
    python -m finetune.vae --resume

    # offline: a local folder in the MNIST schema (image, label), or scikit-learn's bundled digits
    python -m finetune.image_data fixture data/digits
    python -m finetune.vae --dataset data/digits --output-dir runs/vae
    python -m finetune.vae --dataset sklearn-digits --output-dir runs/vae-sklearn --num-train-epochs 30

    # smoke run; then upload the finished folder to the Hub
    python -m finetune.vae --max-samples 2000 --max-steps 100 --output-dir runs/smoke
    python -m finetune.vae --output-dir runs/vae --push-to-hub --hub-model-id me/mnist-vae-2d

The model and loss are pytorch/examples ``vae/main.py``'s (MLP 784-400-latent, BCE + KL summed over pixels and
batch, Adam at 1e-3, batch 128, 10 epochs) with a 2-D latent so that the latent space can be drawn. The loop is plain
PyTorch over `finetune.image_data` batches with `finetune.run`'s folders: checkpoints every ``--save-steps`` in
``<output-dir>.partial/checkpoints``, the finished folder (``config.json`` + ``model.safetensors`` of
`huggingface_hub.PyTorchModelHubMixin`, README.md model card, metrics.json, training_curve.png, latent_map.png,
latent_scatter.png) moved to ``<output-dir>`` only when complete.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.cards import front_matter, hyperparameter_table, picture_data_lines, session_line
from finetune.image_data import ImageData, ImageDataError
from finetune.loop import (
    EarlyStopping,
    LabDataArguments,
    check_counts,
    check_device,
    check_early_stopping,
    check_seed_and_max_steps,
    mean_of,
    restore_training_state,
    samples_per_second,
    save_training_state,
)
from finetune.run import (
    RunFolders,
    UsageError,
    card_hyperparameters,
    cli_main,
    publish_and_push,
    recorded_arguments,
    resume_hint,
    run_in_folders,
    write_report,
)

logger = logging.getLogger(__name__)

NAME = "mnist-vae"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir", "device",
                "eval_batch_size"}


def default_output_dir() -> str:
    """Where ``load("autoencoder", model="local:mnist-vae")`` looks: ``$MMHUB_CACHE/models/mnist-vae``."""
    from pipelines import lab

    return lab.resolve(lab.local_id(NAME))


@dataclass
class VaeArguments(LabDataArguments):
    """Everything `python -m finetune.vae` takes; each field is a flag (``--latent-dim``); the data flags are
    `finetune.loop.LabDataArguments`'.

    Args:
        output_dir (`str`, *optional*): the folder to create; default where ``local:mnist-vae`` resolves.
        dataset (`str`, defaults to ``"ylecun/mnist"``): a Hub id, a local folder / parquet file in the MNIST
            schema, or ``sklearn-digits``.
    """

    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (model, README.md, metrics.json, training_curve.png, latent_map.png). Default: "
                "$MMHUB_CACHE/models/mnist-vae, where load('autoencoder', model='local:mnist-vae') looks."})
    # data: the flags of LabDataArguments stand here, after --output-dir; this one keeps its place with its own help
    label_column: str = field(default="label", metadata={
        "help": "Label column (only to colour the latent scatter plot; the VAE never sees labels)."})
    # model
    latent_dim: int = field(default=2, metadata={
        "help": "Latent dimensions (2: the latent map can be drawn; pytorch/examples uses 20)."})
    hidden_units: int = field(default=400, metadata={"help": "Units of the hidden layer of encoder and decoder."})
    # training (pytorch/examples vae/main.py: batch 128, 10 epochs, Adam 1e-3, seed 1)
    seed: int = field(default=1, metadata={"help": "Random seed (weights, data order, the reparameterisation)."})
    batch_size: int = field(default=128, metadata={"help": "Training batch size."})
    eval_batch_size: int = field(default=1000, metadata={"help": "Evaluation batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam's learning rate."})
    num_train_epochs: int = field(default=10, metadata={"help": "Epochs (ignored when --max-steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs)."})
    eval_steps: int = field(default=500, metadata={"help": "Evaluate on the validation split every N steps."})
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every N steps (a multiple of --eval-steps)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints (+ the best)."})
    logging_steps: int = field(default=50, metadata={"help": "Log the training loss every N steps."})
    early_stopping_patience: int = field(default=3, metadata={
        "help": "Stop after this many evaluations without a lower validation loss and keep the best weights "
                "(0: train to the end, keep the last)."})
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
        check_counts(self)
        check_seed_and_max_steps(self)
        check_device(self)
        if not 1 <= self.latent_dim <= 64:
            raise UsageError(f"--latent-dim must be from 1 to 64; got {self.latent_dim}.")
        if not 8 <= self.hidden_units <= 4096:
            raise UsageError(f"--hidden-units must be from 8 to 4096; got {self.hidden_units}.")
        if not 0 < self.learning_rate <= 1:
            raise UsageError(f"--learning-rate must be in (0, 1]; got {self.learning_rate}.")
        check_early_stopping(self)
        if self.output_dir is None:
            self.output_dir = default_output_dir()


def make_parser():
    """The `HfArgumentParser` of `VaeArguments`."""
    from transformers import HfArgumentParser

    return HfArgumentParser(VaeArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# the loop


def evaluate(model: Any, split: Any, batch_size: int, device: Any, seed: int = 0) -> dict[str, float]:
    """The loss per picture on a whole split (BCE + KL, and each term), z drawn with a fixed seed; and the mean PSNR
    of the reconstruction from the posterior's mean, what ``load("autoencoder", model=...)(picture).psnr`` gives
    for each picture (the same preparation and `pipelines.autoencoder.psnr_per_picture`)."""
    import torch

    from pipelines.autoencoder import psnr_per_picture, vae_loss

    model.eval()
    bce_sum = kld_sum = psnr_sum = 0.0
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        for x, _ in split.batches(batch_size, device=device):
            reconstruction, mu, logvar = model(x, generator=generator)
            bce, kld = vae_loss(reconstruction, x, mu, logvar)
            bce_sum, kld_sum = bce_sum + float(bce), kld_sum + float(kld)
            psnr_sum += float(psnr_per_picture(x, model.decode(mu))[1].double().sum())
    model.train()
    n = len(split)
    return {"loss": (bce_sum + kld_sum) / n, "bce": bce_sum / n, "kld": kld_sum / n, "psnr": psnr_sum / n,
            "samples": n}


def train(args: VaeArguments, folders: RunFolders, resume_from: str | None, data: ImageData,
          progress: Any = None) -> dict[str, Any]:
    """Train, checkpoint, evaluate, write and publish the output folder; returns the metrics."""
    import torch

    from finetune.report import plot_training_curve  # noqa: F401  (fail before training if matplotlib is missing)
    from pipelines.autoencoder import MnistVAE, vae_loss
    from pipelines.base import resolve_device

    started = time.perf_counter()
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = MnistVAE(hidden_units=args.hidden_units, latent_dim=args.latent_dim).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    drop_last = len(data.train) >= args.batch_size
    steps_per_epoch = data.train.num_batches(args.batch_size, drop_last=drop_last)
    total = args.max_steps if args.max_steps > 0 else args.num_train_epochs * steps_per_epoch
    early = EarlyStopping(args.early_stopping_patience, mode="min")
    modules = {"model": model, "optimizer": optimizer}
    step, log_history, best_state = 0, [], None
    if resume_from:
        step, log_history, best_state = restore_training_state(resume_from, modules, early)
        logger.info("resuming from %s (step %d of %d)", resume_from, step, total)

    logger.info("Training the MNIST VAE (%d-D latent) on %s: %d pictures, %d steps (%d per epoch) on %s",
                args.latent_dim, data.source, len(data.train), total, steps_per_epoch, device)
    losses: list[float] = []
    stop = False
    last_eval: dict[str, float] = {}
    session_start, session_first_step = time.perf_counter(), step
    while step < total and not stop:
        epoch, first = divmod(step, steps_per_epoch)
        for x, _ in data.train.batches(args.batch_size, epoch=epoch, seed=args.seed, start=first,
                                       drop_last=drop_last, device=device):
            # z's noise from (seed, step): the same run after a --resume, on any device
            generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
            reconstruction, mu, logvar = model(x, generator=generator)
            bce, kld = vae_loss(reconstruction, x, mu, logvar)
            # pytorch/examples sums over the batch; divided by its size the step does not depend on --batch-size
            loss = (bce + kld) / x.shape[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            last_loss = loss.item()
            losses.append(last_loss)
            if step % args.logging_steps == 0 or step == 1:
                log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                                    "loss": mean_of(losses)})
                losses = []
            if step % args.eval_steps == 0 or step == total:
                last_eval = evaluate(model, data.validation, args.eval_batch_size, device)
                log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                                    "eval_loss": last_eval["loss"], "eval_bce_loss": last_eval["bce"],
                                    "eval_kld_loss": last_eval["kld"]})
                if early.update(last_eval["loss"], step):
                    best_state = copy.deepcopy(model.state_dict())
                stop = early.should_stop
            if step % args.save_steps == 0 and step < total and not stop:
                save_training_state(folders, step, modules, log_history, args.save_total_limit, best_state, early)
            info = {"stage": "train", "loss": last_loss, "epoch": step / steps_per_epoch,
                    "validation_loss": last_eval.get("loss")}
            if progress is not None and progress(step, total, info) is False:
                raise KeyboardInterrupt("stopped by the progress callback")
            if step >= total or stop:
                break
    if stop:
        logger.info("early stopping at step %d: no lower validation loss since step %s", step, early.best_step)
    session_seconds = time.perf_counter() - session_start
    if args.early_stopping_patience > 0 and best_state is not None:
        model.load_state_dict(best_state)
    validation = evaluate(model, data.validation, args.eval_batch_size, device)
    test = evaluate(model, data.test, args.eval_batch_size, device) if data.test is not None else None
    trained_steps = step - session_first_step
    metrics: dict[str, Any] = {
        "base_model": "MnistVAE (pytorch/examples vae/main.py MLP), random initialisation",
        "latent_dim": args.latent_dim,
        "hidden_units": args.hidden_units,
        "global_step": step,
        "epoch": step / steps_per_epoch,
        "final_train_loss": next((e["loss"] for e in reversed(log_history) if "loss" in e), None),
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "train_samples_per_second": samples_per_second(trained_steps, args.batch_size, session_seconds),
        "best_step": early.best_step if args.early_stopping_patience > 0 else None,
        "early_stopped": stop,
        "validation": validation,
        "test": test,
        "data": data.describe(),
        "device": str(device),
        "log_history": log_history,
    }
    hyperparameters = card_hyperparameters(args, _RESUME_FREE)
    model.eval().cpu()
    model.save_pretrained(folders.staging)
    data.processor().save_pretrained(folders.staging)  # what the pipeline prepares pictures with (as trained)
    figures = write_figures(model, data.test if data.test is not None else data.validation, folders.staging)
    write_report(folders.staging, metrics, model_card(metrics, hyperparameters, figures, args.hub_model_id),
                 log_history, title=f"MNIST VAE ({args.latent_dim}-D latent) on {Path(data.source).name}")
    publish_and_push(folders, args, "MNIST VAE trained with mmhub")
    return metrics


def write_figures(model: Any, split: Any, folder: Path, max_points: int = 5000) -> list[str]:
    """For a 2-D latent: ``latent_map.png`` (the decoded grid) and ``latent_scatter.png`` (where the split's pictures
    land, coloured by label: the classic plot of Kingma & Welling and the Keras example). Returns the file names."""
    if model.latent_dim != 2:
        return []
    import matplotlib
    import torch

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from pipelines.autoencoder import MNIST_VAE, AutoencoderPipeline

    pipeline = AutoencoderPipeline(model, MNIST_VAE, str(folder), torch.device("cpu"), torch.float32)
    pipeline.latent_map().image.save(folder / "latent_map.png")
    subset = split.subset(max_points, seed=0)
    with torch.inference_mode():
        mu, _ = model.encode(subset.floats("unit"))
    fig, ax = plt.subplots(figsize=(6, 5.5), dpi=100)
    points = ax.scatter(mu[:, 0].numpy(), mu[:, 1].numpy(), c=subset.labels.numpy(), cmap="tab10", s=4,
                        vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title("where the pictures land in the latent space (encoder means)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "latent_scatter.png")
    plt.close(fig)
    return ["latent_map.png", "latent_scatter.png"]


def main(args: VaeArguments, progress: Any = None) -> dict[str, Any]:
    """Load the data, train (or resume), publish; `progress(step, total, info)` after each step (False stops)."""
    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        data = args.load_data(args.seed)
        with resume_hint(folders):
            return train(args, folders, resume_from, data, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          single_process="finetune.vae", args=args)


# ----------------------------------------------------------------------------------------------------------------
# the model card


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], figures: list[str],
               repo_id: str | None = None) -> str:
    """README.md of the output folder: front matter, data, results, the latent space, use, hyperparameters."""
    data = metrics["data"]
    front = front_matter("mmhub", "image-to-image", ["mnist", "vae", "variational-autoencoder", "model_hub_mixin",
                                                     "pytorch_model_hub_mixin"], dataset=data.get("hub_dataset"))
    where = repo_id or "path/to/this/folder"
    rows = ["| split | pictures | loss per picture (BCE + KL) | BCE | KL | PSNR (dB) |", "|---|---|---|---|---|---|"]
    for name in ("validation", "test"):
        m = metrics.get(name)
        if m:
            psnr = f"{m['psnr']:.2f}" if "psnr" in m else "-"
            rows.append(f"| {name} | {m['samples']} | {m['loss']:.2f} | {m['bce']:.2f} | {m['kld']:.2f} | {psnr} |")
    pictures = [f"![{name.removesuffix('.png').replace('_', ' ')}]({name})" for name in figures]
    return "\n".join([
        *front, "",
        f"# MNIST VAE, {metrics['latent_dim']}-D latent",
        "",
        "A variational autoencoder (Kingma & Welling 2014) with the MLP of pytorch/examples `vae/main.py`: 784 -> "
        f"{metrics['hidden_units']} -> (mu, log variance) of a {metrics['latent_dim']}-D Gaussian -> "
        f"{metrics['hidden_units']} -> 784, ReLU, sigmoid; loss BCE + KL. Trained with `python -m finetune.vae` "
        "(mmhub); saved with `huggingface_hub.PyTorchModelHubMixin` (config.json + model.safetensors).",
        "",
        "## Data",
        "",
        *picture_data_lines(data),
        "",
        "## Results",
        "",
        *rows,
        "",
        session_line(metrics)
        + (f", lowest validation loss at step {metrics['best_step']}" if metrics.get("best_step") else "") + ".",
        "",
        "![training curve](training_curve.png)",
        "",
        *(["## The latent space", "", "The decoded grid over the standard normal's 5th..95th percentiles, and where "
           "the test pictures land (encoder means, coloured by their label).", "", *pictures, ""] if pictures else []),
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'vae = load("autoencoder", model="{where}")',
        "vae.latent_map().image.save('map.png')      # the latent space as a grid of decoded points",
        "vae.encode('my_digit.png').point            # where a drawing lands",
        "vae.decode((0.5, -1.0)).image               # any point back to a picture",
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
    ])


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    test = metrics.get("test")
    line = (f"Trained the MNIST VAE for {metrics['global_step']} steps in {metrics['train_runtime_s']:.1f} s: "
            f"validation loss {metrics['validation']['loss']:.2f} per picture")
    if test:
        line += f", test loss {test['loss']:.2f}"
    return line + f" -> {output_dir}"


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; one-line errors for bad data or folders."""
    return cli_main(argv, VaeArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(ImageDataError,))


if __name__ == "__main__":
    sys.exit(cli())
