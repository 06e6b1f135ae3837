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
    fast = cli_containers.fast_run(rest)
    assert fast is not None, rest
    assert vars(fast) == _argparse(cli_containers.setup_run, "minke run", rest)


@pytest.mark.parametrize("rest", [r for r in RUN_LINES if not {"-d", "-dit", "-itd", "--sig-proxy=false"} & set(r)
                                  and "-a" not in r])
def test_create_lines_are_argparses(rest: list[str]) -> None:
    fast = cli_containers.fast_create(rest)
    assert fast is not None, rest
    assert vars(fast) == _argparse(cli_containers.setup_create, "minke create", rest)


@pytest.mark.parametrize("rest", FALLBACK_LINES)
def test_other_lines_go_to_argparse(rest: list[str], capsys) -> None:
    assert cli_containers.fast_run(rest) is None


def test_unknown_declarations_fall_back() -> None:
    """A setup using what the recorder cannot read (a custom action, nargs='+') is
    argparse's."""

    def setup(p) -> None:
        p.add_argument("--x", action="count")

    def setup2(p) -> None:
        p.add_argument("files", nargs="+")

    assert fastargs.parse(setup, ["--x"]) is None
    assert fastargs.parse(setup2, ["a"]) is None


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
