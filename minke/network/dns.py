"""The per-network resolver: DNS packet codec and a small UDP+TCP server.

Design (Podman's aardvark-dns shape, without a daemon): each user-defined network with
containers has one resolver process listening on the bridge's gateway address, port 53,
in the host's network namespace.  Containers on the network get ``nameserver <gateway>``
in their resolv.conf.  The first container to join starts it (``start_server``), the last
to leave stops it; its pid and start time are in the ``networks`` row.  It answers from
the ``endpoints`` table, read on each query (SQLite, read-only), so joins and leaves need
no signal to the server:

- A for a container's name, its aliases on that network and its short id (with or
  without a trailing domain of the host's ``search`` list), case-insensitive;
- AAAA for those names: an empty NOERROR answer (minke networks are IPv4-only), so the
  client does not go looking elsewhere;
- PTR for the addresses of the network;
- everything else is forwarded to the host's resolvers (/etc/resolv.conf, read when the
  server starts; loopback resolvers work too, since the server lives in the host's
  namespace), over UDP with a TCP retry on truncation.

The default bridge gets no resolver: names do not resolve there, as in Docker.
Running in the host's namespace rather than inside each container (Docker's 127.0.0.11)
means one process per network instead of a thread per container namespace, and no
entering of container namespaces.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from minke.errors import InvalidArgument

A, NS, CNAME, PTR, AAAA, ANY = 1, 2, 5, 12, 28, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
_HDR = struct.Struct(">HHHHHH")


@dataclass(frozen=True)
class Question:
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int = 1


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    data: bytes  # RDATA, already encoded
    ttl: int = 600


@dataclass(frozen=True)
class Message:
    id: int
    flags: int
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if not label:
            if name.strip(".") == "":
                break
            raise InvalidArgument(f"invalid dns name {name!r}: empty label")
        raw = label.encode("idna") if not label.isascii() else label.encode()
        if len(raw) > 63:
            raise InvalidArgument(f"invalid dns name {name!r}: label longer than 63")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def decode_name(data: bytes, off: int) -> tuple[str, int]:
    """(name, offset after it); follows compression pointers, refusing loops."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if off >= len(data):
            raise InvalidArgument("invalid dns message: name runs past the end")
        n = data[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(data):
                raise InvalidArgument("invalid dns message: truncated pointer")
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            jumps += 1
            if jumps > 32:
                raise InvalidArgument("invalid dns message: compression loop")
            continue
        if n & 0xC0:
            raise InvalidArgument("invalid dns message: bad label type")
        off += 1
        if n == 0:
            break
        if off + n > len(data):
            raise InvalidArgument("invalid dns message: label runs past the end")
        labels.append(data[off : off + n].decode("ascii", errors="replace"))
        off += n
    return ".".join(labels), (end if end >= 0 else off)


def decode(data: bytes) -> Message:
    if len(data) < _HDR.size:
        raise InvalidArgument("invalid dns message: shorter than its header")
    mid, flags, qd, an, _ns, _ar = _HDR.unpack_from(data)
    off = _HDR.size
    qs = []
    for _ in range(qd):
        name, off = decode_name(data, off)
        if off + 4 > len(data):
            raise InvalidArgument("invalid dns message: truncated question")
        qtype, qclass = struct.unpack_from(">HH", data, off)
        off += 4
        qs.append(Question(name.lower(), qtype, qclass))
    ans = []
    for _ in range(an):
        name, off = decode_name(data, off)
        if off + 10 > len(data):
            raise InvalidArgument("invalid dns message: truncated record")
        rtype, _cls, ttl, rdlen = struct.unpack_from(">HHIH", data, off)
        off += 10
        rdata = data[off : off + rdlen]
        if len(rdata) != rdlen:
            raise InvalidArgument("invalid dns message: truncated rdata")
        if rtype in (PTR, CNAME, NS):
            target, _ = decode_name(data, off)
            rdata = encode_name(target)
        off += rdlen
        ans.append(Record(name.lower(), rtype, rdata, ttl))
    return Message(mid, flags, tuple(qs), tuple(ans))


def encode(msg: Message) -> bytes:
    out = bytearray(_HDR.pack(msg.id, msg.flags, len(msg.questions), len(msg.answers), 0, 0))
    for q in msg.questions:
        out += encode_name(q.name) + struct.pack(">HH", q.qtype, q.qclass)
    for r in msg.answers:
        out += encode_name(r.name) + struct.pack(">HHIH", r.rtype, 1, r.ttl, len(r.data)) + r.data
    return bytes(out)


def query(name: str, qtype: int = A, mid: int = 0x1234) -> bytes:
    """A recursive query for ``name`` (tests, forwarding probes)."""
    return encode(Message(mid, 0x0100, (Question(name.lower().rstrip("."), qtype),)))


def reply(q: Message, answers: list[Record], rcode: int = NOERROR, authoritative: bool = True) -> bytes:
    flags = 0x8000 | (q.flags & 0x0100) | 0x0080 | rcode  # QR, RD copied, RA
    if authoritative:
        flags |= 0x0400
    return encode(Message(q.id, flags, q.questions, tuple(answers)))


def a_data(ip: str) -> bytes:
    import socket

    return socket.inet_aton(ip)


def ptr_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def ip_of_ptr(name: str) -> str | None:
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    return ".".join(reversed(parts))


# --- answering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One container on the network, as the resolver sees it."""

    ip: str
    names: tuple[str, ...]  # name first, then aliases, then short id


def answer(q: Message, entries: list[Entry], search: tuple[str, ...] = ()) -> bytes | None:
    """Our reply to ``q``, or None when it is for someone else (forward it)."""
    if not q.questions:
        return reply(q, [], FORMERR)
    question = q.questions[0]
    name = question.name
    if question.qtype == PTR:
        ip = ip_of_ptr(name)
        hit = next((e for e in entries if e.ip == ip), None)
        if hit is None:
            return None
        return reply(q, [Record(name, PTR, encode_name(hit.names[0]))])
    bases = [name] + [name[: -len(s) - 1] for s in search if s and name.endswith("." + s)]
    hit = next((e for e in entries for b in bases if b in (n.lower() for n in e.names)), None)
    if hit is None:
        return None
    if question.qtype in (A, ANY):
        return reply(q, [Record(name, A, a_data(hit.ip))])
    return reply(q, [])  # AAAA and the rest: the name exists, with no such record


# --- the server -----------------------------------------------------------------------------


def resolv_nameservers(text: str) -> tuple[list[str], list[str]]:
    """(nameservers, search domains) of a resolv.conf text."""
    ns: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            ns.append(parts[1])
        elif parts and parts[0] in ("search", "domain"):
            search = [s.lower().rstrip(".") for s in parts[1:]]
    return ns, search


class Server:
    """UDP and TCP on (address, port).  ``lookup()`` returns the current entries."""

    def __init__(self, address: str, port: int, lookup, upstreams: list[tuple[str, int]], search: tuple[str, ...] = ()) -> None:
        import socket

        self.lookup = lookup
        self.upstreams = upstreams
        self.search = search
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            # IP_FREEBIND: the gateway address may still be settling on a fresh bridge.
            for s in (self.udp, self.tcp):
                s.setsockopt(socket.SOL_IP, 15, 1)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.udp.bind((address, port))
            # Port 0 (tests): TCP takes the port UDP was given.
            self.tcp.bind((address, self.udp.getsockname()[1]))
            self.tcp.listen(64)
        except BaseException:
            self.close()
            raise
        self.port = self.udp.getsockname()[1]

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()

    def handle(self, data: bytes, tcp: bool = False) -> bytes | None:
        try:
            q = decode(data)
        except InvalidArgument:
            if len(data) >= 2:
                return struct.pack(">HH", struct.unpack_from(">H", data)[0], 0x8000 | FORMERR) + b"\x00" * 8
            return None
        if q.is_response:
            return None
        try:
            entries = self.lookup()
        except Exception:  # noqa: BLE001 - a locked or vanished DB must not kill the server
            entries = []
        out = answer(q, entries, self.search)
        if out is not None:
            return out
        return self.forward(data, q, tcp)

    def forward(self, data: bytes, q: Message, tcp: bool) -> bytes:
        import socket

        for host, port in self.upstreams:
            try:
                if not tcp:
                    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
                        s.settimeout(2.0)
                        s.sendto(data, (host, port))
                        while True:
                            resp, _ = s.recvfrom(65535)
                            if len(resp) >= 2 and resp[:2] == data[:2]:
                                break
                    if not (len(resp) >= 4 and resp[2] & 0x02):  # not truncated
                        return resp
                with socket.create_connection((host, port), timeout=3.0) as s:
                    s.sendall(struct.pack(">H", len(data)) + data)
                    return _recv_tcp_msg(s)
            except OSError:
                continue
        return reply(q, [], SERVFAIL, authoritative=False)

    def serve_forever(self, stop=None) -> None:
        import select
        import threading

        while stop is None or not stop.is_set():
            r, _, _ = select.select([self.udp, self.tcp], [], [], 0.5)
            for s in r:
                if s is self.udp:
                    try:
                        data, addr = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    # One thread per query: a slow upstream must not stall local names.
                    threading.Thread(target=self._udp_one, args=(data, addr), daemon=True).start()
                else:
                    try:
                        conn, _ = self.tcp.accept()
                    except OSError:
                        continue
                    threading.Thread(target=self._tcp_one, args=(conn,), daemon=True).start()

    def _udp_one(self, data: bytes, addr) -> None:
        out = self.handle(data)
        if out is not None:
            if len(out) > 512:
                q = decode(data)
                out = encode(Message(q.id, 0x8000 | 0x0200 | 0x0080 | (q.flags & 0x0100), q.questions))
            try:
                self.udp.sendto(out, addr)
            except OSError:
                pass

    def _tcp_one(self, conn) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                while True:
                    data = _recv_tcp_msg(conn)
                    out = self.handle(data, tcp=True)
                    if out is None:
                        return
                    conn.sendall(struct.pack(">H", len(out)) + out)
            except (OSError, InvalidArgument):
                return


def _recv_exact(s, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise InvalidArgument("connection closed")
        buf += chunk
    return buf


def _recv_tcp_msg(s) -> bytes:
    (n,) = struct.unpack(">H", _recv_exact(s, 2))
    return _recv_exact(s, n)


def db_lookup(db_path: str, network_id: str):
    """A ``lookup`` reading the network's endpoints from the database on each call."""
    import json

    from minke.store.sqlite import sqlite3

    def lookup() -> list[Entry]:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = conn.execute("SELECT container_id, name, aliases, ip FROM endpoints WHERE network_id = ?", (network_id,)).fetchall()
        finally:
            conn.close()
        out = []
        for cid, name, aliases, ip in rows:
            names = [n for n in [name, *json.loads(aliases or "[]"), cid[:12]] if n]
            out.append(Entry(ip, tuple(names)))
        return out

    return lookup


def serve(argv: list[str]) -> None:
    """Entry of the resolver process: ``DB_PATH NETWORK_ID ADDRESS PORT [RESOLV_CONF]``."""
    import signal

    db_path, network_id, address, port = argv[0], argv[1], argv[2], int(argv[3])
    resolv = argv[4] if len(argv) > 4 else "/etc/resolv.conf"
    try:
        with open(resolv) as f:
            ns, search = resolv_nameservers(f.read())
    except OSError:
        ns, search = [], []
    upstreams = [(h, 53) for h in ns if h != address]
    server = Server(address, port, db_lookup(db_path, network_id), upstreams, tuple(search))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    os.write(1, b"ready\n")
    os.close(1)
    os.open(os.devnull, os.O_WRONLY)
    server.serve_forever()


def start_server(db_path: str, network_id: str, address: str, port: int = 53, resolv_conf: str = "/etc/resolv.conf", log: str = os.devnull) -> int:
    """Start a detached resolver (own session, stdio closed); return its pid once it
    listens.  Raises ``MinkeError`` with its error output when it cannot start."""
    import subprocess
    import sys

    from minke.errors import MinkeError

    pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = "import sys; from minke.network.dns import serve; serve(sys.argv[1:])"
    with open(log, "ab") as errf:
        p = subprocess.Popen(
            [sys.executable, "-S", "-c", code, db_path, network_id, address, str(port), resolv_conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf, env=env,
            start_new_session=True, close_fds=True,
        )
    assert p.stdout is not None
    line = p.stdout.readline()
    p.stdout.close()
    if line.strip() != b"ready":
        p.wait()
        detail = ""
        try:
            with open(log, errors="replace") as f:
                detail = f.read().strip().splitlines()[-1]
        except (OSError, IndexError):
            pass
        raise MinkeError(f"resolver for network {network_id[:12]} on {address}:{port} did not start: {detail or 'exited'}")
    # Popen's object would reap it at exit of this process; the server outlives us and
    # is re-parented to init, which reaps it when it ends.
    p.returncode = 0
    return p.pid
