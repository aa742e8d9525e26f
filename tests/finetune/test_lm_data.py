"""finetune.lm_data and finetune.chat_masks: sources, formats, row checks, and the assistant-token spans."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from finetune.data import DataError
from finetune.lm_data import check_messages, load_lm_data, read_rows, resolve_columns

CHAT = [{"role": "system", "content": "Jesteś pomocny."}, {"role": "user", "content": "Ile nóg ma kot?"},
        {"role": "assistant", "content": "Cztery."}, {"role": "user", "content": "A pies?"},
        {"role": "assistant", "content": "Też cztery."}]


def write_jsonl(path: Path, rows: list, opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


@pytest.mark.parametrize("opener, suffix", [(open, ""), (gzip.open, ".gz"), (bz2.open, ".bz2")])
def test_text_files_stream_one_example_per_line(tmp_path, opener, suffix):
    path = tmp_path / f"korpus.txt{suffix}"
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("Zażółć gęślą jaźń.\n\n   \nAla ma kota.\n" + "".join(f"Zdanie {i}.\n" for i in range(20)))
    rows = [row for _, row in read_rows(path)]
    assert rows[:2] == [{"text": "Zażółć gęślą jaźń."}, {"text": "Ala ma kota."}] and len(rows) == 22
    assert [n for n, _ in read_rows(path, limit=2)] == [1, 4]  # line numbers of the file, blanks skipped
    data = load_lm_data(train_file=str(path), validation_size=4, seed=0, cache_dir=str(tmp_path / "cache"),
                        validation_fraction=0.5)
    assert data.kind == "text" and len(data.train) == 18 and len(data.validation) == 4  # the cap binds
    assert set(data.train.column_names) == {"text"}


def test_jsonl_kinds_are_detected_from_the_columns(tmp_path):
    chats = write_jsonl(tmp_path / "chats.jsonl", [{"messages": CHAT, "id": i} for i in range(6)])
    data = load_lm_data(train_file=str(chats), validation_size=2, cache_dir=str(tmp_path / "c1"))
    assert data.kind == "chat" and data.train.column_names == ["messages"]
    assert data.train[0]["messages"] == CHAT
    alpaca = write_jsonl(tmp_path / "alpaca.jsonl", [
        {"instruction": "Przetłumacz na angielski.", "input": "kot" if i % 2 else "", "output": "cat"}
        for i in range(6)])
    data = load_lm_data(train_file=str(alpaca), validation_size=2, seed=1, cache_dir=str(tmp_path / "c2"))
    assert data.kind == "prompt-completion" and data.columns == {"prompt": "instruction", "completion": "output",
                                                                 "input": "input"}
    prompts = {row["prompt"] for row in data.train} | {row["prompt"] for row in data.validation}
    assert prompts == {"Przetłumacz na angielski.", "Przetłumacz na angielski.\n\nkot"}
    named = write_jsonl(tmp_path / "qa.jsonl", [{"q": "Pytanie?", "a": "Odpowiedź."}] * 5)
    data = load_lm_data(train_file=str(named), prompt_column="q", completion_column="a", validation_size=1,
                        cache_dir=str(tmp_path / "c3"))
    assert data.kind == "prompt-completion" and data.train[0] == {"prompt": "Pytanie?", "completion": "Odpowiedź."}


def test_a_local_dataset_folder_goes_through_load_dataset(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"content": f"Tekst {i}.", "label": 1} for i in range(10)])
    write_jsonl(folder / "validation.jsonl", [{"content": "Walidacja.", "label": 0}] * 3)
    data = load_lm_data(dataset=str(folder), text_column="content", cache_dir=str(tmp_path / "cache"))
    assert data.kind == "text" and len(data.train) == 10 and len(data.validation) == 3
    assert "split 'validation'" in data.validation_source
    with pytest.raises(DataError, match=r"has no column 'body' \(--text-column\); its columns are \['content', "
                                        r"'label'\]"):
        load_lm_data(dataset=str(folder), text_column="body", cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("row, message", [
    ({"messages": "hello"}, "must be a non-empty list"),
    ({"messages": []}, "must be a non-empty list"),
    ({"messages": [{"from": "human", "value": "hi"}]}, "ShareGPT"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ({"messages": [{"role": "narrator", "content": "hi"}]}, "role 'narrator'"),
    ({"messages": [{"role": "assistant", "content": None}]}, "must be a string"),
])
def test_malformed_chats_name_the_line(tmp_path, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"messages": CHAT}] * 3 + [row])
    with pytest.raises(DataError, match=message) as caught:
        load_lm_data(train_file=str(path), validation_size=1, cache_dir=str(tmp_path / "cache"))
    assert "bad.jsonl:4" in str(caught.value)


def test_bad_files_and_columns_fail_with_the_fix(tmp_path):
    with pytest.raises(DataError, match="none of the columns this trainer reads"):
        resolve_columns(["question", "answer"], "dataset 'x'")
    with pytest.raises(DataError, match="has no chat column 'messages'"):
        resolve_columns(["text"], "dataset 'x'", data_format="chat")
    not_json = write_jsonl(tmp_path / "x.jsonl", ['{"text": "ok"}', "{not json"])
    with pytest.raises(DataError, match="x.jsonl:2: not a JSON object"):
        list(read_rows(not_json))
    with pytest.raises(DataError, match="unknown file type"):
        load_lm_data(train_file=str(write_jsonl(tmp_path / "x.csv", ["a,b"])))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(DataError, match="holds no examples"):
        load_lm_data(train_file=str(empty))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("zażółć\n".encode() + "gęś\n".encode("iso8859_2"))
    with pytest.raises(DataError, match="latin.txt:2: not UTF-8"):
        list(read_rows(latin))
    small = write_jsonl(tmp_path / "small.jsonl", [{"text": "a"}] * 3)
    assert len(load_lm_data(train_file=str(small), validation_size=5, cache_dir=str(tmp_path / "c")).validation) == 1
    one = write_jsonl(tmp_path / "one.jsonl", [{"text": "a"}])
    with pytest.raises(DataError, match="one.jsonl: 1 usable rows: too few to hold out"):
        load_lm_data(train_file=str(one), cache_dir=str(tmp_path / "cache"))
    assert check_messages(CHAT, "here") == CHAT


# ---------------------------------------------------------------------------------------------------------------
# assistant spans


def test_assistant_spans_with_the_models_own_template():
    from transformers import AutoTokenizer

    from finetune.chat_masks import assistant_spans, assistant_strategy, tokenize_with_mask
    from pipelines import tiny

    tokenizer = AutoTokenizer.from_pretrained(tiny.build("text-generation", "tiny-chat"))
    assert assistant_strategy(tokenizer) == "prefix"  # plain ChatML: no generation markers, unknown to TRL
    text, spans = assistant_spans(tokenizer, CHAT, "row 0")
    assert [text[a:b] for a, b in spans] == ["Cztery.<|im_end|>", "Też cztery.<|im_end|>"]
    row = tokenize_with_mask(tokenizer, CHAT, "row 0")
    kept = [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(kept) == "Cztery.<|im_end|>Też cztery.<|im_end|>"
    assert row["input_ids"] == tokenizer.apply_chat_template(CHAT, tokenize=True, return_dict=True)["input_ids"]


def test_templates_with_markers_are_left_to_trl():
    from transformers import AutoTokenizer

    from finetune.chat_masks import assistant_strategy
    from pipelines import tiny

    tokenizer = AutoTokenizer.from_pretrained(tiny.build("text-generation", "tiny-chat"))
    tokenizer.chat_template = MARKED_CHATML
    assert assistant_strategy(tokenizer) == "markers"
    tokenizer.chat_template = None
    with pytest.raises(DataError, match="has none"):
        assistant_strategy(tokenizer)


#: The tiny-chat ChatML template with TRL-style generation markers around each assistant reply + end-of-turn token
#: (as trl/chat_templates/*_training.jinja place them); it renders the very same text.
MARKED_CHATML = (
    "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.txt", "bom.jsonl.gz"])
def test_a_utf8_bom_does_not_break_the_first_record(tmp_path, name):
    import gzip

    body = "\ufeff" + ('{"text": "Zażółć gęślą jaźń."}\n{"text": "Drugi."}\n' if ".jsonl" in name
                       else "Zażółć gęślą jaźń.\nDrugi.\n")
    path = tmp_path / name
    path.write_bytes(gzip.compress(body.encode("utf-8")) if name.endswith(".gz") else body.encode("utf-8"))
    rows = [row for _, row in read_rows(path)]
    assert rows == [{"text": "Zażółć gęślą jaźń."}, {"text": "Drugi."}]


def test_corrupt_archives_and_hostile_json_name_the_file_and_line(tmp_path, capsys):
    """A .gz damaged inside its deflate stream (zlib.error, no OSError), a truncated one, JSON nested 200,000 deep,
    a number past Python's 4300 digits: each a DataError naming file:line, from the reader and from finetune.lm."""
    from finetune import lm

    good = "\n".join(f"line number {i} with some text {i * i}" for i in range(20000)).encode()
    damaged = bytearray(gzip.compress(good))
    for k in range(2000, 2100):
        damaged[k] ^= 0x55
    cases = {
        "corrupt.txt.gz": (bytes(damaged), "cannot read the file (the gz data is corrupt (error: Error -3"),
        "cut.txt.gz": (gzip.compress(good)[:5000], "cannot read the file (the gz data is truncated"),
        "deep.jsonl": (b'{"text": "ok"}\n' + b"[" * 200_000 + b"]" * 200_000 + b"\n",
                       ":2: not a JSON object (JSON nested deeper"),
        "digits.jsonl": (b'{"text": "ok"}\n{"text": "x", "n": ' + b"9" * 5000 + b"}\n",
                         ":2: not a JSON object (a JSON number with more than 4300 digits"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError) as info:
            load_lm_data(train_file=str(path), validation_size=1, cache_dir=str(tmp_path / "cache"))
        assert f"{path}:" in str(info.value) and message in str(info.value), str(info.value)
    output = tmp_path / "never"
    assert lm.cli(["--model", "tiny", "--train-file", str(tmp_path / "corrupt.txt.gz"), "--output-dir",
                   str(output), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {tmp_path / 'corrupt.txt.gz'}:") and "the gz data is corrupt" in err[-1]
    assert not output.exists() and not (tmp_path / "never.partial").exists()
    fine = write_jsonl(tmp_path / "fine.jsonl", [{"text": "Ala ma kota."}] * 4)
    assert len(load_lm_data(train_file=str(fine), validation_size=1, cache_dir=str(tmp_path / "cache")).train) == 3
