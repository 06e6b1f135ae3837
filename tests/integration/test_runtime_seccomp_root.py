from __future__ import annotations

import errno
import json
import os

import pytest

from minke.runtime import libc
from minke.runtime import seccomp as sc

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

PR_SET_NO_NEW_PRIVS = 38


def _in_child(profile: dict, work) -> dict:
    """Fork; in the child set no_new_privs, load the profile, run work(); return its dict."""
    program = sc.compile_seccomp(profile)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            sc.load_seccomp(program, flags=profile.get("flags", ()))
            os.write(w, json.dumps(work()).encode())
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            os.write(w, json.dumps({"error": repr(e)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result["error"]
    assert os.waitstatus_to_exitcode(status) == 0
    return result


def _errno_of(fn) -> int:
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


def _seccomp_mode() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Seccomp:")).split()[1])


def test_deny_mkdir_with_eperm(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    got = _in_child(profile, lambda: {"mkdir": _errno_of(lambda: os.mkdir(tmp_path / "d")),
                                      "mode": _seccomp_mode(),
                                      "rmdir": _errno_of(lambda: os.rmdir(tmp_path / "missing"))})
    assert got == {"mkdir": errno.EPERM, "mode": 2, "rmdir": errno.ENOENT}
    assert not (tmp_path / "d").exists()


def test_errno_ret_38_and_tsync_flag(tmp_path):
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
    }
    got = _in_child(profile, lambda: {"mkdir": _errno_of(lambda: os.mkdir(tmp_path / "d"))})
    assert got == {"mkdir": errno.ENOSYS}


def test_argument_condition_on_the_real_kernel(tmp_path):
    # Deny mkdir only when the mode is exactly 0o700 (mkdirat's third argument).
    cond = {"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES, "args": [cond]},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
         "args": [{**cond, "index": 1}]},
    ]}
    got = _in_child(profile, lambda: {"700": _errno_of(lambda: os.mkdir(tmp_path / "a", 0o700)),
                                      "755": _errno_of(lambda: os.mkdir(tmp_path / "b", 0o755))})
    assert got == {"700": errno.EACCES, "755": 0}
    assert (tmp_path / "b").is_dir() and not (tmp_path / "a").exists()


def test_default_profile_blocks_what_docker_blocks(tmp_path):
    def work():
        out = {"mode": _seccomp_mode()}
        out["unshare_user"] = _errno_of(lambda: libc.unshare(libc.CLONE_NEWUSER))
        out["mount"] = _errno_of(lambda: libc.mount("tmpfs", str(tmp_path), "tmpfs", 0, None))
        # ordinary work still succeeds: files, pipes, a child process
        (tmp_path / "f").write_text("hello")
        out["read"] = (tmp_path / "f").read_text()
        os.mkdir(tmp_path / "dir")
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        out["child"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return out

    got = _in_child(sc.default_profile(), work)
    assert got == {"mode": 2, "unshare_user": errno.EPERM, "mount": errno.EPERM, "read": "hello", "child": 7}
    assert not os.path.ismount(tmp_path)
