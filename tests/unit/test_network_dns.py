from __future__ import annotations

import socket
import struct
import threading

import pytest

from minke.errors import InvalidArgument
from minke.network import dns
from minke.network.dns import AAAA, NXDOMAIN, PTR, SERVFAIL, A, Entry, Message, Question, Record


def test_name_round_trip_and_compression_pointer():
    assert dns.encode_name("web.example") == b"\x03web\x07example\x00"
    # A reply whose answer name is a pointer (0xc00c) to the question's name.
    q = dns.query("Web.Example", A, mid=7)
    resp = bytearray(q)
    resp[2:4] = struct.pack(">H", 0x8180)
    resp[6:8] = struct.pack(">H", 1)
    resp += b"\xc0\x0c" + struct.pack(">HHIH", A, 1, 60, 4) + bytes([10, 0, 0, 9])
    m = dns.decode(bytes(resp))
    assert m.id == 7 and m.is_response and m.rcode == 0
    assert m.questions == (Question("web.example", A),)
    assert m.answers == (Record("web.example", A, bytes([10, 0, 0, 9]), 60),)


def test_encode_decode_message():
    msg = Message(0x42, 0x8400, (Question("a.b", PTR),), (Record("a.b", PTR, dns.encode_name("x.y"), 5),))
    assert dns.decode(dns.encode(msg)) == msg


@pytest.mark.parametrize("bad", [b"", b"\x00" * 5, b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab",
                                 b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"])
def test_decode_rejects_bad_packets(bad):
    with pytest.raises(InvalidArgument):
        dns.decode(bad)


def test_bad_names():
    with pytest.raises(InvalidArgument):
        dns.encode_name("a..b")
    with pytest.raises(InvalidArgument):
        dns.encode_name("x" * 64)


ENTRIES = [Entry("10.1.0.2", ("web", "www", "abcdef123456")), Entry("10.1.0.3", ("db",))]


def test_answer_names_aliases_ids_ptr_and_search():
    def ask(name, qtype=A, search=()):
        out = dns.answer(dns.decode(dns.query(name, qtype)), ENTRIES, search)
        return None if out is None else dns.decode(out)

    r = ask("WWW")
    assert r.rcode == 0 and r.answers[0].data == socket.inet_aton("10.1.0.2")
    assert ask("abcdef123456").answers[0].data == socket.inet_aton("10.1.0.2")
    assert ask("db.corp.example", search=("corp.example",)).answers[0].data == socket.inet_aton("10.1.0.3")
    aaaa = ask("db", AAAA)
    assert aaaa.rcode == 0 and aaaa.answers == ()
    ptr = ask("3.0.1.10.in-addr.arpa", PTR)
    assert ptr.answers[0].data == dns.encode_name("db")
    assert ask("elsewhere.example") is None
    assert ask("9.9.9.9.in-addr.arpa", PTR) is None


def test_resolv_nameservers():
    assert dns.resolv_nameservers("# c\nnameserver 1.2.3.4\nsearch a.b c.d\nnameserver ::1\n") == (["1.2.3.4", "::1"], ["a.b", "c.d"])


def _fake_upstream():
    """A UDP 'resolver' on loopback answering every A query with 192.0.2.99."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def run():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                data, addr = s.recvfrom(512)
            except TimeoutError:
                continue
            q = dns.decode(data)
            s.sendto(dns.reply(q, [Record(q.questions[0].name, A, socket.inet_aton("192.0.2.99"))], authoritative=False), addr)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return s, stop, t


def _udp_ask(port: int, name: str, qtype: int = A) -> Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        c.sendto(dns.query(name, qtype), ("127.0.0.1", port))
        return dns.decode(c.recvfrom(4096)[0])


def _tcp_ask(port: int, name: str) -> Message:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        q = dns.query(name)
        c.sendall(struct.pack(">H", len(q)) + q)
        (n,) = struct.unpack(">H", c.recv(2))
        data = b""
        while len(data) < n:
            data += c.recv(n - len(data))
        return dns.decode(data)


def test_server_answers_local_names_and_forwards_the_rest():
    up, stop_up, t_up = _fake_upstream()
    server = dns.Server("127.0.0.1", 0, lambda: ENTRIES, [("127.0.0.1", up.getsockname()[1])])
    stop = threading.Event()
    t = threading.Thread(target=server.serve_forever, args=(stop,), daemon=True)
    t.start()
    try:
        assert _udp_ask(server.port, "web").answers[0].data == socket.inet_aton("10.1.0.2")
        assert _tcp_ask(server.port, "db").answers[0].data == socket.inet_aton("10.1.0.3")
        fwd = _udp_ask(server.port, "example.org")
        assert fwd.answers[0].data == socket.inet_aton("192.0.2.99")
    finally:
        stop.set()
        stop_up.set()
        t.join(5)
        t_up.join(5)
        server.close()
        up.close()


def test_server_servfail_without_upstream():
    # An unused loopback port: the forward gets ICMP port unreachable at once.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    server = dns.Server("127.0.0.1", 0, lambda: [], [("127.0.0.1", dead)])
    try:
        out = server.handle(dns.query("nothing.example"))
        assert dns.decode(out).rcode == SERVFAIL
        assert NXDOMAIN != SERVFAIL
        assert server.handle(b"\x00\x07junk")[:4] == b"\x00\x07\x80\x01"
    finally:
        server.close()
