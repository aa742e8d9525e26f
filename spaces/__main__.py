"""mmhub's Gradio app: every pipeline as a tab; or export one Space as a Hugging Face Space folder.

    python -m spaces                                  # http://127.0.0.1:7860, all tabs
    python -m spaces --models tiny --lang pl          # offline, tiny random models (noise), Polish UI
    python -m spaces --host 0.0.0.0 --auth me:secret --max-file-size 50mb
    python -m spaces --allow-local-models ~/models    # the model field may also load folders under ~/models
    python -m spaces --host 0.0.0.0 --api-key "$KEY"  # the API (/v1, /models, /docs) for the network, with a key
    python -m spaces --ray-config spaces/ray_serve.yaml   # the same app on Ray Serve (task groups, replicas, GPUs)
    python -m spaces export sentiment build/space-sentiment   # then: cd build/space-sentiment && python app.py

The same port serves the API: OpenAI's routes under /v1, Hugging Face's Inference API under /models, the schema at
/docs (spaces/api). A bad option is one ``error:`` line and exit code 2, before gradio or any model loads.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROG = "python -m spaces"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        from .export import main as export_main

        export_main(argv[1:])
        return
    from .api.options import add_api_arguments, check_exposure, finish_api_arguments
    from .options import fail, parse_launch_args, port_busy_message, port_free

    args = parse_launch_args(argv, prog=PROG, description=__doc__, extra=add_api_arguments,
                             finish=finish_api_arguments)  # checked before gradio is imported
    refusal = check_exposure(args)
    if refusal:
        fail(PROG, refusal)
    if not (args.ray_config and args.ray_address) and not port_free(args.host, args.port):  # (a cluster's Serve
        fail(PROG, port_busy_message(args))  # proxy may hold the port already: its HTTP options stay as first set)
    if args.ray_config:  # service-jobs: the same app on Ray Serve (spaces/api/ray_serve.py)
        from .api.ray_serve import serve_on_ray

        serve_on_ray(args, argv, prog=PROG)
        return
    from .api.server import serve
    from .app import discover_spaces

    serve(discover_spaces(), args, prog=PROG, title="mmhub")


if __name__ == "__main__":
    main()
