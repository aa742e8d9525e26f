"""Launch options for serving on Ray Serve (`spaces.api.ray_serve`), checked before anything heavy is imported.

    python -m spaces --models tiny --ray-config spaces/ray_serve.yaml                 # a local Ray, started here
    python -m spaces --ray-config spaces/ray_serve.yaml --ray-address auto           # the cluster of `ray start`

>>> import argparse
>>> from spaces.api.ray_options import add_ray_arguments
>>> add_ray_arguments(argparse.ArgumentParser()).parse_args([]).ray_config is None
True
"""

from __future__ import annotations

import argparse
import os


def _config(text: str) -> str:
    path = os.path.expanduser(str(text))
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"--ray-config must be a Serve config file (YAML); {text!r} is not a file")
    return os.path.abspath(path)


def _address(text: str) -> str:
    value = str(text).strip()
    if not value or any(c.isspace() for c in value) or len(value) > 256:
        raise argparse.ArgumentTypeError(f"--ray-address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT'; "
                                         f"got {text!r}")
    return value


def add_ray_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--ray-config FILE`` and ``--ray-address ADDRESS``."""
    group = parser.add_argument_group("Ray Serve (the same app, scaled out: README section 10)")
    group.add_argument("--ray-config", type=_config, default=None, metavar="FILE",
                       help="serve on Ray Serve with this Serve config (deployments, replicas, GPUs, autoscaling); "
                            "e.g. spaces/ray_serve.yaml")
    group.add_argument("--ray-address", type=_address, default=None, metavar="ADDRESS",
                       help="the Ray cluster to join ('auto' after `ray start --head`); default: start a local Ray")
    return parser
