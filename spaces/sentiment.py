"""Sentiment Space: a review -> positive / neutral / negative with all three confidences; a batch -> table + chart.

    python -m spaces.sentiment                  # http://127.0.0.1:7860
    python -m spaces.sentiment --models tiny    # offline, tiny random model (noise)

API (gradio_client): ``/sentiment`` (text, model) -> label with confidences;
``/sentiment_batch`` (lines, csv file, model) -> table, label counts.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path
from typing import Any

import gradio as gr

from pipelines import validate

from .common import Context, SpaceSpec, require, user_errors
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "sentiment"
MAX_BATCH = 2000  # texts per batch request
TEXT_COLUMNS = ("text", "review", "content", "review_body", "comment", "tekst", "opinia", "recenzja", "komentarz",
                "sentence")
LABEL_ORDER = ("negative", "neutral", "positive")
DELIMITERS = ",;\t|"  # the only delimiters a .csv may use (csv.Sniffer restricted to them); .tsv: tab
SNIFF_CHARS = 64 * 1024
NO_DELIMITER = "\x1f"  # a single-column file: parsed with a delimiter that text does not contain (quotes still work)

TEXTS = {
    "en": {
        "single": "One text", "batch": "Batch", "text": "Review", "placeholder": "Type or paste a review…",
        "analyse": "Analyse", "result": "Sentiment", "lines": "Texts, one per line",
        "csv": "…or a file: CSV / TSV (column 'text', 'review', … or the first text column; one column needs no "
               "header) or .txt (one text per line)",
        "table": "Results", "chart": "Distribution", "count": "count", "label": "label",
        "empty_batch": "Paste some lines or upload a CSV file.",
        "too_many": "At most {limit} texts per batch; got {count}.",
        "bad_csv": "Cannot read {name} as CSV: {error}",
        "no_column": "{name} has no text column (looked for {columns} or any column of text).",
        "empty_file": "{name} is empty: it holds no texts.",
        "binary_file": "{name} is not a text file (it holds binary data): upload a .csv, .tsv or .txt file.",
        "not_utf8": "{name} is not UTF-8 text: save it as 'CSV UTF-8' (or UTF-16 with a byte order mark).",
        "no_texts": "{name} has no texts under its header (column {column!r} is empty).",
    },
    "pl": {
        "single": "Jeden tekst", "batch": "Wiele tekstów", "text": "Opinia", "placeholder": "Wpisz lub wklej opinię…",
        "analyse": "Analizuj", "result": "Sentyment", "lines": "Teksty, jeden w wierszu",
        "csv": "…lub plik: CSV / TSV (kolumna 'text', 'review', … albo pierwsza kolumna tekstowa; jedna kolumna nie "
               "potrzebuje nagłówka) albo .txt (jeden tekst w wierszu)",
        "table": "Wyniki", "chart": "Rozkład", "count": "liczba", "label": "etykieta",
        "empty_batch": "Wklej kilka wierszy lub wgraj plik CSV.",
        "too_many": "Najwyżej {limit} tekstów naraz; jest {count}.",
        "bad_csv": "Nie można odczytać {name} jako CSV: {error}",
        "no_column": "{name} nie ma kolumny z tekstem (szukano {columns} lub dowolnej kolumny tekstowej).",
        "empty_file": "{name} jest pusty: nie ma w nim tekstów.",
        "binary_file": "{name} nie jest plikiem tekstowym (zawiera dane binarne): wgraj plik .csv, .tsv lub .txt.",
        "not_utf8": "{name} nie jest tekstem UTF-8: zapisz go jako 'CSV UTF-8' (albo UTF-16 ze znacznikiem BOM).",
        "no_texts": "{name} nie ma tekstów pod nagłówkiem (kolumna {column!r} jest pusta).",
    },
}

EXAMPLES = [
    "Świetny produkt, działa bez zarzutu. Polecam!",
    "Okropna jakość, zepsuł się po tygodniu.",
    "Paczka przyszła we wtorek.",
    "Great value for money, I would buy it again.",
    "Terrible customer service, never again.",
]


class BatchFileError(ValueError):
    """A batch file that cannot be used; `key` names the UI message (in `TEXTS`), `values` fill it in."""

    def __init__(self, key: str, **values: Any):
        self.key, self.values = key, values
        super().__init__(TEXTS["en"][key].format(**values))


def decode(data: bytes, name: str) -> str:
    """The text of an uploaded file: UTF-8 (a BOM is dropped) or UTF-16 with a BOM; binary data is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise BatchFileError("not_utf8", name=name) from None
    if b"\x00" in data:
        raise BatchFileError("binary_file", name=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchFileError("not_utf8", name=name) from None


def choose_delimiter(text: str, suffix: str) -> str | None:
    """The delimiter of a table: a tab for .tsv; for anything else the one `csv.Sniffer` finds among ``, ; tab |``
    in the first lines, or None when there is none consistent (one column: each record is one text).

    Restricting the sniffer matters: unrestricted, it takes a letter for the delimiter (``text\\nGreat!`` read as
    the column ``Grea``).
    """
    if suffix == ".tsv":
        return "\t"
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return None


def has_letters(value: str) -> bool:
    return bool(re.search(r"[^\W\d_]", value))


def table_texts(text: str, name: str, suffix: str = ".csv") -> list[str]:
    """The texts of a CSV / TSV / TXT file's content (see `read_batch_file`)."""
    if not text.strip():
        raise BatchFileError("empty_file", name=name)
    if suffix == ".txt":
        rows = [[line] for line in text.splitlines()]
    else:
        delimiter = choose_delimiter(text, suffix)
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or NO_DELIMITER))
        except csv.Error as err:
            raise BatchFileError("bad_csv", name=name, error=err) from err
    rows = [[cell.strip() for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        raise BatchFileError("empty_file", name=name)
    header = [cell.lstrip("\ufeff").lower() for cell in rows[0]]
    known = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    width = max(len(row) for row in rows)
    if known is not None:  # a header row names the text column
        column, data = known, rows[1:]
    elif width == 1:  # one column is a column: every row is a text
        column, data = 0, rows
    else:  # several columns: a header row when the sniffer thinks so; the text column is the first of words
        try:
            header_row = csv.Sniffer().has_header(text[:SNIFF_CHARS])
        except csv.Error:
            header_row = True
        data = rows[1:] if header_row else rows
        column = next((i for i in range(width)
                       if sum(has_letters(row[i]) for row in data if len(row) > i and row[i]) * 2
                       > sum(1 for row in data if len(row) > i and row[i])), None)
        if column is None:
            raise BatchFileError("no_column", name=name, columns=", ".join(TEXT_COLUMNS))
    texts = [row[column] for row in data if len(row) > column and row[column]]
    if not texts:
        raise BatchFileError("no_texts", name=name, column=rows[0][column] if column < len(rows[0]) else column)
    return texts


def read_batch_file(path: str | Path) -> list[str]:
    """The texts of an uploaded batch file, or `BatchFileError` saying why there are none.

    - ``.tsv``: tab-separated; ``.txt``: one text per line; ``.csv`` (and anything else): the delimiter found by
      `choose_delimiter` (``,`` ``;`` tab ``|``), quotes and quoted newlines as Python's `csv` reads them.
    - A header row naming a column in `TEXT_COLUMNS` picks that column; a single column needs no header; with
      several columns and no known name, the first column whose values are mostly words.
    - UTF-8 with or without a BOM, or UTF-16 with a BOM; Windows line endings; blank rows skipped.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BatchFileError("bad_csv", name=path.name, error=err.strerror or err) from err
    return table_texts(decode(data, path.name), path.name, path.suffix.lower())


def read_texts(lines: str | None, csv_path: str | None, ctx: Context) -> list[str]:
    """The batch's texts: the non-empty pasted lines, then the file's texts (`read_batch_file`)."""
    if lines is not None:
        validate.text("lines", lines, allow_empty=True)
    texts = [line.strip() for line in (lines or "").splitlines() if line.strip()]
    if csv_path:
        try:
            texts += read_batch_file(csv_path)
        except BatchFileError as err:
            raise gr.Error(ctx.t(err.key, TEXTS, **err.values), print_exception=False) from err
    if not texts:
        raise gr.Error(ctx.t("empty_batch", TEXTS), print_exception=False)
    if len(texts) > MAX_BATCH:
        raise gr.Error(ctx.t("too_many", TEXTS, limit=MAX_BATCH, count=len(texts)), print_exception=False)
    return texts


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key: ctx.t(key, TEXTS)  # noqa: E731

    @user_errors
    def classify(text: str, model: str, progress: gr.Progress = gr.Progress()) -> dict[str, float]:
        text = validate.text("text", require(text, "text", "non-empty text (type a review)"))
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


main = main_for(SPACE)

if __name__ == "__main__":
    main()
