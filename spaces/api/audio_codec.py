"""Audio answers: OpenAI's speech formats written with soundfile (libsndfile), and the speed change of ``speed``.

``response_format`` (OpenAI's audio.speech reference; its default is mp3):

- ``wav``, ``flac``: 16-bit PCM at the model's own rate;
- ``mp3``: MPEG-1/2 Layer III (libsndfile >= 1.1 writes it: ``soundfile.available_formats()`` lists ``MP3``);
- ``opus``: Opus in an Ogg container, at 48 kHz unless the model's rate is one Opus takes (8/12/16/24/48 kHz);
- ``pcm``: raw 16-bit signed little-endian samples at 24 kHz, mono, no header (OpenAI: "raw samples in 24kHz
  (16-bit signed, low-endian), without the header");
- ``aac`` cannot be written by libsndfile (it has no AAC encoder): a 400 naming ``response_format``.

``speed`` (0.25 to 4) changes the tempo, not the pitch: WSOLA time-scale modification (audiotsm).

>>> import numpy as np
>>> from spaces.api.audio_codec import encode, change_speed
>>> data, media_type = encode(np.zeros(16000, np.float32), 16000, "wav")
>>> media_type, data[:4]
('audio/wav', b'RIFF')
>>> len(change_speed(np.zeros(16000, np.float32), 16000, 2.0)) // 100
80
"""

from __future__ import annotations

import io

import numpy as np

from .errors import field_error

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")  # OpenAI's list
WRITABLE = ("mp3", "opus", "flac", "wav", "pcm")
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav",
               "pcm": "audio/pcm"}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
PCM_RATE = 24000
SPEED_RANGE = (0.25, 4.0)  # OpenAI's audio.speech ``speed``


def encode(audio: np.ndarray, sample_rate: int, response_format: str) -> tuple[bytes, str]:
    """`audio` (float32 mono) as `response_format`'s bytes and media type; 400 for a format this server cannot
    write."""
    import soundfile as sf

    from pipelines.audio import resample

    if response_format not in WRITABLE:
        raise field_error("response_format", f"`response_format` {response_format!r} cannot be written here "
                                             f"(libsndfile has no AAC encoder); use one of {list(WRITABLE)}.")
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if response_format == "pcm":
        samples = resample(audio, sample_rate, PCM_RATE) if sample_rate != PCM_RATE else audio
        return (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2").tobytes(), MEDIA_TYPES["pcm"]
    buffer = io.BytesIO()
    if response_format == "opus":
        rate = sample_rate if sample_rate in OPUS_RATES else 48000
        samples = resample(audio, sample_rate, rate) if rate != sample_rate else audio
        sf.write(buffer, np.clip(samples, -1.0, 1.0), rate, format="OGG", subtype="OPUS")
    elif response_format == "mp3":
        sf.write(buffer, audio, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(buffer, audio, sample_rate, format=response_format.upper(), subtype="PCM_16")
    return buffer.getvalue(), MEDIA_TYPES[response_format]


def change_speed(audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    """`audio` played `speed` times as fast, its pitch kept (WSOLA, ~43 ms frames)."""
    if speed == 1.0:
        return audio
    from audiotsm import wsola
    from audiotsm.io.array import ArrayReader, ArrayWriter

    frame = 1 << max(8, int(np.log2(sample_rate * 0.043)))  # 1024 at 24 kHz (audiotsm's default)
    tail = 4 * frame * int(np.ceil(max(speed, 1 / speed)))  # audiotsm drops its last frames: pad, then cut
    padded = np.concatenate([np.asarray(audio, np.float32), np.zeros(tail, np.float32)])
    writer = ArrayWriter(channels=1)
    # audiotsm reads past a frame's end wrongly when the analysis hop (speed x synthesis hop) exceeds the frame, which
    # its default hop (frame / 2) does above 2x: the output came out too short. A hop of frame / max(2, speed) keeps
    # the analysis hop within one frame (measured: the lengths match 1/speed from 0.25x to 4x).
    wsola(1, speed=speed, frame_length=frame, synthesis_hop=int(frame / max(2.0, speed))).run(
        ArrayReader(padded[None, :]), writer)
    out = writer.data[0].astype(np.float32)
    return out[: int(round(len(audio) / speed))]
