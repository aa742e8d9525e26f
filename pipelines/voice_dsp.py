"""The speech signal processing kNN-VC applies around its model, in numpy/scipy (torchaudio is not installable here).

bshall/knn-vc (``matcher.py``, MIT) calls two torchaudio functions, ported here line by line from
pytorch/audio ``src/torchaudio/functional/filtering.py`` (``vad``, ``_measure``, ``biquad`` filters) and
``functional.py`` (``loudness``), BSD-2-Clause:

- `vad`: SoX's voice activity detector, which trims leading non-speech. kNN-VC's ``get_matching_set`` runs it with
  ``trigger_level=7`` on each reference clip, then on the reversed clip to trim the end as well (`vad_trim`).
- `loudness`: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks with 75 % overlap, absolute gate
  -70 LUFS, relative gate -10 LU). ``KNeighborsVC.match`` scales its output to ``tgt_loudness_db=-16`` LUFS with it
  (`normalize_loudness`).

Deliberate differences, each where torchaudio's result is unusable: computation in float64 rather than float32; `vad`
clamps its start index at 0 where torchaudio's negative index would wrap around to the end of the clip; `loudness`
returns NaN (and `normalize_loudness` leaves the audio as it is) for a clip shorter than one 400 ms block or one that
no block passes the gates, where torchaudio's NaN/inf gain would turn the whole output into NaN.

>>> import numpy as np
>>> t = np.arange(48000) / 48000
>>> round(loudness(0.5 * np.sin(2 * np.pi * 997 * t), 48000), 2)  # -6 dBFS sine; pyloudnorm agrees (ITU: -9.03)
-9.07
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["vad", "vad_trim", "loudness", "normalize_loudness", "speech_only", "KNN_VC_TRIGGER_LEVEL",
           "KNN_VC_LOUDNESS", "SPEECH_RATE"]

KNN_VC_TRIGGER_LEVEL = 7.0  # matcher.py get_matching_set(vad_trigger_level=7)
KNN_VC_LOUDNESS = -16.0  # matcher.py match(tgt_loudness_db=-16)
SPEECH_RATE = 16000  # kNN-VC's rate, at which it runs the VAD on a reference (matcher.py)


# ------------------------------------------------------------------------------------------------------------------
# loudness (torchaudio.functional.loudness)


def _biquad(audio: np.ndarray, b: tuple[float, float, float], a: tuple[float, float, float]) -> np.ndarray:
    """torchaudio's ``biquad``: ``lfilter`` from zero state, then clamped to [-1, 1] (its ``clamp=True`` default)."""
    from scipy.signal import lfilter

    return np.clip(lfilter(np.asarray(b) / a[0], np.asarray(a) / a[0], audio, axis=-1), -1.0, 1.0)


def _treble(audio: np.ndarray, rate: int, gain: float, freq: float, q: float) -> np.ndarray:
    w0 = 2 * math.pi * freq / rate
    alpha = math.sin(w0) / 2 / q
    g = math.exp(gain / 40 * math.log(10))  # torchaudio's "A"
    temp1, temp2, temp3 = 2 * math.sqrt(g) * alpha, (g - 1) * math.cos(w0), (g + 1) * math.cos(w0)
    b = (g * ((g + 1) + temp2 + temp1), -2 * g * ((g - 1) + temp3), g * ((g + 1) + temp2 - temp1))
    a = ((g + 1) - temp2 + temp1, 2 * ((g - 1) - temp3), (g + 1) - temp2 - temp1)
    return _biquad(audio, b, a)


def _highpass(audio: np.ndarray, rate: int, freq: float, q: float) -> np.ndarray:
    w0 = 2 * math.pi * freq / rate
    alpha = math.sin(w0) / 2.0 / q
    b0 = (1 + math.cos(w0)) / 2
    return _biquad(audio, (b0, -1 - math.cos(w0), b0), (1 + alpha, -2 * math.cos(w0), 1 - alpha))


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of ``(samples,)`` or ``(channels, samples)`` audio, as torchaudio measures it.

    NaN when the clip is shorter than one 400 ms block or silent (no block above -70 LUFS).
    """
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    if audio.shape[0] > 5:
        raise ValueError("loudness: at most 5 channels")
    gate_samples = int(round(0.4 * sample_rate))
    step = int(round(gate_samples * (1 - 0.75)))
    if audio.shape[-1] < gate_samples:
        return math.nan
    weighted = _highpass(_treble(audio, sample_rate, 4.0, 1500.0, 1 / math.sqrt(2)), sample_rate, 38.0, 0.5)
    blocks = (weighted.shape[-1] - gate_samples) // step + 1  # torch.Tensor.unfold(-1, gate_samples, step)
    squares = np.square(weighted)
    cumulative = np.concatenate([np.zeros((squares.shape[0], 1)), np.cumsum(squares, axis=-1)], axis=-1)
    starts = np.arange(blocks) * step
    energy = (cumulative[:, starts + gate_samples] - cumulative[:, starts]) / gate_samples  # (channels, blocks)
    g = np.array([1.0, 1.0, 1.0, 1.41, 1.41])[: energy.shape[0], None]
    with np.errstate(divide="ignore", invalid="ignore"):
        block_loudness = -0.691 + 10 * np.log10((g * energy).sum(axis=0))
        gated = block_loudness > -70.0
        if not gated.any():
            return math.nan
        relative = -0.691 + 10 * np.log10((g[:, 0] * energy[:, gated].mean(axis=1)).sum()) - 10
        gated &= block_loudness > relative
        if not gated.any():
            return math.nan
        return float(-0.691 + 10 * np.log10((g[:, 0] * energy[:, gated].mean(axis=1)).sum()))


def normalize_loudness(audio: np.ndarray, sample_rate: int, target: float = KNN_VC_LOUDNESS) -> np.ndarray:
    """`audio` scaled to `target` LUFS (``torchaudio.functional.gain(x, target - loudness(x))``, no clipping);
    unchanged when its loudness cannot be measured (see `loudness`)."""
    measured = loudness(audio, sample_rate)
    if not math.isfinite(measured):
        return audio
    return (np.asarray(audio) * 10 ** ((target - measured) / 20)).astype(np.asarray(audio).dtype, copy=False)


# ------------------------------------------------------------------------------------------------------------------
# voice activity detection (torchaudio.functional.vad, itself SoX's "vad" effect)


def _periodic_hann(length: int) -> np.ndarray:
    """``torch.hann_window(length)`` (periodic)."""
    return 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(length) / length)


def _measure(samples, spectrum, noise_spectrum, spectrum_window, spectrum_start, spectrum_end, cepstrum_window,
             cepstrum_start, cepstrum_end, noise_reduction_amount, measure_smooth_time_mult, noise_up_time_mult,
             noise_down_time_mult, boot_count) -> float:
    """One cepstral-power measurement; updates `spectrum` and `noise_spectrum` in place (torchaudio ``_measure``)."""
    dft_len = spectrum.shape[-1]
    buffer = np.zeros(dft_len)
    buffer[: len(samples)] = samples * spectrum_window[: len(samples)]
    magnitude = np.abs(np.fft.rfft(buffer))[spectrum_start:spectrum_end]
    mult = boot_count / (1.0 + boot_count) if boot_count >= 0 else measure_smooth_time_mult
    spectrum[spectrum_start:spectrum_end] = spectrum[spectrum_start:spectrum_end] * mult + magnitude * (1 - mult)
    power = spectrum[spectrum_start:spectrum_end] ** 2
    if boot_count >= 0:
        noise_mult = np.zeros(spectrum_end - spectrum_start)
    else:
        noise_mult = np.where(power > noise_spectrum[spectrum_start:spectrum_end], noise_up_time_mult,
                              noise_down_time_mult)
    noise_spectrum[spectrum_start:spectrum_end] = (noise_spectrum[spectrum_start:spectrum_end] * noise_mult
                                                   + power * (1 - noise_mult))
    reduced = np.sqrt(np.maximum(0.0, power - noise_reduction_amount * noise_spectrum[spectrum_start:spectrum_end]))
    cepstrum = np.zeros(dft_len >> 1)
    cepstrum[spectrum_start:spectrum_end] = reduced * cepstrum_window
    result = float(np.sum(np.abs(np.fft.rfft(cepstrum)[cepstrum_start:cepstrum_end]) ** 2))
    result = math.log(result / (cepstrum_end - cepstrum_start)) if result > 0 else -math.inf
    return max(0.0, 21 + result)


def vad(audio: np.ndarray, sample_rate: int, trigger_level: float = 7.0, trigger_time: float = 0.25,
        search_time: float = 1.0, allowed_gap: float = 0.25, pre_trigger_time: float = 0.0, boot_time: float = 0.35,
        noise_up_time: float = 0.1, noise_down_time: float = 0.01, noise_reduction_amount: float = 1.35,
        measure_freq: float = 20.0, measure_duration: float | None = None, measure_smooth_time: float = 0.4,
        hp_filter_freq: float = 50.0, lp_filter_freq: float = 6000.0, hp_lifter_freq: float = 150.0,
        lp_lifter_freq: float = 2000.0) -> np.ndarray:
    """Trim leading non-speech from ``(samples,)`` or ``(channels, samples)`` audio (torchaudio ``vad``, defaults
    included). Returns an empty clip when no voice activity triggers."""
    audio = np.asarray(audio)
    shape = audio.shape
    if shape[-1] == 0:
        return audio
    audio2d = audio.reshape(-1, shape[-1]).astype(np.float64, copy=False)
    measure_duration = 2.0 / measure_freq if measure_duration is None else measure_duration
    measure_len_ws = int(sample_rate * measure_duration + 0.5)
    measure_len_ns = measure_len_ws
    dft_len_ws = 16
    while dft_len_ws < measure_len_ws:
        dft_len_ws *= 2
    measure_period_ns = int(sample_rate / measure_freq + 0.5)
    measures_len = math.ceil(search_time * measure_freq)
    search_pre_trigger_len_ns = measures_len * measure_period_ns
    gap_len = int(allowed_gap * measure_freq + 0.5)
    fixed_pre_trigger_len_ns = int(pre_trigger_time * sample_rate + 0.5)
    samples_len_ns = fixed_pre_trigger_len_ns + search_pre_trigger_len_ns + measure_len_ns

    spectrum_window = np.full(measure_len_ws, 2.0 / math.sqrt(float(measure_len_ws))) * _periodic_hann(measure_len_ws)
    spectrum_start = max(int(hp_filter_freq / sample_rate * dft_len_ws + 0.5), 1)
    spectrum_end = min(int(lp_filter_freq / sample_rate * dft_len_ws + 0.5), dft_len_ws // 2)
    width = spectrum_end - spectrum_start
    cepstrum_window = np.full(width, 2.0 / math.sqrt(float(width))) * _periodic_hann(width)
    cepstrum_start = math.ceil(sample_rate * 0.5 / lp_lifter_freq)
    cepstrum_end = min(math.floor(sample_rate * 0.5 / hp_lifter_freq), dft_len_ws // 4)
    if cepstrum_end <= cepstrum_start:
        raise ValueError(f"vad: cepstrum_start {cepstrum_start} must be below cepstrum_end {cepstrum_end}")

    noise_up_time_mult = math.exp(-1.0 / (noise_up_time * measure_freq))
    noise_down_time_mult = math.exp(-1.0 / (noise_down_time * measure_freq))
    measure_smooth_time_mult = math.exp(-1.0 / (measure_smooth_time * measure_freq))
    trigger_meas_time_mult = math.exp(-1.0 / (trigger_time * measure_freq))
    boot_count_max = int(boot_time * measure_freq - 0.5)
    boot_count = measures_index = flushed_len_ns = 0

    n_channels, length = audio2d.shape
    mean_meas = np.zeros(n_channels)
    spectrum = np.zeros((n_channels, dft_len_ws))
    noise_spectrum = np.zeros((n_channels, dft_len_ws))
    measures = np.zeros((n_channels, measures_len))
    has_triggered = False
    num_measures_to_flush = 0
    pos = 0
    for pos in range(measure_len_ns, length, measure_period_ns):
        for i in range(n_channels):
            meas = _measure(audio2d[i, pos - measure_len_ws: pos], spectrum[i], noise_spectrum[i], spectrum_window,
                            spectrum_start, spectrum_end, cepstrum_window, cepstrum_start, cepstrum_end,
                            noise_reduction_amount, measure_smooth_time_mult, noise_up_time_mult,
                            noise_down_time_mult, boot_count)
            measures[i, measures_index] = meas
            mean_meas[i] = mean_meas[i] * trigger_meas_time_mult + meas * (1.0 - trigger_meas_time_mult)
            has_triggered = has_triggered or mean_meas[i] >= trigger_level
            if has_triggered:
                n, k = measures_len, measures_index
                j_trigger = j_zero = n
                j = 0
                for j in range(n):
                    if measures[i, k] >= trigger_level and j <= j_trigger + gap_len:
                        j_zero = j_trigger = j
                    elif measures[i, k] == 0 and j_trigger >= j_zero:
                        j_zero = j
                    k = (k + n - 1) % n
                j = min(j, j_zero)
                num_measures_to_flush = min(max(num_measures_to_flush, j), n)
        measures_index = (measures_index + 1) % measures_len
        if boot_count >= 0:
            boot_count = -1 if boot_count == boot_count_max else boot_count + 1
        if has_triggered:
            flushed_len_ns = (measures_len - num_measures_to_flush) * measure_period_ns
            break
    if not has_triggered:
        return audio[..., :0]
    start = max(0, pos - samples_len_ns + flushed_len_ns)  # torchaudio would wrap a negative start around
    return audio[..., start:]


def vad_trim(audio: np.ndarray, sample_rate: int, trigger_level: float = KNN_VC_TRIGGER_LEVEL) -> np.ndarray:
    """Trim non-speech from both ends as kNN-VC's ``get_features`` does: `vad`, reverse, `vad`, reverse back."""
    front = vad(audio, sample_rate, trigger_level=trigger_level)
    return vad(front[..., ::-1], sample_rate, trigger_level=trigger_level)[..., ::-1]


def speech_only(audio: np.ndarray, sample_rate: int, seconds: tuple[float, float], argument: str = "reference"
                ) -> np.ndarray:
    """The speech of a voice clip, or `InputError` naming `argument`: the one check of a voice reference, on every
    voice-cloning route and in the voice library (`pipelines.voices`), so that a clip is accepted or refused the same
    way everywhere.

    The mono clip is brought to 16 kHz and trimmed with `vad_trim` (SoX's voice activity detector, as kNN-VC trims
    its reference); a clip in which it finds no voice activity (silence, white noise, a pure tone, a constant
    offset) is refused, and so is one whose speech lasts outside ``seconds = (low, high)``. Returns the speech,
    float32 at `SPEECH_RATE`.
    """
    from pipelines.audio import resample
    from pipelines.errors import InputError

    mono = np.asarray(audio, dtype=np.float32).reshape(-1)
    clip = mono if sample_rate == SPEECH_RATE else resample(mono, sample_rate, SPEECH_RATE)
    speech = vad_trim(clip, SPEECH_RATE)
    if speech.size == 0:
        raise InputError(argument, f"{mono.size / sample_rate:.2f} s of audio in which no speech was detected",
                         "a recording of speech",
                         "SoX's voice activity detector (which kNN-VC trims its reference with) finds no voice in it: "
                         "silence, noise, a pure tone or a constant offset is not a voice.")
    length = speech.size / SPEECH_RATE
    low, high = seconds
    if not low <= length <= high:
        raise InputError(argument, f"a clip with {length:.2f} s of speech (non-speech trimmed)",
                         f"between {low:g} and {high:g} seconds of speech")
    return np.ascontiguousarray(speech, dtype=np.float32)
