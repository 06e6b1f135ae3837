"""Iptables against an in-memory fake of iptables(8): chains, -A/-I/-D/-C/-S/-N/-X/-L."""

from __future__ import annotations

import shlex

import pytest

from minke.errors import MinkeError
from minke.network.iptables import (
    Iptables,
    Published,
    ctr_tag,
    net_tag,
    network_rules,
    publish_rules,
)

BUILTIN = {"nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"], "filter": ["INPUT", "FORWARD", "OUTPUT"]}


class FakeIptables:
    def __init__(self) -> None:
        self.chains = {t: {c: [] for c in cs} for t, cs in BUILTIN.items()}
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv):
        argv = list(argv)
        self.calls.append(tuple(argv))
        table = "filter"
        if argv[:1] == ["-t"]:
            table, argv = argv[1], argv[2:]
        op, chain, rest = argv[0], argv[1] if len(argv) > 1 else "", argv[2:]
        if op == "-S" and not chain:  # every chain of the table
            return 0, "".join(f"-A {c} {r}\n" for c, rules in self.chains[table].items() for r in rules), ""
        if op == "-n":  # -n -L CHAIN
            op, chain = "-L", argv[2]
        chains = self.chains[table]
        if op == "-N":
            if chain in chains:
                return 1, "", "iptables: Chain already exists.\n"
            chains[chain] = []
            return 0, "", ""
        if chain not in chains:
            return 1, "", f"iptables: No chain/target/match by that name: {chain}\n"
        rules = chains[chain]
        rule = shlex.join(rest)
        if op == "-L":
            return 0, "", ""
        if op == "-S":
            return 0, "".join(f"-A {chain} {r}\n" for r in rules), ""
        if op == "-A":
            rules.append(rule)
        elif op == "-I":
            rules.insert(0, rule)
        elif op in ("-C", "-D"):
            if rule not in rules:
                return 1, "", "iptables: Bad rule (does a matching rule exist in that chain?).\n"
            if op == "-D":
                rules.remove(rule)
        elif op == "-X":
            if rules or any(f"-j {chain}" in r for c in chains.values() for r in c):
                return 1, "", "iptables: Directory not empty.\n"
            del chains[chain]
        return 0, "", ""


@pytest.fixture
def fake():
    return FakeIptables()


def test_network_and_port_rules_are_removed_by_tag(fake):
    ipt = Iptables(fake)
    ipt.ensure_chains()
    ipt.ensure_chains()  # idempotent: one jump each
    assert fake.chains["nat"]["PREROUTING"] == ["-m addrtype --dst-type LOCAL -j MINKE"]
    nt = net_tag("a" * 64)
    ipt.add(network_rules("br-x", "10.1.0.0/16", internal=False), nt)
    p = Published("tcp", "127.0.0.1", 8080, "10.1.0.2", 80)
    ct = ctr_tag("c" * 64) + ":" + "a" * 12
    ipt.add(publish_rules("br-x", p), ct)
    assert any("DNAT --to-destination 10.1.0.2:80" in r and "-d 127.0.0.1" in r for r in fake.chains["nat"]["MINKE"])
    assert len(ipt.rules_of(ctr_tag("c" * 64))) == 3  # the prefix tag finds the per-network tag
    assert not ipt.remove_chains_if_empty()
    assert ipt.remove_tagged(ct) == 3
    assert fake.chains["nat"]["MINKE"] == []
    assert ipt.remove_tagged(nt) == 6
    assert ipt.rules_of(nt) == []
    assert ipt.remove_chains_if_empty()
    assert "MINKE" not in fake.chains["nat"] and "MINKE-FORWARD" not in fake.chains["filter"]
    assert all(not rules for t in fake.chains.values() for rules in t.values())


def test_internal_network_has_no_nat():
    rules = network_rules("br-i", "10.2.0.0/16", internal=True)
    assert all(r.table == "filter" for r in rules)
    assert not any("MASQUERADE" in r.args for r in rules)


def test_failed_add_removes_what_it_added(fake):
    ipt = Iptables(fake)
    ipt.ensure_chains()
    rules = network_rules("br-x", "10.1.0.0/16", internal=False)
    calls = {"n": 0}

    def flaky(argv):
        if "-A" in argv:
            calls["n"] += 1
            if calls["n"] == 3:
                return 1, "", "iptables: boom\n"
        return fake(argv)

    with pytest.raises(MinkeError, match="boom"):
        Iptables(flaky).add(rules, net_tag("b" * 64))
    assert ipt.rules_of(net_tag("b" * 64)) == []


def test_publish_on_all_addresses_has_no_destination():
    r = publish_rules("br", Published("udp", "0.0.0.0", 53, "10.0.0.2", 5353))[0]
    assert "-d" not in r.args and r.args[:4] == ("-p", "udp", "-m", "udp")
