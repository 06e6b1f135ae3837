"""``minke network``: create, ls, inspect, rm, prune, connect, disconnect (Docker's flags
and output)."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from minke.errors import InvalidArgument, MinkeError


def table(out: Any, headers: list[str], rows: list[list[str]]) -> None:
    """Docker's tabwriter layout (minwidth 10, padding 3): a column is as wide as its
    widest cell plus three spaces, and at least ten."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    for r in [headers, *rows]:
        line = "".join(cell.ljust(max(10, widths[i] + 3)) if i < len(r) - 1 else cell for i, cell in enumerate(r))
        out.write(line.rstrip() + "\n")


def render(fmt: str, obj: Any) -> str:
    """Go-template subset: ``{{.Field}}``, ``{{.A.B}}``, ``{{json .X}}``, ``{{json .}}``."""
    def field(path: str) -> Any:
        v = obj
        for part in filter(None, path.split(".")):
            v = v.get(part) if isinstance(v, dict) else None
        return v

    def sub(m: re.Match) -> str:
        expr = m.group(1).strip()
        if expr.startswith("json"):
            return json.dumps(field(expr[4:].strip()))
        v = field(expr)
        return "<no value>" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))

    return re.sub(r"{{\s*(.*?)\s*}}", sub, fmt).replace("\\t", "\t").replace("\\n", "\n")


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
             "Labels": ",".join(f"{k}={v}" for k, v in n.labels.items()), "CreatedAt": str(n.created)} for n in nets]
    if args.format and args.format != "table":
        fmt = args.format[len("table "):] if args.format.startswith("table ") else args.format
        for r in rows:
            ctx.out.write((json.dumps(r) if fmt == "json" else render(fmt, r)) + "\n")
        return 0
    table(ctx.out, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"], [[r["ID"], r["Name"], r["Driver"], r["Scope"]] for r in rows])
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
    if args.format:
        for obj in found:
            ctx.out.write(render(args.format, obj) + "\n")
    else:
        ctx.out.write(json.dumps(found, indent=4) + "\n")
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
