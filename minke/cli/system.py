"""``minke version`` and ``minke system ...``."""

from __future__ import annotations

import argparse
import platform
import sys

from minke import __version__


def setup_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default=None, help="format output using a Go template")
    p.set_defaults(func=run_version)


def run_version(ctx, args) -> int:
    info = {
        "Version": __version__,
        "PythonVersion": platform.python_version(),
        "Os": sys.platform,
        "Arch": platform.machine(),
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
