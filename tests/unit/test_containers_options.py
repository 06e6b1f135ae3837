from __future__ import annotations

import pytest

from minke.containers import options as o
from minke.errors import InvalidArgument


def test_sizes():
    assert o.ram_in_bytes("512m") == 512 << 20
    assert o.ram_in_bytes("1g") == 1 << 30
    assert o.ram_in_bytes("1.5GiB") == int(1.5 * (1 << 30))
    assert o.ram_in_bytes("100") == 100
    with pytest.raises(InvalidArgument, match='invalid argument "1x" for "--memory" flag: invalid size: \'1x\''):
        o.flag_size("--memory", "1x")
    assert o.flag_size("--memory-swap", "-1", allow_minus_one=True) == -1


def test_cpus():
    assert o.parse_cpus("1.5") == 1_500_000_000
    with pytest.raises(InvalidArgument):
        o.parse_cpus("abc")
    with pytest.raises(InvalidArgument, match="range of cpus is from 0.01 to 2.00"):
        o.validate_host_config({"NanoCpus": o.parse_cpus("-1")}, ncpu=2)
    with pytest.raises(InvalidArgument, match="range of cpus"):
        o.validate_host_config({"NanoCpus": o.parse_cpus("3")}, ncpu=2)


def test_memory_validation():
    with pytest.raises(InvalidArgument, match="minimum memory limit allowed is 6MB"):
        o.validate_host_config({"Memory": 1024})
    with pytest.raises(InvalidArgument, match="memoryswap limit should be larger"):
        o.validate_host_config({"Memory": 64 << 20, "MemorySwap": 32 << 20})
    o.validate_host_config({"Memory": 64 << 20, "MemorySwap": -1})


def test_env(tmp_path):
    assert o.parse_env_list(["A=1", "B", "C"], {"B": "2"}) == ["A=1", "B=2"]
    f = tmp_path / "env"
    f.write_text("# comment\n\nX=1\nY\n  Z=a b\n")
    assert o.read_env_file(str(f), {"Y": "y"}) == ["X=1", "Y=y", "Z=a b"]
    with pytest.raises(InvalidArgument, match="open"):
        o.read_env_file(str(tmp_path / "missing"))
    assert o.merge_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]


def test_volume_and_mount():
    # -v stays a Binds string (checked); named and anonymous volumes are accepted.
    assert o.parse_volume("/a:/b:ro") == "/a:/b:ro"
    assert o.parse_volume("data:/b") == "data:/b"
    assert o.parse_volume("/anon") == "/anon"
    with pytest.raises(InvalidArgument, match="xx"):
        o.parse_volume("/a:/b:xx")
    m = o.parse_mount("type=bind,src=/a,dst=/b,readonly")
    assert m["Type"] == "bind" and m["Source"] == "/a" and m["Target"] == "/b" and m["ReadOnly"] is True
    with pytest.raises(InvalidArgument, match="bind source path does not exist: /nonexistent-x"):
        o.validate_host_config({"Mounts": [o.parse_mount("type=bind,source=/nonexistent-x,target=/b")]})
    t = o.parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")
    assert t["TmpfsOptions"] == {"SizeBytes": 1 << 20}
    with pytest.raises(InvalidArgument, match="unexpected key 'bogus'"):
        o.parse_mount("type=bind,source=/a,target=/b,bogus=1")


def test_ulimit_restart_signal_logopts():
    assert o.parse_ulimit("nofile=10:20") == {"Name": "nofile", "Soft": 10, "Hard": 20}
    assert o.parse_ulimit("nproc=5") == {"Name": "nproc", "Soft": 5, "Hard": 5}
    with pytest.raises(InvalidArgument, match="invalid ulimit type: bogus"):
        o.parse_ulimit("bogus=1")
    with pytest.raises(InvalidArgument, match="soft limit"):
        o.parse_ulimit("nofile=20:10")
    assert o.parse_restart("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert o.parse_restart("no") == {"Name": "no", "MaximumRetryCount": 0}
    with pytest.raises(InvalidArgument):
        o.parse_restart("sometimes")
    with pytest.raises(InvalidArgument):
        o.parse_restart("always:3")
    assert o.parse_signal("KILL") == 9 and o.parse_signal("SIGTERM") == 15 and o.parse_signal("2") == 2
    with pytest.raises(InvalidArgument, match="invalid signal: NOPE"):
        o.parse_signal("NOPE")
    assert o.log_limits({}) == (10 << 20, 3)
    assert o.log_limits({"Config": o.parse_log_opts(["max-size=1k", "max-file=2"])}) == (1024, 2)
    with pytest.raises(InvalidArgument):
        o.parse_log_opts(["bogus=1"])
    with pytest.raises(InvalidArgument, match="--restart and --rm"):
        o.validate_host_config({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})


def test_cli_time_arguments():
    from minke.cli.containers import _parse_time_arg

    now = 1_000_000.0
    assert _parse_time_arg("10m", now) == now - 600
    assert _parse_time_arg("1h30m", now) == now - 5400
    assert _parse_time_arg("1500.5", now) == 1500.5
    assert _parse_time_arg("1970-01-01T00:01:00Z", now) == 60
    assert _parse_time_arg("1970-01-02", now) == 86400
    assert _parse_time_arg(None, now) is None
    with pytest.raises(InvalidArgument):
        _parse_time_arg("yesterday", now)


def test_detach_keys():
    from minke.cli.containers import _detach_keys

    assert _detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert _detach_keys("ctrl-a,x") == b"\x01x"
    with pytest.raises(InvalidArgument):
        _detach_keys("ctrl-pp")
