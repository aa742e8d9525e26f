"""Model cards (README.md) for the generator fine-tunes: what was trained, on what, how well, and how to use it;
and the pieces the lab trainers' cards (`finetune.digits`, `finetune.vae`, `finetune.gan`) share with them.

>>> from finetune.cards import lm_card
>>> (folder / "README.md").write_text(lm_card(metrics, hyperparameters))
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def is_hub_id(name: str | None) -> bool:
    return bool(name) and "/" in name and not Path(name).expanduser().exists() and not name.startswith((".", "/", "~"))


def front_matter(library: str, pipeline_tag: str, tags: list[str], base: str | None = None,
                 dataset: str | None = None) -> list[str]:
    """The card's YAML header: library, task, `base` (when given), the tags (``mmhub`` first), `dataset` (when
    given)."""
    front = ["---", f"library_name: {library}", f"pipeline_tag: {pipeline_tag}"]
    if base:
        front.append(f"base_model: {base}")
    front += ["tags:", *(f"- {tag}" for tag in ["mmhub", *tags])]
    if dataset:
        front += ["datasets:", f"- {dataset}"]
    return [*front, "---"]


def _front_matter(library: str, pipeline_tag: str, base: str | None, tags: list[str],
                  dataset: str | None = None) -> list[str]:
    """`front_matter` naming `base` and `dataset` only when they are Hub ids (not local folders)."""
    return front_matter(library, pipeline_tag, tags, base if is_hub_id(base) else None,
                        dataset if is_hub_id(dataset) else None)


def hyperparameter_table(hyperparameters: dict[str, Any], ensure_ascii: bool = False) -> list[str]:
    """``| name | value |`` rows, each value as JSON (`ensure_ascii`: non-ASCII text as ``\\u`` escapes)."""
    return ["| name | value |", "|---|---|",
            *(f"| `{k}` | `{json.dumps(v, ensure_ascii=ensure_ascii, default=str)}` |"
              for k, v in hyperparameters.items())]


def percent(value: Any) -> str:
    return f"{100 * value:.2f} %" if isinstance(value, (int, float)) else "n/a"


def picture_data_lines(data: dict[str, Any]) -> list[str]:
    """The ``## Data`` bullets of a trainer on `finetune.image_data` pictures (``ImageData.describe()``)."""
    return [
        f"- training: {data['source']} ({data['train_samples']} pictures)",
        f"- validation: {data['validation_source']}"
        + ("" if "held out" in data["validation_source"] else f" ({data['validation_samples']} pictures)"),
        f"- test: {data['test_samples'] if data.get('test_samples') else 'none'} pictures of split 'test'",
    ]


def session_line(metrics: dict[str, Any]) -> str:
    """How far a lab trainer's run went: ``N steps (E epochs), S s in the last session on DEVICE``."""
    return (f"{metrics['global_step']} steps ({metrics['epoch']:.2f} epochs), {metrics['train_runtime_s']:.0f} s in "
            f"the last session on {metrics.get('device', 'cpu')}")


def trainer_session_line(metrics: dict[str, Any]) -> str:
    """How far a Trainer run went: ``N optimizer steps (E epochs), S s of training in the last session[, best
    checkpoint at step B].``"""
    return (f"{metrics['global_step']} optimizer steps ({_number(metrics.get('epoch'), 2)} epochs), "
            f"{metrics.get('train_runtime_s', 0):.0f} s of training in the last session"
            + (f", best checkpoint at step {metrics['best_step']}" if metrics.get("best_step") else "") + ".")


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"


LOSS_ON = {"text": "every token (continued pre-training)",
           "chat": "the assistant turns only",
           "chat-all": "every token of the chats",
           "prompt-completion": "the completions only"}


def lm_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], *, repo_id: str | None = None) -> str:
    """README.md of a `finetune.lm` output folder."""
    base, data = metrics["base_model"], metrics["data"]
    adapter = metrics["adapter"]
    where = repo_id or "path/to/this/folder"
    method = ("QLoRA (4-bit base)" if hyperparameters.get("qlora") else "LoRA") if metrics["lora"] else "full"
    saved = "a LoRA adapter (peft); it loads on its base model" if adapter else (
        "the full weights (the LoRA adapter merged in)" if metrics["lora"] else "the full weights")
    before, after = metrics.get("validation_before") or {}, metrics.get("validation") or {}
    rows = ["| | validation loss | perplexity |", "|---|---|---|"]
    if before:
        rows.append(f"| {base} (before) | {_number(before.get('loss'))} | {_number(before.get('perplexity'), 2)} |")
    rows.append(f"| this model | {_number(after.get('loss'))} | {_number(after.get('perplexity'), 2)} |")
    samples = data.get("train_samples")
    lines = [
        *_front_matter("peft" if adapter else "transformers", "text-generation", base,
                       ["trl", "sft", *(["lora"] if metrics["lora"] else [])], data.get("hub_dataset")), "",
        f"# `{base}` fine-tuned with mmhub",
        "",
        f"{method.capitalize() if method == 'full' else method} fine-tuning with TRL's `SFTTrainer` "
        f"(`python -m finetune.lm`); the loss is on {LOSS_ON[metrics['loss_on']]}. This folder holds {saved}.",
        "",
        "## Data",
        "",
        f"- training data: {data['source']} ({samples} examples, {data['kind']}"
        + (f", columns {data['columns']}" if data.get("columns") else "") + ")",
        f"- validation: {data['validation_source']} ({data.get('validation_samples')} examples)",
        "",
        "## Results",
        "",
        *rows,
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
        f'gen = load("text-generation", model="{where}")',
        *(['print(gen([{"role": "user", "content": "Napisz haiku o Wiśle."}], max_new_tokens=64, seed=0))', "```",
           "", "It learnt from chats rendered with its chat template (saved with the tokenizer): send it chat "
           "messages, which the pipeline renders with the same template; a reply ends at the template's "
           "end-of-turn token, where the pipeline stops.", ""]
          if metrics.get("prompt_format", "chat") == "chat" else
          ['print(gen("Dawno, dawno temu", max_new_tokens=64, seed=0))', "```", "",
           "It learnt from plain text (no chat template): send it plain prompts; each training example ended "
           "with the tokenizer's end-of-sequence token, where the pipeline stops.", ""]),
        "Compare it with its base on the Polish leaderboard tasks, and chat with it:",
        "",
        "```bash",
        f"python -m eval --compare {base} {where}",
        "python -m spaces.text_generation --allow-local-models runs   # the folder that holds this run",
        "```",
        "",
    ]
    if adapter:
        lines += ["or with peft alone:", "", "```python", "from peft import AutoPeftModelForCausalLM", "",
                  f'model = AutoPeftModelForCausalLM.from_pretrained("{where}")', "```", ""]
    lines += ["## Hyperparameters", "", *hyperparameter_table(hyperparameters), ""]
    return "\n".join(lines)


def sd_lora_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], *, repo_id: str | None = None) -> str:
    """README.md of a `finetune.sd_lora` output folder."""
    base = metrics["base_model"]
    where = repo_id or "path/to/this/folder"
    prompt = metrics["instance_prompt"]
    samples = [f"![step {s['step']}]({s['file']})" for s in metrics.get("samples", [])[-4:]]
    lines = [
        *_front_matter("diffusers", "text-to-image", base, ["lora", "dreambooth", "stable-diffusion"]), "",
        f"# DreamBooth LoRA for `{base}`: \"{prompt}\"",
        "",
        f"LoRA (rank {hyperparameters.get('rank')}) on the UNet's attention projections, trained with "
        f"`python -m finetune.sd_lora` (mmhub) on {metrics['images']} images, following diffusers' "
        f"`examples/dreambooth/train_dreambooth_lora.py`"
        + (" with prior preservation" if metrics.get("prior_preservation") else "") + ".",
        "",
        "## Samples",
        "",
        *(samples or ["(no samples were drawn)"]),
        "",
        f"{metrics['global_step']} steps, final loss {_number(metrics.get('final_loss'))}, "
        f"{metrics.get('train_runtime_s', 0):.0f} s of training in the last session.",
        "",
        "![training curve](training_curve.png)",
        "",
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f't2i = load("text-to-image", model="{base}", lora="{where}", lora_scale=1.0)',
        f't2i("{prompt}", seed=0).images[0].save("sample.png")',
        "```",
        "",
        "or with diffusers alone:",
        "",
        "```python",
        "from diffusers import AutoPipelineForText2Image",
        "",
        f'pipe = AutoPipelineForText2Image.from_pretrained("{base}")',
        f'pipe.load_lora_weights("{where}")',
        "```",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters),
        "",
    ]
    return "\n".join(lines)
