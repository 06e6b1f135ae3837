"""``minke update``'s rules (Docker's): the flags become the update body, the body merges
into the HostConfig or is refused, and the runtime gets the sections that changed."""

from __future__ import annotations

import argparse

import pytest

from minke.cli.container_ops import setup_update, update_changes
from minke.containers.update import linux_resources, merge_host_config
from minke.errors import Conflict, InvalidArgument


def _changes(*argv: str) -> dict:
    p = argparse.ArgumentParser()
    setup_update(p)
    return update_changes(p.parse_args([*argv, "ctr"]))


def test_flags_to_update_body():
    assert _changes("-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m", "--cpus", "1.5",
                    "-c", "512", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "42",
                    "--restart", "on-failure:3") == {
        "Memory": 64 << 20, "MemorySwap": -1, "MemoryReservation": 32 << 20, "NanoCpus": 1_500_000_000,
        "CpuShares": 512, "CpusetCpus": "0", "CpusetMems": "0", "PidsLimit": 42,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
    }  # fmt: skip
    assert _changes("--cpu-period", "50000", "--cpu-quota", "20000") == {"CpuPeriod": 50000, "CpuQuota": 20000}
    assert _changes("--pids-limit", "0") == {}  # Docker's CLI: 0 is "not given"
    with pytest.raises(InvalidArgument, match='invalid argument "1x" for "-m, --memory" flag'):
        _changes("-m", "1x")
    with pytest.raises(InvalidArgument, match="invalid restart policy"):
        _changes("--restart", "sometimes")


def test_memory_rules():
    none: dict = {"Memory": 0, "MemorySwap": 0}
    # Docker refuses a memory limit above the memory+swap already set (0: none) unless
    # the same update sets memory+swap.
    with pytest.raises(Conflict, match="^Cannot update container c1: Memory limit should be smaller than already set memoryswap"):
        merge_host_config(none, {"Memory": 64 << 20}, "c1")
    with pytest.raises(Conflict, match="Memory limit should be smaller"):
        merge_host_config({"Memory": 0, "MemorySwap": -1}, {"Memory": 64 << 20}, "c1")
    hc = merge_host_config(none, {"Memory": 64 << 20, "MemorySwap": 128 << 20})
    assert (hc["Memory"], hc["MemorySwap"]) == (64 << 20, 128 << 20)
    # run -m 64m records no swap: Docker's is twice the memory, and stays that.
    hc = merge_host_config({"Memory": 64 << 20, "MemorySwap": 0}, {"Memory": 100 << 20})
    assert (hc["Memory"], hc["MemorySwap"]) == (100 << 20, 128 << 20)
    with pytest.raises(Conflict):
        merge_host_config({"Memory": 64 << 20, "MemorySwap": 0}, {"Memory": 200 << 20})
    with pytest.raises(InvalidArgument, match="minimum memoryswap limit should be larger than memory limit"):
        merge_host_config(none, {"Memory": 64 << 20, "MemorySwap": 32 << 20})
    with pytest.raises(Conflict, match="Minimum memoryswap limit should be larger"):
        merge_host_config({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {"MemorySwap": 32 << 20})
    with pytest.raises(InvalidArgument, match="minimum memory limit allowed is 6MB"):
        merge_host_config(none, {"Memory": 1 << 20, "MemorySwap": 2 << 20})
    with pytest.raises(InvalidArgument, match="can not be less than memory reservation"):
        merge_host_config(none, {"Memory": 10 << 20, "MemorySwap": -1, "MemoryReservation": 20 << 20})


def test_cpu_and_restart_rules():
    with pytest.raises(Conflict, match="CPU Quota cannot be updated as NanoCPUs has already been set"):
        merge_host_config({"NanoCpus": 10**9}, {"CpuQuota": 20000})
    with pytest.raises(Conflict, match="Nano CPUs cannot be updated as CPU Period has already been set"):
        merge_host_config({"CpuPeriod": 50000}, {"NanoCpus": 10**9})
    with pytest.raises(InvalidArgument, match="cpu cfs period"):
        merge_host_config({}, {"CpuPeriod": 10})
    with pytest.raises(InvalidArgument, match="range of cpus"):
        merge_host_config({}, {"NanoCpus": 1000 * 10**9}, ncpu=2)
    with pytest.raises(InvalidArgument, match="cpuset cpus"):
        merge_host_config({}, {"CpusetCpus": "0-"})
    with pytest.raises(Conflict, match="AutoRemove is enabled"):
        merge_host_config({"AutoRemove": True}, {"RestartPolicy": {"Name": "always"}})
    hc = merge_host_config({"RestartPolicy": {"Name": "no"}, "CpuShares": 0}, {
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "CpuShares": 300, "PidsLimit": -1})
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert (hc["CpuShares"], hc["PidsLimit"]) == (300, -1)


def test_runtime_gets_the_touched_sections_from_the_merged_config():
    hc = {"Memory": 64 << 20, "MemorySwap": 0, "MemoryReservation": 0, "NanoCpus": 5 * 10**8, "CpuShares": 512,
          "CpusetCpus": "0", "PidsLimit": 0}
    assert linux_resources(hc, {"Memory": 64 << 20}) == {"memory": {"limit": 64 << 20, "swap": 128 << 20}}
    assert linux_resources(hc, {"CpuShares": 512}) == {
        "cpu": {"shares": 512, "period": 100000, "quota": 50000, "cpus": "0"}}
    assert linux_resources(hc, {"PidsLimit": -1}) == {"pids": {"limit": -1}}
    assert linux_resources(dict(hc, PidsLimit=42), {"PidsLimit": 42}) == {"pids": {"limit": 42}}
    assert linux_resources({"CpuPeriod": 50000, "CpuQuota": 20000}, {"CpuQuota": 20000}) == {
        "cpu": {"period": 50000, "quota": 20000}}
    assert linux_resources(hc, {"RestartPolicy": {"Name": "always"}}) == {}


@pytest.mark.parametrize("hc", [
    {"Memory": 64 << 20, "MemorySwap": 0, "MemoryReservation": 32 << 20, "NanoCpus": 10**9, "CpuShares": 512,
     "CpusetCpus": "0", "CpusetMems": "0", "PidsLimit": 42},
    {"Memory": 64 << 20, "MemorySwap": -1, "CpuPeriod": 50000, "CpuQuota": 20000, "PidsLimit": -1},
])  # fmt: skip
def test_update_writes_what_the_next_start_would(hc):
    """A running container updated gets the limits a start with the same HostConfig gets."""
    from minke.containers.spec import SpecInputs, build_spec, make_config

    spec = build_spec(make_config({"Cmd": ["true"]}, image="img"), hc,
                      SpecInputs(container_id="c" * 64, rootfs="/r", container_dir="/c", passwd="", group=""))
    expected = {k: v for k, v in spec["linux"]["resources"].items() if k != "devices"}
    assert linux_resources(hc, {k: 1 for k in ("Memory", "CpuShares", "PidsLimit")}) == expected
