"""The ``minibert`` command: a thin shell over the library.

Each subcommand parses its arguments, calls library functions, and turns a library error into a
one-line message and a non-zero exit code (no traceback for a user's mistake).
"""

from __future__ import annotations

import argparse
import platform
import sys

import minibert


def _info(args: argparse.Namespace) -> int:
    """Print what this installation runs on: versions, kernel backends, JIT state."""
    import numpy as np

    from autograd import kernels

    print(
        f"minibert {minibert.__version__}, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    print(f"Numba JIT: {'enabled' if kernels.jit_enabled() else 'disabled'}")
    for name in kernels.names():
        print(f"  kernel {name:24s} backends: {', '.join(kernels.available(name))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minibert", description="Learn BERT by building one: train and use tiny BERTs."
    )
    parser.add_argument("--version", action="version", version=f"minibert {minibert.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="show versions and which kernels are in use")
    info.set_defaults(handler=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"minibert {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
