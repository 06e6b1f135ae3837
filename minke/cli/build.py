"""``minke build``: a Dockerfile and a context (directory or a tar on stdin) into an image."""

from __future__ import annotations

import sys

from minke.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # argparse and typing: for mypy only (minke.cli.fastargs parses without them)
    import argparse
    from typing import Any


def setup_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("context", metavar="PATH|-", help="build context directory, or - for a tar on stdin")
    p.add_argument("-t", "--tag", action="append", default=[], help="name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", default=None, help="name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], help="set build-time variables")
    p.add_argument("--target", default=None, help="set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="do not use cache when building the image")
    p.add_argument("--label", action="append", default=[], help="set metadata for an image")
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "quiet", "tty"],
                   help="set type of progress output")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the build output and print image ID on success")
    p.add_argument("--iidfile", default=None, help="write the image ID to the file")
    p.add_argument("--network", default="default", help="networking mode for the RUN instructions")
    p.add_argument("--platform", default=None, help="set target platform for build (only the host's)")
    p.add_argument("--runtime", default="runc", help="==SUPPRESS==")  # argparse.SUPPRESS
    p.add_argument("--pull", action="store_true", help="always attempt to pull a newer version of the image")
    p.add_argument("--secret", action="append", default=[],
                   help="secret to expose to the build: id=ID[,src=PATH|,env=VAR]")
    p.add_argument("--ssh", action="append", default=[],
                   help="SSH agent socket to expose to the build: default|ID[=SOCKET]")
    # Nothing is left open when a build returns: the launcher may skip the teardown.
    p.set_defaults(func=run_build, exit_at_once=True)


def _pairs(items: list[str], what: str, env_fallback: bool) -> dict[str, str]:
    import os

    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what}: {item!r}")
        if not eq:
            if not env_fallback:
                value = ""
            elif key in os.environ:
                value = os.environ[key]  # Docker: --build-arg NAME takes it from the env
            else:
                continue
        out[key] = value
    return out


def _ssh(items: list[str]) -> dict[str, str]:
    """BuildKit's --ssh ``ID[=SOCKET]`` (``default`` alone: $SSH_AUTH_SOCK).  Only agent
    sockets: BuildKit's key files (``ID=KEY[,KEY]``) would need an agent of our own."""
    import os
    import stat

    out: dict[str, str] = {}
    for item in items:
        sid, eq, path = item.partition("=")
        if not sid or "," in path:
            raise InvalidArgument(f"invalid ssh {item!r}: want ID[=SOCKET]")
        if not eq:
            path = os.environ.get("SSH_AUTH_SOCK", "")
            if not path:
                raise InvalidArgument(f"ssh {sid}: SSH_AUTH_SOCK is not set and no socket was given")
        try:
            st = os.stat(path)
        except OSError as e:
            raise InvalidArgument(f"ssh {sid}: {path}: {e.strerror}") from None
        if not stat.S_ISSOCK(st.st_mode):
            raise InvalidArgument(f"ssh {sid}: {path} is not a socket (key files are not supported)")
        out[sid] = os.path.abspath(path)
    return out


def _secrets(items: list[str]) -> dict[str, bytes]:
    """BuildKit's --secret: ``id=ID,src=PATH`` (also source=, type=file), ``id=ID,env=VAR``
    (type=env); with only an id, the environment variable of that name if set, else the
    file of that name."""
    import os

    out: dict[str, bytes] = {}
    for item in items:
        fields: dict[str, str] = {}
        for part in item.split(","):
            k, eq, v = part.partition("=")
            if not eq or k not in ("id", "src", "source", "env", "type"):
                raise InvalidArgument(f"invalid secret {item!r}: unexpected {part!r}")
            fields["src" if k == "source" else k] = v
        sid = fields.get("id") or os.path.basename(fields.get("src", "")) or fields.get("env", "")
        if not sid:
            raise InvalidArgument(f"invalid secret {item!r}: no id")
        kind = fields.get("type") or ("env" if "env" in fields else "file" if "src" in fields else "")
        if kind not in ("", "env", "file"):
            raise InvalidArgument(f"invalid secret {item!r}: unsupported type {kind!r}")
        if kind == "env" or (not kind and sid in os.environ):
            var = fields.get("env") or fields.get("src") or sid
            if var not in os.environ:
                raise InvalidArgument(f"secret {sid}: environment variable {var} is not set")
            out[sid] = os.environ[var].encode()
            continue
        src = fields.get("src") or sid
        try:
            with open(src, "rb") as f:
                out[sid] = f.read()
        except OSError as e:
            raise InvalidArgument(f"secret {sid}: failed to read {src}: {e.strerror}") from None
    return out


def run_build(ctx: Any, args: argparse.Namespace) -> int:
    import os

    from minke.build.builder import Builder, BuildOptions
    from minke.build.context import BuildContext

    if args.platform:
        from minke.errors import Unsupported
        from minke.oci.platform import host_platform, matches, parse_platform

        # RUN executes natively: a build for another platform would need emulation
        if not matches(parse_platform(args.platform), host_platform()):
            raise Unsupported(f"platform {args.platform} is not supported: builds run on "
                              "the host's platform only")
    if args.context == "-" and args.file == "-":
        raise InvalidArgument("invalid argument: can't use stdin for both build context and "
                              "dockerfile")
    if args.context == "-":
        bctx = BuildContext.from_tar(sys.stdin.buffer, ctx.engine.config.tmp_dir
                                     if os.path.isdir(ctx.engine.config.tmp_dir) else None)
    else:
        bctx = BuildContext.from_directory(args.context)
    dockerfile = "Dockerfile"
    dockerfile_text: bytes | None = None
    if args.file == "-":
        dockerfile_text = sys.stdin.buffer.read()  # `-f -`: the Dockerfile on stdin
        dockerfile = "Dockerfile"
    elif args.file:
        if args.context != "-":
            # As Docker's CLI: -f is a path from the current directory, not from the context
            # (`-f app/Dockerfile.dev app` reads ./app/Dockerfile.dev).
            dockerfile = os.path.relpath(os.path.abspath(args.file), bctx.root)
            if dockerfile.startswith(".." + os.sep):
                from minke.errors import NotFound

                try:  # outside the context: Docker's CLI reads it on its own
                    with open(args.file, "rb") as f:
                        dockerfile_text = f.read()
                except FileNotFoundError:
                    raise NotFound(f"failed to read dockerfile: open {args.file}: no such file "
                                   "or directory") from None
                dockerfile = os.path.abspath(args.file)
        else:
            dockerfile = args.file
    quiet = args.quiet or args.progress == "quiet"
    out = ctx.err

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=out, flush=True)

    opts = BuildOptions(
        dockerfile=dockerfile,
        tags=tuple(args.tag),
        build_args=_pairs(args.build_arg, "build arg", True),
        target=args.target,
        no_cache=args.no_cache,
        labels=_pairs(args.label, "label", False),
        network=args.network,
        runtime=args.runtime,
        dockerfile_text=dockerfile_text,
        secrets=_secrets(args.secret),
        ssh=_ssh(args.ssh),
        pull=args.pull,
    )
    with bctx:
        image_id = Builder(ctx.engine, progress=progress).build(bctx, opts)
    if args.iidfile:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    if quiet:
        print(image_id, file=ctx.out)
    else:
        print(f"writing image {image_id} done", file=out)
        for t in args.tag:
            print(f"naming to {t} done", file=out)
    return 0
