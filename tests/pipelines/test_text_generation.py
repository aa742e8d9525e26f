"""Text generation on tiny GPT-2 / Mistral models: parity with raw transformers, streaming, batching, errors."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from pipelines import InputError, load, tiny

PROMPT = "Ala ma kota, a kot"
CHAT = [{"role": "system", "content": "Jesteś pomocnym asystentem."}, {"role": "user", "content": "Kim jesteś?"}]


@pytest.fixture(scope="module")
def gen():
    return load("text-generation", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def chat():
    return load("text-generation", model="tiny-chat", device="cpu")


def raw_greedy(variant, input_ids, max_new_tokens):
    """The same tiny model driven directly through transformers' generate."""
    path = tiny.build("text-generation", variant)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
                         max_new_tokens=max_new_tokens, pad_token_id=tok.eos_token_id)
    return out[0, input_ids.shape[1]:].tolist(), tok


def test_greedy_equals_raw_generate_token_for_token(gen):
    ids = gen.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    tokens, tok = raw_greedy("tiny", ids, 20)
    result = gen(PROMPT, max_new_tokens=20, temperature=0)
    assert result.new_tokens == len(tokens) == 20
    assert result.text == tok.decode(tokens, skip_special_tokens=True)
    assert result.prompt_tokens == ids.shape[1]
    assert result.finish_reason == "length"


def test_same_seed_same_text_other_seed_other_text(gen):
    a = gen(PROMPT, max_new_tokens=24, temperature=1.0, seed=7)
    b = gen(PROMPT, max_new_tokens=24, temperature=1.0, seed=7)
    c = gen(PROMPT, max_new_tokens=24, temperature=1.0, seed=8)
    assert a.text == b.text and a.seed == 7
    assert a.text != c.text


def test_sampling_without_seed_reports_the_seed_it_used(gen):
    first = gen(PROMPT, max_new_tokens=16, temperature=1.0)
    again = gen(PROMPT, max_new_tokens=16, temperature=1.0, seed=first.seed)
    assert again.text == first.text


@pytest.mark.parametrize("params", [{"temperature": 0}, {"temperature": 1.0, "seed": 3}])
def test_streamed_chunks_join_to_the_same_text(gen, params):
    whole = gen(PROMPT, max_new_tokens=30, **params).text
    chunks = list(gen(PROMPT, max_new_tokens=30, stream=True, **params))
    assert "".join(chunks) == whole
    if "seed" in params:  # this seeded output has spaces, so the streamer releases it in several chunks
        assert len(chunks) > 1


def test_stream_can_be_abandoned_early(gen):
    stream = gen(PROMPT, max_new_tokens=60, temperature=0, stream=True)
    next(stream)
    stream.close()  # stops the generation thread; the pipeline stays usable
    assert gen(PROMPT, max_new_tokens=5, temperature=0).new_tokens == 5


def test_chat_goes_through_the_template(chat):
    text = chat.tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    ids = chat.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    tokens, tok = raw_greedy("tiny-chat", ids, 12)
    result = chat(CHAT, max_new_tokens=12, temperature=0)
    assert result.prompt_tokens == ids.shape[1]
    assert result.text == tok.decode(tokens, skip_special_tokens=True)
    assert "Kim jesteś" not in result.text  # only the new text comes back


def test_system_prompt_equals_an_explicit_system_message(chat):
    explicit = chat(CHAT, max_new_tokens=8, temperature=0)
    shorthand = chat(CHAT[1]["content"], system_prompt=CHAT[0]["content"], max_new_tokens=8, temperature=0)
    assert shorthand == explicit


def test_stops_on_eos_and_end_of_turn(chat):
    tok = chat.tokenizer
    assert tok.convert_tokens_to_ids("</s>") in chat.eos_token_ids  # the generation config's EOS
    assert tok.convert_tokens_to_ids("<|im_end|>") in chat.eos_token_ids  # the template's end of turn


def test_batch_equals_one_by_one(gen, chat):
    prompts = ["Ala", "Zażółć gęślą jaźń, a potem", "The quick brown fox"]
    batch = gen(prompts, max_new_tokens=12, temperature=0)
    assert [r.text for r in batch] == [gen(p, max_new_tokens=12, temperature=0).text for p in prompts]
    chats = [CHAT, [{"role": "user", "content": "Hej"}]]
    assert [r.text for r in chat(chats, max_new_tokens=8, temperature=0)] == [
        chat(c, max_new_tokens=8, temperature=0).text for c in chats]


def test_stop_string_is_cut_streamed_or_not(gen):
    full = gen(PROMPT, max_new_tokens=30, temperature=0).text
    stop = full[6:8]
    assert stop and full.find(stop) >= 0
    cut = gen(PROMPT, max_new_tokens=30, temperature=0, stop=[stop, "never-there"])
    assert cut.text == full[: full.find(stop)]
    assert cut.finish_reason == "stop"
    assert "".join(gen(PROMPT, max_new_tokens=30, temperature=0, stop=stop, stream=True)) == cut.text


def test_a_stop_string_is_looked_for_in_the_reply_only(gen):
    """OpenAI's ``stop`` (and vLLM's) ends the reply at a stop string the reply holds; the prompt's end and the
    reply's start together do not count (transformers' StopStringCriteria matched them: 1 token, finish "stop")."""
    prompt = "The cat"
    full = gen(prompt, max_new_tokens=12, temperature=0)  # the tiny model answers "atatat..."
    stop = prompt[-4:] + full.text[:1]  # " cat" + "a": across the prompt and the reply
    assert stop not in full.text and full.finish_reason == "length"
    kept = gen(prompt, max_new_tokens=12, temperature=0, stop=[stop])
    assert (kept.text, kept.finish_reason, kept.new_tokens) == (full.text, "length", 12)
    assert "".join(gen(prompt, max_new_tokens=12, temperature=0, stop=stop, stream=True)) == full.text


def test_a_stop_string_inside_one_token_ends_the_generation_at_that_token(chat):
    """A stop string in the middle of a token (e.g. "ibl" in "rible") ends the generation at that token, not at
    max_new_tokens with the text cut afterwards: the check decodes the reply's last tokens, not only their ends."""
    prompt = "Ala ma kota"
    ids = chat.tokenizer(prompt, return_tensors="pt")
    greedy = chat.model.generate(**ids, max_new_tokens=12, do_sample=False)[0, ids["input_ids"].shape[1]:]
    pieces = [chat.tokenizer.decode([token]) for token in greedy]
    text = "".join(pieces)
    at, stop = next((k, piece[1:-1]) for k, piece in enumerate(pieces)
                    if len(piece) >= 3 and "\ufffd" not in piece and piece[1:-1] not in "".join(pieces[:k]) + piece[0])
    assert at < 11  # it stops before the end
    cut = chat(prompt, max_new_tokens=12, temperature=0, stop=[stop])
    assert (cut.text, cut.finish_reason, cut.new_tokens) == (text[: text.find(stop)], "stop", at + 1)


def test_prompt_longer_than_the_context(gen):
    long_prompt = "kot " * 600  # well past the tiny model's 512 positions
    with pytest.raises(InputError) as info:
        gen(long_prompt, max_new_tokens=8)
    assert info.value.argument == "prompt" and "truncate=True" in str(info.value)
    result = gen(long_prompt, max_new_tokens=8, temperature=0, truncate=True)
    assert result.prompt_tokens == gen.context_length - 8


@pytest.mark.parametrize(("inputs", "params", "argument"), [
    ("", {}, "prompt"),
    ("   \n", {}, "prompt"),
    ([], {}, "inputs"),
    (42, {}, "inputs"),
    (CHAT, {}, "prompt"),  # GPT-2 has no chat template
    ("ok", {"system_prompt": "Be brief."}, "prompt"),
    ("ok", {"max_new_tokens": 0}, "max_new_tokens"),
    ("ok", {"max_new_tokens": 10_000}, "max_new_tokens"),
    ("ok", {"temperature": -1}, "temperature"),
    ("ok", {"top_p": 0}, "top_p"),
    ("ok", {"top_p": 1.5}, "top_p"),
    ("ok", {"top_k": -2}, "top_k"),
    ("ok", {"seed": "abc"}, "seed"),
    ("ok", {"stop": ""}, "stop"),
    (["a", "b"], {"stream": True}, "stream"),
    ("ok", {"do_sample": True, "temperature": 0}, "temperature"),
])
def test_bad_input_gets_an_input_error(gen, inputs, params, argument):
    with pytest.raises(InputError) as info:
        gen(inputs, **params)
    assert info.value.argument == argument


def test_a_stream_generates_only_once_iterated(gen):
    import threading

    from pipelines.text_generation import STREAM_THREAD

    def streaming() -> int:
        return sum(t.name == STREAM_THREAD for t in threading.enumerate())

    before = streaming()
    stream = gen(PROMPT, max_new_tokens=8, temperature=0, stream=True)
    assert streaming() == before  # nothing runs for a stream nobody reads
    assert "".join(stream) == gen(PROMPT, max_new_tokens=8, temperature=0).text
    assert streaming() == before  # and its thread is joined once it is read


def test_the_smallest_temperature_and_penalty_sample_finite_text(gen):
    from pipelines.generation_params import MIN_REPETITION_PENALTY, MIN_TEMPERATURE

    result = gen(PROMPT, max_new_tokens=4, temperature=MIN_TEMPERATURE, repetition_penalty=MIN_REPETITION_PENALTY,
                 seed=0)
    assert result.new_tokens == 4
    for bad in (0.005, math.nan, -1.0, "0.7"):  # one message for every bad temperature
        with pytest.raises(InputError, match=r"`temperature` must be 0 \(greedy\) or a number from 0.01 to 100"):
            gen(PROMPT, temperature=bad)


LONE = "Ala \ud800 kota"  # a lone surrogate, as text decoded with errors="surrogateescape" carries


@pytest.mark.parametrize(("inputs", "params", "argument"), [
    ("ok", {"temperature": math.nan}, "temperature"),
    ("ok", {"temperature": math.inf}, "temperature"),
    ("ok", {"temperature": 1e30}, "temperature"),
    ("ok", {"temperature": "0.7"}, "temperature"),
    ("ok", {"max_new_tokens": 2**70}, "max_new_tokens"),
    ("ok", {"max_new_tokens": 4.0}, "max_new_tokens"),
    ("ok", {"top_p": math.nan}, "top_p"),
    ("ok", {"top_k": 2**70}, "top_k"),
    ("ok", {"repetition_penalty": math.inf}, "repetition_penalty"),
    ("ok", {"repetition_penalty": 0}, "repetition_penalty"),
    ("ok", {"repetition_penalty": 1e-300}, "repetition_penalty"),  # scores / 1e-300 = inf inside torch
    ("ok", {"temperature": 1e-300}, "temperature"),  # logits / 1e-300 = inf: NaN probabilities
    ("ok", {"temperature": 1e-3}, "temperature"),  # vLLM would quietly raise it to 1e-2
    ("ok", {"seed": 2**70}, "seed"),
    ("ok", {"seed": -1}, "seed"),
    ("ok", {"seed": True}, "seed"),
    ("ok", {"stop": 5}, "stop"),
    ("ok", {"stop": ["ok", 5]}, "stop[1]"),
    ("ok", {"stop": ["x"] * 65}, "stop"),
    ("ok", {"stop": "\udcff"}, "stop"),
    ("ok", {"system_prompt": 123}, "system_prompt"),
    ("ok", {"truncate": "no"}, "truncate"),
    ("ok", {"stream": "yes"}, "stream"),
    ("ok", {"do_sample": "no"}, "do_sample"),
    (LONE, {}, "prompt"),
    (["ok", LONE], {}, "prompt[1]"),
    (None, {}, "inputs"),
    ("ok", {"temperatur": 0.5}, "temperatur"),
])
def test_hostile_input_gets_an_input_error_naming_the_argument(gen, inputs, params, argument):
    with pytest.raises(InputError) as info:
        gen(inputs, **params)
    assert info.value.argument == argument and f"`{argument}`" in str(info.value)


@pytest.mark.parametrize(("messages", "params", "argument"), [
    ([{"role": "user", "content": LONE}], {}, "prompt[0]['content']"),
    ([{"role": "user", "content": "Hej"}], {"system_prompt": LONE}, "system_prompt"),
    ([{"role": "user", "content": "Hej"}], {"system_prompt": 123}, "system_prompt"),
])
def test_hostile_chat_input(chat, messages, params, argument):
    with pytest.raises(InputError) as info:
        chat(messages, **params)
    assert info.value.argument == argument


def test_still_answers_after_the_bad_calls(gen, chat):
    assert gen(PROMPT, max_new_tokens=3, temperature=0).new_tokens == 3
    assert chat(CHAT, max_new_tokens=3, temperature=0).prompt_tokens > 0


def next_token_table_model(folder, table: dict[str, str], pad: str):
    """A GPT-2 whose greedy next token is ``table[last token]``: one-hot embeddings, a zeroed block, no positions,
    and an untied head that reads the table. Its tokenizer's pad token is `pad`, an ordinary vocabulary token."""
    tok = AutoTokenizer.from_pretrained(tiny.build("text-generation"))
    ids = {t: tok.convert_tokens_to_ids(t) for t in {*table, *table.values(), pad}}
    size = len(tok)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=size, n_positions=64, n_embd=size, n_layer=1, n_head=1,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                                       tie_word_embeddings=False))
    with torch.no_grad():
        for parameter in model.transformer.h.parameters():
            parameter.zero_()
        model.transformer.wpe.weight.zero_()
        model.transformer.wte.weight.copy_(torch.eye(size))
        model.lm_head.weight.zero_()
        for source, target in table.items():
            model.lm_head.weight[ids[target], ids[source]] = 100.0
    model.save_pretrained(folder)
    tok.pad_token = pad
    tok.save_pretrained(folder)
    return ids


def test_padding_is_cut_by_position_not_by_token_value(tmp_path):
    # "kota" ends in "a" -> EOS at once; "kot" ends in "t" -> "z" for ever; "z" is also the pad token. In a batch,
    # transformers pads the finished first row with "z": only that padding may go, not the "z"s row 2 generated.
    ids = next_token_table_model(tmp_path, {"a": "<|endoftext|>", "t": "z", "z": "z"}, pad="z")
    gen = load("text-generation", model=str(tmp_path), device="cpu")
    assert gen.tokenizer.pad_token_id == ids["z"] and ids["z"] not in gen.eos_token_ids
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    prompt = gen.tokenizer("kot", return_tensors="pt")["input_ids"]
    raw = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=5,
                         pad_token_id=ids["z"])[0, prompt.shape[1]:].tolist()
    assert raw == [ids["z"]] * 5  # the model really generates its pad token
    single = gen("kot", max_new_tokens=5, temperature=0)
    assert (single.new_tokens, single.finish_reason) == (5, "length")
    stopped, running = gen(["kota", "kot"], max_new_tokens=5, temperature=0)
    assert (stopped.new_tokens, stopped.finish_reason, stopped.text) == (1, "stop", "")
    assert (running.new_tokens, running.finish_reason) == (5, "length")


@pytest.mark.slow
class TestRealModels:
    """The registry's real text-generation models (RUN_SLOW=1, network or a warm cache): invariants only."""

    def test_gpt2_continues_a_prompt(self):
        gen = load("text-generation", model="openai-community/gpt2")
        result = gen("Paris is the capital of", max_new_tokens=16, temperature=0)
        assert result.text.strip() and 0 < result.new_tokens <= 16
        assert "".join(gen("Paris is the capital of", max_new_tokens=16, temperature=0, stream=True)) == result.text

    def test_bielik_answers_in_polish_and_stops_at_end_of_turn(self):
        gen = load("text-generation", model="speakleash/Bielik-1.5B-v3.0-Instruct")
        assert gen.has_chat_template
        result = gen([{"role": "user", "content": "Jaka jest stolica Polski? Odpowiedz jednym zdaniem."}],
                     max_new_tokens=64, temperature=0)
        assert "Warszaw" in result.text
        assert result.finish_reason == "stop"


@pytest.mark.gpu
def test_cuda_half_precision_generation():
    gen = load("text-generation", model="tiny-chat")  # device and dtype chosen automatically
    assert gen.device.type == "cuda" and gen.dtype in (torch.bfloat16, torch.float16)
    single = gen(CHAT, max_new_tokens=12, temperature=0)
    assert single.new_tokens > 0
    assert "".join(gen(CHAT, max_new_tokens=12, temperature=0, stream=True)) == single.text
    assert len(gen([CHAT, "Ala ma kota"], max_new_tokens=6, temperature=1.0, seed=1)) == 2


@pytest.mark.parametrize(("options", "argument"), [
    ({"trust_remote_code": "no"}, "trust_remote_code"),  # a truthy string must not run remote code
    ({"use_safetensors": "yes"}, "use_safetensors"),
    ({"revision": 123}, "revision"),
    ({"device_map": 5}, "device_map"),
    ({"quantization": "3bit"}, "quantization"),
])
def test_bad_load_options(options, argument):
    with pytest.raises(InputError) as info:
        load("text-generation", model="tiny", device="cpu", **options)
    assert info.value.argument == argument
