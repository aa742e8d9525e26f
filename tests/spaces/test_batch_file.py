"""The sentiment batch file reader: CSV / TSV / TXT read with an explicit delimiter decision, or a clear refusal."""

from __future__ import annotations

import pytest

from spaces.sentiment import BatchFileError, choose_delimiter, read_batch_file

READ = [  # (file name, bytes, texts)
    ("one-column.csv", b"text\nGreat!", ["Great!"]),  # a letter-sniffing reader took 't' for the delimiter: "Grea"
    ("no-header.csv", b"Great!\nBad\n", ["Great!", "Bad"]),  # one column is a column, no header needed
    ("unquoted-comma.csv", b"review\nGreat, really great!\nBad\n", ["Great, really great!", "Bad"]),
    ("quoted.csv", 'id,review\n1,"Świetny produkt, polecam!"\n2,"Said ""meh"""\n'.encode(),
     ["Świetny produkt, polecam!", 'Said "meh"']),
    ("quoted-newline.csv", b'text\n"two\nlines"\nok\n', ["two\nlines", "ok"]),
    ("tabs.tsv", b"id\ttext\n1\tGreat, yes; really\n2\tBad\n", ["Great, yes; really", "Bad"]),
    ("bom-crlf.csv", "\ufefftext\r\nGreat!\r\n\r\nBad\r\n".encode(), ["Great!", "Bad"]),
    ("semicolons.csv", "id;opinia\n1;Dobry produkt, polecam\n2;Zły\n".encode(), ["Dobry produkt, polecam", "Zły"]),
    ("pipes.csv", b"name|comment\nx|Fine stuff\ny|Awful\n", ["Fine stuff", "Awful"]),
    ("header-case.csv", b"ID,Review\n1,Fine\n", ["Fine"]),
    ("unnamed-columns.csv", b"id,opinion\n1,Great product\n2,Bad thing\n", ["Great product", "Bad thing"]),
    ("headerless-pairs.csv", b"1,Great\n2,Bad\n3,Meh\n", ["Great", "Bad", "Meh"]),
    ("utf16.csv", "text\nDobre\n".encode("utf-16"), ["Dobre"]),
    ("lines.txt", b"text\nfirst, with a comma\n\nsecond\n", ["first, with a comma", "second"]),
]

REFUSED = [  # (file name, bytes, message)
    ("empty.csv", b"", r"empty\.csv is empty"),
    ("blank.csv", b"  \n\r\n\n", r"blank\.csv is empty"),
    ("header-only.csv", b"text\n", r"header-only\.csv has no texts under its header \(column 'text'"),
    ("numbers.csv", b"id,score\n1,2\n3,4\n", r"numbers\.csv has no text column"),
    ("binary.csv", bytes(range(256)) * 4, r"binary\.csv is not a text file"),
    ("zip.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100), r"zip\.csv is not a text file"),
    ("cp1250.csv", "text\nzażółć gęślą jaźń\n".encode("cp1250"), r"cp1250\.csv is not UTF-8 text"),
]


@pytest.mark.parametrize(("name", "data", "texts"), READ, ids=[row[0] for row in READ])
def test_reads_the_texts(tmp_path, name, data, texts):
    (tmp_path / name).write_bytes(data)
    assert read_batch_file(tmp_path / name) == texts


@pytest.mark.parametrize(("name", "data", "message"), REFUSED, ids=[row[0] for row in REFUSED])
def test_refuses_with_a_clear_message(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(BatchFileError, match=message):
        read_batch_file(tmp_path / name)


def test_delimiter_is_one_of_the_allowed_or_none():
    assert choose_delimiter("text\nGreat!\nterrible\n", ".csv") is None  # never a letter
    assert choose_delimiter("a,b\n1,2\n", ".tsv") == "\t"  # the extension decides
    assert choose_delimiter("a;b\n1;2\n3;4\n", ".csv") == ";"
    assert choose_delimiter("axb\n1x2\n3x4\n", ".csv") is None  # 'x' is consistent, but not a delimiter


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(BatchFileError, match="Cannot read gone.csv as CSV"):
        read_batch_file(tmp_path / "gone.csv")
