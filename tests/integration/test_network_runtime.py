"""The hook the containers package uses, with real containers on minke-runtime and runc:
``NetworkService.setup`` + ``apply_to_spec`` + the resolv.conf/hosts text, a busybox httpd
published on the host's loopback, names resolved from inside a container, and the
``none``/``host`` modes."""

from __future__ import annotations

import os
import time
import urllib.request

import pytest
from runtime_bundle import RUNTIMES, Driver, default_config, make_rootfs, write_bundle
from test_network_bridge import Harness

from minke.network.container import (
    apply_to_spec,
    hosts_text,
    plan,
    resolv_conf_text,
    static_network,
)
from minke.network.ports import parse_publish, to_port_bindings

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    root = make_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))
    os.makedirs(os.path.join(root, "www"))
    with open(os.path.join(root, "www", "index.html"), "w") as f:
        f.write("hello from the container\n")
    return root


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request, tmp_path):
    d = Driver(request.param, str(tmp_path / "state"))
    yield d
    d.cleanup()


@pytest.fixture
def net(tmp_path):
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.close()


def _bundle(tmp_path, rootfs, name, args, cn, hostname="box", files=None):
    cfg = default_config(args)
    apply_to_spec(cfg, cn)
    for fname, text in (files or {}).items():
        path = tmp_path / f"{name}-{fname}"
        path.write_text(text)
        cfg["mounts"].append({"destination": f"/etc/{fname}", "type": "bind", "source": str(path), "options": ["rbind", "ro"]})
    cfg["hostname"] = hostname
    return write_bundle(str(tmp_path / name), rootfs, cfg)


def test_published_httpd_and_names_from_inside(net, rt, rootfs, tmp_path):
    n = net.create("rt")
    hc = {"NetworkMode": n.name, "PortBindings": to_port_bindings(parse_publish("127.0.0.1::80"))}
    atts, ports = plan(hc, {"EndpointsConfig": {n.name: {"Aliases": ["www"]}}})
    web_id, web = net.run("web", atts[0].network, aliases=atts[0].aliases, ports="127.0.0.1::80")
    assert ports[0].container_port == 80
    files = {"resolv.conf": resolv_conf_text("nameserver 192.0.2.1\n", web), "hosts": hosts_text("web", web)}
    cid = rt.new_id()
    rt("create", "--bundle", _bundle(tmp_path, rootfs, "web", ["httpd", "-f", "-p", "80", "-h", "/www"], web, "web", files), cid)
    rt("start", cid)
    hp = web.endpoints[0].ports[0].host_port
    body = ""
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hp}/", timeout=2) as r:
                body = r.read().decode()
            break
        except OSError:
            time.sleep(0.05)
    assert body == "hello from the container\n"
    # A second container on the network finds the first by name and alias through the
    # resolver its resolv.conf names, and fetches the page over the bridge.
    _, cli = net.run("client", n.name)
    files = {"resolv.conf": resolv_conf_text("", cli), "hosts": hosts_text("client", cli)}
    script = "nslookup web && nslookup www && wget -q -O - http://" + web.endpoints[0].ip + "/"
    r = rt.run(_bundle(tmp_path, rootfs, "cli", ["sh", "-c", script], cli, "client", files))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f"Address: {web.endpoints[0].ip}") == 2 and r.stdout.endswith("hello from the container\n")
    rt("kill", cid, "KILL")
    for _ in range(100):
        if rt.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    rt("delete", cid)
    net.svc.teardown(web_id)
    assert not os.path.exists(f"/sys/class/net/{web.endpoints[0].host_veth}")


def test_none_and_host_modes(rt, rootfs, tmp_path):
    none = rt.run(_bundle(tmp_path, rootfs, "none", ["ip", "-o", "link"], static_network(plan({"NetworkMode": "none"})[0])))
    assert none.returncode == 0 and [line.split(":")[1].strip() for line in none.stdout.splitlines()] == ["lo"]
    host = rt.run(_bundle(tmp_path, rootfs, "host", ["ip", "-o", "link"], static_network(plan({"NetworkMode": "host"})[0])))
    assert host.returncode == 0
    seen = {line.split(":")[1].strip().split("@")[0] for line in host.stdout.splitlines()}
    # Other tests may add links meanwhile: the host's own stable ones must be there.
    assert {"lo", "eth0"} <= seen and seen <= set(os.listdir("/sys/class/net")) | seen


def test_start_and_stop_hooks(net, rt, rootfs, tmp_path):
    from minke.network.container import start_hook, stop_hook

    n = net.create("hook")
    called = []

    def networks():
        called.append(1)
        return net.svc

    d = tmp_path / "cdir"
    d.mkdir()
    spec = default_config(["sh", "-c", "cat /etc/resolv.conf /etc/hosts; ip -o -4 addr show eth0"])
    none = start_hook(networks, container_id="n" * 64, name="quiet", hostname="quiet", host_config={"NetworkMode": "none"},
                      spec=spec, container_dir=str(d), host_resolv="nameserver 192.0.2.1\n")
    assert none.mode == "none" and not called
    cid = "h" * 64
    net.container_ids.add(cid)
    cn = start_hook(networks, container_id=cid, name="hooked", hostname="hooked",
                    host_config={"NetworkMode": n.name, "ExtraHosts": ["db:192.0.2.5"], "DnsSearch": ["corp.example"]},
                    networking_config={"EndpointsConfig": {n.name: {"Aliases": ["hk"]}}},
                    spec=spec, container_dir=str(d), host_resolv="nameserver 192.0.2.1\n")
    net.links.add(cn.endpoints[0].host_veth)
    for fname in ("resolv.conf", "hosts"):
        spec["mounts"].append({"destination": f"/etc/{fname}", "type": "bind", "source": str(d / fname), "options": ["rbind", "ro"]})
    r = rt.run(write_bundle(str(tmp_path / "hooked"), rootfs, spec))
    assert r.returncode == 0, r.stderr
    assert f"nameserver {n.gateway}\nsearch corp.example\n" in r.stdout
    assert "192.0.2.5\tdb\n" in r.stdout and f"{cn.endpoints[0].ip}\thooked\n" in r.stdout
    assert f"inet {cn.endpoints[0].ip}/{n.prefixlen}" in r.stdout
    stop_hook(networks, cid, {"NetworkMode": n.name})
    assert not os.path.exists(f"/sys/class/net/{cn.endpoints[0].host_veth}") and not os.path.exists(cn.netns_path)
    stop_hook(networks, cid, {"NetworkMode": n.name})  # idempotent
