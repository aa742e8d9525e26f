"""The voice library: a clip is checked like a cloning reference, kept under an id, listed, reused and deleted;
ids never name a path; two threads saving at once both land."""

import json
import threading

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import InputError
from pipelines.voices import VoiceLibrary
from tests.pipelines.test_voice_cloning import voice


def test_save_list_get_reference_delete(tmp_path):
    library = VoiceLibrary(tmp_path)
    clip = np.concatenate([np.zeros(8000, np.float32), voice(4.0, 16000), np.zeros(8000, np.float32)])
    saved = library.save("  Ania ", clip, 16000, language="pl")
    assert saved.name == "Ania" and saved.language == "pl" and saved.sample_rate == 16000
    assert 4.0 <= saved.seconds < 4.2  # the silence around it is trimmed (a 50 ms margin stays on each side)
    assert library.list() == [saved] and library.get(saved.id) == saved
    audio, rate = sf.read(library.reference(saved.id))
    assert rate == 16000 and audio.ndim == 1 and abs(len(audio) / rate - saved.seconds) < 1e-3
    assert json.loads((tmp_path / saved.id / "voice.json").read_text())["name"] == "Ania"
    assert library.delete(saved.id) == saved and library.list() == []
    with pytest.raises(InputError, match="voice"):
        library.get(saved.id)


def test_owner_filter(tmp_path):
    library = VoiceLibrary(tmp_path)
    mine = library.save("mine", voice(4.0, 16000), 16000, owner="key-a")
    shared = library.save("shared", voice(4.0, 16000, seed=1), 16000)
    assert {v.id for v in library.list(owner="key-a")} == {mine.id, shared.id}
    assert [v.id for v in library.list(owner="key-b")] == [shared.id]
    with pytest.raises(InputError, match="voice"):
        library.get(mine.id, owner="key-b")
    with pytest.raises(InputError, match="voice"):
        library.delete(mine.id, owner="key-b")


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"name": "", "audio": "CLIP"}, "name"),
    ({"name": "x" * 65, "audio": "CLIP"}, "name"),
    ({"name": "short", "audio": "SHORT"}, "audio"),  # 1 s of sound
    ({"name": "long", "audio": "LONG"}, "audio"),  # 40 s of sound
    ({"name": "silence", "audio": "SILENCE"}, "audio"),
    ({"name": "nan", "audio": "NAN"}, "audio"),
    ({"name": "corrupt", "audio": "CORRUPT"}, "audio"),
    ({"name": "empty", "audio": "EMPTY"}, "audio"),
])
def test_bad_clips_and_names_are_refused_and_nothing_is_kept(tmp_path, kwargs, argument):
    corrupt = tmp_path / "clip.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    clips = {"CLIP": (voice(4, 16000), 16000), "SHORT": (voice(1, 16000), 16000),
             "LONG": (voice(40, 16000), 16000), "SILENCE": (np.zeros(16000 * 4, np.float32), 16000),
             "NAN": (np.full(16000 * 4, np.nan, np.float32), 16000), "CORRUPT": (str(corrupt), None),
             "EMPTY": (str(empty), None)}
    audio, rate = clips[kwargs["audio"]]
    library = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(InputError) as caught:
        library.save(kwargs["name"], audio, rate)
    assert caught.value.argument == argument
    assert library.list() == []
    assert not (tmp_path / "voices").exists() or not any((tmp_path / "voices").iterdir())


@pytest.mark.parametrize("bad", ["../etc", "voice_../../x", "/tmp", "voice_0123", None, 5, "voice_" + "g" * 16])
def test_ids_are_never_paths(tmp_path, bad):
    with pytest.raises(InputError, match="voice"):
        VoiceLibrary(tmp_path).get(bad)


def test_a_hand_edited_entry_is_skipped_and_the_bound_holds(tmp_path):
    library = VoiceLibrary(tmp_path, max_voices=2)
    kept = library.save("a", voice(4.0, 16000), 16000)
    (tmp_path / "voice_0000000000000000").mkdir()
    (tmp_path / "voice_0000000000000000" / "voice.json").write_text("{not json")
    assert library.list() == [kept]
    library.save("b", voice(4.0, 16000, seed=1), 16000)
    with pytest.raises(InputError, match="at most 2 voices"):
        library.save("c", voice(4.0, 16000, seed=2), 16000)


def test_concurrent_saves_both_land(tmp_path):
    library, errors = VoiceLibrary(tmp_path), []

    def save(i):
        try:
            library.save(f"v{i}", voice(4.0, 16000, seed=i), 16000)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(v.name for v in library.list()) == ["v0", "v1", "v2", "v3"]
