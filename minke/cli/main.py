"""Entry point of the ``minke`` command.

Start-up is on the hot path, so only the module of the command being run is imported, and
only its parser is built.  A command is registered in ``COMMANDS`` (top level) or
``GROUPS`` (``minke image ls``) as ``(module, setup function, help)``.

The contract for a command module::

    def setup_ls(p: Parser) -> None:        # add arguments; set the handler
        p.add_argument(...)
        p.set_defaults(func=run_ls)

    def run_ls(ctx: Context, args) -> int:   # do the work through ctx.engine; return exit code
        ...

Handlers raise ``minke.errors`` classes; this module prints ``Error: <message>`` and exits
with 1 (or 125 for commands that set ``error_exit=125``, like Docker's ``run``), or the
error's own code where it has one (126, 127).
"""

from __future__ import annotations

import os
import sys

from minke import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and argparse cost a build ~10 ms of import: for mypy only here
    import argparse
    from typing import IO, Any, NoReturn

Entry = tuple[str, str, str]

# Every command's plain argument forms are parsed without argparse (argparse with re,
# gettext and locale, and the parser it builds, cost a short command ~10 ms), from the
# command's own setup function: minke.cli.fastargs.

# name -> (module, setup function, help).  Aliases point at the same setup function.
COMMANDS: dict[str, Entry] = {
    "version": ("minke.cli.system", "setup_version", "Show the minke version information"),
    "images": ("minke.cli.images", "setup_ls", "List images"),
    "rmi": ("minke.cli.images", "setup_rm", "Remove one or more images"),
    "tag": ("minke.cli.images", "setup_tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "history": ("minke.cli.images", "setup_history", "Show the history of an image"),
    "save": ("minke.cli.images", "setup_save", "Save one or more images to a tar archive"),
    "load": ("minke.cli.images", "setup_load", "Load an image from a tar archive or STDIN"),
    "import": ("minke.cli.images", "setup_import", "Import the contents from a tarball to create a filesystem image"),
    "info": ("minke.cli.system", "setup_info", "Display system-wide information"),
    "build": ("minke.cli.build", "setup_build", "Build an image from a Dockerfile"),
    "inspect": ("minke.cli.inspect", "setup_inspect", "Return low-level information on minke objects"),
    "run": ("minke.cli.containers", "setup_run", "Create and run a new container from an image"),
    "create": ("minke.cli.containers", "setup_create", "Create a new container"),
    "start": ("minke.cli.containers", "setup_start", "Start one or more stopped containers"),
    "stop": ("minke.cli.containers", "setup_stop", "Stop one or more running containers"),
    "kill": ("minke.cli.containers", "setup_kill", "Kill one or more running containers"),
    "restart": ("minke.cli.containers", "setup_restart", "Restart one or more containers"),
    "rm": ("minke.cli.containers", "setup_rm", "Remove one or more containers"),
    "wait": ("minke.cli.containers", "setup_wait", "Block until one or more containers stop, then print their exit codes"),
    "rename": ("minke.cli.containers", "setup_rename", "Rename a container"),
    "ps": ("minke.cli.containers", "setup_ps", "List containers"),
    "logs": ("minke.cli.containers", "setup_logs", "Fetch the logs of a container"),
    "exec": ("minke.cli.container_ops", "setup_exec", "Execute a command in a running container"),
    "pause": ("minke.cli.container_ops", "setup_pause", "Pause all processes within one or more containers"),
    "unpause": ("minke.cli.container_ops", "setup_unpause", "Unpause all processes within one or more containers"),
    "top": ("minke.cli.container_ops", "setup_top", "Display the running processes of a container"),
    "port": ("minke.cli.container_ops", "setup_port", "List port mappings or a specific mapping for the container"),
    "stats": ("minke.cli.container_ops", "setup_stats", "Display a live stream of container(s) resource usage statistics"),
    "cp": ("minke.cli.container_ops", "setup_cp", "Copy files/folders between a container and the local filesystem"),
    "diff": ("minke.cli.container_ops", "setup_diff", "Inspect changes to files or directories on a container's filesystem"),
    "commit": ("minke.cli.container_ops", "setup_commit", "Create a new image from a container's changes"),
    "export": ("minke.cli.container_ops", "setup_export", "Export a container's filesystem as a tar archive"),
    "update": ("minke.cli.container_ops", "setup_update", "Update configuration of one or more containers"),
    "attach": ("minke.cli.container_ops", "setup_attach", "Attach local standard input, output, and error streams to a running container"),
    "pull": ("minke.cli.registry", "setup_pull", "Download an image from a registry"),
    "push": ("minke.cli.registry", "setup_push", "Upload an image to a registry"),
    "login": ("minke.cli.registry", "setup_login", "Log in to a registry"),
    "logout": ("minke.cli.registry", "setup_logout", "Log out from a registry"),
    "events": ("minke.cli.events", "setup_events", "Get real time events from the server"),
}

GROUPS: dict[str, tuple[str, dict[str, Entry]]] = {
    "image": (
        "Manage images",
        {
            "ls": COMMANDS["images"],
            "pull": ("minke.cli.registry", "setup_pull", "Download an image from a registry"),
            "push": ("minke.cli.registry", "setup_push", "Upload an image to a registry"),
            "list": COMMANDS["images"],
            "rm": COMMANDS["rmi"],
            "remove": COMMANDS["rmi"],
            "tag": COMMANDS["tag"],
            "history": COMMANDS["history"],
            "save": COMMANDS["save"],
            "load": COMMANDS["load"],
            "import": COMMANDS["import"],
            "build": COMMANDS["build"],
            "inspect": ("minke.cli.images", "setup_inspect", "Display detailed information on one or more images"),
            "prune": ("minke.cli.images", "setup_prune", "Remove unused images"),
        },
    ),
    "container": (
        "Manage containers",
        {
            "run": COMMANDS["run"],
            "create": COMMANDS["create"],
            "start": COMMANDS["start"],
            "stop": COMMANDS["stop"],
            "kill": COMMANDS["kill"],
            "restart": COMMANDS["restart"],
            "rm": COMMANDS["rm"],
            "remove": COMMANDS["rm"],
            "wait": COMMANDS["wait"],
            "rename": COMMANDS["rename"],
            "ls": COMMANDS["ps"],
            "list": COMMANDS["ps"],
            "ps": COMMANDS["ps"],
            "logs": COMMANDS["logs"],
            "exec": COMMANDS["exec"],
            "pause": COMMANDS["pause"],
            "unpause": COMMANDS["unpause"],
            "top": COMMANDS["top"],
            "port": COMMANDS["port"],
            "stats": COMMANDS["stats"],
            "cp": COMMANDS["cp"],
            "diff": COMMANDS["diff"],
            "commit": COMMANDS["commit"],
            "export": COMMANDS["export"],
            "update": COMMANDS["update"],
            "attach": COMMANDS["attach"],
            "prune": ("minke.cli.containers", "setup_prune", "Remove all stopped containers"),
            "inspect": ("minke.cli.containers", "setup_inspect", "Display detailed information on one or more containers"),
        },
    ),
    "network": (
        "Manage networks",
        {
            "create": ("minke.cli.network", "setup_create", "Create a network"),
            "ls": ("minke.cli.network", "setup_ls", "List networks"),
            "list": ("minke.cli.network", "setup_ls", "List networks"),
            "inspect": ("minke.cli.network", "setup_inspect", "Display detailed information on one or more networks"),
            "rm": ("minke.cli.network", "setup_rm", "Remove one or more networks"),
            "remove": ("minke.cli.network", "setup_rm", "Remove one or more networks"),
            "prune": ("minke.cli.network", "setup_prune", "Remove all unused networks"),
            "connect": ("minke.cli.network", "setup_connect", "Connect a container to a network"),
            "disconnect": ("minke.cli.network", "setup_disconnect", "Disconnect a container from a network"),
        },
    ),
    "volume": (
        "Manage volumes",
        {
            "create": ("minke.cli.volume", "setup_create", "Create a volume"),
            "ls": ("minke.cli.volume", "setup_ls", "List volumes"),
            "list": ("minke.cli.volume", "setup_ls", "List volumes"),
            "inspect": ("minke.cli.volume", "setup_inspect", "Display detailed information on one or more volumes"),
            "rm": ("minke.cli.volume", "setup_rm", "Remove one or more volumes"),
            "remove": ("minke.cli.volume", "setup_rm", "Remove one or more volumes"),
            "prune": ("minke.cli.volume", "setup_prune", "Remove unused local volumes"),
        },
    ),
    "system": (
        "Manage minke",
        {
            "df": ("minke.cli.system", "setup_df", "Show minke disk usage"),
            "info": ("minke.cli.system", "setup_info", "Display system-wide information"),
            "prune": ("minke.cli.system", "setup_prune", "Remove unused data"),
            "events": COMMANDS["events"],
        },
    ),
}


class UsageError(Exception):
    pass


_parser_class: Any = None


def Parser(**kwargs: Any) -> argparse.ArgumentParser:  # noqa: N802 - stands for the class
    """argparse, but usage errors exit 125 with one line, as Docker's CLI does.  The class
    is made on first use, so that argparse is imported only when something parses with it."""
    global _parser_class
    if _parser_class is None:
        import argparse

        class _Parser(argparse.ArgumentParser):
            def error(self, message: str) -> NoReturn:
                raise UsageError(f"{self.prog}: {message}\nSee '{self.prog} --help'.")

        _parser_class = _Parser
    return _parser_class(**kwargs)  # type: ignore[no-any-return]


class Context:
    """What a handler gets: the config, a lazily built engine, the output streams."""

    def __init__(self, global_args: argparse.Namespace, out: IO[str], err: IO[str]) -> None:
        self.args = global_args
        self.out = out
        self.err = err
        self._engine: Any = None
        self._config: Any = None

    @property
    def config(self) -> Any:
        if self._config is None:
            from minke.config import Config

            self._config = Config.from_env(
                root=self.args.root,
                run_root=self.args.run_root,
                log_level=self.args.log_level,
                runtime=getattr(self.args, "runtime", None),
            )
        return self._config

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from minke.engine import Engine

            self._engine = Engine(self.config)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def _global_parser() -> argparse.ArgumentParser:
    import argparse

    p = Parser(prog="minke", add_help=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-v", "--version", action="store_true")
    p.add_argument("--root", default=None, help="state root (env MINKE_ROOT, default /var/lib/minke)")
    p.add_argument("--run-root", default=None, help="run dir (env MINKE_RUN_ROOT, default /run/minke)")
    p.add_argument(
        "--log-level",
        "-l",
        default=None,
        choices=["debug", "info", "warn", "warning", "error", "fatal"],
        help="log level (env MINKE_LOG_LEVEL, default warning)",
    )
    p.add_argument("command", nargs="?")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _usage(out: IO[str]) -> None:
    lines = [
        "Usage:  minke [OPTIONS] COMMAND",
        "",
        "A container engine written in Python",
        "",
        "Options:",
        "      --root string        state root (env MINKE_ROOT, default /var/lib/minke)",
        "      --run-root string    run dir (env MINKE_RUN_ROOT, default /run/minke)",
        "  -l, --log-level string   debug, info, warning, error (env MINKE_LOG_LEVEL)",
        "  -v, --version            print version information and quit",
        "",
        "Management Commands:",
    ]
    for name, (help_, _) in sorted(GROUPS.items()):
        lines.append(f"  {name:<12}{help_}")
    lines += ["", "Commands:"]
    for name, (_, _, help_) in sorted(COMMANDS.items()):
        lines.append(f"  {name:<12}{help_}")
    lines += ["", "Run 'minke COMMAND --help' for more information on a command."]
    out.write("\n".join(lines) + "\n")


def _group_usage(name: str, out: IO[str]) -> None:
    help_, subs = GROUPS[name]
    lines = [f"Usage:  minke {name} COMMAND", "", help_, "", "Commands:"]
    for sub, (_, _, h) in sorted(subs.items()):
        lines.append(f"  {sub:<12}{h}")
    lines += ["", f"Run 'minke {name} COMMAND --help' for more information on a command."]
    out.write("\n".join(lines) + "\n")


def _build(prog: str, entry: Entry) -> argparse.ArgumentParser:
    import importlib

    module_name, setup_name, help_ = entry
    module = importlib.import_module(module_name)
    p = Parser(prog=prog, description=help_)
    getattr(module, setup_name)(p)
    return p


_GLOBAL_VALUES = {"--root": "root", "--run-root": "run_root", "--log-level": "log_level",
                  "-l": "log_level"}
_LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal")


class _Namespace:
    """What argparse's parse_args returns, for the fast path (argparse.Namespace is in
    argparse)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def _fast_parse(argv: list[str]) -> tuple[Any, Any] | None:
    """The global options and the command's args as argparse would give them, for a
    command written in the plain forms (``--root DIR`` or ``--root=DIR``, then
    the command); None for anything else, which argparse then parses (help, errors,
    abbreviations, other commands)."""
    values: dict[str, str | None] = {"root": None, "run_root": None, "log_level": None}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        opt, eq, value = argv[i].partition("=")
        key = _GLOBAL_VALUES.get(opt)
        if key is None:
            return None
        if not eq:
            i += 1
            if i >= len(argv) or argv[i].startswith("-"):
                return None
            value = argv[i]
        values[key] = value
        i += 1
    if i >= len(argv) or values["log_level"] is not None and values["log_level"] not in _LOG_LEVELS:
        return None
    command, rest = argv[i], argv[i + 1:]
    entry = COMMANDS.get(command)
    if entry is None and command in GROUPS and rest:
        entry = GROUPS[command][1].get(rest[0])
        rest = rest[1:]
    if entry is None:
        return None
    from minke.cli.fastargs import parse

    __import__(entry[0])  # not importlib.import_module: importlib imports warnings
    args = parse(getattr(sys.modules[entry[0]], entry[1]), rest)
    if args is None:
        return None
    g = _Namespace(help=False, version=False, command=argv[i], rest=argv[i + 1:], **values)
    return g, args


def main(argv: list[str] | None = None, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    argv = sys.argv[1:] if argv is None else argv
    try:
        fast = _fast_parse(argv)
        g = fast[0] if fast is not None else _global_parser().parse_args(argv)
        if g.version and not g.command:
            out.write(f"minke version {__version__}\n")
            return 0
        if g.help or not g.command:
            _usage(out)
            return 0
        level = g.log_level or os.environ.get("MINKE_LOG_LEVEL")
        if level and level not in ("warning", "warn"):
            import logging

            names = {"debug": "DEBUG", "info": "INFO", "error": "ERROR", "fatal": "CRITICAL"}
            logging.basicConfig(level=names.get(level, "WARNING"), format="%(levelname)s %(name)s: %(message)s")
        rest = list(g.rest)
        if fast is not None:
            args = fast[1]
        elif g.command in GROUPS:
            _, subs = GROUPS[g.command]
            if not rest or rest[0] in ("-h", "--help"):
                _group_usage(g.command, out)
                return 0
            sub = rest.pop(0)
            if sub not in subs:
                raise UsageError(f"minke {g.command}: unknown command: {sub}\nSee 'minke {g.command} --help'.")
            parser = _build(f"minke {g.command} {sub}", subs[sub])
        elif g.command in COMMANDS:
            parser = _build(f"minke {g.command}", COMMANDS[g.command])
        else:
            raise UsageError(f"minke: unknown command: {g.command}\nSee 'minke --help'.")
        if fast is None:
            args = parser.parse_args(rest)
    except UsageError as e:
        err.write(f"{e}\n")
        return 125

    from minke.errors import MinkeError

    global _exit_at_once, _left_open
    _exit_at_once, _left_open = False, None
    ctx = Context(g, out, err)
    try:
        code = int(args.func(ctx, args) or 0)
        _exit_at_once = bool(getattr(args, "exit_at_once", False))
        return code
    except MinkeError as e:
        err.write(f"Error: {e}\n")
        if e.exit_code != 125:
            return e.exit_code
        return int(getattr(args, "error_exit", 1))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output was closed early (`minke images | head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    finally:
        if _exit_at_once and _launched:
            # Left open for exit_now to drop with the process: closing the store's last
            # connection checkpoints its WAL into the database (an fsync) and deletes it,
            # which the next command's first write then makes again, ~2 ms of each `run`.
            # A WAL left behind is what SQLite is made for (a crash leaves one too): the
            # next connection reads it, and commits fold it back (wal_autocheckpoint).
            _left_open = ctx
        else:
            ctx.close()


# Set by main() when the command that ran declared (``p.set_defaults(exit_at_once=True)``)
# that it leaves nothing for the interpreter's teardown: no open files, no threads.
_exit_at_once = False
_left_open = None  # that command's Context, until the process ends
_launched = False  # set by launch(): nothing but os._exit follows main()


def launch() -> NoReturn:
    """The installed launcher's entry (minke.cli.launcher): ``exit_now(main())``, and
    the leave to keep an exit-at-once command's store connection open to the end.  Only
    here: in a process that goes on (a test, a library caller), such a connection would
    be closed by the garbage collector some time later, in a fork too, where the numbers
    of its file descriptors may belong to something else by then (a spawned monitor's
    runtime child closes every fd it inherits, then makes its own pipes)."""
    global _launched
    _launched = True
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` (the installed launcher's last call).  After a command
    that declared it leaves nothing behind, at once: the interpreter's teardown (clearing
    every module, freeing every object) costs a short command ~10 ms and changes nothing."""
    if _exit_at_once:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: what teardown would hit too
        else:
            os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    raise SystemExit(main())
