"""``minke pull``, ``push``, ``login``, ``logout`` (Docker's flags and output)."""

from __future__ import annotations

import argparse
import sys


def _tls(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-verify", default="true", choices=["true", "false"],
                   help="require HTTPS and verify certificates (default true)")


def setup_pull(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all-tags", action="store_true", help="download all tagged images in the repository")
    p.add_argument("--platform", default=None, help="set platform if server is multi-platform capable")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    _tls(p)
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p.set_defaults(func=run_pull)


def run_pull(ctx, args) -> int:
    ctx.engine.registry.pull(args.name, out=ctx.out, quiet=args.quiet, platform=args.platform,
                             tls_verify=args.tls_verify == "true", all_tags=args.all_tags)
    return 0


def setup_push(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("--chunk-size", type=int, default=None, help="upload blobs in chunks of this many bytes")
    _tls(p)
    p.add_argument("name", metavar="NAME[:TAG]")
    p.set_defaults(func=run_push)


def run_push(ctx, args) -> int:
    ctx.engine.registry.push(args.name, out=ctx.out, quiet=args.quiet, tls_verify=args.tls_verify == "true",
                             chunk_size=args.chunk_size)
    return 0


def setup_login(p: argparse.ArgumentParser) -> None:
    p.add_argument("-u", "--username", default=None)
    p.add_argument("-p", "--password", default=None)
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    _tls(p)
    p.add_argument("server", nargs="?", default=None)
    p.set_defaults(func=run_login)


def run_login(ctx, args) -> int:
    from minke.errors import InvalidArgument

    password = args.password
    if args.password_stdin:
        if args.password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not args.username:
            raise InvalidArgument("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        ctx.err.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = args.username
    if username is None or password is None:
        if not sys.stdin.isatty():
            raise InvalidArgument("cannot perform an interactive login from a non TTY device")
        import getpass

        if username is None:
            username = input("Username: ").strip()
        if password is None:
            password = getpass.getpass("Password: ")
    if not username or not password:
        raise InvalidArgument("username and password are required")
    ctx.engine.registry.login(args.server, username, password, tls_verify=args.tls_verify == "true")
    ctx.out.write("Login Succeeded\n")
    return 0


def setup_logout(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", default=None)
    p.set_defaults(func=run_logout)


def run_logout(ctx, args) -> int:
    host, found = ctx.engine.registry.logout(args.server)
    if found:
        ctx.out.write(f"Removing login credentials for {host}\n")
    else:
        ctx.out.write(f"Not logged in to {host}\n")
    return 0
