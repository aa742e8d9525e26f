"""Train a TensorFlow Playground network from the command line; it loads into ``load("playground")``.

Commands (run from the repository root)::

    # the spiral with three hidden layers of 8 (a few seconds); lands where load("playground") looks
    # ($MMHUB_CACHE/models/playground, default ~/.cache/mmhub/models/playground)
    python -m finetune.playground --dataset spiral --hidden 8,8,8 --epochs 500

    # any of the page's settings, into a folder of your choice
    python -m finetune.playground --dataset xor --noise 25 --features x1,x2,x1_x2 --hidden 4 --activation relu \\
        --learning-rate 0.01 --regularization L2 --regularization-rate 0.003 --batch-size 20 --train-ratio 70 \\
        --seed 7 --epochs 300 --output-dir runs/xor

    # your own points: a CSV of x1, x2 and a label (two classes) or a numeric target
    python -m finetune.playground --dataset points.csv --hidden 6,6 --epochs 1000 --output-dir runs/mine

    # after a kill: continue from the last checkpoint (every --save-epochs)
    python -m finetune.playground --dataset spiral --hidden 8,8,8 --epochs 500 --resume

The training is `pipelines.playground.Playground`'s: the page's data (same seed, same points), network, square loss
and plain SGD, epoch by epoch, in float64. The finished folder holds the network (``config.json`` with the settings
and the final metrics + ``model.safetensors``), ``metrics.json`` (``load("playground", model=DIR).evaluate()``
gives the same figures: the data is generated again from the saved seed), ``training_curve.png`` (both losses),
``network.html`` (the last frame as the Playground draws it) and a README.md model card; it appears only when
complete (`finetune.run`'s folders). ``--push-to-hub`` uploads it.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.cards import front_matter, hyperparameter_table
from finetune.run import (
    RunFolders,
    UsageError,
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
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

TASK = "playground"
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private"}
MAX_EPOCHS = 1_000_000


def default_output_dir() -> str:
    """Where ``load("playground")`` looks: ``$MMHUB_CACHE/models/playground``."""
    from pipelines import lab

    return lab.resolve(lab.local_id(TASK))


@dataclass
class PlaygroundArguments:
    """Everything ``python -m finetune.playground`` takes; each field is a flag (``--learning-rate``)."""

    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (config.json, model.safetensors, metrics.json, training_curve.png, network.html, "
                "README.md). Default: $MMHUB_CACHE/models/playground, where load('playground') looks."})
    dataset: str = field(default="circle", metadata={
        "help": "circle, xor, gauss, spiral (classification), reg-plane, reg-gauss (regression), or a CSV file of "
                "x1,x2,label rows."})
    noise: float = field(default=0.0, metadata={"help": "Noise, 0 to 50 (the page's slider, percent)."})
    train_ratio: float = field(default=50.0, metadata={"help": "Percent of the points that train, 10 to 90."})
    num_samples: int | None = field(default=None, metadata={
        "help": "Points to generate, 4 to 20000 (default the page's 500, or 1200 for regression)."})
    features: str = field(default="x1,x2", metadata={
        "help": "Inputs, comma-separated: x1, x2, x1_squared, x2_squared, x1_x2, sin_x1, sin_x2."})
    hidden: str = field(default="4,2", metadata={
        "help": "Neurons per hidden layer, comma-separated: up to 6 layers of 1 to 8 ('' for none)."})
    activation: str = field(default="tanh", metadata={"help": "Hidden activation: relu, tanh, sigmoid, linear."})
    learning_rate: float = field(default=0.03, metadata={"help": "SGD learning rate, in (0, 10]."})
    batch_size: int = field(default=10, metadata={"help": "Points per update (the page: 1 to 30)."})
    regularization: str = field(default="none", metadata={"help": "none, L1 or L2 (on the weights)."})
    regularization_rate: float = field(default=0.0, metadata={"help": "Regularisation rate, 0 to 10."})
    seed: int = field(default=0, metadata={
        "help": "Seed of the data and the initial weights (the page's #seed=: the same points and weights)."})
    epochs: int = field(default=500, metadata={"help": "Epochs to train (passes over the training points)."})
    logging_epochs: int = field(default=10, metadata={"help": "Log both losses every N epochs."})
    save_epochs: int = field(default=100, metadata={"help": "Checkpoint every N epochs (for --resume)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the finished folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push-to-hub."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        """Every value through `pipelines.validate` and `PlaygroundSettings`, named as its flag."""
        for name, low, high in (("epochs", 1, MAX_EPOCHS), ("logging_epochs", 1, MAX_EPOCHS),
                                ("save_epochs", 1, MAX_EPOCHS), ("save_total_limit", 1, 1000)):
            setattr(self, name, validate.integer(flag_name(name), getattr(self, name), low=low, high=high))
        self.seed = validate.integer("--seed", self.seed, low=0, high=validate.SEED_MAX)
        self.dataset = validate.text("--dataset", self.dataset).strip()
        try:
            self.settings()
        except InputError as err:  # named as its flag: `--hidden` must be ...
            if err.argument == "data":
                raise
            raise InputError(flag_name(err.argument.split("[")[0]), err.value, err.allowed, err.hint) from None
        if self.output_dir is None:
            self.output_dir = default_output_dir()

    @property
    def csv(self) -> str | None:
        """The CSV file, when --dataset names one (not one of the page's data sets)."""
        from pipelines.playground_data import DATASETS

        return None if self.dataset.lower() in DATASETS else self.dataset

    def settings(self) -> Any:
        from pipelines.playground import CSV, PlaygroundSettings

        if self.csv is not None and not Path(self.csv).expanduser().is_file():
            raise UsageError(f"--dataset must be circle, xor, gauss, spiral, reg-plane, reg-gauss or a CSV file; "
                             f"{self.dataset!r} is neither.")
        return PlaygroundSettings(
            dataset=CSV if self.csv else self.dataset, noise=self.noise, train_ratio=self.train_ratio,
            batch_size=self.batch_size, features=self.features, hidden=self.hidden, activation=self.activation,
            learning_rate=self.learning_rate, regularization=self.regularization,
            regularization_rate=self.regularization_rate, num_samples=self.num_samples, seed=self.seed)


# ----------------------------------------------------------------------------------------------------------------
# the loop


def train(args: PlaygroundArguments, folders: RunFolders, resume_from: str | None,
          progress: Any = None) -> dict[str, Any]:
    """Train, checkpoint, write and publish the output folder; returns the metrics.

    `progress(epoch, epochs, info)` after each epoch (``info``: ``epoch``, ``train_loss``, ``test_loss``);
    returning False ends the run early and still publishes the folder (any epoch's network is a usable model).
    """
    from tqdm.auto import tqdm

    from finetune.loop import load_checkpoint, save_checkpoint
    from pipelines.playground import Playground
    from pipelines.playground_svg import RenderOptions, render_html

    started = time.perf_counter()
    trainer = Playground(args.settings(), data=args.csv)
    log_history: list[dict[str, Any]] = []
    if resume_from:
        payload, state = load_checkpoint(resume_from)
        trainer.load_state_dict(payload["trainer"])
        log_history = state["log_history"]
        logger.info("resuming from %s (epoch %d of %d)", resume_from, trainer.epoch, args.epochs)
    data = trainer.data
    logger.info("Training a Playground network %s on %s: %d training and %d test points, %d epochs",
                "-".join(map(str, [len(trainer.settings.features), *trainer.settings.hidden, 1])), data.source,
                len(data.train_x), len(data.test_x), args.epochs)

    def log_entry() -> dict[str, Any]:
        metrics = trainer.evaluate()
        entry = {"step": trainer.epoch, "epoch": trainer.epoch, "loss": metrics["train_loss"],
                 "eval_loss": metrics["test_loss"]}
        if "test_accuracy" in metrics:
            entry["eval_accuracy"] = metrics["test_accuracy"]
        return entry

    if not log_history:
        log_history.append(log_entry())
    stopped = False
    session_start, first_epoch = time.perf_counter(), trainer.epoch
    with tqdm(total=args.epochs, initial=trainer.epoch, desc="epochs", disable=None) as bar:
        while trainer.epoch < args.epochs:
            trainer.train(1)
            bar.update(1)
            epoch = trainer.epoch
            if epoch % args.logging_epochs == 0 or epoch == args.epochs:
                log_history.append(log_entry())
                bar.set_postfix(train=f"{log_history[-1]['loss']:.4f}", test=f"{log_history[-1]['eval_loss']:.4f}")
            if epoch % args.save_epochs == 0 and epoch < args.epochs:
                save_checkpoint(folders, epoch, {"trainer": trainer.state_dict()},
                                {"global_step": epoch, "log_history": log_history}, keep=args.save_total_limit)
            if progress is not None:
                _, train_loss, test_loss = trainer.history[-1]
                if progress(epoch, args.epochs, {"epoch": epoch, "train_loss": train_loss,
                                                 "test_loss": test_loss}) is False:
                    stopped = epoch < args.epochs
                    break
    if log_history[-1]["step"] != trainer.epoch:
        log_history.append(log_entry())
    session_seconds = time.perf_counter() - session_start
    final = trainer.evaluate()
    metrics: dict[str, Any] = {
        "task": TASK,
        **final,
        "problem": trainer.problem,
        "stopped_early": stopped,
        "settings": trainer.settings.to_dict(),
        "playground_url": trainer.settings.url() if args.csv is None else None,
        "network": [len(trainer.settings.features), *trainer.settings.hidden, 1],
        "parameters": sum(p.numel() for p in trainer.network.parameters()),
        "data": {"source": data.source, "train_points": len(data.train_x), "test_points": len(data.test_x)},
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "epochs_per_second": round((trainer.epoch - first_epoch) / session_seconds, 1) if session_seconds else None,
        "log_history": log_history,
    }
    staging = folders.staging
    trainer.export(staging)
    (staging / "network.html").write_text("<!doctype html><meta charset='utf-8'><title>Playground network</title>"
                                          + render_html(trainer.frame(), data, RenderOptions(show_test=True)),
                                          encoding="utf-8")
    hyperparameters = card_hyperparameters(args, _RESUME_FREE)
    write_report(staging, metrics, model_card(metrics, hyperparameters, args.hub_model_id), log_history,
                 title=f"Playground network on {data.source}: training and test loss")
    publish_and_push(folders, args, "Playground network trained with mmhub")
    return metrics


def main(args: PlaygroundArguments, progress: Any = None) -> dict[str, Any]:
    """Train (or resume) and publish; `progress(epoch, epochs, info)` after each epoch (see `train`)."""
    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        with resume_hint(folders):
            return train(args, folders, resume_from, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          single_process="finetune.playground", args=args)


# ----------------------------------------------------------------------------------------------------------------
# the model card


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], repo_id: str | None = None) -> str:
    """README.md of the output folder: front matter, the network, data, results, use."""
    settings = metrics["settings"]
    where = repo_id or "path/to/this/folder"
    accuracy = (f", test accuracy {metrics['test_accuracy']:.1%} (training {metrics['train_accuracy']:.1%})"
                if "test_accuracy" in metrics else "")
    hidden = ", ".join(map(str, settings["hidden"])) or "none"
    evaluate = "pg.evaluate()" if metrics.get("playground_url") else "pg.evaluate(data='<the same CSV>')"
    return "\n".join([
        *front_matter("mmhub", "tabular-classification" if metrics["problem"] == "classification"
                      else "tabular-regression", ["tensorflow-playground", "model_hub_mixin",
                                                  "pytorch_model_hub_mixin"]),
        "",
        "# A TensorFlow Playground network",
        "",
        f"{metrics['problem'].capitalize()} of 2-D points ({metrics['data']['source']}) by a fully connected network "
        f"{' -> '.join(map(str, metrics['network']))} ({metrics['parameters']} weights and biases; hidden layers "
        f"{hidden}, {settings['activation']}), trained as playground.tensorflow.org trains (square loss, plain SGD, "
        "float64) by `python -m finetune.playground` (mmhub); saved with `huggingface_hub.PyTorchModelHubMixin` "
        "(config.json + model.safetensors). `network.html` shows its last frame as the Playground draws it.",
        "",
        "## Results",
        "",
        f"After {metrics['epoch']} epochs{' (stopped early)' if metrics['stopped_early'] else ''}: test loss "
        f"{metrics['test_loss']:.4f}, training loss {metrics['train_loss']:.4f}{accuracy} "
        f"({metrics['data']['train_points']} training and {metrics['data']['test_points']} test points).",
        "",
        "![training curve](training_curve.png)",
        "",
        *([f"The same data and initial weights on the Playground's page: <{metrics['playground_url']}>", ""]
          if metrics.get("playground_url") else []),
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'pg = load("playground", model="{where}")',
        "pg([[1.0, 2.0], [-3.0, 0.5]]).labels",
        f"{evaluate}        # the figures above, on the same data",
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
    ])


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    accuracy = f", test accuracy {metrics['test_accuracy']:.1%}" if "test_accuracy" in metrics else ""
    return (f"Trained the Playground network for {metrics['epoch']} epochs in {metrics['train_runtime_s']:.1f} s: "
            f"training loss {metrics['train_loss']:.4f}, test loss {metrics['test_loss']:.4f}{accuracy} -> "
            f"{output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; one-line errors for bad arguments, data or folders."""
    return cli_main(argv, PlaygroundArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(cli())
