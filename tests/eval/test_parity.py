"""mmhub vs stock lm-eval on the same tiny model and data: identical responses and identical scores.

The stock side is lm-eval alone: its own HF model (`model="hf"`, loading the tiny folder by path), and inline task
configs that use only lm-eval built-ins (the `json` dataset builder on the fixture files, the `regex` filter,
`exact_match`, `acc`) written from the leaderboard's documented prompts. The mmhub side is the shared suite run.

One difference is on purpose: the leaderboard's harness drops the evaluated document from its own shots whatever
the split (FORK polish4 lm_eval/api/samplers.py get_context); stock 0.4.13 only does so for test-split shots. The
cbd fixture repeats two test rows in its train split, so those prompts differ by exactly that shot.
"""

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

import eval as pl_eval
from pipelines import tiny

FIX = pl_eval.FIXTURES_DIR


def _files(dataset, *splits):
    return {"data_files": {split: str(FIX / dataset / f"{split}.jsonl") for split in splits}}


POLEMO_MC = {
    "task": "stock_polemo2_in_mc", "dataset_path": "json",
    "dataset_kwargs": _files("allegro/klej-polemo2-in", "train", "validation", "test"),
    "output_type": "multiple_choice", "training_split": "train", "validation_split": "validation",
    "test_split": "test",
    "doc_to_text": "Opinia: \"{{sentence}}\"\nOkreśl sentyment podanej opinii: Neutralny, Negatywny, Pozytywny, "
                   "Niejednoznaczny.\nSentyment:",
    "doc_to_choice": ["Neutralny", "Negatywny", "Pozytywny", "Niejednoznaczny"],
    "doc_to_target": "{{['__label__meta_zero', '__label__meta_minus_m', '__label__meta_plus_m', "
                     "'__label__meta_amb'].index(target)}}",
    "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
}
CBD_REGEX = {
    "task": "stock_cbd_regex", "dataset_path": "json",
    "dataset_kwargs": _files("ptaszynski/PolishCyberbullyingDataset", "train", "test"),
    "output_type": "generate_until", "training_split": "train", "test_split": "test",
    "doc_to_text": "Wypowiedź: \"{{TEXT}}\"\nPytanie: Jaka kategoria najlepiej pasuje do podanej wypowiedzi?\n"
                   "Możliwe odpowiedzi:\nA - nieszkodliwa\nB - szyderstwo\nC - obelga\nD - insynuacja\nE - groźba\n"
                   "F - molestowanie\nPrawidłowa odpowiedź:",
    "doc_to_target": "{{{'szyderstwo': 'B', 'obelga': 'C', 'insynuacja': 'D', 'grozba': 'E', "
                     "'molestowanie': 'F'}.get(CATEGORIES, 'A')}}",
    "generation_kwargs": {"until": [".", ",", ";"], "do_sample": False, "temperature": 0.0, "max_gen_toks": 50},
    "filter_list": [{"name": "score-first", "filter": [{"function": "regex", "regex_pattern": r"(\b[ABCDEF]\b)"},
                                                       {"function": "take_first"}]}],
    "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
}
PAIRS = {"polemo2_in_multiple_choice": "stock_polemo2_in_mc", "polish_cbd_regex": "stock_cbd_regex"}


@pytest.fixture(scope="module")
def stock():
    return lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(tiny.build("text-generation")), "dtype": "float32"},
        tasks=[POLEMO_MC, CBD_REGEX], num_fewshot=5, device="cpu", batch_size=32, log_samples=True,
        task_manager=TaskManager(include_defaults=False),
    )


@pytest.mark.parametrize(("ours", "theirs"), [("polemo2_in_multiple_choice", "stock_polemo2_in_mc")])
def test_same_scores_as_stock_lm_eval(suite, stock, ours, theirs):
    report, _, _ = suite
    mine = {k: v for k, v in report.results[5][ours].items() if "," in k}
    stock_metrics = {k: v for k, v in stock["results"][theirs].items() if "," in k}
    for key, value in stock_metrics.items():
        assert mine[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize(("ours", "theirs"), sorted(PAIRS.items()))
def test_same_prompts_and_responses_as_stock_lm_eval(suite, stock, ours, theirs):
    _, samples, _ = suite
    mine = sorted(samples[5][ours], key=lambda s: s["doc_id"])
    stock_samples = sorted(stock["samples"][theirs], key=lambda s: s["doc_id"])
    assert len(mine) == len(stock_samples) == 10
    dropped = 0
    for a, b in zip(mine, stock_samples, strict=True):
        assert a["target"] == b["target"]
        prompt, stock_prompt = a["arguments"][0][0], b["arguments"][0][0]
        own = stock_prompt.rsplit("\n\n", 1)[-1] + f" {b['target']}\n\n"  # the doc as a solved example
        if own in stock_prompt:  # stock lm-eval shows the doc its own answer; the leaderboard's harness drops it
            dropped += 1
            assert prompt == stock_prompt.replace(own, "", 1) and own not in prompt
            continue
        assert prompt == stock_prompt  # the 5-shot prompt
        if ours == "polish_cbd_regex":
            assert a["resps"] == b["resps"] and a["filtered_resps"] == b["filtered_resps"]
        else:
            assert [r[0][0] for r in b["resps"]] == pytest.approx([float(r[0][0]) for r in a["resps"]], abs=1e-5)
    # polemo2's splits share no row; the cbd fixture's repeated rows are drawn at least once with seed 1234
    assert dropped >= 1 if ours == "polish_cbd_regex" else dropped == 0
