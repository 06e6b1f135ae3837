"""Run OCI hooks: the state JSON on stdin, a timeout, failure named by hook kind and path."""

from __future__ import annotations

import os
import time

from minke import fastjson
from minke.errors import MinkeError


class HookFailed(MinkeError):
    pass


def run_hooks(kind: str, hooks, state: dict) -> None:
    """Run each hook of ``kind`` in order; the first failure raises HookFailed.

    ``hooks`` are ``spec.Hook`` objects or their raw dicts (state.json keeps the raw ones,
    so ``delete`` need not import the spec module).  The child is forked and exec'd by
    hand, not through subprocess, to keep the runtime's imports small.
    """
    data = fastjson.dumps(state).encode()
    for h in hooks:
        if isinstance(h, dict):
            path, args, env, timeout = h["path"], h.get("args") or [h["path"]], h.get("env") or [], h.get("timeout")
        else:
            path, args, env, timeout = h.path, list(h.args) or [h.path], list(h.env), h.timeout
        _run_one(kind, path, args, env, timeout, data)


def _run_one(kind: str, path: str, args: list[str], env: list[str], timeout: int | None, data: bytes) -> None:
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # child: stdin is the state, stdout/stderr are ours
        try:
            os.close(w)
            os.dup2(r, 0)
            envd = dict(e.split("=", 1) for e in env if "=" in e)
            os.execve(path, args, envd)
        except BaseException as e:
            os.write(2, f"{kind} hook {path}: {e}\n".encode())
        finally:
            os._exit(127)
    os.close(r)
    try:
        os.write(w, data)  # a state object is far smaller than a pipe buffer
    except BrokenPipeError:
        pass
    finally:
        os.close(w)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise HookFailed(f"{kind} hook {path}: timed out after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise HookFailed(f"{kind} hook {path}: exit status {code}")
