"""What a fine-tuning run leaves beside the model: the training-curve PNG and the model card (README.md).

>>> from finetune.report import plot_training_curve
>>> plot_training_curve(trainer.state.log_history, "runs/amazon/training_curve.png")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from finetune.cards import front_matter, hyperparameter_table, is_hub_id, percent, trainer_session_line

logger = logging.getLogger(__name__)

# Published anchors for Amazon polarity (test set, 400k reviews), so a user knows what a full run should reach.
AMAZON_POLARITY_ANCHORS = (
    "fastText (Joulin et al. 2016, 'Bag of Tricks'): about 91 % with unigrams, 94.6 % with bigrams",
    "fine-tuned BERT-class encoders (BERT, XLM-R base): about 95-97 %",
)


#: Metrics drawn on the right-hand axis, in [0, 1]; the logged losses go on the left.
FRACTION_METRICS = ("accuracy", "macro_f1", "f1", "knn_accuracy", "nmi", "ari")  # the last three: finetune.metric


def curves(log_history: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Every logged loss and fraction metric as ``{"loss": [(step, value)...], "eval_accuracy": [...], ...}``.

    Losses are the keys with a ``loss`` part (``loss``, ``eval_loss``, a GAN's ``loss_d`` / ``loss_g``...); fractions
    the ``eval_<name>`` keys for `FRACTION_METRICS`. Keys appear in the order first logged.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for entry in log_history:
        if "step" not in entry:
            continue
        for key, value in entry.items():
            loss = "loss" in key.split("_") and not key.startswith("train_")  # train_loss: the run's mean
            plotted = loss or key.removeprefix("eval_") in FRACTION_METRICS
            if plotted and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, []).append((int(entry["step"]), float(value)))
    return out


def plot_training_curve(log_history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write a PNG: the losses (left axis) and the validation fractions such as accuracy and macro-F1 (right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, loss_ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    acc_ax = None
    for i, (key, points) in enumerate(curves(log_history).items()):
        steps, values = zip(*points, strict=True)
        label = key.replace("eval_", "validation ").replace("_", " ")
        if "loss" in key.split("_"):
            loss_ax.plot(steps, values, "o--" if key.startswith("eval_") else "-", label=label, color=f"C{i}")
        else:
            acc_ax = acc_ax or loss_ax.twinx()
            acc_ax.plot(steps, values, "s:" if "f1" in key else "o-", label=label, color=f"C{i}")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    handles = loss_ax.get_legend_handles_labels()[0]
    if acc_ax is not None:
        acc_ax.set_ylabel("validation " + " / ".join(line.get_label().removeprefix("validation ")
                                                     for line in acc_ax.lines))
        acc_ax.set_ylim(0.0, 1.0)
        handles += acc_ax.get_legend_handles_labels()[0]
    if handles:
        loss_ax.legend(handles=handles, loc="center right")
    loss_ax.set_title(title or "training curve")
    loss_ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], *, repo_id: str | None = None) -> str:
    """The README.md of the output folder: front matter, data, hyperparameters, metrics, usage, anchors."""
    labels = metrics["labels"]
    base = metrics["base_model"]
    data = metrics["data"]
    val, test = metrics.get("validation") or {}, metrics.get("test") or {}
    front = front_matter("transformers", "text-classification", ["sentiment-analysis"],
                         base=base if is_hub_id(base) else None, dataset=data.get("hub_dataset"))
    where = repo_id or "path/to/this/folder"
    samples = data["train_samples"] if data.get("train_samples") is not None else "a stream of"
    rows = [("validation", val), ("test", test)]
    table = ["| split | samples | accuracy | macro-F1 | loss |", "|---|---|---|---|---|"]
    for name, m in rows:
        if m:
            table.append(f"| {name} | {m.get('samples', 'n/a')} | {percent(m.get('accuracy'))} | "
                         f"{percent(m.get('macro_f1'))} | {m.get('loss', float('nan')):.4f} |")
    lines = [
        *front, "",
        f"# Sentiment classifier fine-tuned from `{base}`",
        "",
        f"Labels: {', '.join(f'`{label}`' for label in labels)} (`config.id2label`). Trained with "
        f"`python -m finetune.sentiment` (mmhub) and the Hugging Face Trainer"
        + (" with a LoRA adapter (merged into the weights)." if hyperparameters.get("lora") else "."),
        "",
        "## Data",
        "",
        f"- training data: {data['source']} ({samples} examples, label scheme `{data['label_scheme']}`)",
        f"- validation: {data['validation_source']}",
        f"- test: {data.get('test_source') or 'none'}",
        "",
        "## Results",
        "",
        *table,
        "",
        trainer_session_line(metrics),
        "",
        "![training curve](training_curve.png)",
        "",
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'clf = load("sentiment", model="{where}")',
        'clf(["Great product, works perfectly!", "Terrible, it broke after a day."])',
        "```",
        "",
        "or, with transformers alone:",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'pipeline("text-classification", model="{where}", top_k=None)("Great product!")',
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
        "## What a full run should reach (Amazon polarity, test set)",
        "",
        *(f"- {anchor}" for anchor in AMAZON_POLARITY_ANCHORS),
        "",
    ]
    return "\n".join(lines)
