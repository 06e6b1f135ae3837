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
    p.add_argument("--volumes", action="store_true", help="prune anonymous volumes")
    p.add_argument("--filter", action="append", default=[], help='provide filter values (e.g. "label=<key>=<value>")')
    p.set_defaults(func=run_prune)


def run_prune(ctx, args) -> int:
    """Docker's ``system prune``: stopped containers, unused custom networks, (with
    ``--volumes``) unused anonymous volumes, dangling images (all unused ones with
    ``-a``), in that order, each reported as its own prune reports; then the total."""
    from minke.cli.containers import _parse_time_arg
    from minke.cli.images import write_deleted_images
    from minke.cli.units import human_size
    from minke.errors import InvalidArgument

    until = None
    labels: list[str] = []
    for f in args.filter:
        k, eq, v = f.partition("=")
        if not eq or k not in ("until", "label"):
            raise InvalidArgument(f"invalid filter '{f}'")
        if k == "until":
            until = _parse_time_arg(v)
        else:
            labels.append(v)
    if until is not None and args.volumes:
        raise InvalidArgument('The "until" filter is not supported with "--volumes"')
    if not args.force:
        warnings = ["all stopped containers", "all networks not used by at least one container"]
        if args.volumes:
            warnings.append("all anonymous volumes not used by at least one container")
        warnings.append("all images without at least one container associated to them" if args.all
                        else "all dangling images")
        ctx.out.write("WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
                      + "\nAre you sure you want to continue? [y/N] ")
        ctx.out.flush()
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    engine = ctx.engine
    space = 0
    deleted, n = engine.containers.prune(until=until, labels=labels)
    space += n
    if deleted:
        ctx.out.write("Deleted Containers:\n" + "".join(d + "\n" for d in deleted) + "\n")
    removed = engine.networks.prune(labels, until=until)
    if removed:
        ctx.out.write("Deleted Networks:\n" + "".join(d + "\n" for d in removed) + "\n")
    if args.volumes:
        removed, n = engine.volumes.prune(labels=labels)
        space += n
        if removed:
            ctx.out.write("Deleted Volumes:\n" + "".join(d + "\n" for d in removed) + "\n")
    filters: dict[str, list[str]] = {}
    if until is not None:
        filters["until"] = [str(until)]
    if labels:
        filters["label"] = labels
    report = engine.images.prune(all=args.all, filters=filters)
    space += report["SpaceReclaimed"]
    write_deleted_images(ctx.out, report["ImagesDeleted"])
    ctx.out.write(f"Total reclaimed space: {human_size(space, 4)}\n")
    return 0


DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


def setup_df(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default=None, help="format output using a Go template (table, json, TEMPLATE)")
    p.add_argument("-v", "--verbose", action="store_true", help="show detailed information on space usage")
    p.set_defaults(func=run_df)


def run_df(ctx, args) -> int:
    """Docker's ``system df`` summary: images, containers and local volumes (the build
    cache is not measured yet, so it has no row); ``-v``: each of them."""
    from minke.cli.network import emit_rows
    from minke.cli.units import human_size
    from minke.diskusage import disk_usage, summary

    df = disk_usage(ctx.engine)
    if args.verbose:
        if args.format:
            from minke.errors import InvalidArgument

            raise InvalidArgument("--format and --verbose cannot be used together")
        _df_verbose(ctx, df)
        return 0
    rows = []
    for r in summary(df):
        reclaimable = human_size(r["Reclaimable"], 4)
        if r["Percent"] is not None:
            reclaimable += f" ({r['Percent']}%)"
        # Strings, as Docker's (its json output quotes the counts too).
        rows.append({"Type": r["Type"], "TotalCount": str(r["TotalCount"]), "Active": str(r["Active"]),
                     "Size": human_size(r["Size"], 4), "Reclaimable": reclaimable})
    emit_rows(ctx, args.format, rows, list(DF_HEADERS), DF_HEADERS)
    return 0


def setup_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", default=None, help="format output using a Go template")
    p.set_defaults(func=run_info)


def run_info(ctx, args) -> int:
    """Docker's ``info``: the store's counts, the host, the storage, cgroups and runtimes."""
    from minke.sysinfo import render, system_info

    info = system_info(ctx.engine)
    if args.format:
        from minke.cli.format import render_template

        ctx.out.write(render_template(args.format, info) + "\n")
        return 0
    ctx.out.write(render(info))
    return 0


def _df_verbose(ctx, df: dict) -> None:
    """``system df -v``: Docker's three tables (its build cache section is left out: not
    measured yet)."""
    import time

    from minke.cli.containers import container_row
    from minke.cli.format import format_rows
    from minke.cli.images import IMAGE_HEADERS, image_rows
    from minke.cli.units import human_size

    by_id = {i["Id"]: i for i in df["Images"]}
    rows = []
    for img in ctx.engine.images.list(all=True):
        u = by_id.get(img.id)
        if u is None:
            continue  # came after the measure
        for row in image_rows([img], digests=False, no_trunc=False):
            row.update(Size=human_size(u["Size"]), SharedSize=human_size(u["SharedSize"]),
                       UniqueSize=human_size(u["Size"] - u["SharedSize"]), Containers=str(u["Containers"]))
            rows.append(row)
    tables = [format_rows(None, rows, ["Repository", "Tag", "ID", "CreatedSince", "Size", "SharedSize", "UniqueSize",
                                       "Containers"], IMAGE_HEADERS)]
    sizes = {c["Id"]: c["SizeRw"] for c in df["Containers"]}
    now = time.time()
    rows = []
    for c in ctx.engine.containers.list(all=True):
        if c.id not in sizes:
            continue
        health = "none"
        if c.config.get("Healthcheck"):
            from minke.containers.health import status_of

            health = status_of(c.config, ctx.engine.containers.container_dir(c.id))
        row = container_row(c, now, health)
        mounts = c.host_config.get("Mounts") or []
        row.update(Size=human_size(sizes[c.id]), LocalVolumes=str(sum(1 for m in mounts if m.get("Type") == "volume")))
        rows.append(row)
    headers = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES",
               "Size": "SIZE", "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES"}
    tables.append(format_rows(None, rows, list(headers), headers))
    rows = [{"Name": v["Name"], "Links": str(v["UsageData"]["RefCount"]), "Size": human_size(v["UsageData"]["Size"])}
            for v in df["Volumes"]]
    headers = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
    tables.append(format_rows(None, rows, list(headers), headers))
    titles = ("Images space usage:", "Containers space usage:", "Local Volumes space usage:")
    ctx.out.write("\n\n".join(f"{title}\n\n{table.rstrip()}" for title, table in zip(titles, tables, strict=True)) + "\n")
