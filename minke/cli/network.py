"""``minke network``: create, ls, inspect, rm, prune, connect, disconnect (Docker's flags
and output)."""

from __future__ import annotations

from minke import fastjson
from minke.errors import InvalidArgument, MinkeError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse
    from typing import Any


def emit_rows(ctx: Any, fmt: str | None, rows: list[dict[str, Any]], columns: list[str], headers: dict[str, str]) -> None:
    """A list command's rows through the shared ``--format`` machinery (``table``,
    ``table TEMPLATE``, ``json``, a Go template), as images and ps print theirs."""
    from minke.cli.format import format_rows

    text = format_rows(fmt, rows, columns, headers)
    if text:
        ctx.out.write(text if text.endswith("\n") else text + "\n")


def write_inspect(ctx: Any, docs: list[Any], fmt: str | None) -> None:
    """``inspect``'s output: the documents as an indented JSON array, or each through
    the Go template ``fmt``."""
    if fmt:
        from minke.cli.format import render_template

        for d in docs:
            ctx.out.write(render_template(fmt, d) + "\n")
        return
    ctx.out.write(fastjson.dumps(docs, indent=4, ensure_ascii=False) + "\n")


def go_time(ts: float) -> str:
    """Go's time.Time.String() of a UTC time, as Docker's CreatedAt column prints it."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def key_values(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid {what}: {item!r}")
        out[k] = v
    return out


def each(ctx: Any, refs: list[str], fn: Any) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
        except MinkeError as e:
            ctx.err.write(f"Error response from daemon: {e}\n")
            rc = 1
    return rc


def filters(items: list[str], allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for f in items or []:
        k, eq, v = f.partition("=")
        if not eq or k not in allowed:
            raise InvalidArgument(f"invalid filter '{f}'")
        out.append((k, v))
    return out


# --- create -------------------------------------------------------------------------------
def setup_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help="driver to manage the network (bridge)")
    p.add_argument("--subnet", default="", help="subnet in CIDR format (default: a free one)")
    p.add_argument("--gateway", default="", help="IPv4 gateway for the subnet (default: its first address)")
    p.add_argument("--ip-range", default="", help="allocate container addresses from a sub-range")
    p.add_argument("--internal", action="store_true", help="restrict external access to the network (no NAT)")
    p.add_argument("--label", action="append", default=[], help="set metadata on the network")
    p.add_argument("-o", "--opt", action="append", default=[], help="driver options (com.docker.network.bridge.name, ...driver.mtu)")
    p.add_argument("--ipv6", action="store_true", help="not supported: IPv4 only")
    p.add_argument("--attachable", action="store_true", help="accepted for compatibility")
    p.set_defaults(func=run_create)


def run_create(ctx: Any, args: argparse.Namespace) -> int:
    if args.ipv6:
        raise InvalidArgument("--ipv6 is not supported: minke networks are IPv4-only")
    net = ctx.engine.networks.create(
        args.name, driver=args.driver, subnet=args.subnet, gateway=args.gateway, ip_range=args.ip_range,
        internal=args.internal, labels=key_values(args.label, "label"), options=key_values(args.opt, "option"),
    )
    ctx.out.write(net.id + "\n")
    return 0


NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                   "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


# --- ls -------------------------------------------------------------------------------------
def setup_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default=None)
    p.add_argument("--no-trunc", action="store_true")
    p.set_defaults(func=run_ls)


def _match(net: Any, flt: list[tuple[str, str]]) -> bool:
    from minke.network.service import PREDEFINED

    by: dict[str, list[str]] = {}
    for k, v in flt:
        by.setdefault(k, []).append(v)
    checks = {
        "name": lambda v: v in net.name,
        "id": lambda v: net.id.startswith(v),
        "driver": lambda v: net.driver == v,
        "scope": lambda v: v == "local",
        "type": lambda v: (v == "builtin") == (net.name in PREDEFINED),
        "label": lambda v: (lambda k, eq, val: k in net.labels and (not eq or net.labels[k] == val))(*v.partition("=")),
    }
    return all(any(checks[k](v) for v in vs) for k, vs in by.items())


def run_ls(ctx: Any, args: argparse.Namespace) -> int:
    flt = filters(args.filter, ("name", "id", "driver", "scope", "type", "label"))
    nets = [n for n in ctx.engine.networks.list() if _match(n, flt)]
    nets.sort(key=lambda n: n.name)
    if args.quiet:
        for n in nets:
            ctx.out.write((n.id if args.no_trunc else n.short_id) + "\n")
        return 0
    rows = [{"ID": n.id if args.no_trunc else n.short_id, "Name": n.name, "Driver": n.driver, "Scope": "local",
             "IPv6": "false", "Internal": str(n.internal).lower(),
             "Labels": ",".join(f"{k}={v}" for k, v in n.labels.items()), "CreatedAt": go_time(n.created)} for n in nets]
    emit_rows(ctx, args.format, rows, ["ID", "Name", "Driver", "Scope"], NETWORK_HEADERS)
    return 0


# --- inspect ----------------------------------------------------------------------------------
def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--format", default=None)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run_inspect)


def run_inspect(ctx: Any, args: argparse.Namespace) -> int:
    found: list[dict] = []
    rc = each(ctx, args.networks, lambda r: found.append(ctx.engine.networks.inspect(r)))
    if found or not args.format:
        write_inspect(ctx, found, args.format)
    return rc


# --- rm / prune ----------------------------------------------------------------------------------
def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=run_rm)


def run_rm(ctx: Any, args: argparse.Namespace) -> int:
    from minke.errors import NotFound

    def rm(ref: str) -> None:
        try:
            ctx.engine.networks.remove(ref)
        except NotFound:
            if args.force:
                return
            raise
        ctx.out.write(ref + "\n")

    return each(ctx, args.networks, rm)


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=run_prune)


def run_prune(ctx: Any, args: argparse.Namespace) -> int:
    flt = filters(args.filter, ("label",))
    if not args.force:
        ctx.out.write("WARNING! This will remove all custom networks not used by at least one container.\n"
                      "Are you sure you want to continue? [y/N] ")
        ctx.out.flush()
        import sys

        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = ctx.engine.networks.prune([v for _, v in flt])
    if removed:
        ctx.out.write("Deleted Networks:\n" + "".join(n + "\n" for n in removed))
    return 0


# --- connect / disconnect ----------------------------------------------------------------------------
def _running(ctx: Any, ref: str) -> Any:
    from minke.errors import FailedPrecondition

    c = ctx.engine.containers.get(ref)
    if getattr(c.status, "value", "") != "running" or not c.pid:
        raise FailedPrecondition(f"container {ref} is not running: connecting a stopped container is not supported yet")
    return c


def setup_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--ip", default="")
    p.set_defaults(func=run_connect)


def run_connect(ctx: Any, args: argparse.Namespace) -> int:
    c = _running(ctx, args.container)
    ctx.engine.networks.connect(args.network, c.id, f"/proc/{c.pid}/ns/net", name=c.name, aliases=tuple(args.alias), ip=args.ip)
    return 0


def setup_disconnect(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(func=run_disconnect)


def run_disconnect(ctx: Any, args: argparse.Namespace) -> int:
    c = ctx.engine.containers.get(args.container)
    ctx.engine.networks.disconnect(args.network, c.id, force=args.force)
    return 0
