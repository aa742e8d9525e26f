"""Text generation through a real OpenAI-compatible server (`transformers serve` on the tiny models): parity with the
local pipeline on the same weights, streaming, stop strings, concurrency, and the errors of a bad endpoint."""

import pytest

from pipelines import InputError, ModelLoadError, load
from pipelines.text_generation_remote import EndpointError, RemoteTextGenerationPipeline
from tests.servers import free_port

PROMPTS = ["Ala ma kota, a kot", "Zażółć gęślą jaźń", "The quick brown fox"]
CHAT = [{"role": "system", "content": "Jesteś pomocnym asystentem."}, {"role": "user", "content": "Kim jesteś?"}]


@pytest.fixture(scope="module")
def local():
    return {v: load("text-generation", model=v, device="cpu") for v in ("tiny", "tiny-chat")}


@pytest.fixture(scope="module")
def remote(llm_server):
    return {v: load("text-generation", model=v, endpoint=llm_server.api) for v in ("tiny", "tiny-chat")}


@pytest.mark.parametrize("variant", ["tiny", "tiny-chat"])
def test_greedy_through_the_server_equals_the_local_pipeline(local, remote, variant):
    """Same weights, same tokenization (the server's ``tokenizer(prompt)`` adds special tokens as the local path does;
    its chat template is rendered then tokenized without them, as here), same greedy tokens and token counts."""
    assert isinstance(remote[variant], RemoteTextGenerationPipeline)
    for prompt in PROMPTS:
        for n in (7, 40):
            ours, theirs = local[variant](prompt, max_new_tokens=n, temperature=0), remote[variant](
                prompt, max_new_tokens=n, temperature=0)
            assert theirs == ours  # text, prompt_tokens, new_tokens, finish_reason, seed
            assert theirs.new_tokens == n and theirs.finish_reason == "length"


def test_chats_and_system_prompts_match_the_local_pipeline(local, remote):
    ours, theirs = local["tiny-chat"], remote["tiny-chat"]
    assert theirs(CHAT, max_new_tokens=24, temperature=0) == ours(CHAT, max_new_tokens=24, temperature=0)
    short = theirs(CHAT[1]["content"], system_prompt=CHAT[0]["content"], max_new_tokens=24, temperature=0)
    assert short == ours(CHAT, max_new_tokens=24, temperature=0)
    assert short.prompt_tokens > len(CHAT[1]["content"]) // 4  # the template's tokens are counted


def test_a_batch_is_concurrent_requests_in_input_order(local, remote, llm_server):
    prompts = PROMPTS + ["Hej", "Ala"]
    expected = local["tiny"](prompts, max_new_tokens=9, temperature=0)
    pipe = load("text-generation", model="tiny", endpoint=llm_server.api, max_concurrency=2)
    assert pipe(prompts, max_new_tokens=9, temperature=0) == expected


def test_streamed_chunks_join_to_the_non_streamed_text(remote):
    # tiny-chat on these prompts writes valid UTF-8; for stray bytes transformers serve's streamer (tokenizers'
    # DecodeStream) and its one-shot decode disagree, which no client can undo.
    gen = remote["tiny-chat"]
    for prompt in (PROMPTS[1], CHAT):
        whole = gen(prompt, max_new_tokens=30, temperature=0).text
        chunks = list(gen(prompt, max_new_tokens=30, temperature=0, stream=True))
        assert "".join(chunks) == whole and len(chunks) > 1


def test_a_stream_leaves_out_only_the_trailing_bytes_that_are_not_utf8(local, remote):
    """The documented difference (`pipelines.text_generation_remote`'s docstring): transformers serve's stream never
    sends a trailing run of bytes that do not decode (U+FFFD at the end of its non-streamed answer, as locally); the
    rest, U+FFFD inside the text included, is streamed. tiny-chat, greedy, 5 tokens after "Ala" ends that way."""
    gen = remote["tiny-chat"]
    whole = gen("Ala", max_new_tokens=5, temperature=0).text
    assert whole.endswith("\ufffd") and "\ufffd" in whole.rstrip("\ufffd")  # the case in point
    assert whole == local["tiny-chat"]("Ala", max_new_tokens=5, temperature=0).text
    assert "".join(gen("Ala", max_new_tokens=5, temperature=0, stream=True)) == whole.rstrip("\ufffd")


def test_stop_strings_are_cut_as_the_local_pipeline_cuts_them(local, remote):
    prompt = PROMPTS[1]
    full = local["tiny-chat"](prompt, max_new_tokens=30, temperature=0).text
    stop = full[5:7]
    expected = local["tiny-chat"](prompt, max_new_tokens=30, temperature=0, stop=[stop, "never there"])
    got = remote["tiny-chat"](prompt, max_new_tokens=30, temperature=0, stop=[stop, "never there"])
    assert (got.text, got.finish_reason, got.prompt_tokens) == (expected.text, "stop", expected.prompt_tokens)
    assert got.text == full[: full.find(stop)]
    # The tokens spent may differ: this stop ("W\ufffd") holds a character whose UTF-8 bytes are split over tokens.
    # The local pipeline looks for it in the decoded reply and ends there (6 tokens); transformers serve gives `stop`
    # to generate's stop_strings (cli/serving/completion.py, chat_completion.py), whose StopStringCriteria matches
    # token strings, never sees it, and generates on to max_new_tokens; the remote pipeline then cuts the text.
    assert expected.new_tokens <= got.new_tokens
    assert "".join(remote["tiny-chat"](prompt, max_new_tokens=30, temperature=0, stop=stop, stream=True)) == got.text


def test_sampling_reports_the_seed_it_sent(remote):
    assert remote["tiny"]("Ala", max_new_tokens=4, temperature=1.0, seed=11).seed == 11
    drawn = remote["tiny"]("Ala", max_new_tokens=4, temperature=1.0).seed
    assert isinstance(drawn, int) and drawn >= 0


@pytest.mark.parametrize(("inputs", "params", "argument"), [
    ("", {}, "prompt"),
    ([], {}, "inputs"),
    ("ok", {"max_new_tokens": 0}, "max_new_tokens"),
    ("ok", {"max_new_tokens": 2**70}, "max_new_tokens"),
    ("ok", {"temperature": float("nan")}, "temperature"),
    ("ok", {"top_p": 1.5}, "top_p"),
    ("ok", {"seed": "abc"}, "seed"),
    ("ok", {"stop": ""}, "stop"),
    ("ok\udc00", {}, "prompt"),
    (["a", "b"], {"stream": True}, "stream"),
    ("ok", {"truncate": True}, "truncate"),  # the server counts tokens, not mmhub
    ("ok", {"repetition_penalty": 1.2}, "repetition_penalty"),  # vLLM's extra parameter; transformers serve: 422
])
def test_bad_input_gets_the_same_input_error_as_locally(remote, inputs, params, argument):
    with pytest.raises(InputError) as info:
        remote["tiny"](inputs, **params)
    assert info.value.argument == argument


def test_down_server_unknown_model_and_wrong_urls_are_clear_load_errors(llm_server, web_server):
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelLoadError) as info:
        load("text-generation", model="tiny", endpoint=down, max_retries=1)
    assert info.value.reason == "offline" and down in str(info.value) and "1 retries" in str(info.value)

    with pytest.raises(ModelLoadError) as info:
        load("text-generation", model="speakleash/Bielik-11B-v2.6-Instruct", endpoint=llm_server.api)
    assert info.value.reason == "not_found" and llm_server.models["tiny"] in str(info.value)

    with pytest.raises(EndpointError) as info:  # the API lives under /v1
        load("text-generation", model="tiny", endpoint=llm_server.url)
    assert info.value.reason == "incompatible" and "/v1" in str(info.value)

    with pytest.raises(EndpointError) as info:  # a web server that answers HTML
        load("text-generation", model="tiny", endpoint=web_server.api)
    assert info.value.reason == "incompatible" and "text/html" in str(info.value)


def test_which_model_and_local_only_options(llm_server):
    with pytest.raises(InputError) as info:  # two models served: name one
        load("text-generation", endpoint=llm_server.api)
    assert info.value.argument == "model" and llm_server.models["tiny-chat"] in str(info.value)
    for option, value in [("device", "cpu"), ("dtype", "float16"), ("quantization", "4bit"), ("revision", "main")]:
        with pytest.raises(InputError) as info:
            load("text-generation", model="tiny", endpoint=llm_server.api, **{option: value})
        assert info.value.argument == option
    with pytest.raises(InputError) as info:
        load("sentiment", model="tiny", endpoint=llm_server.api)  # only text generation has a server form
    assert info.value.argument == "endpoint"


@pytest.mark.parametrize(("option", "value"), [("adapter", "out/lm-lora"), ("use_safetensors", False)])
def test_adapter_and_use_safetensors_are_refused_with_an_endpoint(option, value):
    """Refused before any request (nothing listens on port 9): they would have been dropped silently."""
    with pytest.raises(InputError) as info:
        load("text-generation", model="tiny", endpoint="http://127.0.0.1:9/v1", **{option: value})
    assert info.value.argument == option and "None with endpoint=" in str(info.value)
    assert ("--lora-modules" in str(info.value)) == (option == "adapter")


@pytest.mark.parametrize("endpoint", ["localhost:8000", "ftp://host/v1", "http://host:99999/v1", "http://a b/v1", "",
                                      42, "http://host\udc00/v1"])
def test_an_endpoint_that_is_not_a_url(endpoint):
    with pytest.raises(InputError) as info:
        load("text-generation", model="tiny", endpoint=endpoint)
    assert info.value.argument == "endpoint"
