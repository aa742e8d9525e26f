"""Test setup: offline always; `slow` tests (real Hub models) only with RUN_SLOW=1; `gpu` tests only with CUDA."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# pytest-xdist runs N workers (`make test`: 2 on 2 cores), and each torch would start one OpenMP thread per core:
# oversubscribed, they wait on each other (the VAE, metric and style tests took 85 s instead of 20 s). Each worker
# gets its share of the cores; the servers and trainers the tests start inherit it. Set before torch is imported.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _workers)))

import pytest  # noqa: E402

from tests.servers import llm_server, web_server  # noqa: E402, F401 (session fixtures: real HTTP servers)


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("RUN_SLOW") == "1"
    has_gpu = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="real Hub model: set RUN_SLOW=1 to run"))
        if "gpu" in item.keywords:
            if has_gpu is None:
                import torch

                has_gpu = torch.cuda.is_available()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
