"""Sentiment on a tiny XLM-R classifier: parity with the raw transformers pipeline, label folding, errors."""

import math

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    pipeline,
)

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.sentiment import LABELS, label_mapping, max_input_length

REVIEWS = ["Świetny produkt, polecam!", "Terrible. It broke after a day.", "It is a chair.",
           "Okropna jakość, nie polecam. " * 3, "ok"]


@pytest.fixture(scope="module")
def clf():
    return load("sentiment", model="tiny", device="cpu")


def test_labels_and_scores(clf):
    for result in clf(REVIEWS):
        assert set(result.scores) == set(LABELS)
        assert result.label in LABELS
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.score == max(result.scores.values())


def test_equals_the_raw_transformers_pipeline(clf):
    raw = pipeline("text-classification", model=str(tiny.build("sentiment")), top_k=None, device="cpu")
    for ours, theirs in zip(clf(REVIEWS, batch_size=2), raw(REVIEWS), strict=True):
        by_label = {d["label"]: d["score"] for d in theirs}
        assert ours.label == max(by_label, key=by_label.get)
        for label in LABELS:
            assert ours.scores[label] == pytest.approx(by_label[label], rel=1e-4, abs=1e-6)


def test_batched_results_come_back_in_input_order(clf):
    one_by_one = [clf(text).scores for text in REVIEWS]
    for batch_size in (1, 2, 32):
        batched = [r.scores for r in clf(REVIEWS, batch_size=batch_size)]
        for ours, single in zip(batched, one_by_one, strict=True):
            assert ours == pytest.approx(single, abs=1e-5)


def test_a_5000_word_text_is_truncated_not_a_crash(clf):
    result = clf("słowo " * 5000)
    assert result.label in LABELS


@pytest.mark.parametrize(("id2label", "expected"), [
    ({0: "negative", 1: "neutral", 2: "positive"}, ["negative", "neutral", "positive"]),
    ({0: "Negative", 1: "Neutral", 2: "Positive"}, ["negative", "neutral", "positive"]),
    ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ["negative", "neutral", "positive"]),
    ({0: "LABEL_0", 1: "LABEL_1"}, ["negative", "positive"]),
    ({i: f"{i + 1} stars" for i in range(5)}, ["negative", "negative", "neutral", "positive", "positive"]),
    ({0: "Very Negative", 1: "Negative", 2: "Neutral", 3: "Positive", 4: "Very Positive"},
     ["negative", "negative", "neutral", "positive", "positive"]),
    ({0: "NEUTRAL", 1: "NEGATIVE", 2: "POSITIVE", 3: "AMBIGUOUS"}, ["neutral", "negative", "positive", "neutral"]),
])
def test_label_mapping(id2label, expected):
    assert [label_mapping(id2label)[i] for i in sorted(id2label)] == expected


@pytest.mark.parametrize("id2label", [{0: "sport", 1: "film"}, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2",
                                                                 3: "LABEL_3"}, {0: "neutral", 1: "positive"}])
def test_unmappable_labels_are_named(id2label):
    with pytest.raises(ModelLoadError) as info:
        label_mapping(id2label, "some/model")
    assert info.value.reason == "incompatible"
    assert str(list(id2label.values())[0]) in str(info.value)


def test_a_five_star_model_folds_its_scores(clf, tmp_path):
    base = tiny.build("sentiment")
    config = XLMRobertaConfig.from_pretrained(base, num_labels=5,
                                              id2label={i: f"{i + 1} stars" for i in range(5)},
                                              label2id={f"{i + 1} stars": i for i in range(5)})
    XLMRobertaForSequenceClassification(config).save_pretrained(tmp_path)
    clf.tokenizer.save_pretrained(tmp_path)
    stars = load("sentiment", model=str(tmp_path), device="cpu")
    raw = pipeline("text-classification", model=str(tmp_path), top_k=None, device="cpu")([REVIEWS[0]])[0]
    by_label = {d["label"]: d["score"] for d in raw}
    result = stars(REVIEWS[0])
    assert result.scores["positive"] == pytest.approx(by_label["4 stars"] + by_label["5 stars"], rel=1e-4)
    assert result.scores["neutral"] == pytest.approx(by_label["3 stars"], rel=1e-4)


@pytest.mark.parametrize(("inputs", "params", "argument"), [
    ("", {}, "inputs"),
    ("  \t", {}, "inputs"),
    ([], {}, "inputs"),
    (["fine", ""], {}, "inputs[1]"),
    ([3], {}, "inputs[0]"),
    (None, {}, "inputs"),
    ("fine", {"batch_size": 0}, "batch_size"),
])
def test_bad_input_gets_an_input_error(clf, inputs, params, argument):
    with pytest.raises(InputError) as info:
        clf(inputs, **params)
    assert info.value.argument == argument


# The id2label of real checkpoints, as their config.json / model cards publish them.
UPSTREAM_LABELS = {
    # config.json (a copy with "_name_or_path": "nlptown/bert-base-multilingual-uncased-sentiment")
    "nlptown/bert-base-multilingual-uncased-sentiment": (
        {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
        ["negative", "negative", "neutral", "positive", "positive"]),
    # the model card's sentiment_map (index 4 -> "Very Positive")
    "tabularisai/multilingual-sentiment-analysis": (
        {0: "Very Negative", 1: "Negative", 2: "Neutral", 3: "Positive", 4: "Very Positive"},
        ["negative", "negative", "neutral", "positive", "positive"]),
    # model card: pipeline output label 'Positive'; classes in the order negative, neutral, positive
    "cardiffnlp/twitter-xlm-roberta-base-sentiment": (
        {0: "Negative", 1: "Neutral", 2: "Positive"}, ["negative", "neutral", "positive"]),
    # model card: "Labels: 0 -> Negative; 1 -> Neutral; 2 -> Positive" with generic LABEL_n names in the config
    "cardiffnlp/twitter-roberta-base-sentiment": (
        {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ["negative", "neutral", "positive"]),
}


@pytest.mark.parametrize("model", sorted(UPSTREAM_LABELS))
def test_upstream_checkpoint_labels(model):
    id2label, expected = UPSTREAM_LABELS[model]
    assert [label_mapping(id2label, model)[i] for i in sorted(id2label)] == expected


def five_class_model(folder):
    """The tiny XLM-R with a 5-class head and transformers' generic names LABEL_0..LABEL_4."""
    base = tiny.build("sentiment")
    config = XLMRobertaConfig.from_pretrained(base, num_labels=5, id2label={i: f"LABEL_{i}" for i in range(5)},
                                              label2id={f"LABEL_{i}": i for i in range(5)})
    torch.manual_seed(0)
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return str(folder)


def test_generic_five_class_labels_need_the_labels_option(tmp_path):
    folder = five_class_model(tmp_path)
    with pytest.raises(ModelLoadError) as info:  # nothing says whether LABEL_0..4 run from negative to positive
        load("sentiment", model=folder, device="cpu")
    assert info.value.reason == "incompatible" and "labels=" in str(info.value) and "LABEL_4" in str(info.value)
    stars = ["negative", "negative", "neutral", "positive", "positive"]
    by_list = load("sentiment", model=folder, device="cpu", labels=stars)
    by_name = load("sentiment", model=folder, device="cpu", labels={f"LABEL_{i}": c for i, c in enumerate(stars)})
    assert by_list.mapping == by_name.mapping == dict(enumerate(stars))
    raw = pipeline("text-classification", model=folder, top_k=None, device="cpu")([REVIEWS[1]])[0]
    p = {d["label"]: d["score"] for d in raw}
    result = by_list(REVIEWS[1])
    assert result.scores["negative"] == pytest.approx(p["LABEL_0"] + p["LABEL_1"], rel=1e-4)
    assert result.scores["positive"] == pytest.approx(p["LABEL_3"] + p["LABEL_4"], rel=1e-4)


@pytest.mark.parametrize("labels", [
    ["negative", "positive"],  # 2 classes for a 5-class model
    ["negative", "negative", "neutral", "positive", "great"],
    {"LABEL_0": "negative", "LABEL_4": "positive"},  # not every class
    {"LABEL_9": "negative"},
    "stars",
    [None] * 5,
])
def test_bad_labels_option(tmp_path, labels):
    with pytest.raises(InputError) as info:
        load("sentiment", model=five_class_model(tmp_path), device="cpu", labels=labels)
    assert info.value.argument.startswith("labels")


def roberta_like(positions):
    tok = AutoTokenizer.from_pretrained(tiny.build("sentiment"))
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=8, max_position_embeddings=positions, pad_token_id=tok.pad_token_id)
    return XLMRobertaForSequenceClassification(config).eval(), tok


def bert_like(positions):
    tok = AutoTokenizer.from_pretrained(tiny.build("sentiment"))
    config = BertConfig(vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=8, max_position_embeddings=positions, pad_token_id=tok.pad_token_id)
    return BertForSequenceClassification(config).eval(), tok


@pytest.mark.parametrize(("build", "positions", "expected"), [
    (roberta_like, 130, 128),  # positions start after the padding index (1): 130 - 1 - 1
    (roberta_like, 64, 62),
    (bert_like, 64, 64),  # BERT counts positions from 0
    (bert_like, 130, 130),
])
def test_max_input_length_is_exactly_what_the_position_table_takes(build, positions, expected):
    model, tok = build(positions)
    tok.model_max_length = int(1e30)  # a tokenizer that reports no limit: the config decides
    assert max_input_length(model.config, tok) == expected
    with torch.no_grad():
        model(torch.full((1, expected), 5))  # the longest input runs
        with pytest.raises((IndexError, RuntimeError)):
            model(torch.full((1, expected + 1), 5))  # one more token indexes past the table
    tok.model_max_length = expected - 10  # a smaller, sane tokenizer limit wins
    assert max_input_length(model.config, tok) == expected - 10


@pytest.mark.parametrize(("inputs", "params", "argument"), [
    ("Ala \ud800 kota", {}, "inputs"),
    (["ok", "\udcff"], {}, "inputs[1]"),
    ([None], {}, "inputs[0]"),
    (5, {}, "inputs"),
    (b"bytes", {}, "inputs"),
    ("fine", {"batch_size": math.nan}, "batch_size"),
    ("fine", {"batch_size": math.inf}, "batch_size"),
    ("fine", {"batch_size": 2**70}, "batch_size"),
    ("fine", {"batch_size": 1025}, "batch_size"),
    ("fine", {"batch_size": 1.5}, "batch_size"),
    ("fine", {"batch_size": "8"}, "batch_size"),
    ("fine", {"batch_size": True}, "batch_size"),
    ("fine", {"batch_sise": 8}, "batch_sise"),
])
def test_hostile_input_gets_an_input_error_naming_the_argument(clf, inputs, params, argument):
    with pytest.raises(InputError) as info:
        clf(inputs, **params)
    assert info.value.argument == argument and f"`{argument}`" in str(info.value)


def test_still_answers_after_the_bad_calls(clf):
    assert clf("Świetny produkt!").label in LABELS


@pytest.mark.slow
class TestRealModels:
    """The registry's real sentiment models (RUN_SLOW=1, network or a warm cache): invariants only."""

    @pytest.mark.parametrize("model", ["cardiffnlp/twitter-xlm-roberta-base-sentiment",
                                       "bardsai/twitter-sentiment-pl-base"])
    def test_clear_polish_reviews(self, model):
        clf = load("sentiment", model=model)
        good, bad = clf(["Świetny produkt, polecam każdemu!", "Okropna jakość, zepsuł się po tygodniu."])
        assert good.label == "positive" and bad.label == "negative"

    def test_english_and_a_long_review(self):
        clf = load("sentiment")
        assert clf("This is terrible, it broke after one day.").label == "negative"
        assert clf("Great value. " * 2000).label in LABELS


@pytest.mark.gpu
def test_cuda_half_precision_classification():
    import torch

    clf = load("sentiment", model="tiny")
    assert clf.device.type == "cuda" and clf.dtype in (torch.bfloat16, torch.float16)
    results = clf(REVIEWS + ["słowo " * 5000])
    assert all(sum(r.scores.values()) == pytest.approx(1.0, abs=1e-3) for r in results)


@pytest.mark.parametrize(("options", "argument"), [
    ({"trust_remote_code": "no"}, "trust_remote_code"),  # a truthy string must not run remote code
    ({"use_safetensors": "yes"}, "use_safetensors"),
    ({"revision": ""}, "revision"),
])
def test_bad_load_options(options, argument):
    with pytest.raises(InputError) as info:
        load("sentiment", model="tiny", device="cpu", **options)
    assert info.value.argument == argument
