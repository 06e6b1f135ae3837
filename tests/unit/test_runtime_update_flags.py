"""``minke-runtime update``: runc's flags and -r FILE|- become OCI linux.resources; what is
written to the cgroup is completed from the saved limits where the kernel needs pairs."""

from __future__ import annotations

import json

import pytest

from minke.errors import InvalidArgument
from minke.runtime.cli import COMMAND_FLAGS, Usage, parse_flags
from minke.runtime.update import effective, merge_resources, parse_bytes, resources_from_flags


def _flags(*argv: str) -> tuple[dict, list[str]]:
    return parse_flags(list(argv), COMMAND_FLAGS["update"], stop_at_positional=False)


def test_every_runc_flag_maps_to_its_resource():
    opts, pos = _flags("--memory", "64m", "--memory-reservation", "32m", "--memory-swap", "-1",
                       "--cpu-share", "512", "--cpu-period", "50000", "--cpu-quota", "25000",
                       "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000",
                       "--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--pids-limit", "42",
                       "--blkio-weight", "300", "ctr")  # fmt: skip
    assert pos == ["ctr"]
    assert resources_from_flags(opts) == {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": -1},
        "cpu": {"shares": 512, "period": 50000, "quota": 25000, "realtimePeriod": 1000000,
                "realtimeRuntime": 950000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 300},
    }  # fmt: skip


def test_only_given_flags_appear_and_aliases_work():
    opts, _ = _flags("--cpu-shares=256", "ctr", "--pids-limit", "-1")
    assert resources_from_flags(opts) == {"cpu": {"shares": 256}, "pids": {"limit": -1}}
    # The obsolete kernel-memory flags are accepted and ignored, as by runc.
    opts, _ = _flags("--kernel-memory", "10m", "ctr")
    assert resources_from_flags(opts) == {}


def test_unknown_flag_and_bad_values():
    with pytest.raises(Usage, match="--memroy"):
        _flags("--memroy", "1", "ctr")
    with pytest.raises(InvalidArgument, match="--pids-limit"):
        resources_from_flags(_flags("--pids-limit", "lots", "ctr")[0])
    with pytest.raises(InvalidArgument, match="--memory"):
        resources_from_flags(_flags("--memory", "12x", "ctr")[0])


@pytest.mark.parametrize(("text", "value"), [
    ("1024", 1024), ("64m", 64 << 20), ("64M", 64 << 20), ("1g", 1 << 30), ("1.5GiB", 3 << 29),
    ("512kb", 512 << 10), ("-1", -1), ("2b", 2),
])  # fmt: skip
def test_sizes_take_runc_units(text, value):
    assert parse_bytes("--memory", text) == value


def test_resources_file_and_stdin_replace_the_flags(tmp_path):
    body = {"memory": {"limit": 100 << 20}, "pids": {"limit": 7}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(body))
    opts, _ = _flags("-r", str(path), "--pids-limit", "99", "ctr")
    assert resources_from_flags(opts) == body  # flags ignored with -r, as runc
    opts, _ = _flags("--resources", "-", "ctr")
    assert resources_from_flags(opts, read=lambda src: json.dumps(body) if src == "-" else "") == body
    with pytest.raises(InvalidArgument, match="invalid json"):
        resources_from_flags(opts, read=lambda src: "{nope")
    with pytest.raises(InvalidArgument, match="json object"):
        resources_from_flags(opts, read=lambda src: "[1]")
    with pytest.raises(InvalidArgument, match="no such file"):
        resources_from_flags({"resources": str(tmp_path / "missing.json")})


def test_merge_keeps_what_the_update_leaves_out():
    saved = {"memory": {"limit": 64, "swap": 128}, "cpu": {"shares": 1024}, "devices": [{"allow": False}]}
    new = {"memory": {"limit": 96, "swap": 0}, "pids": {"limit": 5}}
    assert merge_resources(saved, new) == {
        "memory": {"limit": 96, "swap": 128}, "cpu": {"shares": 1024}, "devices": [{"allow": False}],
        "pids": {"limit": 5},
    }  # fmt: skip
    assert saved["memory"]["limit"] == 64  # not changed in place


def test_effective_completes_quota_period_and_unlimited_swap():
    saved = {"cpu": {"quota": 20000, "period": 50000}}
    # cpu.max needs both halves: one alone keeps the other's saved value.
    assert effective({"cpu": {"quota": 10000}}, saved)["cpu"] == {"quota": 10000, "period": 50000}
    assert effective({"cpu": {"period": 80000}}, saved)["cpu"] == {"period": 80000, "quota": 20000}
    assert effective({"cpu": {"period": 80000, "quota": 40000}}, saved)["cpu"] == {"period": 80000, "quota": 40000}
    assert effective({"cpu": {"period": 80000}}, {})["cpu"] == {"period": 80000}
    # Unlimited memory without a swap value: unlimited swap too (runc).
    assert effective({"memory": {"limit": -1}}, {})["memory"] == {"limit": -1, "swap": -1}
    assert effective({"memory": {"limit": -1, "swap": 100}}, {})["memory"] == {"limit": -1, "swap": 100}
    with pytest.raises(InvalidArgument):
        effective({"memory": 5}, {})
