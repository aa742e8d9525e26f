"""Bulk inputs and outputs: the readers (every format, line numbers, streams, bad lines) and the resumable JSONL."""

import bz2
import gzip
import json
import tracemalloc

import pytest

from finetune.data import DataError, parse_fasttext_line
from pipelines import InputError, jsonl
from pipelines.records import detect_format, read_records


def records(path, **options):
    return [(r.line, r.value, r.error, r.extra) for r in read_records(path, **options)]


@pytest.mark.parametrize(("name", "fmt"), [
    ("a.txt", "text"), ("a.csv", "csv"), ("a.csv.gz", "csv"), ("a.TSV", "tsv"), ("a.jsonl.bz2", "jsonl"),
    ("train.ft.txt.bz2", "fasttext"), ("test.ft.txt", "fasttext"), ("prompts", "text"), ("a.ndjson", "jsonl"),
])
def test_the_format_comes_from_the_name(name, fmt):
    assert detect_format(name) == fmt


def test_text_lines_keep_their_numbers_and_skip_blank_lines(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_bytes("Ala ma kota\n\n  \nZażółć gęślą jaźń\r\n".encode() + b"\xff broken\n")
    got = records(path)
    assert [(line, value) for line, value, _, _ in got] == [(1, "Ala ma kota"), (4, "Zażółć gęślą jaźń"), (5, None)]
    assert "not valid UTF-8" in got[2][2]


def test_csv_and_tsv_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review_body,stars\n1,"Great, really",5\n2,"two\nlines",1\n3,,4\n4,too,many,fields\n'
                    '5,last,3\n', encoding="utf-8")
    got = records(path, column="review_body")
    assert [(line, value) for line, value, _, _ in got] == [(2, "Great, really"), (3, "two\nlines"), (5, None),
                                                             (6, None), (7, "last")]
    assert "empty" in got[2][2] and "4 fields where the header has 3" in got[3][2]
    with pytest.raises(InputError) as info:
        records(path, column="text")
    assert info.value.argument == "column" and "review_body" in str(info.value)
    with pytest.raises(InputError) as info:  # several columns, none called 'text': say which to pick
        records(path)
    assert info.value.argument == "column"
    tsv = tmp_path / "one.tsv"
    tsv.write_text("text\tlabel\nfine\t1\n", encoding="utf-8")
    assert records(tsv) == [(2, "fine", None, {})]


def test_jsonl_fields(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"text": "a", "id": 1}\n{"text": "b"\n"just a string"\n{"id": 3}\n[1, 2]\n{"text": 5}\n',
                    encoding="utf-8")
    got = records(path)
    assert got[0] == (1, "a", None, {}) and got[2] == (3, "just a string", None, {})
    assert [e for _, _, e, _ in got[1:2] + got[3:]] == ["not JSON (Expecting ',' delimiter at column 13)",
                                                        "no field 'text'", "a JSON list, not an object",
                                                        "the field 'text' is int, not text"]
    with pytest.raises(InputError) as info:  # the very first record lacks the field: a typo, not a bad line
        records(path, field_name="review")
    assert info.value.argument == "field" and "['id', 'text']" in str(info.value)


def test_fasttext_uses_the_finetune_parser_and_keeps_the_label(tmp_path):
    path = tmp_path / "train.ft.txt.bz2"
    lines = ["__label__2 Great: works", "no label here", "__label__1", "__label__1 Awful: broke"]
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    got = records(path)
    assert got[0] == (1, "Great: works", None, {"label": "2"}) and got[3] == (4, "Awful: broke", None, {"label": "1"})
    for (_, _, error, _), line in zip(got[1:3], lines[1:3], strict=True):
        with pytest.raises(DataError) as info:
            parse_fasttext_line(line)
        assert error == str(info.value)  # one parser, one message


def test_compressed_files_are_streamed_never_held_in_memory(tmp_path):
    path = tmp_path / "big.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(50_000):
            handle.write(f"review number {i} with a few words of text to make the line longer\n")
    tracemalloc.start()
    reader = read_records(path)
    first = [next(reader) for _ in range(3)]
    for last in reader:  # noqa: B007 (the last record is checked below)
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [r.line for r in first] == [1, 2, 3] and last.line == 50_000
    assert peak < 2**20, peak  # the file holds 3.5 MB of text


def test_missing_unreadable_and_corrupt_files(tmp_path):
    for path in (tmp_path / "nope.txt", tmp_path):
        with pytest.raises(InputError) as info:
            records(path)
        assert info.value.argument == "input"
    good = gzip.compress(("line\n" * 50_000).encode())
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError) as info:
        records(truncated)
    assert info.value.argument == "input" and "Reading stopped after line" in str(info.value)
    with pytest.raises(InputError) as info:
        records(tmp_path / "cut.txt.gz", column="x")
    assert info.value.argument == "column"


def test_resume_drops_a_cut_line_and_names_the_last_input_line(tmp_path):
    path = tmp_path / "out.jsonl"
    assert jsonl.resume(path) == 0
    with jsonl.JSONLWriter(path) as out:
        out.write_many([{"line": 2, "result": {"label": "positive"}}, {"line": 5, "error": "ź"}])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"line": 7, "resu')  # a kill in the middle of a write
    assert jsonl.resume(path) == 5
    assert [o["line"] for o in jsonl.read(path)] == [2, 5] and path.read_text().endswith('"ź"}\n')
    path.write_text("not ours\n")
    with pytest.raises(InputError) as info:
        jsonl.resume(path)
    assert info.value.argument == "output"


def test_merge_interleaves_the_parts_in_line_order(tmp_path):
    parts = [tmp_path / "p0", tmp_path / "p1"]
    parts[0].write_text("".join(json.dumps({"line": n}) + "\n" for n in (1, 4, 6)))
    parts[1].write_text("".join(json.dumps({"line": n}) + "\n" for n in (2, 5)))
    out = tmp_path / "out.jsonl"
    assert jsonl.merge(parts, out) == 5
    assert [o["line"] for o in jsonl.read(out)] == [1, 2, 4, 5, 6]
    assert not (tmp_path / "out.jsonl.merging").exists()
