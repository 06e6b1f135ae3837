"""``minke version`` and ``minke system ...``."""

from __future__ import annotations

import os
import sys

from minke import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse costs a short command ~10 ms
    import argparse


def setup_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default=None, help="format output using a Go template")
    p.set_defaults(func=run_version)


def run_version(ctx, args) -> int:
    info = {
        "Version": __version__,
        # What platform.python_version() and machine() say, without platform (it compiles
        # a dozen regexes at import).
        "PythonVersion": sys.version.split()[0],
        "Os": sys.platform,
        "Arch": os.uname().machine,
    }
    if args.format:
        from minke.cli.format import render_template

        ctx.out.write(render_template(args.format, {"Client": info, **info}) + "\n")
        return 0
    ctx.out.write(
        "Client: minke\n"
        f" Version:        {info['Version']}\n"
        f" Python version: {info['PythonVersion']}\n"
        f" OS/Arch:        {info['Os']}/{info['Arch']}\n"
    )
    return 0


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(func=run_prune)


def run_prune(ctx, args) -> int:
    report = ctx.engine.system_prune(all=args.all)
    ctx.out.write(f"Total reclaimed space: {report.get('SpaceReclaimed', 0)}B\n")
    return 0
