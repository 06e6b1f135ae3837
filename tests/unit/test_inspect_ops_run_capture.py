"""top's process runner without subprocess: what subprocess.run(capture_output=True) gives."""

from __future__ import annotations

from minke.containers.inspect_ops import run_capture


def test_stdout_stderr_and_exit_code_apart():
    code, out, err = run_capture(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (code, out, err) == (3, "out\n", "err\n")


def test_large_outputs_on_both_pipes_do_not_stall():
    # More than a pipe holds on each: read side by side, neither writer blocks for good.
    code, out, err = run_capture(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero | tr '\\0' b >&2"])
    assert code == 0 and out == "a" * 300000 and err == "b" * 300000


def test_stdin_is_empty_and_a_missing_program_is_127():
    assert run_capture(["cat"]) == (0, "", "")
    code, out, err = run_capture(["no-such-program-here"])
    assert code == 127 and out == "" and "no-such-program-here" in err
