"""The Playground Space: in the "Basics" group, both languages, and its endpoints through gradio_client on the served
app (one session: step, step, reset; your CSV; the export, loaded back with load(); refusals with their reason)."""

from __future__ import annotations

import re
import zipfile

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines import load
from spaces.app import discover_spaces, space
from spaces.common import GROUPS, Context
from spaces.launcher import build_blocks, tab_layout


def controls(**changes) -> list:
    """Every input of /playground_step and /playground_reset, in order, with the page's defaults."""
    values = {"seed": 7, "show_test": False, "discretize": False, "problem": "classification", "dataset": "xor",
              "csv": None, "ratio": 50, "noise": 0, "points": 500, "batch": 10, "features": ["x1", "x2"],
              "layers": 1, "neurons": [3, 2, 2, 2, 2, 2], "activation": "tanh", "learning_rate": 0.03,
              "regularization": "none", "rate": 0.0}
    values.update(changes)
    neurons = values.pop("neurons")
    ordered = [values[k] for k in ("seed", "show_test", "discretize", "problem", "dataset", "csv", "ratio", "noise",
                                   "points", "batch", "features", "layers")]
    return [*ordered, *neurons, *(values[k] for k in ("activation", "learning_rate", "regularization", "rate"))]


def epoch_of(html: str) -> int:
    return int(re.search(r'id="pg-epoch">([\d,]+)<', html).group(1).replace(",", ""))


def test_the_playground_opens_the_basics_group_in_both_languages():
    (basics,) = [entry[1] for entry in tab_layout(discover_spaces()) if isinstance(entry, tuple)
                 and entry[0] == "basics"]
    assert "playground" in [spec.name for spec in basics] and set(GROUPS["basics"]) >= {"en", "pl", "emoji"}
    for lang, title in (("en", "Which dataset do you want to use?"), ("pl", "Którego zbioru danych chcesz użyć?")):
        demo = build_blocks([space("playground")], Context(lang=lang, models="tiny"))
        labels = {getattr(block, "label", None) for block in demo.blocks.values()}
        assert title in labels
        assert {fn.api_name for fn in demo.fns.values()} >= {"playground_step", "playground_reset",
                                                             "playground_export"}


def test_every_string_in_both_languages():
    from pipelines.playground_svg import TEXTS as PICTURE
    from spaces.playground import TEXTS

    assert set(TEXTS["en"]) == set(TEXTS["pl"]) and set(PICTURE["en"]) == set(PICTURE["pl"])


def test_step_step_reset_in_one_session(client):
    html, status = client.predict(*controls(), api_name="/playground_step")
    assert epoch_of(html) == 1 and "epoch 1 · seed 7" in status
    html, _ = client.predict(*controls(), api_name="/playground_step")
    assert epoch_of(html) == 2  # the same session's network goes on
    html, status, code, page = client.predict(*controls(), api_name="/playground_reset")
    assert epoch_of(html) == 0 and "seed 7 · Exclusive or (XOR): 250 training and 250 test points" in status
    assert "nn.Linear(2, 3)" in code and "nn.Linear(3, 1), nn.Tanh()" in code
    assert "#activation=tanh" in page and "seed=7" in page and "always draws" not in page
    *_, page = client.predict(*controls(points=300), api_name="/playground_reset")
    assert "The page always draws 500 points; these settings have 300" in page
    html, _ = client.predict(*controls(learning_rate=0.3), api_name="/playground_step")
    assert epoch_of(html) == 1  # a live change: the network is not rebuilt


def test_export_loads_back_with_load(client, tmp_path):
    client.predict(*controls(seed=3, layers=2, neurons=[4, 2, 2, 2, 2, 2]), api_name="/playground_reset")
    client.predict(*controls(seed=3, layers=2, neurons=[4, 2, 2, 2, 2, 2]), api_name="/playground_step")
    archive, status = client.predict(3, *controls(seed=3, layers=2, neurons=[4, 2, 2, 2, 2, 2])[3:],
                                     api_name="/playground_export")
    assert "after epoch 1" in status
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "net")
    pg = load("playground", model=str(tmp_path / "net"))
    assert pg.network.sizes == [2, 4, 2, 1] and pg.evaluate()["epoch"] == 1


def test_your_csv_and_its_refusal_naming_the_line(client, tmp_path):
    good = tmp_path / "mine.csv"
    good.write_text("x,y,label\n" + "".join(f"{i},{i % 5},{'a' if i % 2 else 'b'}\n" for i in range(40)))
    html, status, _, page = client.predict(*controls(csv=handle_file(str(good)), batch=5),
                                           api_name="/playground_reset")
    assert "mine.csv: 20 training and 20 test points" in status and "cannot load your own points" in page
    bad = tmp_path / "broken.csv"
    bad.write_text("1,2,a\n3,4,b\n5,six,a\n7,8,b\n")
    with pytest.raises(AppError, match=r"broken.csv:3: 'six' is not a finite number"):
        client.predict(*controls(csv=handle_file(str(bad))), api_name="/playground_reset")


@pytest.mark.parametrize("changes, message", [
    ({"layers": 7}, "greater than maximum value 6"),  # gradio checks the components' own bounds and choices
    ({"activation": "gelu"}, "not in the list of choices"),
    ({"learning_rate": "fast"}, "not in the list of choices"),
    ({"seed": -5}, "`seed` must be an integer from 0"),  # −1 is random; the seed field has no bound of its own
    ({"features": []}, "`features` must be a non-empty list"),  # the rest, ours
    ({"points": 20, "ratio": 10}, "`batch_size` must be an integer from 1 to 2"),  # 2 training points
])
def test_refusals_name_the_setting(client, changes, message):
    with pytest.raises(AppError, match=message):
        client.predict(*controls(**changes), api_name="/playground_step")
    html, *_ = client.predict(*controls(), api_name="/playground_reset")  # the app keeps serving
    assert epoch_of(html) == 0
