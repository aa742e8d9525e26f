"""Sentiment on a tiny XLM-R classifier: parity with the raw transformers pipeline, label folding, errors."""

import pytest
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification, pipeline

from pipelines import InputError, ModelLoadError, load, tiny
from pipelines.sentiment import LABELS, label_mapping

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
