"""Separation Space: a song split into stems (vocals, drums, bass, other…), a mixer that plays them together, and a
player and a download for each (all of them as one zip too).

    python -m spaces.separation                  # HTDemucs
    python -m spaces.separation --models tiny    # offline, tiny random Demucs (noise)

The mixer works as Moises' does: every stem plays in sync, each with its volume, mute and solo, vocals first. Gradio
has no such component, so it is a small `gr.HTML` block with the Web Audio API (`MIXER_JS`): one ``AudioContext``,
the stems decoded into buffers, a ``GainNode`` per stem into one master gain, and all sources started at the same
context time (a common start time is what keeps them in sync; separate ``<audio>`` elements drift).

API (gradio_client): ``/separate`` (audio file, two_stems, shifts, seed (-1 = random), model) -> one file per stem
slot (``MAX_STEMS`` slots, unused ones None; vocals first) and the list of all stem files.
"""

from __future__ import annotations

import html
import logging
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr

from .common import KEEP, Context, Run, SpaceSpec, draw_seed, request_folder, require, run_controls, seed_input, whole
from .launcher import main_for

logger = logging.getLogger(__name__)

TASK = "separation"
MAX_STEMS = 6  # htdemucs_6s: drums, bass, other, vocals, guitar, piano
TWO_STEMS = ("vocals", "drums", "bass", "other")

TEXTS = {
    "en": {
        "audio": "Music (upload or record)", "two_stems": "Split into", "all_stems": "all stems",
        "only": "{stem} + the rest", "shifts": "Shifts (more = slower, slightly better)", "run": "Separate",
        "downloads": "Download the stems", "stem": "Stem {i}", "progress": "Separating: part {step} of {total}",
        "stems_made": "{count} stem|{count} stems",
        "mixer": "Mixer", "mixer_empty": "Separate a song: its stems then play here together, each with its own "
                                         "volume, mute and solo.",
        "play": "Play", "pause": "Pause", "stop": "Stop", "position": "Position", "volume": "Volume: {stem}",
        "mute": "Mute", "solo": "Solo", "mute_stem": "Mute {stem}", "solo_stem": "Solo {stem}",
        "loading": "Loading the stems…", "ready": "Ready: press Play.", "failed": "The stems could not be loaded.",
        "download_all": "Download all stems (zip)",
    },
    "pl": {
        "audio": "Muzyka (wgraj lub nagraj)", "two_stems": "Podziel na", "all_stems": "wszystkie ścieżki",
        "only": "{stem} + reszta", "shifts": "Przesunięcia (więcej = wolniej, trochę lepiej)", "run": "Rozdziel",
        "downloads": "Pobierz ścieżki", "stem": "Ścieżka {i}", "progress": "Rozdzielanie: część {step} z {total}",
        "stems_made": "{count} ścieżka|{count} ścieżki|{count} ścieżek",
        # the stems' names (demucs: drums, bass, other, vocals; htdemucs_6s adds guitar, piano)
        "stem_vocals": "wokal", "stem_drums": "perkusja", "stem_bass": "bas", "stem_other": "reszta",
        "stem_guitar": "gitara", "stem_piano": "fortepian", "stem_no_vocals": "bez wokalu",
        "stem_no_drums": "bez perkusji", "stem_no_bass": "bez basu", "stem_no_other": "bez reszty",
        "mixer": "Mikser", "mixer_empty": "Rozdziel utwór: jego ścieżki zagrają tu razem, każda z własną głośnością, "
                                          "wyciszeniem i solo.",
        "play": "Odtwórz", "pause": "Pauza", "stop": "Zatrzymaj", "position": "Pozycja",
        "volume": "Głośność: {stem}", "mute": "Wycisz", "solo": "Solo", "mute_stem": "Wycisz: {stem}",
        "solo_stem": "Solo: {stem}", "loading": "Wczytywanie ścieżek…", "ready": "Gotowe: naciśnij Odtwórz.",
        "failed": "Nie udało się wczytać ścieżek.", "download_all": "Pobierz wszystkie ścieżki (zip)",
    },
}


# The mixer's behaviour, run by gradio once the block is on the page (`gr.HTML(js_on_load=...)`): `element` is the
# block, `watch("value", f)` calls f after each new value is rendered. Gradio morphs the old HTML into the new one, so
# listeners are delegated from `element` (bound once); the audio graph is rebuilt for each new set of stems. The state
# is readable from the page (element.dataset.state / .gains) and as `element.mixer`.
MIXER_JS = """
const M = {ctx: null, stems: [], playing: false, ready: false, offset: 0, startedAt: 0, duration: 0, token: 0};
element.mixer = M;
const q = (selector) => element.querySelector(selector);
const say = (key) => { const root = q('.mmhub-mixer'), status = q('.mixer-status');
  if (root && status) status.textContent = root.dataset[key] || ''; };
const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;
const position = () => M.playing ? Math.min(M.duration, M.offset + M.ctx.currentTime - M.startedAt) : M.offset;
function halt() {
  for (const s of M.stems) {
    if (!s.source) continue;
    try { s.source.stop(); } catch (e) {}
    s.source.disconnect();
    s.source = null;
  }
}
function show() {
  const seek = q('.mixer-seek'), time = q('.mixer-time'), p = position();
  if (seek) { seek.max = M.duration; seek.value = p; }
  if (time) time.textContent = `${clock(p)} / ${clock(M.duration)}`;
  if (M.playing && p >= M.duration) { stop(); return; }
  if (M.playing) requestAnimationFrame(show);
}
function gains() {
  const solo = M.stems.some((s) => s.solo);
  for (const s of M.stems) {
    const on = solo ? s.solo : !s.muted;
    s.gain.gain.value = on ? s.volume : 0;
    s.row.classList.toggle('mixer-silent', !on);
  }
  element.dataset.gains = JSON.stringify(M.stems.map((s) => s.gain.gain.value));
}
function play() {
  if (!M.ready) return;
  M.ctx.resume();
  halt();
  if (M.offset >= M.duration) M.offset = 0;
  const when = M.ctx.currentTime + 0.05;  // one start time for every stem: they stay in sync
  for (const s of M.stems) {
    const source = M.ctx.createBufferSource();
    source.buffer = s.buffer;
    source.connect(s.gain);
    source.start(when, M.offset);
    s.source = source;
  }
  M.startedAt = when;
  M.playing = true;
  element.dataset.state = 'playing';
  show();
}
function pause() {
  if (!M.playing) return;
  M.offset = position();
  halt();
  M.playing = false;
  element.dataset.state = 'paused';
  show();
}
function stop() {
  halt();
  M.playing = false;
  M.offset = 0;
  if (M.ready) element.dataset.state = 'stopped';
  show();
}
async function setup() {
  const token = ++M.token;
  halt();
  M.playing = false; M.ready = false; M.offset = 0; M.duration = 0;
  if (M.ctx) M.ctx.close();
  M.ctx = null; M.stems = [];
  const rows = [...element.querySelectorAll('[data-stem]')];
  element.dataset.state = rows.length ? 'loading' : 'empty';
  delete element.dataset.gains;
  if (!rows.length) return;
  say('loading');
  const ctx = new (window.AudioContext || window.webkitAudioContext)();
  const master = ctx.createGain();
  master.connect(ctx.destination);
  M.ctx = ctx;
  M.stems = rows.map((row) => {
    const gain = ctx.createGain();
    gain.connect(master);
    const volume = row.querySelector('[data-action=volume]');
    return {row, name: row.dataset.stem, url: row.dataset.url, gain, volume: Number(volume ? volume.value : 1),
            muted: false, solo: false, buffer: null, source: null};
  });
  try {
    await Promise.all(M.stems.map(async (s) => {
      const response = await fetch(s.url);
      if (!response.ok) throw new Error(`${s.url}: HTTP ${response.status}`);
      s.buffer = await ctx.decodeAudioData(await response.arrayBuffer());
    }));
  } catch (err) {
    if (token === M.token) { element.dataset.state = 'error'; say('failed'); console.error(err); }
    return;
  }
  if (token !== M.token) return;
  M.duration = Math.max(...M.stems.map((s) => s.buffer.duration));
  M.ready = true;
  gains();
  for (const b of element.querySelectorAll('.mixer-transport button, .mixer-seek')) b.disabled = false;
  element.dataset.state = 'ready';
  say('ready');
  show();
}
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-action]');
  if (!button || !element.contains(button)) return;
  const action = button.dataset.action;
  if (action === 'play') play();
  else if (action === 'pause') pause();
  else if (action === 'stop') stop();
  else if (action === 'mute' || action === 'solo') {
    const s = M.stems.find((x) => x.row.contains(button));
    if (!s) return;
    const key = action === 'mute' ? 'muted' : 'solo';
    s[key] = !s[key];
    button.setAttribute('aria-pressed', String(s[key]));
    gains();
  }
});
element.addEventListener('input', (event) => {
  const input = event.target;
  if (input.dataset.action === 'volume') {
    const s = M.stems.find((x) => x.row.contains(input));
    if (s) { s.volume = Number(input.value); gains(); }
  } else if (input.dataset.action === 'seek' && M.ready) {
    M.offset = Number(input.value);
    if (M.playing) play(); else show();
  }
});
watch('value', setup);
setup();
"""

MIXER_CSS = """
.mmhub-mixer { display: flex; flex-direction: column; gap: 6px; }
.mixer-transport, .mixer-row { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.mixer-transport button, .mixer-row button { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 2px 10px; background: var(--button-secondary-background-fill); cursor: pointer; }
.mixer-transport button:disabled { opacity: 0.5; cursor: default; }
.mixer-row button[aria-pressed=true] { background: var(--color-accent); color: white; }
.mixer-name { min-width: 90px; font-weight: 600; }
.mixer-row input[type=range] { flex: 1; min-width: 120px; }
.mixer-seek { flex: 1; min-width: 160px; }
.mixer-silent .mixer-name { opacity: 0.4; text-decoration: line-through; }
"""


def stem_order(names: Sequence[str]) -> list[str]:
    """Vocals first (the stem people come for), then the rest in the model's order."""
    return sorted(names, key=lambda name: (name != "vocals", name != "no_vocals"))


def mixer_html(files: Sequence[str] | None, t: Any, stem_name: Any = None) -> str:
    """The mixer for stem files gradio serves (the paths of the ``downloads`` files, in gradio's cache), in their
    order; a note when there are none. `t` looks up the Space's strings; `stem_name` words a stem's name in the UI's
    language (the name itself by default; ``data-stem`` keeps the model's name)."""
    if not files:
        return f'<div class="mmhub-mixer"><p>{html.escape(t("mixer_empty"))}</p></div>'
    data = " ".join(f'data-{key}="{html.escape(t(key))}"' for key in ("loading", "ready", "failed"))
    rows = []
    for path in files:
        stem = Path(path).stem
        name = stem_name(stem) if stem_name is not None else stem
        label = html.escape(name)
        url = "gradio_api/file=" + quote(str(path))  # relative: also right when the app is mounted under a path
        rows.append(
            f'<div class="mixer-row" data-stem="{html.escape(stem)}" data-url="{html.escape(url)}">'
            f'<span class="mixer-name">{label}</span>'
            f'<input type="range" data-action="volume" min="0" max="1.5" step="0.01" value="1" '
            f'aria-label="{html.escape(t("volume", stem=name))}">'
            f'<button type="button" data-action="mute" aria-pressed="false" '
            f'aria-label="{html.escape(t("mute_stem", stem=name))}">{html.escape(t("mute"))}</button>'
            f'<button type="button" data-action="solo" aria-pressed="false" '
            f'aria-label="{html.escape(t("solo_stem", stem=name))}">{html.escape(t("solo"))}</button></div>')
    transport = (
        '<div class="mixer-transport">'
        + "".join(f'<button type="button" data-action="{a}" disabled>{icon} {html.escape(t(a))}</button>'
                  for a, icon in (("play", "▶"), ("pause", "⏸"), ("stop", "⏹")))
        + f'<input class="mixer-seek" type="range" data-action="seek" min="0" max="0" step="0.01" value="0" '
          f'disabled aria-label="{html.escape(t("position"))}"><span class="mixer-time">0:00 / 0:00</span>'
          f'<span class="mixer-status" aria-live="polite">{html.escape(t("loading"))}</span></div>')
    return f'<div class="mmhub-mixer" {data}>{transport}{"".join(rows)}</div>'


def zip_stems(files: Sequence[str], folder: Path) -> Path:
    """Every stem file in one zip (stored, not compressed: WAV hardly shrinks and the zip is ready at once)."""
    target = folder / "stems.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in files:
            archive.write(path, arcname=Path(path).name)
    return target


def build(ctx: Context) -> None:
    t = lambda key, **kw: ctx.t(key, TEXTS, **kw)  # noqa: E731

    def stem_name(name: str) -> str:
        return t(f"stem_{name}") if f"stem_{name}" in TEXTS.get(ctx.lang, {}) else name

    def separate(audio: str | None, two_stems: str, shifts: float, seed: float | None, model: str, *,
                 run: Run) -> Iterator[Any]:
        from pipelines.audio import read_audio

        require(audio, "audio", "an audio file (upload or record one)")
        clip = read_audio(audio, argument="audio")  # unreadable, empty, silent, NaN: InputError naming `audio`
        shifts = whole("shifts", shifts, 0, 5)
        seed = draw_seed(seed)
        sep = yield from run.pipeline(TASK, model)

        def work(report: Any) -> Any:
            return sep(clip.audio, sample_rate=clip.sample_rate, two_stems=two_stems or None, shifts=shifts,
                       seed=seed, progress=run.steps(lambda step, total, _: t("progress", step=step, total=total)))

        for kind, result in run.stream(work):
            if kind != "result":
                yield KEEP
                continue
            with request_folder("mmhub-stems-") as folder:  # gone once gradio has copied the stems
                saved = result.save(folder)
                paths = {name: saved[name] for name in stem_order(list(saved))}  # vocals first
                players = [gr.update(value=str(path), label=stem_name(name), visible=True)
                           for name, path in paths.items()]
                players += [gr.update(value=None, visible=False)] * (MAX_STEMS - len(players))
                run.finish(t("stems_made", count=len(paths)), seed=seed)
                yield players[:MAX_STEMS] + [[str(p) for p in paths.values()]]

    model = ctx.model_dropdown(TASK)
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(label=t("audio"), type="filepath", sources=["upload", "microphone"], elem_id="sep-audio")
            choices = [(t("all_stems"), "")] + [(t("only", stem=stem_name(s)), s) for s in TWO_STEMS]
            two_stems = gr.Dropdown(choices, value="", label=t("two_stems"))
            with gr.Row():
                shifts = gr.Slider(0, 5, value=1, step=1, label=t("shifts"))
                seed = seed_input(ctx)
            controls = run_controls(ctx, t("run"), elem_id="separation-run")
        with gr.Column():
            gr.Markdown(f"### {t('mixer')}")
            mixer = gr.HTML(mixer_html(None, t), js_on_load=MIXER_JS, css_template=MIXER_CSS, elem_id="sep-mixer")
            download_all = gr.DownloadButton(t("download_all"), visible=False, elem_id="sep-zip")
            players = [gr.Audio(label=t("stem", i=i + 1), type="filepath", interactive=False, visible=i < 4)
                       for i in range(MAX_STEMS)]
            downloads = gr.File(label=t("downloads"), file_count="multiple", interactive=False, elem_id="sep-files")

    def mix(files: list[str] | None) -> Iterator[tuple[str, Any]]:
        """The mixer and the zip for the stems gradio now serves (`downloads`' files, already in its cache)."""
        files = list(files or [])
        if not files:
            yield mixer_html(None, t, stem_name), gr.update(value=None, visible=False)
            return
        with request_folder("mmhub-stems-zip-") as folder:  # gone once gradio has copied the zip
            yield mixer_html(files, t, stem_name), gr.update(value=str(zip_stems(files, folder)), visible=True)

    controls.click(separate, [audio, two_stems, shifts, seed, model], players + [downloads], api_name="separate",
                   **SPACE.queue)
    # The mixer follows the stems once gradio serves them (their paths in its cache): the page's run sets
    # `downloads`, whose change rebuilds the mixer and the zip (an API call does not touch the page).
    downloads.change(mix, downloads, [mixer, download_all], api_visibility="private", show_progress="hidden")


SPACE = SpaceSpec(
    name="separation",
    title={"en": "Music separation", "pl": "Separacja muzyki"},
    tasks=(TASK,),
    build=build,
    concurrency_limit=1,
    requirements=("torch", "demucs", "huggingface-hub", "numpy", "soundfile", "soxr"),
    emoji="🎚️",
    description="HTDemucs music source separation: vocals, drums, bass and other, each to play and download.",
    order=50,
    group="audio",
)


main = main_for(SPACE)

if __name__ == "__main__":
    main()
