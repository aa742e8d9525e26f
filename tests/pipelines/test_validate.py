"""The shared validator: every numeric range finite, wrong types refused, messages naming the argument."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines import validate
from pipelines.base import report_progress
from pipelines.errors import InputError

HOSTILE = [math.nan, math.inf, -math.inf, 1e300, -1e300, 2**70, "1", None, True, [1], {"a": 1}, 1 + 2j]


@pytest.mark.parametrize("value", HOSTILE)
def test_number_refuses_hostile_values(value):
    with pytest.raises(InputError) as info:
        validate.number("guidance_scale", value, low=0, high=50)
    assert info.value.argument == "guidance_scale" and "from 0 to 50" in str(info.value)


@pytest.mark.parametrize("value", [*HOSTILE, 4.0, 1.5, np.float32(2.0), -1])
def test_integer_refuses_hostile_values(value):
    with pytest.raises(InputError, match="`steps` must be an integer from 0 to 100"):
        validate.integer("steps", value, low=0, high=100)


def test_numpy_scalars_and_open_ends():
    assert validate.number("x", np.float32(0.5), low=0, high=1) == 0.5
    assert validate.integer("x", np.int64(7), low=0, high=10) == 7
    assert validate.number("top_p", 1.0, low=0, high=1, low_open=True) == 1.0
    with pytest.raises(InputError, match=r"in \(0, 1\]"):
        validate.number("top_p", 0.0, low=0, high=1, low_open=True)
    with pytest.raises(InputError, match=r"in \[0, 1\)"):
        validate.number("overlap", 1.0, low=0, high=1, high_open=True)


def test_seed():
    assert validate.seed(0) == 0 and validate.seed(2**63 - 1) == 2**63 - 1
    assert 0 <= validate.seed(None) < 2**31
    for bad in (-1, 2**63, 2**70, 1.0, "7", math.nan, True):
        with pytest.raises(InputError, match="seed"):
            validate.seed(bad)


def test_boolean_refuses_truthy_strings():
    assert validate.boolean("truncate", np.bool_(True)) is True
    for bad in ("no", "False", 0, 1, None):
        with pytest.raises(InputError, match="`truncate` must be True or False"):
            validate.boolean("truncate", bad)


def test_choice_suggests():
    assert validate.choice("pooling", "avg", ["avg", "max"]) == "avg"
    assert validate.choice("pooling", "AVG", ["avg", "max"], normalise=str.lower) == "avg"
    with pytest.raises(InputError, match="Did you mean 'max'"):
        validate.choice("pooling", "maxx", ["avg", "max"])
    with pytest.raises(InputError):
        validate.choice("pooling", 3, ["avg", "max"])


def test_text_refuses_surrogates_empty_and_non_strings():
    assert validate.text("prompt", "Zażółć 🦊") == "Zażółć 🦊"
    with pytest.raises(InputError, match="lone surrogate at index 3"):
        validate.text("prompt", "abc\udcff")
    for bad in ("", "   \n", None, 5, b"bytes"):
        with pytest.raises(InputError, match="prompt"):
            validate.text("prompt", bad)
    assert validate.text("negative_prompt", "", allow_empty=True) == ""
    with pytest.raises(InputError, match="at most 3 characters"):
        validate.text("prompt", "abcd", max_chars=3)


def test_callback_and_image_size():
    assert validate.callback("progress", None, "progress(step, total, info)") is None
    with pytest.raises(InputError, match=r"a callable progress\(step, total, info\)"):
        validate.callback("progress", "yes", "progress(step, total, info)")
    validate.image_size("image", (28, 28), min_side=28)
    for size in ((1, 1), (0, 0), (1, 500), (500, 27)):
        with pytest.raises(InputError, match="at least 28x28"):
            validate.image_size("image", size, min_side=28)
    with pytest.raises(InputError, match="at most 64"):
        validate.image_size("image", (65, 10), min_side=1, max_side=64)


def test_report_progress_stops_only_on_false():
    calls = []
    assert report_progress(None, 1, 2)
    assert report_progress(lambda s, t, i: calls.append((s, t, i)), 1, 2, stage="x")
    assert calls == [(1, 2, {"stage": "x"})]
    assert not report_progress(lambda s, t, i: False, 1, 2)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e6, 0), st.floats(0, 1e6))
def test_number_accepts_exactly_the_finite_closed_range(value, low, high):
    inside = math.isfinite(value) and low <= value <= high
    try:
        assert validate.number("x", value, low=low, high=high) == value and inside
    except InputError:
        assert not inside


@given(st.integers(-(2**80), 2**80))
def test_integer_accepts_exactly_the_range(value):
    inside = -5 <= value <= 2**40
    try:
        assert validate.integer("x", value, low=-5, high=2**40) == value and inside
    except InputError:
        assert not inside
