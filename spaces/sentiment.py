"""Sentiment Space: a review -> positive / neutral / negative with all three confidences; a batch -> table + chart.

    python -m spaces.sentiment                  # http://127.0.0.1:7860
    python -m spaces.sentiment --models tiny    # offline, tiny random model (noise)

API (gradio_client): ``/sentiment`` (text, model) -> label with confidences;
``/sentiment_batch`` (lines, csv file, model) -> table, label counts, the table as CSV and XLSX files. Pasted lines and
an uploaded file are separate inputs: a file, when given, is analysed alone, and its table keeps every column (the
sentiment columns are added at the end); the lines otherwise.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from pipelines import validate

from .common import Context, Run, SpaceSpec, request_folder, require, run_controls
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
        "file_note": "A file, when given, is analysed alone (its table keeps every column); the lines otherwise.",
        "downloads": "Download the results (CSV, XLSX)", "text_column": "text", "column": "column",
        "score": "score", "negative": "negative", "neutral": "neutral", "positive": "positive",
        "analysed": "{count} text analysed|{count} texts analysed",
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
        "file_note": "Wgrany plik jest analizowany sam (jego tabela zachowuje wszystkie kolumny); inaczej wiersze.",
        "downloads": "Pobierz wyniki (CSV, XLSX)", "text_column": "tekst", "column": "kolumna",
        "score": "pewność", "negative": "negatywny", "neutral": "neutralny", "positive": "pozytywny",
        "analysed": "przeanalizowano {count} tekst|przeanalizowano {count} teksty|przeanalizowano {count} tekstów",
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
EXAMPLES_PL = [  # the Polish UI's
    "Świetny produkt, działa bez zarzutu. Polecam!",
    "Okropna jakość, zepsuł się po tygodniu.",
    "Paczka przyszła we wtorek.",
    "Stosunek jakości do ceny bardzo dobry, kupię jeszcze raz.",
    "Fatalna obsługa klienta, nigdy więcej.",
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


@dataclass
class BatchTable:
    """An uploaded table as read: its header (None when it has none), its data rows (every column, padded to one
    width) and the index of the text column."""

    header: list[str] | None
    rows: list[list[str]]
    column: int

    @property
    def texts(self) -> list[str]:
        return [row[self.column] for row in self.rows if row[self.column]]

    def columns(self, names: tuple[str, str]) -> list[str]:
        """Column names: the header's, else ``names[0]`` for the text column and ``names[1]`` numbered for the others
        (blank or repeated names get a number)."""
        width = len(self.rows[0]) if self.rows else 1
        header = list(self.header or []) + [""] * (width - len(self.header or []))
        result: list[str] = []
        for i, cell in enumerate(header[:width]):
            name = cell.lstrip("\ufeff") or (names[0] if i == self.column and self.header is None else
                                              f"{names[1]} {i + 1}")
            result.append(name if name not in result else f"{name} ({i + 1})")
        return result


def parse_table(text: str, name: str, suffix: str = ".csv") -> BatchTable:
    """A CSV / TSV / TXT file's content as a `BatchTable` (see `read_batch_file` for the rules)."""
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
    header_row = True
    if known is not None:  # a header row names the text column
        column, data = known, rows[1:]
    elif width == 1:  # one column is a column: every row is a text
        column, data, header_row = 0, rows, False
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
    table = BatchTable(rows[0] if header_row else None, [row + [""] * (width - len(row)) for row in data], column)
    if not table.texts:
        raise BatchFileError("no_texts", name=name, column=rows[0][column] if column < len(rows[0]) else column)
    return table


def table_texts(text: str, name: str, suffix: str = ".csv") -> list[str]:
    """The texts of a CSV / TSV / TXT file's content (see `read_batch_file`)."""
    return parse_table(text, name, suffix).texts


def read_batch_table(path: str | Path) -> BatchTable:
    """An uploaded batch file as a `BatchTable` (every column kept), or `BatchFileError` saying why it has no texts
    (see `read_batch_file`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BatchFileError("bad_csv", name=path.name, error=err.strerror or err) from err
    return parse_table(decode(data, path.name), path.name, path.suffix.lower())


def read_batch_file(path: str | Path) -> list[str]:
    """The texts of an uploaded batch file, or `BatchFileError` saying why there are none.

    - ``.tsv``: tab-separated; ``.txt``: one text per line; ``.csv`` (and anything else): the delimiter found by
      `choose_delimiter` (``,`` ``;`` tab ``|``), quotes and quoted newlines as Python's `csv` reads them.
    - A header row naming a column in `TEXT_COLUMNS` picks that column; a single column needs no header; with
      several columns and no known name, the first column whose values are mostly words.
    - UTF-8 with or without a BOM, or UTF-16 with a BOM; Windows line endings; blank rows skipped.
    """
    return read_batch_table(path).texts


def read_batch(lines: str | None, csv_path: str | None, ctx: Context) -> tuple[list[str], BatchTable | None]:
    """The batch's texts and, for an uploaded file, its table: a file, when given, is the batch alone (pasted
    lines and a file are separate inputs); else the non-empty pasted lines."""
    if lines is not None:
        validate.text("lines", lines, allow_empty=True)
    table = None
    if csv_path:
        try:
            table = read_batch_table(csv_path)
        except BatchFileError as err:
            raise gr.Error(ctx.t(err.key, TEXTS, **err.values), print_exception=False) from err
        texts = table.texts
    else:
        texts = [line.strip() for line in (lines or "").splitlines() if line.strip()]
    if not texts:
        raise gr.Error(ctx.t("empty_batch", TEXTS), print_exception=False)
    if len(texts) > MAX_BATCH:
        raise gr.Error(ctx.t("too_many", TEXTS, limit=MAX_BATCH, count=len(texts)), print_exception=False)
    return texts, table


def read_texts(lines: str | None, csv_path: str | None, ctx: Context) -> list[str]:
    """The batch's texts (`read_batch`)."""
    return read_batch(lines, csv_path, ctx)[0]


def build(ctx: Context) -> None:
    import pandas as pd

    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def label_words(run: Run) -> dict[str, str]:
        """The labels as the page shows them (the UI language); the API keeps the pipeline's names."""
        return {name: t(name) for name in LABEL_ORDER} if run.browser else {name: name for name in LABEL_ORDER}

    def classify(text: str, model: str, *, run: Run) -> Any:
        text = validate.text("text", require(text, "text", "non-empty text (type a review)"))
        clf = yield from run.pipeline(TASK, model)
        words = label_words(run)
        yield {words.get(label, label): score for label, score in clf(text).scores.items()}

    def results_table(texts: list[str], table: BatchTable | None, results: list[Any], run: Run) -> Any:
        """The results: the pasted texts, or the uploaded table with every column, then the sentiment columns."""
        words = label_words(run)
        names = ["label", "score", *LABEL_ORDER]
        if run.browser:
            names = [t(name) for name in names]
        if table is None:
            frame = pd.DataFrame({t("text_column") if run.browser else "text": texts})
            rows = list(range(len(texts)))
        else:
            frame = pd.DataFrame(table.rows, columns=table.columns((t("text_column"), t("column"))))
            rows = [i for i, row in enumerate(table.rows) if row[table.column]]
        taken = set(frame.columns)
        names = [name if name not in taken else f"{name} (sentiment)" for name in names]
        values = [[words.get(r.label, r.label) for r in results], [round(r.score, 4) for r in results],
                  *[[round(r.scores[name], 4) for r in results] for name in LABEL_ORDER]]
        for name, column in zip(names, values, strict=True):
            full: list[Any] = [None] * len(frame)
            for row, value in zip(rows, column, strict=True):
                full[row] = value
            frame[name] = full
        return frame, names[0]

    def classify_batch(lines: str, csv_file: str | None, model: str, *, run: Run) -> Any:
        texts, table = read_batch(lines, csv_file, ctx)
        clf = yield from run.pipeline(TASK, model)
        results = clf(texts)
        frame, label_column = results_table(texts, table, results, run)
        words = label_words(run)
        counts = frame[label_column].value_counts().reindex([words[name] for name in LABEL_ORDER], fill_value=0)
        chart = pd.DataFrame({t("label"): [words[name] for name in LABEL_ORDER], t("count"): [int(c) for c in counts]})
        run.finish(t("analysed", count=len(texts)))
        stem = Path(csv_file).stem if csv_file else "sentiment"
        with request_folder("mmhub-sentiment-") as folder:  # gone once gradio has copied the files
            csv_path, xlsx_path = folder / f"{stem}-sentiment.csv", folder / f"{stem}-sentiment.xlsx"
            frame.to_csv(csv_path, index=False)
            frame.to_excel(xlsx_path, index=False)  # openpyxl
            yield frame, chart, [str(csv_path), str(xlsx_path)]

    examples = EXAMPLES_PL if ctx.lang == "pl" else EXAMPLES
    model = ctx.model_dropdown(TASK)
    with gr.Tab(t("single")):
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("text"), placeholder=t("placeholder"), lines=4, elem_id="sentiment-text")
                controls = run_controls(ctx, t("analyse"), elem_id="sentiment-run")
            label = gr.Label(label=t("result"), num_top_classes=3, elem_id="sentiment-label")
        gr.Examples([[e] for e in examples], inputs=[text], label=ctx.t("examples"))
        controls.click(classify, [text, model], [label], api_name="sentiment", triggers=[text.submit], **SPACE.queue)
    with gr.Tab(t("batch")):
        gr.Markdown(f"ℹ️ {t('file_note')}")
        with gr.Row():
            lines = gr.Textbox(label=t("lines"), lines=8, value="\n".join(examples), elem_id="sentiment-lines")
            csv_file = gr.File(label=t("csv"), file_types=[".csv", ".tsv", ".txt"], type="filepath",
                               elem_id="sentiment-file")
        batch = run_controls(ctx, t("analyse"), elem_id="sentiment-batch-run")
        table = gr.Dataframe(label=t("table"), wrap=True, elem_id="sentiment-batch-table")
        chart = gr.BarPlot(x=t("label"), y=t("count"), label=t("chart"), x_title=t("label"), y_title=t("count"),
                           sort=[t(name) for name in LABEL_ORDER], elem_id="sentiment-batch-chart")
        downloads = gr.File(label=t("downloads"), file_count="multiple", interactive=False,
                            elem_id="sentiment-downloads")
        batch.click(classify_batch, [lines, csv_file, model], [table, chart, downloads], api_name="sentiment_batch",
                    **SPACE.queue)


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
    group="text",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
