"""finetune.lm end to end on the tiny twins: it learns Polish, masks all but the assistant, resumes after SIGKILL,
and its folders load through the text-generation pipeline (and only on their base)."""

from __future__ import annotations

import gzip
import json
import random
import signal
from pathlib import Path

import pytest
import torch

from finetune.catalog import list_runs
from finetune.lm import cli, main, make_parser
from finetune.run import RunFolders
from pipelines import load
from pipelines.errors import ModelLoadError
from tests.finetune.conftest import kill_after_first_checkpoint
from tests.finetune.test_lm_data import CHAT, MARKED_CHATML, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
STEPS = 30

SUBJECTS = ["Kot", "Pies", "Ala", "Babcia", "Sąsiad", "Nauczycielka", "Żołnierz", "Rybak"]
VERBS = ["czyta", "pisze", "maluje", "ogląda", "kupuje", "sprzedaje", "naprawia", "opisuje"]
OBJECTS = ["książkę", "gazetę", "obraz", "rower", "samochód", "list", "wiersz", "dom"]
PLACES = ["w ogrodzie", "nad Wisłą", "w Krakowie", "na łące", "w kuchni", "pod mostem", "w lesie", "zimą"]


def polish_sentence(rng: random.Random) -> str:
    """A short Polish sentence from a small grammar: what continued pre-training should pick up quickly."""
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}."


def parse(argv: list[str]):
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def polish_text(tmp_path_factory) -> Path:
    """300 Polish lines, gzip-compressed (streamed by the reader)."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("korpus") / "korpus.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(polish_sentence(rng) for _ in range(300)) + "\n")
    return path


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    """Multi-turn Polish chats with a system prompt, as a messages-column jsonl."""
    rng = random.Random(1)
    rows = []
    for _ in range(48):
        question, answer = polish_sentence(rng), polish_sentence(rng)
        rows.append({"messages": [{"role": "system", "content": "Odpowiadaj po polsku."},
                                  {"role": "user", "content": f"Co się dzieje? {question}"},
                                  {"role": "assistant", "content": answer}]})
    return write_jsonl(tmp_path_factory.mktemp("chats") / "chats.jsonl", rows)


def cpt_args(text: Path, output: Path, cache: Path, *extra: str) -> list[str]:
    """Continued pre-training of the tiny GPT-2, packed, checkpoints every 5 steps."""
    return ["--model", "tiny", "--train-file", str(text), "--output-dir", str(output), "--cache-dir", str(cache),
            "--validation-size", "40", "--max-steps", str(STEPS), "--batch-size", "8", "--learning-rate", "3e-3",
            "--max-length", "64", "--packing", "--eval-steps", "5", "--save-steps", "5", "--logging-steps", "2",
            "--early-stopping-patience", "0", "--no-gradient-checkpointing", "--warmup-ratio", "0", *extra]


@pytest.fixture(scope="module")
def cpt_run(tmp_path_factory, polish_text):
    base = tmp_path_factory.mktemp("cpt")
    output = base / "gpt2-pl"
    return output, main(parse(cpt_args(polish_text, output, base / "cache")))


def test_continued_pretraining_lowers_held_out_perplexity(cpt_run):
    output, metrics = cpt_run
    before, after = metrics["validation_before"], metrics["validation"]
    assert metrics["global_step"] == STEPS and metrics["loss_on"] == "text" and not metrics["lora"]
    assert after["perplexity"] < 0.5 * before["perplexity"], (before, after)
    assert after["samples"] == before["samples"] > 0
    names = {p.name for p in output.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json", "training_curve.png",
            "mmhub_run.json"} <= names
    assert not RunFolders(output).work.exists()
    card = (output / "README.md").read_text()
    assert "library_name: transformers" in card and f"{after['perplexity']:.2f}" in card
    assert json.loads((output / "metrics.json").read_text())["validation"]["loss"] == pytest.approx(after["loss"])
    gen = load("text-generation", model=str(output))
    assert gen("Kot czyta", max_new_tokens=6, temperature=0).new_tokens >= 1


def test_sigkill_then_resume_reaches_the_same_step(tmp_path, polish_text, cpt_run):
    _, uninterrupted = cpt_run
    output = tmp_path / "gpt2-pl"
    argv = cpt_args(polish_text, output, tmp_path / "cache")
    folders = RunFolders(output)
    returncode = kill_after_first_checkpoint("finetune.lm", argv, folders)
    assert returncode == -signal.SIGKILL
    killed_at = int(Path(folders.last_checkpoint()).name.split("-")[1])
    assert killed_at < STEPS and not output.exists()
    assert cli(argv) == 2  # leftover checkpoints are not silently discarded
    resumed = main(parse([*argv, "--resume"]))
    assert resumed["global_step"] == STEPS
    assert resumed["validation_before"] == pytest.approx(uninterrupted["validation_before"])  # kept across sessions
    if not torch.cuda.is_available():  # same data order, RNG and optimizer state: the same end
        assert resumed["validation"]["loss"] == pytest.approx(uninterrupted["validation"]["loss"], rel=1e-4)
    assert (output / "model.safetensors").exists() and not folders.work.exists()


# ---------------------------------------------------------------------------------------------------------------
# supervised fine-tuning


def sft_trainer(chat_file: Path, tmp_path: Path, *extra: str, marked: bool = False):
    """The SFTTrainer `finetune.lm` builds, without training: its prepared datasets hold the labels."""
    from trl import SFTTrainer

    from finetune import lm
    from finetune.lm_data import load_lm_data

    args = parse(["--model", "tiny-chat", "--train-file", str(chat_file), "--output-dir", str(tmp_path / "o"),
                  "--validation-size", "1", "--no-gradient-checkpointing", "--cache-dir", str(tmp_path / "c"),
                  *extra])
    path = lm.resolve_model(lm.TASK, args.model)
    data = load_lm_data(train_file=args.train_file, validation_size=1, seed=args.seed, cache_dir=args.cache_dir)
    tokenizer = lm.load_tokenizer(args, path)
    if marked:
        tokenizer.chat_template = MARKED_CHATML
    train, validation, loss_on, trl_mask = lm.prepare_data(data, tokenizer, args)
    flags = lm.check_hardware(args)
    folders = RunFolders(tmp_path / "o")
    trainer = SFTTrainer(model=lm.load_model(args, path, flags), args=lm.sft_config(args, folders, flags, trl_mask),
                         train_dataset=train, eval_dataset=validation, processing_class=tokenizer)
    return trainer, tokenizer, loss_on


def labelled_text(trainer, tokenizer) -> list[str]:
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    return sorted(tokenizer.decode([t for t in row["labels"] if t != -100]) for row in rows)


@pytest.fixture
def two_turn_chats(tmp_path) -> Path:
    rows = [{"messages": CHAT}, {"messages": CHAT[1:3]}, {"messages": [*CHAT[:2], {"role": "assistant",
                                                                                    "content": "Mruczy."}]}]
    return write_jsonl(tmp_path / "two.jsonl", rows * 2)


def test_sft_labels_only_the_assistant_tokens(tmp_path, two_turn_chats):
    trainer, tokenizer, loss_on = sft_trainer(two_turn_chats, tmp_path / "prefix")
    assert loss_on == "chat"
    for row in (trainer.train_dataset[i] for i in range(len(trainer.train_dataset))):
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels)
        kept = [i for i, label in enumerate(labels) if label != -100]
        assert all(labels[i] == ids[i] for i in kept)
        # every labelled stretch is one assistant reply up to and including its <|im_end|>, nothing else
        text = tokenizer.decode([ids[i] for i in kept])
        assert "<|im_start|>" not in text and "user" not in text and "Ile nóg" not in text
    assert set(labelled_text(trainer, tokenizer)) <= {"Cztery.<|im_end|>Też cztery.<|im_end|>",
                                                      "Cztery.<|im_end|>", "Mruczy.<|im_end|>"}
    # The same chats through TRL's own assistant_only_loss, on the same template with {% generation %} markers:
    # the very same labels.
    marked, _, _ = sft_trainer(two_turn_chats, tmp_path / "marked", marked=True)
    assert marked.args.assistant_only_loss
    ours = sorted(tuple(trainer.train_dataset[i]["labels"]) for i in range(len(trainer.train_dataset)))
    theirs = sorted(tuple(marked.train_dataset[i]["labels"]) for i in range(len(marked.train_dataset)))
    assert ours == theirs


def test_prompt_completion_pairs_label_the_completion(tmp_path):
    path = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "Stolica Polski to", "completion": " Warszawa."}] * 4)
    trainer, tokenizer, loss_on = sft_trainer(path, tmp_path / "plain", "--chat-format", "plain")
    assert loss_on == "prompt-completion"
    assert set(labelled_text(trainer, tokenizer)) == {" Warszawa.</s>"}  # TRL adds the EOS to the completion
    trainer, tokenizer, _ = sft_trainer(path, tmp_path / "chat")  # auto: a chat model gets a user/assistant chat
    assert set(labelled_text(trainer, tokenizer)) == {" Warszawa.<|im_end|>\n"}


def lora_args(chat_file: Path, output: Path, cache: Path, *extra: str) -> list[str]:
    return ["--model", "tiny-chat", "--train-file", str(chat_file), "--output-dir", str(output), "--cache-dir",
            str(cache), "--lora", "--validation-size", "8", "--max-steps", "12", "--batch-size", "8",
            "--learning-rate", "2e-2", "--eval-steps", "6", "--save-steps", "6", "--logging-steps", "3",
            "--no-gradient-checkpointing", "--lora-target-modules", "q_proj,v_proj,o_proj", *extra]


def last_logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Co się dzieje? Kot czyta list."}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model(**ids).logits[0, -1]


def test_lora_adapter_loads_on_its_base_only(tmp_path, chats):
    output = tmp_path / "bielik-lora"
    metrics = main(parse(lora_args(chats, output, tmp_path / "cache")))
    assert metrics["adapter"] and metrics["loss_on"] == "chat"
    assert metrics["validation"]["loss"] < metrics["validation_before"]["loss"]
    names = {p.name for p in output.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "mmhub_run.json"} <= names
    assert "model.safetensors" not in names
    assert "library_name: peft" in (output / "README.md").read_text()

    tuned, base = load("text-generation", model=str(output)), load("text-generation", model="tiny-chat")
    assert tuned.model_id == str(output)
    assert not torch.allclose(last_logits(tuned.model, tuned.tokenizer), last_logits(base.model, base.tokenizer))
    again = load("text-generation", model="tiny-chat", adapter=str(output))  # the same base, named explicitly
    torch.testing.assert_close(last_logits(again.model, again.tokenizer), last_logits(tuned.model, tuned.tokenizer))
    assert isinstance(tuned([{"role": "user", "content": "Cześć"}], max_new_tokens=4, seed=0).text, str)

    with pytest.raises(ModelLoadError, match="trained on 'tiny-chat'") as caught:
        load("text-generation", model="tiny", adapter=str(output))  # a GPT-2: another base
    assert caught.value.reason == "incompatible"
    with pytest.raises(ModelLoadError, match="adapter_model.safetensors"):
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "adapter_config.json").write_text((output / "adapter_config.json").read_text())
        load("text-generation", model=str(broken))

    # the Polish suite runs on the adapter folder as it is (transformers loads peft adapters on their base)
    import eval as pl_eval

    report = pl_eval.run(str(output), tasks=["polemo2_in"], num_fewshot=[0], limit=2, output_dir=None,
                         data_dir=ROOT / "eval" / "fixtures", published=False, plot=False)
    assert report.rows[0].model == str(output) and report.rows[0].n_shot == 0

    # the Chat tab finds it; merged, it is a plain model with the same outputs
    assert [run.path for run in list_runs([tmp_path], task="text-generation")] == [str(output.resolve())]
    merged_dir = tmp_path / "merged"
    main(parse(lora_args(chats, merged_dir, tmp_path / "cache", "--merge", "--no-eval-before")))
    assert (merged_dir / "model.safetensors").exists() and not (merged_dir / "adapter_config.json").exists()
    merged = load("text-generation", model=str(merged_dir))
    torch.testing.assert_close(last_logits(merged.model, merged.tokenizer), last_logits(tuned.model, tuned.tokenizer),
                               rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# bad input: one clear error before training, nothing half-written


def assert_clean_failure(capsys, argv: list[str], output: Path, *fragments: str) -> None:
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err, err  # (progress bars)
    for fragment in fragments:
        assert fragment in err, err
    assert not output.exists() and not RunFolders(output).work.exists()


def test_bad_input_fails_before_training(tmp_path, capsys, chats):
    output = tmp_path / "never"
    base = ["--model", "tiny-chat", "--output-dir", str(output), "--cache-dir", str(tmp_path / "cache"),
            "--validation-size", "2"]
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Co?", "answer": "To."}] * 5)
    assert_clean_failure(capsys, [*base, "--train-file", str(qa), "--text-column", "body"], output,
                         "no column 'body' (--text-column)", "['question', 'answer']")
    assert_clean_failure(capsys, [*base, "--train-file", str(qa)], output, "--prompt-column")
    bad_chat = write_jsonl(tmp_path / "bad.jsonl", [{"messages": CHAT}] * 4 + [{"messages": ["Cześć", "Hej"]}])
    assert_clean_failure(capsys, [*base, "--train-file", str(bad_chat)], output, "bad.jsonl:5",
                         "not a {'role', 'content'} dict")
    if not torch.cuda.is_available():
        assert_clean_failure(capsys, [*base, "--train-file", str(chats), "--qlora"], output, "CUDA GPU", "--lora")
    assert_clean_failure(capsys, [*base, "--train-file", str(chats), "--merge"], output, "--lora or --qlora")
    assert_clean_failure(capsys, [*base, "--train-file", str(chats), "--learning-rate", "nan"], output,
                         "--learning-rate")
    assert_clean_failure(capsys, [*base, "--train-file", str(tmp_path / "missing.jsonl")], output, "no such file")
    assert_clean_failure(capsys, [*base, "--dataset", "no-such-user/no-such-dataset"], output,
                         "no-such-user/no-such-dataset")
    assert_clean_failure(capsys, [*base, "--train-file", str(chats), "--lora", "--lora-target-modules",
                                  "q_proj,qkv_nope"], output, "--lora-target-modules: no module named 'qkv_nope'",
                         "valid names include", "q_proj")
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"messages": CHAT}] * 4)
    assert_clean_failure(capsys, ["--model", "tiny", "--output-dir", str(output), "--train-file", str(plain),
                                  "--validation-size", "1", "--cache-dir", str(tmp_path / "cache")], output,
                         "chat template")


# ---------------------------------------------------------------------------------------------------------------
# the loop: fine-tune -> compare on the Polish suite -> serve (the comparison comes from `python -m eval --compare`)


def _eval_has_compare() -> bool:
    from eval.__main__ import parser as eval_parser

    return "--compare" in eval_parser().format_help()


@pytest.mark.skipif(not _eval_has_compare(), reason="python -m eval --compare is not in this branch yet")
def test_eval_compare_runs_on_the_fixtures(tmp_path, capsys, cpt_run):
    from eval.__main__ import main as eval_main

    output, _ = cpt_run
    rc = eval_main(["--compare", "tiny", str(output), "--tasks", "polemo2_in", "--num-fewshot", "0", "--limit", "4",
                    "--data-dir", str(ROOT / "eval" / "fixtures"), "--output", str(tmp_path / "eval"),
                    "--no-published", "--no-plot"])
    out = capsys.readouterr().out
    assert rc == 0 and output.name in out


def test_adapter_argument_is_validated(tmp_path):
    from pipelines.errors import InputError

    for bad in (123, str(tmp_path / "missing"), str(tmp_path)):
        with pytest.raises(InputError, match="`adapter` must be"):
            load("text-generation", model="tiny-chat", adapter=bad)


@pytest.mark.gpu
def test_qlora_and_its_merge_on_a_gpu(tmp_path, chats):
    pytest.importorskip("bitsandbytes")
    output = tmp_path / "qlora"
    metrics = main(parse([*lora_args(chats, output, tmp_path / "cache"), "--qlora", "--max-steps", "4",
                          "--eval-steps", "2", "--save-steps", "2"]))
    assert metrics["adapter"] and metrics["global_step"] == 4 and (output / "adapter_config.json").exists()
    tuned = load("text-generation", model=str(output), quantization="4bit")
    assert isinstance(tuned([{"role": "user", "content": "Cześć"}], max_new_tokens=4, seed=0).text, str)
    merged = tmp_path / "qlora-merged"
    main(parse([*lora_args(chats, merged, tmp_path / "cache"), "--qlora", "--merge", "--max-steps", "4",
                "--eval-steps", "2", "--save-steps", "2"]))
    assert (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    assert load("text-generation", model=str(merged)).model.dtype in (torch.bfloat16, torch.float16, torch.float32)
