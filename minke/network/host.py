"""HostKernel: every side effect NetworkService has on the host, behind one small object
(links, addresses, namespaces, sysctls, resolver processes), so the service's logic can be
tested without root against a fake (tests/unit/test_network_service.py).

iptables has its own seam (``Iptables(run=...)``).
"""

from __future__ import annotations

import os
import time

from minke.network import netlink, netns
from minke.network.netlink import InterfaceConfig


def proc_start_time(pid: int) -> int:
    from minke.containers.monitor import proc_start_time as _pst

    return _pst(pid) if pid > 0 else 0


class HostKernel:
    # links and sysctls
    def link_exists(self, name: str) -> bool:
        return netlink.link_exists(name)

    def link_key(self, name: str) -> str:
        """What names this incarnation of a link: boot id and ifindex ("" when missing).
        A link deleted and remade (by hand, after a reboot) gets another key."""
        try:
            with open(f"/sys/class/net/{name}/ifindex") as f:
                index = f.read().strip()
            with open("/proc/sys/kernel/random/boot_id") as f:
                return f"{f.read().strip()}/{index}"
        except OSError:
            return ""

    def create_bridge(self, name: str, address: str, prefixlen: int, mtu: int) -> None:
        netlink.create_bridge(name, address, prefixlen, mtu)

    def delete_link(self, name: str) -> bool:
        return netlink.delete_link(name)

    def create_veth(self, host_name: str, peer_name: str, bridge: str, mtu: int, netns_path: str, mac: str = "") -> None:
        netlink.create_veth(host_name, peer_name, bridge, mtu, netns_path, mac)

    def configure_in_netns(self, netns_path: str, cfg: InterfaceConfig | None) -> None:
        netlink.configure_in_netns(netns_path, cfg)

    def set_interface_conf(self, ifname: str, key: str, value: str) -> None:
        netlink.set_interface_conf(ifname, key, value)

    def get_sysctl(self, key: str) -> str:
        return netlink.get_sysctl(key)

    def set_sysctl(self, key: str, value: str) -> None:
        netlink.set_sysctl(key, value)

    def flush_udp_conntrack(self, container_ip: str) -> int:
        """Forget the UDP flows NATed to an address that is going away: UDP has no close,
        so a client that keeps sending would stay pinned for minutes to a dead (or a
        reused) address through its conntrack entry (Docker flushes them too).  TCP
        flows end on their own with the endpoint."""
        from pyroute2 import Conntrack
        from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

        ct = Conntrack()
        try:
            entries = list(ct.dump_entries(tuple_reply=NFCTAttrTuple(saddr=container_ip, proto=17)))
            for e in entries:
                try:
                    ct.delete(e)
                except Exception:  # noqa: BLE001 - expired meanwhile
                    pass
            return len(entries)
        finally:
            ct.close()

    # namespaces
    def netns_create(self, path: str) -> None:
        netns.create(path)

    def netns_delete(self, path: str) -> None:
        netns.delete(path)

    def netns_exists(self, path: str) -> bool:
        return netns.is_netns(path)

    def is_host_netns(self, path: str) -> bool:
        """Raises FileNotFoundError when ``path`` is gone."""
        return netns.same(path, "/proc/self/ns/net")

    # the resolver process
    def start_dns(self, db_path: str, network_id: str, address: str, port: int, resolv_conf: str, log: str) -> tuple[int, int]:
        from minke.network.dns import start_server

        pid = start_server(db_path, network_id, address, port, resolv_conf=resolv_conf, log=log)
        return pid, proc_start_time(pid)

    def dns_alive(self, pid: int, start: int) -> bool:
        return pid > 0 and proc_start_time(pid) == start

    def stop_dns(self, pid: int, start: int) -> None:
        if self.dns_alive(pid, start):
            try:
                os.kill(pid, 15)  # SIGTERM (the signal module imports enum: ~10 ms)
            except ProcessLookupError:
                pass
            end = time.monotonic() + 5
            while proc_start_time(pid) == start and time.monotonic() < end:
                _reap(pid)
                time.sleep(0.01)
        _reap(pid)


def _reap(pid: int) -> None:
    """Reap the resolver when this process started it (tests; a CLI exits anyway)."""
    if pid > 0:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
