"""``minke run`` and ``create`` parse their plain forms without argparse
(minke.cli.fastargs, from the same setup functions) into exactly what argparse gives, and
hand everything else to argparse."""

from __future__ import annotations

import sys

import pytest

from minke.cli import containers as cli_containers
from minke.cli import fastargs
from minke.cli import main as cli_main


def _argparse(setup, prog: str, rest: list[str]) -> dict[str, object] | None:
    p = cli_main.Parser(prog=prog)
    setup(p)
    try:
        return vars(p.parse_args(rest))
    except (cli_main.UsageError, SystemExit):
        return None


RUN_LINES = [
    ["bb"],
    ["bb", "true"],
    ["--rm", "bb", "true"],
    ["--rm", "--network", "none", "bb", "true"],
    ["-d", "--name", "web", "-p", "8080:80", "-p=9090:90", "nginx"],
    ["-it", "--rm", "bb", "sh"],
    ["-dit", "bb"],
    ["-itd", "--name=x", "bb", "sleep", "3600"],
    ["-e", "A=1", "-eB=2", "-e=C=3", "--env", "D=4", "--env=E=5", "bb", "env"],
    ["--memory", "8m", "--memory-swap=-1", "--cpus", "0.5", "--pids-limit", "-1", "bb"],
    ["-c", "512", "--cpu-shares=256", "--oom-score-adj", "-500", "bb"],
    ["--restart", "on-failure:3", "--stop-timeout", "5", "--stop-signal", "SIGINT", "bb"],
    ["-h", "myhost", "--hostname=other", "-u", "1000:1000", "-w", "/tmp", "bb", "id"],
    ["--entrypoint", "", "bb"],
    ["--entrypoint=/bin/sh", "bb", "-c", "echo hi"],
    ["bb", "--rm", "-d"],  # after the image everything is the command's
    ["--rm", "--", "bb", "true"],
    ["bb", "--", "x"],
    ["bb", "sh", "--", "x", "--rm"],
    ["-i", "--", "bb", "--", "x"],
    ["--sig-proxy=false", "--detach-keys", "ctrl-a", "-a", "stdout", "-a", "stderr", "bb"],
    ["--pull", "never", "-q", "--platform", "linux/amd64", "bb"],
    ["--init", "--read-only", "--tmpfs", "/run", "-v", "/a:/b:ro", "--mount", "type=bind,src=/a,dst=/b", "bb"],
    ["--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--privileged", "--security-opt", "no-new-privileges", "bb"],
    ["--log-opt", "max-size=1m", "--log-opt=max-file=2", "--runtime", "runc", "--cidfile", "/tmp/c", "bb"],
    ["--network", "n1", "--net=n2", "--network-alias", "a", "--ip", "10.0.0.2", "--dns", "1.1.1.1", "bb"],
    ["--add-host", "h:1.2.3.4", "-P", "--expose", "80", "--label", "a=b", "-l", "c", "bb"],
    ["--health-cmd", "true", "--health-interval=1s", "--health-retries", "3", "--no-healthcheck", "bb"],
    ["--ulimit", "nofile=10:20", "--shm-size", "64m", "--cpuset-cpus", "0", "bb"],
    ["--volumes-from", "other:ro", "--env-file", "/e", "--mac-address", "02:42:ac:11:00:02", "bb"],
    ["--name", "-", "bb"],
    ["-e", "-", "bb"],
]

FALLBACK_LINES = [
    [],  # no image: argparse's usage error
    ["--help"],
    ["--rm"],
    ["--na", "x", "bb"],  # an abbreviation: argparse's business
    ["--name"],
    ["--name", "--rm", "bb"],
    ["--pull", "sometimes", "bb"],
    ["-c", "many", "bb"],
    ["--rm=yes", "bb"],
    ["-ie=A", "bb"],
    ["--bogus", "bb"],
    ["-Z", "bb"],
]


@pytest.mark.parametrize("rest", RUN_LINES)
def test_run_lines_are_argparses(rest: list[str]) -> None:
    fast = fastargs.parse(cli_containers.setup_run, rest)
    assert fast is not None, rest
    assert vars(fast) == _argparse(cli_containers.setup_run, "minke run", rest)


@pytest.mark.parametrize("rest", [r for r in RUN_LINES if not {"-d", "-dit", "-itd", "--sig-proxy=false"} & set(r)
                                  and "-a" not in r])
def test_create_lines_are_argparses(rest: list[str]) -> None:
    fast = fastargs.parse(cli_containers.setup_create, rest)
    assert fast is not None, rest
    assert vars(fast) == _argparse(cli_containers.setup_create, "minke create", rest)


@pytest.mark.parametrize("rest", FALLBACK_LINES)
def test_other_lines_go_to_argparse(rest: list[str], capsys) -> None:
    assert fastargs.parse(cli_containers.setup_run, rest) is None


def test_unknown_declarations_fall_back() -> None:
    """A setup using what the recorder cannot read (a custom action, nargs=2, a varying
    number of positionals before another positional) is argparse's."""

    def setup(p) -> None:
        p.add_argument("--x", action="count")

    def setup2(p) -> None:
        p.add_argument("files", nargs=2)

    def setup3(p) -> None:
        p.add_argument("files", nargs="+")
        p.add_argument("dest")

    assert fastargs.parse(setup, ["--x"]) is None
    assert fastargs.parse(setup2, ["a", "b"]) is None
    assert fastargs.parse(setup3, ["a", "b"]) is None


def _entry(command: str):
    words = command.split()
    entry = cli_main.COMMANDS.get(words[0]) if len(words) == 1 else cli_main.GROUPS[words[0]][1][words[1]]
    module = __import__(entry[0], fromlist=["x"])
    return getattr(module, entry[1])


# (command, rest, parsed here): every command's plain lines are parsed without argparse,
# into what argparse gives; the rest (help, abbreviations, positionals split by options
# where one of them takes a varying number) go to argparse, which answers as always.
COMMAND_LINES = [
    ("rm", ["a"], True),
    ("rm", ["-f", "a", "b", "c"], True),
    ("rm", ["a", "b", "-fv"], True),
    ("rm", ["-f", "--", "a", "-b"], True),
    ("rm", ["a", "-f", "b"], False),  # argparse: unrecognized arguments: b
    ("rm", [], False),
    ("rm", ["-h"], False),
    ("stop", ["-t", "0", "a", "b"], True),
    ("stop", ["--time=3", "a"], True),
    ("stop", ["-t", "x", "a"], False),  # not a number: argparse's error
    ("kill", ["-s", "KILL", "a"], True),
    ("kill", ["--signal=HUP", "a", "b"], True),
    ("start", ["-a", "a"], True),
    ("restart", ["-t", "1", "a"], True),
    ("wait", ["a", "b"], True),
    ("ps", [], True),
    ("ps", ["-aq"], True),
    ("ps", ["-a", "--filter", "status=exited", "-f", "name=x", "--format", "{{.ID}}", "--no-trunc"], True),
    ("ps", ["-n", "3", "-s"], True),
    ("ps", ["extra"], False),
    ("logs", ["-f", "--tail", "10", "-t", "a"], True),
    ("logs", ["--since=1m", "--until", "5s", "a"], True),
    ("inspect", ["a"], True),
    ("inspect", ["--format", "{{.Id}}", "a", "b"], True),
    ("inspect", ["--type=container", "-s", "a"], True),
    ("port", ["a"], True),
    ("port", ["a", "80/tcp"], True),
    ("port", ["a", "80", "90"], False),
    ("top", ["a"], True),
    ("top", ["a", "-ef"], True),
    ("exec", ["-it", "a", "sh", "-c", "x"], True),
    ("exec", ["-e", "A=1", "-w", "/", "-u", "0", "a", "id"], True),
    ("pause", ["a", "b"], True),
    ("unpause", ["a"], True),
    ("rename", ["a", "b"], True),
    ("images", [], True),
    ("images", ["-q"], True),
    ("images", ["busybox"], True),
    ("images", ["-a", "--digests", "--no-trunc", "busybox:latest"], True),
    ("rmi", ["-f", "a", "b"], True),
    ("tag", ["a", "b"], True),
    ("pull", ["-q", "a"], True),
    ("version", [], True),
    ("container ls", ["-a"], True),
    ("container inspect", ["a"], True),
    ("container prune", ["-f"], True),
    ("image ls", [], True),
    ("image rm", ["a"], True),
    ("image inspect", ["a", "b"], True),
    ("network ls", ["-q"], True),
    ("network rm", ["a", "b"], True),
    ("network inspect", ["a"], True),
    ("volume ls", [], True),
    ("volume create", [], True),
    ("volume create", ["v1"], True),
    ("volume rm", ["-f", "v1", "v2"], True),
    ("volume inspect", ["v1"], True),
]


@pytest.mark.parametrize(("command", "rest", "fast"), COMMAND_LINES)
def test_command_lines_are_argparses(command: str, rest: list[str], fast: bool) -> None:
    setup = _entry(command)
    got = fastargs.parse(setup, rest)
    if not fast:
        assert got is None
        return
    assert got is not None
    assert vars(got) == _argparse(setup, f"minke {command}", rest)


def test_every_command_is_parsed_without_argparse() -> None:
    """Each command's setup is one the recorder reads (a new one using something it
    cannot would quietly cost every call of it argparse's ~10 ms)."""
    slow = []
    entries = list(cli_main.COMMANDS.items()) + [
        (f"{g} {s}", e) for g, (_h, subs) in cli_main.GROUPS.items() for s, e in subs.items()]
    for name, (module, setup, _help) in entries:
        rec = fastargs.Recorder()
        try:
            getattr(__import__(module, fromlist=["x"]), setup)(rec)
        except fastargs._Unsupported:
            slow.append(name)
    assert slow == ["history", "image history"]


def test_run_does_not_load_argparse() -> None:
    """The point of it: a plain ``run`` line is parsed with argparse never imported."""
    import subprocess

    code = ("import sys; from minke.cli import main; "
            "g, a = main._fast_parse(['--root', '/x', 'run', '--rm', '-e', 'A=1', 'bb', 'true']); "
            "assert a.image == 'bb' and a.command == ['true'] and a.env == ['A=1'] and a.rm; "
            "print(sorted(m for m in ('argparse', 're', 'typing', 'dataclasses') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "argparse" not in out
    assert "dataclasses" not in out
