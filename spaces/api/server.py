"""``python -m spaces``: the Gradio app and the API in one FastAPI app on one port, served by uvicorn.

Graceful stop: on Ctrl-C or SIGTERM uvicorn stops accepting connections and lets the requests in flight finish (up to
``--shutdown-timeout`` seconds, default 30; open Gradio pages' event streams are closed after that), then the routers'
``shutdown`` hooks run.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..common import SpaceSpec, page_assets
from ..launcher import build_blocks, context_from_args, parse_auth, resolve_lazy_imports
from ..options import FILE_SIZE_UNITS, fail, port_busy_message, port_free
from .requestid import LOG_FORMAT, install_log_filter

logger = logging.getLogger(__name__)


def file_size_bytes(text: str) -> int:
    """``200mb`` (as `spaces.options.file_size` returns it) in bytes."""
    digits = "".join(c for c in text if c.isdigit())
    return int(digits) * FILE_SIZE_UNITS[text[len(digits):]]


def settings_from_args(args: argparse.Namespace) -> Any:
    from .job_options import job_settings
    from .service import ApiSettings

    return ApiSettings(api_keys=tuple(getattr(args, "api_keys", ())), login=parse_auth(args.auth),
                       limits=dict(getattr(args, "api_limits", {})), queue=getattr(args, "api_queue", 16),
                       max_body_bytes=file_size_bytes(args.max_file_size),
                       voices_dir=getattr(args, "voices_dir", None),
                       shutdown_timeout=getattr(args, "shutdown_timeout", 30.0),
                       jobs=job_settings(args))


def build_app(specs: Sequence[SpaceSpec], args: argparse.Namespace, title: str = "mmhub") -> Any:
    """The whole app for `args`: the Context (one model cache), the tabs, the API."""
    from . import create_app
    from .service import Service

    ctx = context_from_args(args)
    demo = build_blocks(specs, ctx, title=title)
    demo.queue(default_concurrency_limit=1, max_size=args.queue_size)
    service = Service.create(ctx, settings_from_args(args))
    # page_assets: the status line's look and clock, <html lang>, gradio's words in the UI's language, canvas names
    return create_app(service, demo, auth=parse_auth(args.auth), max_file_size=args.max_file_size, ssr_mode=False,
                      footer_links=["api", "settings"], server_name=args.host, server_port=args.port,
                      show_error=False, **page_assets(args.lang))


def _share(server: Any, args: argparse.Namespace) -> None:
    """Open gradio's temporary public link once uvicorn serves (as ``Blocks.launch(share=True)`` does)."""
    from gradio import networking

    while not server.started and not server.should_exit:
        time.sleep(0.1)
    if server.should_exit:
        return
    try:
        url = networking.setup_tunnel(args.host, args.port, secrets.token_urlsafe(32), None, None)
        logger.info("public link (--share): %s", url)
    except Exception as err:  # noqa: BLE001 - no network, a blocked binary: the local server keeps serving
        logger.warning("could not create the --share link: %s", err)


def serve(specs: Sequence[SpaceSpec], args: argparse.Namespace, prog: str, title: str = "mmhub") -> None:
    """Build and serve the app; a port in use is one ``error:`` line and exit code 2."""
    import uvicorn

    logging.basicConfig(level=args.log_level, format=LOG_FORMAT)
    install_log_filter()
    if not port_free(args.host, args.port):
        fail(prog, port_busy_message(args))
    app = build_app(specs, args, title)
    resolve_lazy_imports()
    config = uvicorn.Config(app, host=args.host.strip("[]"), port=args.port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=args.shutdown_timeout, lifespan="on")
    server = uvicorn.Server(config)
    if args.share:
        threading.Thread(target=_share, args=(server, args), daemon=True, name="mmhub-share").start()
    keys = len(getattr(args, "api_keys", ()))
    logger.info("serving the app and the API on http://%s:%d (%s)%s", args.host, args.port,
                f"{keys} API key{'s' if keys != 1 else ''}" if keys else "no API key: loopback only",
                " (tiny models)" if args.models else "")
    for folder in getattr(args, "allow_local_models", []):
        logger.info("the model field may load folders under %s", folder)
    try:
        server.run()
    except OSError as err:  # taken meanwhile
        logger.debug("serve failed", exc_info=err)
        fail(prog, port_busy_message(args))
