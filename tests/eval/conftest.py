"""One full run of the Polish suite on the tiny GPT-2 and the shipped fixtures, 0-shot and 5-shot, shared by the
eval tests (it is the slow part: about a minute on two idle cores)."""

import json

import pytest

import eval as pl_eval


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_suite")
    report = pl_eval.run("tiny", tasks=["polish"], num_fewshot=[0, 5], data_dir=pl_eval.FIXTURES_DIR,
                         output_dir=out, batch_size=32, log_samples=True)
    samples = {n: json.loads((out / "tiny" / f"results_{n}shot.json").read_text())["samples"] for n in (0, 5)}
    return report, samples, out
