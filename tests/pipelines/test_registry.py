"""The registry: plain data, aliases, did-you-mean, and every entry loading as `tiny` through its normal path."""

import subprocess
import sys

import pytest

from pipelines import TASKS, InputError, ModelLoadError, load, resolve_task


def test_aliases_resolve_to_their_task():
    assert resolve_task("sentiment-analysis").name == "sentiment"
    assert resolve_task("Text_Generation").name == "text-generation"
    assert resolve_task("img2img").name == "image-to-image"


def test_unknown_task_lists_known_ones_and_suggests():
    with pytest.raises(InputError) as info:
        resolve_task("sentimnet")
    message = str(info.value)
    assert info.value.argument == "task" and "Did you mean 'sentiment'?" in message
    assert all(name in message for name in TASKS)


@pytest.mark.parametrize(("args", "kwargs", "argument"), [
    ((None,), {}, "task"),
    ((123,), {}, "task"),
    (("no-such-task",), {}, "task"),
    (("sentiment",), {"model": 123}, "model"),
    (("sentiment",), {"model": "   "}, "model"),
    (("sentiment",), {"model": "tiny-chat"}, "model"),
    (("sentiment",), {"model": "tiny", "revison": "main"}, "revison"),  # a misspelt option: did-you-mean
])
def test_load_refuses_bad_arguments_with_input_error(args, kwargs, argument):
    with pytest.raises(InputError) as info:
        load(*args, **kwargs)
    assert info.value.argument == argument


def test_unknown_call_arguments_are_input_errors():
    clf = load("sentiment", model="tiny", device="cpu")
    with pytest.raises(InputError, match="Did you mean 'batch_size'") as info:
        clf("Świetny produkt!", batch_sise=4)
    assert info.value.argument == "batch_sise"
    with pytest.raises(InputError, match="arguments"):
        clf()  # the text is missing
    with pytest.raises(InputError, match="arguments"):
        clf("a", "b", "c", "d", "e", "f")
    assert clf("Świetny produkt!").label in {"negative", "neutral", "positive"}  # still serving


def test_every_entry_has_a_default_model_with_a_licence():
    for spec in TASKS.values():
        assert spec.models and all(m.id and m.licence for m in spec.models)
        assert "tiny" in spec.tiny_variants


def test_listing_imports_no_model_library():
    code = "import sys, pipelines.cli as c; c.main(['list']); assert 'torch' not in sys.modules, 'torch imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "text-generation" in out and "cc-by-nc-4.0" in out


@pytest.mark.parametrize(("task", "variant"), [(t, v) for t, spec in TASKS.items() for v in spec.tiny_variants])
def test_every_entry_loads_as_tiny(task, variant):
    pipe = load(task, model=variant, device="cpu")
    assert pipe.task == task
    assert pipe.is_tiny


def test_only_the_reserved_names_are_tiny_models(tmp_path):
    folder = tmp_path / "tiny-gpt2-of-mine"  # a local folder whose name merely starts with "tiny"
    with pytest.raises(ModelLoadError) as info:
        load("text-generation", model=str(folder))
    assert info.value.reason == "not_found"
    with pytest.raises(ModelLoadError) as info:
        load("text-generation", model="tinyllama/not-cached")  # a Hub id, not a reserved name
    assert info.value.reason == "offline"


def test_unknown_tiny_variant_and_bad_model_argument():
    with pytest.raises(InputError, match="model"):
        load("sentiment", model="tiny-chat")
    with pytest.raises(InputError, match="model"):
        load("sentiment", model=42)


def test_unknown_model_with_the_hub_unreachable_says_so():
    with pytest.raises(ModelLoadError) as info:
        load("sentiment", model="nobody/no-such-sentiment-model")
    assert info.value.reason == "offline"
    assert "cannot be reached" in str(info.value)


def test_missing_local_folder_is_not_found(tmp_path):
    with pytest.raises(ModelLoadError) as info:
        load("text-generation", model=str(tmp_path / "nowhere"))
    assert info.value.reason == "not_found"


@pytest.mark.parametrize(("task", "other"), [("sentiment", "text-generation"), ("text-generation", "sentiment")])
def test_model_of_the_wrong_task(task, other):
    from pipelines import tiny

    with pytest.raises(ModelLoadError) as info:
        load(task, model=str(tiny.build(other)))
    assert info.value.reason == "wrong_task"


def test_every_loader_failing_offline_is_reported_as_offline():
    from transformers import AutoConfig, AutoFeatureExtractor, AutoTokenizer

    from pipelines.base import translating_load_errors

    for loader in (AutoConfig, AutoTokenizer, AutoFeatureExtractor):
        with pytest.raises(ModelLoadError) as info, translating_load_errors("nobody/not-cached", "test"):
            loader.from_pretrained("nobody/not-cached")
        assert info.value.reason == "offline", loader.__name__


def test_building_a_tiny_model_leaves_the_random_state_alone(tmp_path, monkeypatch):
    import torch

    from pipelines import tiny

    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))  # a cold cache: this call really builds
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny.build("sentiment")
    assert torch.equal(torch.rand(3), expected)
