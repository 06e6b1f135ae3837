"""``minke inspect [--type image|container] [-f FORMAT] NAME...``: like Docker, a name is
looked up as a container first, then as an image, unless ``--type`` says which."""

from __future__ import annotations

from minke.errors import MinkeError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse
    from typing import Any


def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    p.add_argument("-f", "--format", default=None, help="format output using a custom template")
    p.add_argument("--type", default=None, choices=["image", "container"], help="return JSON for specified type")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes if the type is container")
    p.set_defaults(func=run_inspect)


def _container(ctx: Any, name: str) -> dict[str, Any]:
    containers = ctx.engine.containers
    return containers.inspect(name)


def run_inspect(ctx: Any, args: argparse.Namespace) -> int:
    from minke.cli.images import write_inspect

    docs: list[Any] = []
    errors: list[str] = []
    for name in args.names:
        try:
            if args.type == "image":
                docs.append(ctx.engine.images.inspect(name))
            elif args.type == "container":
                docs.append(_container(ctx, name))
            else:
                try:
                    docs.append(_container(ctx, name))
                except (NotFound, ImportError, AttributeError):
                    try:
                        docs.append(ctx.engine.images.inspect(name))
                    except NotFound:
                        raise NotFound(f"No such object: {name}") from None
        except MinkeError as e:
            errors.append(str(e))
    if docs or not args.format:
        write_inspect(ctx, docs, args.format)
    for e in errors:
        ctx.err.write(f"Error: {e}\n")
    return 1 if errors else 0
