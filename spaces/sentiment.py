"""Sentiment Space: a review -> positive / neutral / negative with all three confidences; a batch -> table + chart.

    python -m spaces.sentiment                  # http://127.0.0.1:7860
    python -m spaces.sentiment --models tiny    # offline, tiny random model (noise)

API (gradio_client): ``/sentiment`` (text, model) -> label with confidences;
``/sentiment_batch`` (lines, csv file, model) -> table, label counts.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gradio as gr

from .common import Context, SpaceSpec, user_errors

logger = logging.getLogger(__name__)

TASK = "sentiment"
MAX_BATCH = 2000  # texts per batch request
TEXT_COLUMNS = ("text", "review", "content", "review_body", "comment", "tekst", "opinia", "sentence")
LABEL_ORDER = ("negative", "neutral", "positive")

TEXTS = {
    "en": {
        "single": "One text", "batch": "Batch", "text": "Review", "placeholder": "Type or paste a review…",
        "analyse": "Analyse", "result": "Sentiment", "lines": "Texts, one per line",
        "csv": "…or a CSV file (column 'text', 'review' or the first text column)", "table": "Results",
        "chart": "Distribution", "count": "count", "label": "label",
        "empty_batch": "Paste some lines or upload a CSV file.",
        "too_many": "At most {limit} texts per batch; got {count}.",
        "bad_csv": "Cannot read {name} as CSV: {error}",
        "no_column": "{name} has no text column (looked for {columns} or any text column).",
    },
    "pl": {
        "single": "Jeden tekst", "batch": "Wiele tekstów", "text": "Opinia", "placeholder": "Wpisz lub wklej opinię…",
        "analyse": "Analizuj", "result": "Sentyment", "lines": "Teksty, jeden w wierszu",
        "csv": "…lub plik CSV (kolumna 'text', 'review' albo pierwsza kolumna tekstowa)", "table": "Wyniki",
        "chart": "Rozkład", "count": "liczba", "label": "etykieta",
        "empty_batch": "Wklej kilka wierszy lub wgraj plik CSV.",
        "too_many": "Najwyżej {limit} tekstów naraz; jest {count}.",
        "bad_csv": "Nie można odczytać {name} jako CSV: {error}",
        "no_column": "{name} nie ma kolumny z tekstem (szukano {columns} lub dowolnej kolumny tekstowej).",
    },
}

EXAMPLES = [
    "Świetny produkt, działa bez zarzutu. Polecam!",
    "Okropna jakość, zepsuł się po tygodniu.",
    "Paczka przyszła we wtorek.",
    "Great value for money, I would buy it again.",
    "Terrible customer service, never again.",
]


def read_texts(lines: str | None, csv_path: str | None, ctx: Context) -> list[str]:
    """The batch's texts: the non-empty pasted lines, then the CSV's text column."""
    texts = [line.strip() for line in (lines or "").splitlines() if line.strip()]
    if csv_path:
        import pandas as pd

        name = os.path.basename(csv_path)
        try:
            frame = pd.read_csv(csv_path, sep=None, engine="python", dtype=str)
        except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise gr.Error(ctx.t("bad_csv", TEXTS, name=name, error=err)) from err
        lowered = {str(c).strip().lower(): c for c in frame.columns}
        column = next((lowered[c] for c in TEXT_COLUMNS if c in lowered), None)
        if column is None:
            column = next((c for c in frame.columns if frame[c].dropna().str.contains(r"[^\d\W]").any()), None)
        if column is None:
            raise gr.Error(ctx.t("no_column", TEXTS, name=name, columns=", ".join(TEXT_COLUMNS)))
        texts += [t.strip() for t in frame[column].dropna() if t.strip()]
    if not texts:
        raise gr.Error(ctx.t("empty_batch", TEXTS))
    if len(texts) > MAX_BATCH:
        raise gr.Error(ctx.t("too_many", TEXTS, limit=MAX_BATCH, count=len(texts)))
    return texts


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key: ctx.t(key, TEXTS)  # noqa: E731

    @user_errors
    def classify(text: str, model: str, progress: gr.Progress = gr.Progress()) -> dict[str, float]:
        result = ctx.pipeline(TASK, model, progress)(text)
        return dict(result.scores)

    @user_errors
    def classify_batch(lines: str, csv_file: str | None, model: str,
                       progress: gr.Progress = gr.Progress()) -> tuple[Any, Any]:
        texts = read_texts(lines, csv_file, ctx)
        results = ctx.pipeline(TASK, model, progress)(texts)
        table = pd.DataFrame({
            "text": texts, "label": [r.label for r in results], "score": [round(r.score, 4) for r in results],
            **{name: [round(r.scores[name], 4) for r in results] for name in LABEL_ORDER},
        })
        counts = table["label"].value_counts().reindex(LABEL_ORDER, fill_value=0)
        chart = pd.DataFrame({"label": list(LABEL_ORDER), "count": [int(c) for c in counts]})
        return table, chart

    model = ctx.model_dropdown(TASK)
    with gr.Tab(t("single")):
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("text"), placeholder=t("placeholder"), lines=4, elem_id="sentiment-text")
                button = gr.Button(t("analyse"), variant="primary", elem_id="sentiment-run")
            label = gr.Label(label=t("result"), num_top_classes=3, elem_id="sentiment-label")
        gr.Examples([[e] for e in EXAMPLES], inputs=[text], label=ctx.t("examples"))
        gr.on([button.click, text.submit], classify, inputs=[text, model], outputs=label, api_name="sentiment",
              **SPACE.queue)
    with gr.Tab(t("batch")):
        with gr.Row():
            lines = gr.Textbox(label=t("lines"), lines=8, value="\n".join(EXAMPLES))
            csv_file = gr.File(label=t("csv"), file_types=[".csv", ".tsv", ".txt"], type="filepath")
        batch_button = gr.Button(t("analyse"), variant="primary", elem_id="sentiment-batch-run")
        table = gr.Dataframe(label=t("table"), wrap=True, elem_id="sentiment-batch-table")
        chart = gr.BarPlot(x="label", y="count", label=t("chart"), x_title=t("label"), y_title=t("count"),
                           sort=list(LABEL_ORDER), elem_id="sentiment-batch-chart")
        batch_button.click(classify_batch, inputs=[lines, csv_file, model], outputs=[table, chart],
                           api_name="sentiment_batch", **SPACE.queue)


SPACE = SpaceSpec(
    name="sentiment",
    title={"en": "Sentiment", "pl": "Sentyment"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=4,  # a small classifier: a few requests at once
    requirements=("torch", "transformers", "tokenizers", "safetensors", "huggingface-hub", "sentencepiece",
                  "numpy", "pandas"),
    emoji="💬",
    description="Positive / neutral / negative with a confidence for each, for Polish, English and more.",
    order=20,
)


def main(argv: list[str] | None = None) -> None:
    from .launcher import run

    run([SPACE], argv, prog="python -m spaces.sentiment", title="mmhub · sentiment")


if __name__ == "__main__":
    main()
