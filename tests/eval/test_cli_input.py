"""Hostile command lines: one line ``error: ...`` naming the flag and what is allowed, exit status 2, before any
model (or torch, transformers, lm-eval) loads. All cases run in one fresh interpreter, which then reports what it
imported and how long the checks took."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

# (arguments, text the one error line must contain: the flag, and what is allowed)
CASES = [
    (["--model", "tiny", "--limit", "inf"], ["--limit", "from 1 to", "fraction in (0, 1)", "inf"]),
    (["--model", "tiny", "--limit", "nan"], ["--limit", "fraction in (0, 1)", "nan"]),
    (["--model", "tiny", "--limit", "-3"], ["--limit", "from 1 to", "-3"]),
    (["--model", "tiny", "--limit", "0"], ["--limit", "from 1 to"]),
    (["--model", "tiny", "--limit", "2.5"], ["--limit", "fraction in (0, 1)"]),
    (["--model", "tiny", "--limit", "1e300"], ["--limit", "from 1 to 1000000000"]),
    (["--model", "tiny", "--limit", "lots"], ["--limit", "not a number"]),
    (["--model", "tiny", "--num-fewshot", "100000"], ["--num-fewshot", "from 0 to 25"]),
    (["--model", "tiny", "--num-fewshot", "-1"], ["--num-fewshot", "from 0 to 25"]),
    (["--model", "tiny", "--num-fewshot", "5", "5"], ["--num-fewshot", "distinct"]),
    (["--model", "tiny", "--num-fewshot", "five"], ["--num-fewshot", "invalid int value"]),
    (["--tasks", "polish"], ["--model", "--compare BASE CANDIDATE"]),
    (["--model", "tiny", "--tasks", "polish_mcc"], ["--tasks", "Polish task or group", "Did you mean 'polish_mc'"]),
    (["--model", "tiny", "--tasks", "polish,nope_xyz"], ["--tasks", "'nope_xyz'"]),
    (["--model", "tiny", "--output", "{file}"], ["--output", "a folder", "not a file"]),
    (["--model", "tiny", "--data-dir", "{missing}"], ["--data-dir", "an existing folder"]),
    (["--model", "tiny", "--batch-size", "0"], ["--batch-size", "from 1 to 4096", "'auto'"]),
    (["--model", "tiny", "--batch-size", "huge"], ["--batch-size", "'auto'"]),
    (["--model", "tiny", "--max-batch-size", "-2"], ["--max-batch-size", "from 1 to 4096"]),
    (["--model", "tiny", "--limit-mode", "all"], ["--limit-mode", "random", "first"]),
    (["--model", "tiny", "--backend", "tgi"], ["--backend", "hf", "vllm"]),
    (["--model", "tiny", "--compare", "a", "b"], ["--compare", "not allowed with argument --model"]),
    (["--compare", "tiny"], ["--compare", "expected 2 arguments"]),
    (["--compare", "{missing}.json", "tiny"], ["--compare BASE", "results .json file that exists"]),
    (["--compare", "tiny", "  "], ["--compare CANDIDATE", "a model or a results .json file"]),
    (["--model", "tiny", "--fewshot-as-multiturn"], ["--fewshot-as-multiturn", "with apply_chat_template only",
                                                     "add --apply-chat-template"]),
    (["--compare", "tiny", "tiny", "--fewshot-as-multiturn"], ["--fewshot-as-multiturn", "--apply-chat-template"]),
]

SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys, time
    from eval.__main__ import main
    results = []
    start = time.perf_counter()
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as stop:
                code = stop.code
        results.append({"code": code, "err": err.getvalue()})
    heavy = [m for m in ("torch", "transformers", "lm_eval", "datasets") if m in sys.modules]
    print(json.dumps({"results": results, "seconds": time.perf_counter() - start, "heavy": heavy}))
""")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_input")
    (folder / "a_file").write_text("not a folder")
    fill = {"{file}": str(folder / "a_file"), "{missing}": str(folder / "missing")}
    argvs = [[next((arg.replace(k, v) for k, v in fill.items() if k in arg), arg) for arg in args]
             for args, _ in CASES]
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argvs)], capture_output=True, text=True,
                          check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_there_are_enough_cases():
    assert len(CASES) >= 12


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_and_exit_2(outcome, index, case):
    result = outcome["results"][index]
    assert result["code"] == 2
    lines = result["err"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result["err"]
    for text in case[1]:
        assert text in lines[0], (text, lines[0])
    assert "Traceback" not in result["err"]


def test_nothing_heavy_loads_and_it_is_fast(outcome):
    assert outcome["heavy"] == []  # no torch, transformers, lm-eval or datasets: no model was touched
    assert outcome["seconds"] < 10  # all the cases together (well under a second idle), on a loaded 2-core machine


def test_list_tasks_needs_no_model(capsys):
    from eval.__main__ import main

    assert main(["--list-tasks"]) == 0
    out = capsys.readouterr().out
    assert "polish_other" in out and "polish_poleval2018_task3_test_10k" in out and "group:" in out
