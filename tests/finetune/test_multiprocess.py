"""finetune.sentiment in two processes (gloo on the CPU), killed with SIGKILL after a checkpoint and resumed.

Launched with ``accelerate launch --multi_gpu --num_processes 2`` (torchrun underneath): on a machine without CUDA
`finetune.run.process_state` makes both processes use gloo. accelerate 1.15 starts one process only for
``--cpu --num_processes 2`` unless MPI is configured (``commands/launch.py``: ``--cpu`` takes ``simple_launcher``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from finetune.sentiment import RunFolders
from tests.servers import free_port, kill_family, run_launcher

ROOT = Path(__file__).resolve().parents[2]
STEPS = 8


def launch(train_file: Path, output: Path, *extra: str) -> list[str]:
    launcher = Path(sys.executable).with_name("accelerate")
    return [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port", str(free_port()),
            "-m", "finetune.sentiment", "--model", "tiny", "--train-file", str(train_file), "--output-dir",
            str(output), "--cache-dir", str(output.parent / "cache"), "--validation-size", "40", "--max-steps",
            str(STEPS), "--batch-size", "8", "--max-length", "48", "--eval-steps", "4", "--save-steps", "4",
            "--logging-steps", "2", "--early-stopping-patience", "0", "--dataloader-num-workers", "0", *extra]


def test_two_processes_train_checkpoint_and_resume_after_sigkill(tmp_path, reviews_file):
    output = tmp_path / "model"
    folders = RunFolders(output)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(launch(reviews_file, output), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while folders.last_checkpoint() is None:
            assert proc.poll() is None, f"the run ended before its first checkpoint:\n{_tail(tmp_path / 'first.log')}"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "finetune.sentiment" in " ".join(p.cmdline())]
        assert len(workers) == 2
    finally:
        kill_family(proc.pid)  # the launcher and both workers, all at once, as a crash would
        log.close()
    killed_at = int(Path(folders.last_checkpoint()).name.split("-")[1])
    assert killed_at < STEPS and not output.exists()

    resumed = run_launcher(launch(reviews_file, output, "--resume"), timeout=600, cwd=ROOT, env=env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["global_step"] == STEPS
    # Two processes of 8 reviews each per step: 8 steps cover 128 of the 360 training reviews, not 64.
    assert metrics["epoch"] > 0.3, metrics["epoch"]
    steps_logged = [e["step"] for e in metrics["log_history"] if "loss" in e]
    assert steps_logged[0] < killed_at < steps_logged[-1]  # the history spans both sessions
    assert resumed.stdout.count("Fine-tuned tiny") == 1  # rank 0 reports, as it alone wrote the folder
    assert (output / "model.safetensors").exists() and not folders.work.exists()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]
