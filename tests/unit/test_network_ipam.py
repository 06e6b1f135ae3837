from __future__ import annotations

import multiprocessing

import pytest

from minke.errors import AlreadyExists, InvalidArgument, Unavailable
from minke.network.ipam import Ipam, Pool, check_pool, mac_for
from minke.store.db import Database


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "minke.db"))
    d.execute("INSERT INTO networks (id, name, driver, subnet, gateway, created) VALUES ('n1', 'n1', 'bridge', '10.5.0.0/29', '10.5.0.1', 0)")
    yield d
    d.close()


POOL = Pool("n1", "10.5.0.0/29", "10.5.0.1")


def test_lowest_free_address_skips_gateway_network_broadcast(db):
    ipam = Ipam(db)
    got = [ipam.allocate(POOL, f"c{i}")[0] for i in range(5)]
    assert got == ["10.5.0.2", "10.5.0.3", "10.5.0.4", "10.5.0.5", "10.5.0.6"]
    with pytest.raises(Unavailable):
        ipam.allocate(POOL, "c9")
    assert ipam.release("n1", "c1")
    assert not ipam.release("n1", "c1")
    assert ipam.allocate(POOL, "c10")[0] == "10.5.0.3"


def test_mac_and_endpoint(db):
    ip, mac, eid = Ipam(db).allocate(POOL, "c1", name="web", aliases=("w",))
    assert mac == mac_for(ip) == "02:42:0a:05:00:02"
    assert len(eid) == 64
    row = db.query_one("SELECT name, aliases FROM endpoints WHERE container_id = 'c1'")
    assert (row["name"], row["aliases"]) == ("web", '["w"]')


def test_static_and_range(db):
    ipam = Ipam(db)
    assert ipam.allocate(POOL, "a", requested="10.5.0.5")[0] == "10.5.0.5"
    with pytest.raises(AlreadyExists):
        ipam.allocate(POOL, "b", requested="10.5.0.5")
    for bad in ("10.5.0.1", "10.5.0.7", "10.6.0.2", "nope"):
        with pytest.raises(InvalidArgument):
            ipam.allocate(POOL, "b", requested=bad)
    with pytest.raises(AlreadyExists):
        ipam.allocate(POOL, "a")
    ranged = Pool("n1", "10.5.0.0/29", "10.5.0.1", "10.5.0.4/30")
    assert ipam.allocate(ranged, "r1")[0] == "10.5.0.4"
    assert ipam.allocate(ranged, "r2")[0] == "10.5.0.6"  # .5 taken statically, .7 broadcast


def test_check_pool():
    assert check_pool("10.1.0.0/16") == Pool("", "10.1.0.0/16", "10.1.0.1", "")
    assert check_pool("10.1.0.0/16", "10.1.9.9", "10.1.2.0/24").ip_range == "10.1.2.0/24"
    for args in (("10.1.2.3/16",), ("x",), ("10.1.0.0/31",), ("10.1.0.0/16", "10.2.0.1"),
                 ("10.1.0.0/16", "10.1.255.255"), ("10.1.0.0/16", "", "10.2.0.0/24")):
        with pytest.raises(InvalidArgument):
            check_pool(*args)


def _worker(path: str, n: int, q) -> None:
    d = Database(path)
    pool = Pool("n2", "10.6.0.0/24", "10.6.0.1")
    got = [Ipam(d).allocate(pool, f"{n}-{i}")[0] for i in range(10)]
    d.close()
    q.put(got)


def test_concurrent_processes_never_share_an_address(tmp_path):
    path = str(tmp_path / "c.db")
    d = Database(path)
    d.execute("INSERT INTO networks (id, name, driver, subnet, gateway, created) VALUES ('n2', 'n2', 'bridge', '10.6.0.0/24', '10.6.0.1', 0)")
    d.close()
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, n, q)) for n in range(6)]
    for p in procs:
        p.start()
    results = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    ips = [ip for r in results for ip in r]
    assert len(ips) == 60 == len(set(ips))
    assert sorted(ips, key=lambda s: int(s.rsplit(".", 1)[1])) == [f"10.6.0.{i}" for i in range(2, 62)]
