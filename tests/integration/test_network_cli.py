"""``minke network`` through the CLI (in process, private roots, unique bridge names)."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from minke.network.iptables import Iptables, net_tag

pytestmark = pytest.mark.root


@pytest.fixture
def names(minke):
    made: list[str] = []
    yield made
    for n in made:
        minke("network", "rm", "-f", n)
    for n in made:
        assert not os.path.exists(f"/sys/class/net/{n}"), n


def test_create_ls_inspect_rm(minke, names):
    sfx = secrets.token_hex(3)
    br = f"mkc{sfx}"
    p = f"10.{secrets.randbelow(100) + 120}.{secrets.randbelow(250)}"  # apart from a concurrent run's
    names.append(f"web{sfx}")
    r = minke("network", "create", "--subnet", f"{p}.0/24", "--gateway", f"{p}.254", "--ip-range", f"{p}.64/26",
              "--label", "tier=front", "-o", f"com.docker.network.bridge.name={br}", f"web{sfx}")
    assert r.code == 0, r.err
    nid = r.out.strip()
    assert len(nid) == 64
    assert f"{p}.254/24" in os.popen(f"ip -o -4 addr show {br}").read()
    ls = minke("network", "ls")
    assert ls.out.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = {line.split()[1]: line.split() for line in ls.out.splitlines()[1:]}
    assert rows[f"web{sfx}"] == [nid[:12], f"web{sfx}", "bridge", "local"]
    assert {"bridge", "host", "none"} <= set(rows)
    assert minke("network", "ls", "-q", "--filter", "label=tier=front").out.split() == [nid[:12]]
    assert minke("network", "ls", "--format", "{{.Name}}", "-f", "type=custom").out.split() == [f"web{sfx}"]
    # The shared --format machinery: table TEMPLATE with Docker's headers, json lines, Go functions.
    t = minke("network", "ls", "-f", f"name=web{sfx}", "--format", "table {{.Name}}\t{{.Internal}}\t{{.Labels}}")
    assert [line.split() for line in t.out.splitlines()] == [["NAME", "INTERNAL", "LABELS"], [f"web{sfx}", "false", "tier=front"]]
    (row,) = [json.loads(line) for line in minke("network", "ls", "-f", f"name=web{sfx}", "--format", "json").out.splitlines()]
    assert (row["ID"], row["Driver"], row["Scope"]) == (nid[:12], "bridge", "local") and row["CreatedAt"].endswith(" +0000 UTC")
    assert minke("network", "ls", "-f", f"name=web{sfx}", "--format", "{{upper .Name}}").out == f"WEB{sfx.upper()}\n"
    bad = minke("network", "ls", "--format", "{{.Name")
    assert bad.code != 0 and "template parsing error" in bad.err
    info = json.loads(minke("network", "inspect", f"web{sfx}").out)[0]
    assert info["Id"] == nid and info["Driver"] == "bridge" and info["Scope"] == "local" and info["Containers"] == {}
    assert info["IPAM"]["Config"] == [{"Subnet": f"{p}.0/24", "Gateway": f"{p}.254", "IPRange": f"{p}.64/26"}]
    assert info["Labels"] == {"tier": "front"} and info["Internal"] is False
    assert minke("network", "inspect", "-f", "{{.Name}} {{.Driver}}", nid[:10]).out == f"web{sfx} bridge\n"
    assert minke("network", "inspect", "-f", "{{json .Labels}}", nid).out == '{"tier":"front"}\n'
    assert Iptables().rules_of(net_tag(nid))
    rm = minke("network", "rm", f"web{sfx}")
    assert rm.code == 0 and rm.out == f"web{sfx}\n"
    assert not os.path.exists(f"/sys/class/net/{br}") and not Iptables().rules_of(net_tag(nid))


def test_bad_input_is_one_line_and_leaves_nothing(minke, names):
    sfx = secrets.token_hex(3)
    names.append(f"a{sfx}")
    p = f"10.{secrets.randbelow(100) + 120}.{secrets.randbelow(250)}"
    assert minke("network", "create", "--subnet", f"{p}.0/24", "-o", f"com.docker.network.bridge.name=mka{sfx}", f"a{sfx}").code == 0
    before = minke("network", "ls", "-q").out
    for args, msg in (
        (["--subnet", f"{p}.0/25", f"b{sfx}"], "overlaps"),
        (["--subnet", "10.203.0.1/24", f"b{sfx}"], "invalid subnet"),
        (["--gateway", "10.1.1.1", f"b{sfx}"], "need --subnet"),
        (["-o", "com.docker.network.bridge.name=this-name-is-too-long", f"b{sfx}"], "invalid interface name"),
        (["-o", f"com.docker.network.bridge.name=mka{sfx}", f"b{sfx}"], "already in use"),
        ([f"a{sfx}"], "already exists"),
        (["-d", "overlay", f"b{sfx}"], "unsupported network driver"),
        (["host"], "predefined"),
    ):
        r = minke("network", "create", *args)
        assert r.code != 0 and msg in r.err and len(r.err.strip().splitlines()) == 1, (args, r.err)
    assert minke("network", "ls", "-q").out == before
    for cmd, ref, msg in (("rm", "nosuch", "not found"), ("rm", "bridge", "pre-defined"), ("inspect", "nosuch", "not found")):
        r = minke("network", cmd, ref)
        assert r.code == 1 and msg in r.err


def test_prune_keeps_predefined(minke, names):
    sfx = secrets.token_hex(3)
    names.extend([f"p{sfx}", f"q{sfx}"])
    for n in names:
        assert minke("network", "create", "-o", f"com.docker.network.bridge.name=mk{n}", n).code == 0, n
    r = minke("network", "prune", "-f")
    assert r.out.splitlines()[0] == "Deleted Networks:" and sorted(r.out.splitlines()[1:]) == sorted(names)
    assert sorted(minke("network", "ls", "--format", "{{.Name}}").out.split()) == ["bridge", "host", "none"]
