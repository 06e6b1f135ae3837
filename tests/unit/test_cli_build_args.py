"""``minke build``'s arguments on the fast path (minke.cli.fastargs from setup_build,
cli.main._fast_parse) are what argparse gives; everything else is argparse's."""

from __future__ import annotations

import pytest

from minke.cli import build as cli_build
from minke.cli import fastargs
from minke.cli import main as cli_main


def _argparse(rest: list[str]) -> dict[str, object]:
    p = cli_main.Parser(prog="minke build")
    cli_build.setup_build(p)
    return vars(p.parse_args(rest))


@pytest.mark.parametrize("rest", [
    ["."],
    ["-"],
    ["--network", "none", "-t", "a:1", "ctx"],
    ["ctx", "-t", "a:1", "--tag=b:2", "-t", "c"],
    ["-f", "Dockerfile.dev", "--file=x", "--target", "final", "."],
    ["--build-arg", "A=1", "--build-arg=B", "--label", "l=v", "--label=m", "."],
    ["--no-cache", "-q", "--pull", "--progress", "plain", "--iidfile", "/tmp/id", "."],
    ["--quiet", "--progress=quiet", "--platform", "linux/amd64", "--runtime", "crun", "."],
    ["--secret", "id=a,src=/x", "--secret=id=b", "--ssh", "default", "--ssh=k=/s", "."],
    ["", "--network=host"],
    ["-qt", "x", "."],
    ["-t=x", "."],
    ["--", "."],
])
def test_fast_args_are_argparses(rest: list[str]) -> None:
    fast = fastargs.parse(cli_build.setup_build, rest)
    assert fast is not None
    assert vars(fast) == _argparse(rest)


@pytest.mark.parametrize("rest", [
    [],  # no context: argparse's usage error
    ["a", "b"],
    ["-h", "."],
    ["--help"],
    ["--net", "none", "."],  # an abbreviation
    ["-t", "-x", "."],
    ["-t"],
    ["--no-cache=1", "."],
    ["--progress", "fancy", "."],
    ["--unknown", "."],
])
def test_other_forms_go_to_argparse(rest: list[str]) -> None:
    assert fastargs.parse(cli_build.setup_build, rest) is None


def test_global_options_then_build() -> None:
    g, args = cli_main._fast_parse(["--root", "/r", "--run-root=/rr", "-l", "debug", "build", "-t", "x", "."])
    assert (g.root, g.run_root, g.log_level, g.command, g.help, g.version) == ("/r", "/rr", "debug", "build", False, False)
    assert vars(args) == _argparse(["-t", "x", "."])


@pytest.mark.parametrize("argv", [
    ["--root"],
    ["--root", "/r"],
    ["-v", "build", "."],
    ["--log-level", "loud", "build", "."],
    ["--ro", "/r", "build", "."],
    ["build", "--help"],
])
def test_global_other_forms_go_to_argparse(argv: list[str]) -> None:
    assert cli_main._fast_parse(argv) is None


def test_other_commands_and_groups_take_the_fast_path_too() -> None:
    assert cli_main._fast_parse(["images"])[1].func.__name__ == "run_ls"
    g, args = cli_main._fast_parse(["image", "build", "."])
    assert g.command == "image" and vars(args) == _argparse(["."])


def test_main_with_the_fast_path_reports_like_argparse(tmp_path) -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = cli_main.main(["--root", str(tmp_path / "r"), "build", str(tmp_path / "missing")], out, err)
    assert code == 1 and "not found" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert cli_main.main(["build", "--progress", "fancy", "."], out, err) == 125
    assert "invalid choice" in err.getvalue()
