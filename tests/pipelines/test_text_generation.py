"""Text generation on tiny GPT-2 / Mistral models: parity with raw transformers, streaming, batching, errors."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

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
