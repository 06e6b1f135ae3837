from __future__ import annotations

import json
import os

import pytest

from minke.runtime import capabilities as caps

pytestmark = pytest.mark.root


def _in_child(fn) -> dict:
    """Run fn() in a forked child; return what it returned (a JSON-able dict)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(r)
            os.write(w, json.dumps(fn()).encode())
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


def _status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                out[key] = int(value.strip(), 16)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_apply_sets_what_proc_status_shows():
    spec = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETPCAP"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }

    def child():
        caps.apply_capabilities(spec)
        return _status()

    got = _in_child(child)
    assert got["CapBnd"] == caps.to_mask(spec["bounding"])
    assert got["CapEff"] == caps.to_mask(spec["effective"])
    assert got["CapPrm"] == caps.to_mask(spec["permitted"])
    assert got["CapInh"] == caps.to_mask(spec["inheritable"])
    assert got["CapAmb"] == caps.to_mask(spec["ambient"])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_docker_defaults_and_capget():
    spec = {key: sorted(caps.DOCKER_DEFAULT_CAPS) for key in ("bounding", "effective", "permitted")}

    def child():
        caps.apply_capabilities(spec)
        eff, prm, inh = caps.LibcCapSyscalls().capget()
        return {"status": _status(), "capget": [eff, prm, inh]}

    got = _in_child(child)
    assert got["status"]["CapEff"] == 0xA80425FB
    assert got["status"]["CapBnd"] == 0xA80425FB
    assert got["capget"] == [0xA80425FB, 0xA80425FB, 0]
