"""What a fine-tuning run leaves beside the model: the training-curve PNG and the model card (README.md).

>>> from finetune.report import plot_training_curve
>>> plot_training_curve(trainer.state.log_history, "runs/amazon/training_curve.png")
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Published anchors for Amazon polarity (test set, 400k reviews), so a user knows what a full run should reach.
AMAZON_POLARITY_ANCHORS = (
    "fastText (Joulin et al. 2016, 'Bag of Tricks'): about 91 % with unigrams, 94.6 % with bigrams",
    "fine-tuned BERT-class encoders (BERT, XLM-R base): about 95-97 %",
)


def curves(log_history: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{"loss": [(step, value)...], "eval_loss": [...], "eval_accuracy": [...], "eval_macro_f1": [...]}``."""
    out: dict[str, list[tuple[int, float]]] = {"loss": [], "eval_loss": [], "eval_accuracy": [], "eval_macro_f1": []}
    for entry in log_history:
        for key, points in out.items():
            if key in entry and "step" in entry:
                points.append((int(entry["step"]), float(entry[key])))
    return out


def plot_training_curve(log_history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write a PNG: training and validation loss (left axis), validation accuracy and macro-F1 (right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    data = curves(log_history)
    fig, loss_ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key, style, label in (("loss", "-", "training loss"), ("eval_loss", "o--", "validation loss")):
        if data[key]:
            steps, values = zip(*data[key], strict=True)
            loss_ax.plot(steps, values, style, label=label, color="tab:blue" if key == "loss" else "tab:cyan")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    acc_ax = loss_ax.twinx()
    for key, style, label in (("eval_accuracy", "o-", "validation accuracy"), ("eval_macro_f1", "s:", "macro-F1")):
        if data[key]:
            steps, values = zip(*data[key], strict=True)
            acc_ax.plot(steps, values, style, label=label, color="tab:orange" if "acc" in key else "tab:red")
    acc_ax.set_ylabel("validation accuracy / macro-F1")
    acc_ax.set_ylim(0.0, 1.0)
    handles = loss_ax.get_legend_handles_labels()[0] + acc_ax.get_legend_handles_labels()[0]
    if handles:
        loss_ax.legend(handles=handles, loc="center right")
    loss_ax.set_title(title or "training curve")
    loss_ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _percent(value: Any) -> str:
    return f"{100 * value:.2f} %" if isinstance(value, (int, float)) else "n/a"


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], *, repo_id: str | None = None) -> str:
    """The README.md of the output folder: front matter, data, hyperparameters, metrics, usage, anchors."""
    labels = metrics["labels"]
    base = metrics["base_model"]
    data = metrics["data"]
    val, test = metrics.get("validation") or {}, metrics.get("test") or {}
    front = ["---", "library_name: transformers", "pipeline_tag: text-classification", "tags:", "- sentiment-analysis",
             "- mmhub"]
    if "/" in base and not Path(base).exists():
        front.append(f"base_model: {base}")
    if data.get("hub_dataset"):
        front += ["datasets:", f"- {data['hub_dataset']}"]
    front.append("---")
    where = repo_id or "path/to/this/folder"
    samples = data["train_samples"] if data.get("train_samples") is not None else "a stream of"
    rows = [("validation", val), ("test", test)]
    table = ["| split | samples | accuracy | macro-F1 | loss |", "|---|---|---|---|---|"]
    for name, m in rows:
        if m:
            table.append(f"| {name} | {m.get('samples', 'n/a')} | {_percent(m.get('accuracy'))} | "
                         f"{_percent(m.get('macro_f1'))} | {m.get('loss', float('nan')):.4f} |")
    hp = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in hyperparameters.items())
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
        f"{metrics['global_step']} optimizer steps ({metrics.get('epoch', 0):.2f} epochs), "
        f"{metrics.get('train_runtime_s', 0):.0f} s of training in the last session"
        + (f", best checkpoint at step {metrics['best_step']}" if metrics.get("best_step") else "") + ".",
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
        "| name | value |",
        "|---|---|",
        hp,
        "",
        "## What a full run should reach (Amazon polarity, test set)",
        "",
        *(f"- {anchor}" for anchor in AMAZON_POLARITY_ANCHORS),
        "",
    ]
    return "\n".join(lines)
