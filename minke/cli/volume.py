"""``minke volume``: create, ls, inspect, rm, prune (Docker's flags and output)."""

from __future__ import annotations

from minke.cli.network import each, emit_rows, filters, key_values, write_inspect

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse
    from typing import Any


def setup_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="", metavar="VOLUME")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--name", dest="name_flag", default="")
    p.set_defaults(func=run_create)


def run_create(ctx: Any, args: argparse.Namespace) -> int:
    from minke.errors import InvalidArgument

    if args.name and args.name_flag and args.name != args.name_flag:
        raise InvalidArgument("conflicting options: either specify --name or provide positional arg, not both")
    v = ctx.engine.volumes.create(args.name or args.name_flag, driver=args.driver,
                                  labels=key_values(args.label, "label"), options=key_values(args.opt, "option"))
    ctx.out.write(v.name + "\n")
    return 0


VOLUME_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
                  "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}


def setup_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default=None)
    p.set_defaults(func=run_ls)


def run_ls(ctx: Any, args: argparse.Namespace) -> int:
    from minke.volumes.service import all_labels_match

    svc = ctx.engine.volumes
    vols = []
    for v in svc.list():
        ok = True
        for k, val in filters(args.filter, ("name", "label", "dangling", "driver")):
            if k == "name":
                ok = ok and val in v.name
            elif k == "label":
                ok = ok and all_labels_match(v.labels, [val])
            elif k == "driver":
                ok = ok and v.driver == val
            else:
                want = val.lower() in ("1", "true")
                ok = ok and (not svc.users(v.name)) == want
        if ok:
            vols.append(v)
    if args.quiet:
        for v in vols:
            ctx.out.write(v.name + "\n")
        return 0
    rows = [{"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "Scope": "local",
             "Labels": ",".join(f"{k}={x}" for k, x in v.labels.items()), "Links": "N/A", "Size": "N/A"} for v in vols]
    emit_rows(ctx, args.format, rows, ["Driver", "Name"], VOLUME_HEADERS)
    return 0


def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--format", default=None)
    p.set_defaults(func=run_inspect)


def run_inspect(ctx: Any, args: argparse.Namespace) -> int:
    found: list[dict] = []
    rc = each(ctx, args.volumes, lambda n: found.append(ctx.engine.volumes.inspect(n)))
    if found or not args.format:
        write_inspect(ctx, found, args.format)
    return rc


def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=run_rm)


def run_rm(ctx: Any, args: argparse.Namespace) -> int:
    def rm(name: str) -> None:
        ctx.engine.volumes.remove(name, force=args.force)
        ctx.out.write(name + "\n")

    return each(ctx, args.volumes, rm)


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=run_prune)


def run_prune(ctx: Any, args: argparse.Namespace) -> int:
    from minke.cli.units import human_size

    flt = filters(args.filter, ("label", "all"))
    all_ = args.all or any(k == "all" and v.lower() in ("1", "true") for k, v in flt)
    if not args.force:
        ctx.out.write("WARNING! This will remove anonymous local volumes not used by at least one container.\n"
                      "Are you sure you want to continue? [y/N] ")
        ctx.out.flush()
        import sys

        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed, space = ctx.engine.volumes.prune(all=all_, labels=[v for k, v in flt if k == "label"])
    if removed:
        ctx.out.write("Deleted Volumes:\n" + "".join(n + "\n" for n in removed) + "\n")
    ctx.out.write(f"Total reclaimed space: {human_size(space)}\n")
    return 0
