"""Image commands: images (image ls), rmi, tag, history, save, load, import, image inspect,
image prune — Docker's flags and output.

Commands that take several images (rmi, image inspect) try every one, print an error line
for each that failed and exit 1 at the end, as the Docker CLI does.
"""

from __future__ import annotations

import os
import sys
import time

from minke import fastjson
from minke.errors import InvalidArgument, MinkeError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: argparse and typing cost a short command ~10 ms
    import argparse
    from typing import Any


def _bool_flag(value: str) -> bool:
    v = value.lower()
    if v in ("true", "1", "t", "yes"):
        return True
    if v in ("false", "0", "f", "no"):
        return False
    import argparse  # only argparse calls this: minke.cli.fastargs reads no typed options but ints

    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def _since(ts: float) -> str:
    from minke.cli.units import human_duration

    return human_duration(max(0.0, time.time() - ts)) + " ago"


def _go_time(ts: float) -> str:
    """Go's time.Time.String() for a UTC time: "2023-05-19 20:43:32 +0000 UTC"."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _ellipsis(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _emit(ctx: Any, fmt: str | None, rows: list[dict[str, Any]], columns: list[str], headers: dict[str, str]) -> None:
    from minke.cli.format import format_rows

    text = format_rows(fmt, rows, columns, headers)
    if text:
        ctx.out.write(text if text.endswith("\n") else text + "\n")


# --- images ---------------------------------------------------------------------------------
def setup_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output based on conditions provided")
    p.add_argument("--format", default=None, help="format output using a custom template")
    p.set_defaults(func=run_ls)


IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "VIRTUAL SIZE",
}


def image_rows(images: list[Any], *, digests: bool, no_trunc: bool) -> list[dict[str, Any]]:
    """One row per (repository, tag[, digest]) the way Docker's CLI lays them out."""
    from minke.cli.units import human_size
    from minke.images.model import split_digested, split_tagged
    def familiar(name: str) -> str:
        from minke.images.model import familiar_name

        return familiar_name(name)

    out: list[dict[str, Any]] = []
    for img in images:
        ts = img.created_ts
        base = {
            "ID": img.id if no_trunc else img.short_id,
            "CreatedSince": _since(ts),
            "CreatedAt": _go_time(ts),
            "Size": human_size(img.size),
            "Containers": "N/A",
            "SharedSize": "N/A",
            "UniqueSize": "N/A",
            "VirtualSize": human_size(img.size),
        }
        if not img.tags and not img.repo_digests:
            out.append({"Repository": "<none>", "Tag": "<none>", "Digest": "<none>", **base})
            continue
        repo_tags: dict[str, list[str]] = {}
        for t in img.tags:
            name, tag = split_tagged(t)
            repo_tags.setdefault(familiar(name), []).append(tag)
        repo_digests: dict[str, list[str]] = {}
        for d in img.repo_digests:
            name, dgst = split_digested(d)
            repo_digests.setdefault(familiar(name), []).append(dgst)
        for repo in sorted(repo_tags):
            dg = repo_digests.pop(repo, [])
            if not digests:
                dg = []
            for tag in repo_tags[repo]:
                if not dg:
                    out.append({"Repository": repo, "Tag": tag, "Digest": "<none>", **base})
                for d in dg:
                    out.append({"Repository": repo, "Tag": tag, "Digest": d, **base})
        for repo in sorted(repo_digests):
            if digests:
                for d in repo_digests[repo]:
                    out.append({"Repository": repo, "Tag": "<none>", "Digest": d, **base})
            else:
                out.append({"Repository": repo, "Tag": "<none>", "Digest": "<none>", **base})
    return out


def run_ls(ctx: Any, args: argparse.Namespace) -> int:
    from minke.images.filters import parse_filters

    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = ctx.engine.images.list(all=args.all, filters=filters)
    rows = image_rows(images, digests=args.digests, no_trunc=args.no_trunc)
    if args.quiet:
        for r in rows:
            ctx.out.write(r["ID"] + "\n")
        return 0
    columns = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "CreatedSince", "Size"]
    _emit(ctx, args.format, rows, columns, IMAGE_HEADERS)
    return 0


# --- rmi --------------------------------------------------------------------------------------
def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="do not delete untagged parents")
    p.set_defaults(func=run_rm)


def run_rm(ctx: Any, args: argparse.Namespace) -> int:
    status = 0
    for ref in args.images:
        try:
            records = ctx.engine.images.remove(ref, force=args.force)
        except MinkeError as e:
            ctx.err.write(f"Error: {e}\n")
            status = 1
            continue
        for rec in records:
            for k, v in rec.items():
                ctx.out.write(f"{k}: {v}\n")
    return status


# --- tag --------------------------------------------------------------------------------------
def setup_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=run_tag)


def run_tag(ctx: Any, args: argparse.Namespace) -> int:
    ctx.engine.images.tag(args.source, args.target)
    return 0


# --- history ----------------------------------------------------------------------------------
def setup_history(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "-H", "--human", type=_bool_flag, nargs="?", const=True, default=True,
        help="print sizes and dates in human readable format (default true)",
    )
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--format", default=None, help="format output using a custom template")
    p.set_defaults(func=run_history)


HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def run_history(ctx: Any, args: argparse.Namespace) -> int:
    from minke.cli.units import human_size

    items = ctx.engine.images.history(args.image)
    rows = []
    for h in items:
        hid = h["Id"]
        if hid != "<missing>" and not args.no_trunc:
            hid = hid.split(":", 1)[-1][:12]
        created_by = h["CreatedBy"].replace("\t", " ")
        if not args.no_trunc:
            created_by = _ellipsis(created_by, 45)
        rows.append(
            {
                "ID": hid,
                "CreatedSince": _since(h["Created"]) if args.human else _rfc3339(h["Created"]),
                "CreatedAt": _rfc3339(h["Created"]),
                "CreatedBy": created_by,
                "Size": human_size(h["Size"]) if args.human else str(h["Size"]),
                "Comment": h["Comment"],
            }
        )
    if args.quiet:
        for r in rows:
            ctx.out.write(r["ID"] + "\n")
        return 0
    _emit(ctx, args.format, rows, ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"], HISTORY_HEADERS)
    return 0


# --- save / load ------------------------------------------------------------------------------
def setup_save(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", default=None, help="write to a file, instead of STDOUT")
    p.add_argument(
        "--format", default="docker-archive", choices=["docker-archive", "oci-archive"],
        help="archive format (docker-archive or oci-archive)",
    )
    p.set_defaults(func=run_save)


def _binary_out(stream: Any) -> Any:
    return getattr(stream, "buffer", stream)


def _isatty(stream: Any) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def run_save(ctx: Any, args: argparse.Namespace) -> int:
    images = ctx.engine.images
    if args.output:
        path = os.path.abspath(args.output)
        tmp = f"{path}.minke-tmp-{os.getpid()}"
        try:
            try:
                f = open(tmp, "wb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise InvalidArgument(f"failed to save to {args.output}: {(e.strerror or str(e)).lower()}") from None
            with f:
                images.save(args.images, f, args.format)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return 0
    if _isatty(ctx.out):
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    ctx.out.flush()
    out = _binary_out(ctx.out)
    images.save(args.images, out, args.format)
    out.flush()
    return 0


def setup_load(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", default=None, help="read from tar archive file (or OCI layout directory), instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p.set_defaults(func=run_load)


def run_load(ctx: Any, args: argparse.Namespace) -> int:
    if args.input:
        lines = ctx.engine.images.load(args.input)
    else:
        stdin = sys.stdin
        if stdin is None or _isatty(stdin):
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        lines = ctx.engine.images.load(_binary_out(stdin))
    for line in lines:
        ctx.out.write(line + "\n")
    return 0


# --- import -----------------------------------------------------------------------------------
def setup_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="file|URL|-")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[], help="apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="set commit message for imported image")
    p.add_argument("--platform", default=None, help="set platform if server is multi-platform capable")
    p.set_defaults(func=run_import)


def run_import(ctx: Any, args: argparse.Namespace) -> int:
    from minke.errors import NotFound, Unsupported

    if args.platform:
        from minke.oci.platform import host_platform, matches, parse_platform

        if not matches(host_platform(), parse_platform(args.platform)):
            raise Unsupported(f"importing for platform {args.platform} is not supported on this host")
    images = ctx.engine.images
    src = args.file
    if src.startswith(("http://", "https://")):
        raise Unsupported("importing from a url is not supported: download the file and import it")
    if src == "-":
        image_id = images.import_(_binary_out(sys.stdin), args.repository, args.change, args.message, source="-")
    else:
        try:
            f = open(src, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"open {src}: no such file or directory") from None
        except IsADirectoryError:
            raise InvalidArgument(f"open {src}: is a directory") from None
        with f:
            image_id = images.import_(f, args.repository, args.change, args.message, source=src)
    ctx.out.write(image_id + "\n")
    return 0


# --- image inspect ----------------------------------------------------------------------------
def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--format", default=None, help="format output using a custom template")
    p.set_defaults(func=run_inspect)


def write_inspect(ctx: Any, docs: list[Any], fmt: str | None) -> None:
    if fmt:
        from minke.cli.format import render_template

        for d in docs:
            ctx.out.write(render_template(fmt, d) + "\n")
        return
    ctx.out.write(fastjson.dumps(docs, indent=4, ensure_ascii=False) + "\n")


def run_inspect(ctx: Any, args: argparse.Namespace) -> int:
    docs = []
    errors = []
    for ref in args.images:
        try:
            docs.append(ctx.engine.images.inspect(ref))
        except MinkeError as e:
            errors.append(str(e))
    if docs or not args.format:
        write_inspect(ctx, docs, args.format)
    for e in errors:
        ctx.err.write(f"Error: {e}\n")
    return 1 if errors else 0


# --- image prune ------------------------------------------------------------------------------
def write_deleted_images(out: Any, records: list[dict[str, str]]) -> None:
    """A prune's "Deleted Images:" section (``untagged: REF``, ``deleted: ID`` lines),
    nothing when none went (``image prune``, ``system prune``)."""
    if records:
        out.write("Deleted Images:\n" + "".join(f"{k.lower()}: {v}\n" for rec in records for k, v in rec.items())
                  + "\n")


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='provide filter values (e.g. "until=<timestamp>")')
    p.set_defaults(func=run_prune)


def run_prune(ctx: Any, args: argparse.Namespace) -> int:
    from minke.cli.units import human_size
    from minke.images.filters import parse_filters

    filters = parse_filters(args.filter)
    if not args.force:
        warning = (
            "WARNING! This will remove all images without at least one container associated to them."
            if args.all
            else "WARNING! This will remove all dangling images."
        )
        ctx.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
        ctx.out.flush()
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    report = ctx.engine.images.prune(all=args.all, filters=filters)
    write_deleted_images(ctx.out, report["ImagesDeleted"])
    # Docker prints this one with go-units' HumanSize (4 significant digits).
    ctx.out.write(f"Total reclaimed space: {human_size(report['SpaceReclaimed'], 4)}\n")
    return 0
