"""The engine-facing interface (minke.runtime.oci.CommandRuntime) on both binaries."""

from __future__ import annotations

import os
import time

import pytest
from runtime_bundle import RUNTIMES, default_config, make_rootfs, write_bundle

from minke.errors import AlreadyExists, FailedPrecondition, NotFound
from minke.runtime.oci import CommandRuntime

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    return make_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request, tmp_path):
    r = CommandRuntime(RUNTIMES[request.param], str(tmp_path / "state"))
    r.ids = []
    yield r
    for cid in r.ids:
        try:
            r.delete(cid, force=True)
        except Exception:
            pass


def test_lifecycle_and_errors(rt, tmp_path, rootfs):
    b = write_bundle(str(tmp_path / "b"), rootfs, default_config(["sh", "-c", "echo hello; sleep 30"]))
    cid = f"oci-{os.getpid()}"
    rt.ids.append(cid)
    out = tmp_path / "out"
    with open(out, "wb") as f:
        rt.create(cid, b, pid_file=str(tmp_path / "pid"), stdio=(None, f.fileno(), f.fileno()))
    st = rt.state(cid)
    assert st["status"] == "created" and st["pid"] == int((tmp_path / "pid").read_text())
    with pytest.raises(AlreadyExists):
        rt.create(cid, b)
    rt.start(cid)
    with pytest.raises(FailedPrecondition):
        rt.start(cid)
    assert rt.exec(cid, {"args": ["/bin/sh", "-c", "exit 3"], "cwd": "/", "env": ["PATH=/bin"]}) == 3
    deadline = time.monotonic() + 5
    while out.read_bytes() != b"hello\n" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert out.read_bytes() == b"hello\n"  # the container wrote to the fd create was given
    with pytest.raises(FailedPrecondition):
        rt.delete(cid)
    rt.kill(cid, 9)
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.01)
    rt.delete(cid)
    with pytest.raises(NotFound):
        rt.state(cid)
