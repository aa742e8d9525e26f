"""pipelines.lab: a folder of one lab model (digit CNN, MNIST VAE, DCGAN) loaded as another task is refused as
``wrong_task``, naming what it is and the task that loads it, though huggingface_hub's mixin would drop the config
keys the class does not take and build a default model (which then failed on its tensors as "incompatible")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines import ModelLoadError, lab, load, tiny

# each tiny lab folder: (its builder, the name the error must give it, the task it must point to)
FOLDERS = {
    "digit-cnn": (("digit-recognition", "tiny"), "a digit-recognition CNN model", "load('digit-recognition'"),
    "mnist-vae": (("autoencoder", "tiny-mnist"), "an MNIST VAE model", "load('autoencoder'"),
    "gan": (("gan", "tiny"), "a DCGAN generator model", "load('gan'"),
}
TASKS = {"digit-recognition": "digit-cnn", "activation-maximisation": "digit-cnn", "autoencoder": "mnist-vae",
         "gan": "gan"}


def folder_of(kind: str) -> Path:
    return tiny.build(*FOLDERS[kind][0])


@pytest.mark.parametrize("task, kind", [(task, kind) for task in TASKS for kind in FOLDERS if kind != TASKS[task]])
def test_another_lab_model_is_the_wrong_task_and_named(task, kind):
    folder = folder_of(kind)
    with pytest.raises(ModelLoadError) as caught:
        load(task, model=str(folder), device="cpu")
    _, name, fix = FOLDERS[kind]
    message = str(caught.value)
    assert caught.value.reason == "wrong_task", message
    assert f"it is {name}, not" in message and f"{fix}, model={str(folder)!r})" in message, message


@pytest.mark.parametrize("task", TASKS)
def test_each_tasks_own_folder_still_loads(task):
    assert load(task, model=str(folder_of(TASKS[task])), device="cpu") is not None


def test_the_gan_discriminator_folder_points_to_the_gan_folder():
    folder = folder_of("gan")
    with pytest.raises(ModelLoadError, match="a DCGAN discriminator model, not a DCGAN generator") as caught:
        load("gan", model=str(folder / "discriminator"), device="cpu")
    assert caught.value.reason == "wrong_task" and f"load('gan', model={str(folder)!r})" in str(caught.value)


def test_the_lab_classes_have_distinct_config_keys():
    keys = {name: lab.config_keys(cls) for name, cls in lab.lab_classes().items()}
    assert len(set(keys.values())) == len(keys), keys
    assert keys["pipelines.autoencoder:MnistVAE"] == {"image_size", "hidden_units", "latent_dim"}


def test_configs_written_by_hand_or_broken(tmp_path):
    vae = tmp_path / "vae"
    shutil.copytree(folder_of("mnist-vae"), vae)
    (vae / "config.json").write_text(json.dumps({"latent_dim": 2}))  # the others take their defaults: still a VAE
    assert load("autoencoder", model=str(vae), device="cpu").latent_dim == 2
    (vae / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="not a JSON object") as caught:
        load("autoencoder", model=str(vae), device="cpu")
    assert caught.value.reason == "incompatible"
    (vae / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON") as caught:
        load("autoencoder", model=str(vae), device="cpu")
    assert caught.value.reason == "incompatible"
    (vae / "config.json").write_text(json.dumps({"latent_dim": 2, "num_layers": 3}))
    with pytest.raises(ModelLoadError, match="it has num_layers") as caught:
        load("autoencoder", model=str(vae), device="cpu")
    assert caught.value.reason == "wrong_task" and "vae/ folder" in str(caught.value)
