"""`python -m eval --backend openai`: the suite against a real OpenAI-compatible server (`transformers serve` on the
tiny GPT-2), through lm-eval's local-completions model."""

import pytest

import eval as pl_eval
from eval.__main__ import main
from pipelines import InputError, ModelLoadError

RUN = {"num_fewshot": [0], "limit": 1, "data_dir": pl_eval.FIXTURES_DIR, "plot": False, "published": False}


def test_the_generative_group_through_the_server_scores_as_locally(tmp_path, llm_server):
    remote = pl_eval.run("tiny", tasks=["polish_generate"], backend="openai", endpoint=llm_server.api, batch_size=4,
                         output_dir=tmp_path / "remote", **RUN)
    local = pl_eval.run("tiny", tasks=["polish_generate"], output_dir=tmp_path / "local", batch_size=4, **RUN)
    assert remote.model == "tiny" and len(remote.results[0]) == 13  # the 13 generative tasks
    assert remote.results[0] == local.results[0]  # the same greedy answers, the same scores
    assert remote.rows[0].avg_g == local.rows[0].avg_g


def test_multiple_choice_needs_a_server_with_prompt_logprobs(tmp_path, llm_server):
    # transformers serve ignores echo / logprobs (completion.py UNUSED_LEGACY_COMPLETION_FIELDS); vLLM returns them.
    with pytest.raises(ModelLoadError, match="no prompt log-probabilities") as info:
        pl_eval.run("tiny", tasks=["polemo2_in_multiple_choice"], backend="openai", endpoint=llm_server.api,
                    output_dir=tmp_path, **RUN)
    assert info.value.reason == "incompatible"
    with pytest.raises(InputError) as info:  # chat completions have no log-probabilities at all
        pl_eval.run("tiny", tasks=["polemo2_in_multiple_choice"], backend="openai", endpoint=llm_server.api,
                    apply_chat_template=True, output_dir=tmp_path, **RUN)
    assert info.value.argument == "apply_chat_template"


@pytest.mark.parametrize(("argv", "message"), [
    (["--backend", "openai"], "--endpoint must be the server's base URL"),
    (["--backend", "openai", "--endpoint", "localhost:8000"], "--endpoint must be an http or https URL"),
    (["--endpoint", "http://localhost:8000/v1"], "--endpoint must be given with backend='openai' only"),
    (["--backend", "openai", "--endpoint", "http://localhost:8000/v1", "--api-key-env", "UNSET_VAR_X"],
     "--api-key-env must be the name of a set environment variable"),
])
def test_cli_errors(capsys, argv, message):
    assert main(["--model", "tiny", "--tasks", "polish_generate", "--data-dir", str(pl_eval.FIXTURES_DIR),
                 *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err
