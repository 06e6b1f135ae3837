"""The installed ``minke`` launcher (minke.cli.launcher) and main.exit_now."""

from __future__ import annotations

import os
import subprocess
import sys

from minke.cli.launcher import launcher_text, write_launcher

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_launcher_text_runs_without_site_and_puts_the_checkout_first() -> None:
    text = launcher_text("/opt/x/bin/python", "/src", ["/opt/x/site"])
    lines = text.splitlines()
    assert lines[0] == "#!/opt/x/bin/python -IS"
    assert "sys.path.insert(0, '/src')" in lines
    assert "sys.path.extend(['/opt/x/site'])" in lines
    assert lines[-1] == "launch()"


def test_written_launcher_runs_commands_with_their_exit_codes(tmp_path) -> None:
    path = str(tmp_path / "minke")
    write_launcher(path)
    assert os.access(path, os.X_OK)
    r = subprocess.run([path, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("minke version ")
    r = subprocess.run([path, "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 125 and "unknown command" in r.stderr
    r = subprocess.run([path, "--root", str(tmp_path / "root"), "build", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not found" in r.stderr


def _exit_now(flag: bool) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
            "from minke.cli import main as m\n"
            f"m._exit_at_once = {flag!r}\n"
            "import atexit; atexit.register(lambda: print('teardown', end=''))\n"
            "print('out', end=''); sys.stderr.write('err')\n"
            "m.exit_now(3)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_exit_now_at_once_flushes_and_skips_teardown() -> None:
    r = _exit_now(True)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out", "err")


def test_exit_now_otherwise_exits_normally() -> None:
    r = _exit_now(False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "outteardown", "err")
