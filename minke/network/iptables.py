"""NAT, port publishing and forwarding rules, in minke's own chains, through iptables(8).

Debian's ``iptables`` (nf_tables backend or legacy: either works, we only run the
command).  Layout, like Docker's::

    nat    PREROUTING  -m addrtype --dst-type LOCAL -j MINKE
    nat    OUTPUT      -m addrtype --dst-type LOCAL -j MINKE
    nat    POSTROUTING -j MINKE-POSTROUTING
    filter FORWARD     -j MINKE-FORWARD

    MINKE              DNAT of each published port to its container
    MINKE-POSTROUTING  MASQUERADE of each NATed bridge subnet leaving by another link;
                       MASQUERADE of host-local sources (127.0.0.1) entering a bridge;
                       hairpin MASQUERADE of a container reaching its own published port
    MINKE-FORWARD      accept traffic of minke's bridges (internal ones: drop to and from
                       other links)
    MINKE-ISOLATION-1  (before MINKE-FORWARD) traffic leaving a bridge for another link
                       goes on to stage 2 ...
    MINKE-ISOLATION-2  ... where it is dropped if that link is another minke bridge: two
                       networks never reach each other (Docker's two-stage isolation; each
                       network adds one rule per stage, none needs rewriting)

Every rule carries a comment ``minke:<owner>`` (``net:<id12>`` for a network's rules,
``ctr:<id12>`` for a container's published ports), so removal lists the chain and deletes
what carries the owner's tag: it needs no memory of what was added, survives a crashed
engine, and ``rules_of(owner)`` lets tests check that nothing is left.  The chains and the
jumps go when no tagged rule remains in them (``remove_chains_if_empty``).

Published ports reached from the host itself: packets to 127.0.0.1 go through ``OUTPUT``
(so the DNAT above applies) but the kernel will not route a 127/8 source out of a real
link unless ``route_localnet`` is set on it; minke sets
``net.ipv4.conf.<bridge>.route_localnet=1`` and masquerades host-local sources entering
the bridge — Docker's ``--userland-proxy=false`` path.  No proxy process is needed.
``net.ipv4.ip_forward=1`` is set when the first NATed network is set up (never turned
back off: other software may rely on it).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from minke.errors import MinkeError, Unavailable
from minke.network.model import Published

Runner = Callable[[Sequence[str]], tuple[int, str, str]]

NAT_CHAIN = "MINKE"
POST_CHAIN = "MINKE-POSTROUTING"
FWD_CHAIN = "MINKE-FORWARD"
ISO1_CHAIN = "MINKE-ISOLATION-1"
ISO2_CHAIN = "MINKE-ISOLATION-2"

# Inserted at the top in this order, so FORWARD reads: isolation first, then accept.
_JUMPS = (
    ("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", NAT_CHAIN]),
    ("nat", "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", NAT_CHAIN]),
    ("nat", "POSTROUTING", ["-j", POST_CHAIN]),
    ("filter", "FORWARD", ["-j", FWD_CHAIN]),
    ("filter", "FORWARD", ["-j", ISO1_CHAIN]),
)
_CHAINS = (("nat", NAT_CHAIN), ("nat", POST_CHAIN), ("filter", FWD_CHAIN), ("filter", ISO1_CHAIN), ("filter", ISO2_CHAIN))


def run_iptables(argv: Sequence[str]) -> tuple[int, str, str]:
    try:
        p = subprocess.run(["iptables", "-w", *argv], capture_output=True, text=True)
    except FileNotFoundError:
        raise Unavailable("iptables not found: install the iptables package") from None
    return p.returncode, p.stdout, p.stderr


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    args: tuple[str, ...]


def net_tag(network_id: str) -> str:
    return f"minke:net:{network_id[:12]}"


def ctr_tag(container_id: str) -> str:
    return f"minke:ctr:{container_id[:12]}"


class Iptables:
    def __init__(self, run: Runner | None = None) -> None:
        self.run = run or run_iptables

    def _do(self, *argv: str) -> str:
        rc, out, err = self.run(argv)
        if rc != 0:
            raise MinkeError(f"iptables {' '.join(argv)}: {err.strip() or 'failed'}")
        return out

    def _ok(self, *argv: str) -> bool:
        return self.run(argv)[0] == 0

    # --- chains ------------------------------------------------------------------------
    def ensure_chains(self) -> None:
        for table, chain in _CHAINS:
            if not self._ok("-t", table, "-n", "-L", chain):
                rc, _, err = self.run(("-t", table, "-N", chain))
                if rc != 0 and "exists" not in err:
                    raise MinkeError(f"iptables -t {table} -N {chain}: {err.strip()}")
        for table, chain, args in _JUMPS:
            if not self._ok("-t", table, "-C", chain, *args):
                self._do("-t", table, "-I", chain, *args)

    def remove_chains_if_empty(self) -> bool:
        """Drop the jumps and chains when no rule is left in any of them."""
        for table, chain in _CHAINS:
            rc, out, _ = self.run(("-t", table, "-S", chain))
            if rc == 0 and any(line.startswith("-A ") for line in out.splitlines()):
                return False
        for table, chain, args in _JUMPS:
            while self._ok("-t", table, "-C", chain, *args):
                self._do("-t", table, "-D", chain, *args)
        for table, chain in _CHAINS:
            if self._ok("-t", table, "-n", "-L", chain):
                self._do("-t", table, "-X", chain)
        return True

    # --- rules -------------------------------------------------------------------------
    def add(self, rules: Sequence[Rule], tag: str) -> None:
        """Append the rules with ``tag``; on failure remove those already added."""
        try:
            for r in rules:
                self._do("-t", r.table, "-A", r.chain, *r.args, "-m", "comment", "--comment", tag)
        except BaseException:
            self.remove_tagged(tag)
            raise

    def rules_of(self, tag: str) -> list[Rule]:
        """Rules in minke's chains carrying ``tag``: one listing per table."""
        out: list[Rule] = []
        for table in ("nat", "filter"):
            ours = {c for t, c in _CHAINS if t == table}
            rc, text, _ = self.run(("-t", table, "-S"))
            if rc != 0:
                continue
            for line in text.splitlines():
                if tag not in line:
                    continue
                words = shlex.split(line)
                if len(words) > 2 and words[0] == "-A" and words[1] in ours and _tag_in(words, tag):
                    out.append(Rule(table, words[1], tuple(words[2:])))
        return out

    def remove_tagged(self, tag: str) -> int:
        n = 0
        for r in self.rules_of(tag):
            rc, _, err = self.run(("-t", r.table, "-D", r.chain, *r.args))
            if rc != 0 and "does a matching rule exist" not in err and "No chain" not in err:
                raise MinkeError(f"iptables -D {r.chain}: {err.strip()}")
            n += 1
        return n


def _tag_in(words: list[str], tag: str) -> bool:
    """The rule carries ``tag`` or a sub-tag of it (``minke:ctr:ID:NET``)."""
    for i, w in enumerate(words[:-1]):
        if w == "--comment" and (words[i + 1] == tag or words[i + 1].startswith(tag + ":")):
            return True
    return False


# --- the rules of a network and of a container's published ports -----------------------------


def network_rules(bridge: str, subnet: str, internal: bool) -> list[Rule]:
    isolation = [
        Rule("filter", ISO1_CHAIN, ("-i", bridge, "!", "-o", bridge, "-j", ISO2_CHAIN)),
        Rule("filter", ISO2_CHAIN, ("-o", bridge, "-j", "DROP")),
    ]
    return isolation + _network_rules(bridge, subnet, internal)


def _network_rules(bridge: str, subnet: str, internal: bool) -> list[Rule]:
    if internal:
        return [
            Rule("filter", FWD_CHAIN, ("-i", bridge, "!", "-o", bridge, "-j", "DROP")),
            Rule("filter", FWD_CHAIN, ("-o", bridge, "!", "-i", bridge, "-j", "DROP")),
            Rule("filter", FWD_CHAIN, ("-i", bridge, "-o", bridge, "-j", "ACCEPT")),
        ]
    return [
        Rule("nat", POST_CHAIN, ("-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE")),
        # Connections from the host's loopback to a published port (route_localnet).
        Rule("nat", POST_CHAIN, ("-s", "127.0.0.0/8", "-o", bridge, "-j", "MASQUERADE")),
        Rule("filter", FWD_CHAIN, ("-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")),
        Rule("filter", FWD_CHAIN, ("-i", bridge, "-j", "ACCEPT")),
    ]


def publish_rules(bridge: str, p: Published) -> list[Rule]:
    dst = ("-d", p.host_ip) if p.host_ip and p.host_ip not in ("0.0.0.0", "::") else ()
    to = f"{p.container_ip}:{p.container_port}"
    return [
        Rule("nat", NAT_CHAIN, (*dst, "-p", p.protocol, "-m", p.protocol, "--dport", str(p.host_port), "-j", "DNAT", "--to-destination", to)),
        Rule("filter", FWD_CHAIN, ("-d", f"{p.container_ip}/32", "-o", bridge, "-p", p.protocol, "-m", p.protocol, "--dport", str(p.container_port), "-j", "ACCEPT")),
        # Hairpin: the container reaching its own published port comes back through the
        # bridge and must see a reply address it does not own.
        Rule("nat", POST_CHAIN, ("-s", f"{p.container_ip}/32", "-d", f"{p.container_ip}/32", "-p", p.protocol, "-m", p.protocol, "--dport", str(p.container_port), "-j", "MASQUERADE")),
    ]
