from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import time

import pytest

from minke.errors import CorruptData, InvalidArgument, NotFound, Unsupported
from minke.store.blobs import BlobStore


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tree_hash(root: str) -> dict[str, str]:
    """Every file and directory under root with a hash of its content: the store's state."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            state[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                state[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return state


@pytest.fixture
def store(tmp_path):
    return BlobStore(str(tmp_path / "blobs"))


def test_put_read_exists_size_path(store):
    data = b"hello blob"
    d = store.put(data)
    assert d == sha(data)
    assert store.exists(d)
    assert store.size(d) == len(data)
    assert store.read(d) == data
    assert store.path(d) == os.path.join(store.root, "sha256", d[7:])
    with store.open(d) as f:
        assert f.read() == data
    assert os.listdir(store.ingest_dir) == []


def test_put_expected_digest(store):
    data = b"x" * 1000
    assert store.put(data, expected=sha(data)) == sha(data)


def test_put_wrong_digest_raises_and_leaves_nothing(store):
    store.put(b"already here")
    before = tree_hash(store.root)
    wrong = sha(b"something else")
    with pytest.raises(CorruptData) as e:
        store.put(b"data", expected=wrong)
    assert str(e.value) == f"blob digest mismatch: expected {wrong} got {sha(b'data')}"
    assert tree_hash(store.root) == before
    assert not store.exists(wrong)
    assert not store.exists(sha(b"data"))


def test_empty_blob(store):
    d = store.put(b"")
    assert d == sha(b"")
    assert store.read(d) == b""


def test_missing_blob_not_found(store):
    d = sha(b"nope")
    assert not store.exists(d)
    with pytest.raises(NotFound, match=f"blob {d} not found"):
        store.open(d)
    with pytest.raises(NotFound, match=f"blob {d} not found"):
        store.size(d)
    with pytest.raises(NotFound, match=f"blob {d} not found"):
        store.delete(d)
    with pytest.raises(NotFound):
        store.verify(d)


@pytest.mark.parametrize(
    "bad",
    ["", "sha256", "sha256:", "sha256:abc", "sha256:" + "A" * 64, "sha256:" + "g" * 64, "nocolon"],
)
def test_invalid_digest(store, bad):
    with pytest.raises(InvalidArgument, match="invalid digest"):
        store.path(bad)


def test_other_algorithm_unsupported(store):
    with pytest.raises(Unsupported, match="sha512"):
        store.exists("sha512:" + "a" * 128)


def test_path_traversal_digest_rejected(store):
    with pytest.raises(InvalidArgument):
        store.path("sha256:../../etc/passwd")


def test_ingest_stream(store):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one chunk
    d, n = store.ingest(io.BytesIO(data), sha(data), len(data))
    assert (d, n) == (sha(data), len(data))
    assert store.read(d) == data


def test_ingest_without_readinto(store):
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self.f = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.f.read(min(n, 7))

    d, n = store.ingest(ReadOnly(b"abcdefghijklmnopqrstuvwxyz"))  # type: ignore[arg-type]
    assert store.read(d) == b"abcdefghijklmnopqrstuvwxyz" and n == 26


def test_ingest_truncated_leaves_store_unchanged(store):
    store.put(b"other")
    before = tree_hash(store.root)
    data = os.urandom(5000)
    with pytest.raises(CorruptData, match="expected 5000 bytes got 4000"):
        store.ingest(io.BytesIO(data[:4000]), sha(data), len(data))
    assert tree_hash(store.root) == before


def test_ingest_truncated_digest_only(store):
    before = tree_hash(store.root)
    data = os.urandom(5000)
    with pytest.raises(CorruptData) as e:
        store.ingest(io.BytesIO(data[:4000]), sha(data))
    assert f"expected {sha(data)} got {sha(data[:4000])}" in str(e.value)
    assert tree_hash(store.root) == before


def test_ingest_too_long_fails_early(store):
    before = tree_hash(store.root)

    class Endless(io.RawIOBase):
        reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[override]
            self.reads += 1
            b[:] = b"z" * len(b)
            return len(b)

    stream = Endless()
    with pytest.raises(CorruptData, match="expected 10 bytes got more"):
        store.ingest(stream, None, 10)
    assert stream.reads == 1
    assert tree_hash(store.root) == before


def test_ingest_corrupt_content(store):
    before = tree_hash(store.root)
    data = bytearray(os.urandom(4096))
    good = sha(bytes(data))
    data[100] ^= 1
    with pytest.raises(CorruptData, match=f"expected {good} got sha256:"):
        store.ingest(io.BytesIO(bytes(data)), good, len(data))
    assert tree_hash(store.root) == before


def test_interrupted_stream_removes_temp(store):
    before = tree_hash(store.root)

    class Broken(io.RawIOBase):
        n = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[override]
            self.n += 1
            if self.n > 2:
                raise ConnectionResetError("peer went away")
            b[:10] = b"0123456789"
            return 10

    with pytest.raises(ConnectionResetError):
        store.ingest(Broken())
    assert os.listdir(store.ingest_dir) == []
    assert os.listdir(store.blobs_dir) == []
    assert tree_hash(store.root) == before


def test_keyboard_interrupt_removes_temp(store):
    class Interrupted(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[override]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.ingest(Interrupted())
    assert os.listdir(store.ingest_dir) == []


def test_writer_commit(store):
    with store.writer(expected_size=11) as w:
        w.write(b"hello ")
        assert w.size == 6
        assert w.digest == sha(b"hello ")
        w.write(memoryview(b"world"))
        d = w.commit()
    assert d == sha(b"hello world")
    assert store.read(d) == b"hello world"
    assert os.listdir(store.ingest_dir) == []
    assert w.commit() == d  # committing twice is harmless
    with pytest.raises(ValueError):
        w.write(b"more")


def test_writer_not_committed_is_dropped(store):
    with store.writer() as w:
        w.write(b"half a blob")
        assert os.path.exists(w.temp_path)
    assert not os.path.exists(w.temp_path)
    assert os.listdir(store.blobs_dir) == []


def test_writer_exception_is_dropped(store):
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"half")
        raise RuntimeError("unpack failed")
    assert os.listdir(store.ingest_dir) == []
    assert os.listdir(store.blobs_dir) == []


def test_writer_bad_commit_is_dropped(store):
    with pytest.raises(CorruptData), store.writer(expected_digest=sha(b"a")) as w:
        w.write(b"b")
        w.commit()
    assert os.listdir(store.ingest_dir) == []
    assert os.listdir(store.blobs_dir) == []


def test_existing_blob_kept(store):
    d = store.put(b"same bytes")
    ino = os.stat(store.path(d)).st_ino
    assert store.put(b"same bytes") == d
    assert os.stat(store.path(d)).st_ino == ino  # the temp was dropped, not renamed over
    assert os.listdir(store.ingest_dir) == []


def test_damaged_blob_replaced_by_good_write(store):
    d = store.put(b"good bytes")
    with open(store.path(d), "wb") as f:
        f.write(b"bad  bytes")
    with pytest.raises(CorruptData, match=f"expected {d}"):
        store.verify(d)
    store.put(b"good bytes")
    store.verify(d)
    assert store.read(d) == b"good bytes"


def test_delete_and_walk(store):
    datas = [b"one", b"two", b"three"]
    digests = [store.put(x) for x in datas]
    # junk in the directory is not a blob
    open(os.path.join(store.blobs_dir, "not-a-digest"), "w").close()
    assert sorted(store.walk()) == sorted((sha(x), len(x)) for x in datas)
    store.delete(digests[1])
    assert not store.exists(digests[1])
    assert sorted(d for d, _ in store.walk()) == sorted([digests[0], digests[2]])


def test_clean_ingest_removes_only_stale(store):
    stale = os.path.join(store.ingest_dir, "stale")
    fresh = os.path.join(store.ingest_dir, "fresh")
    with open(stale, "wb") as f:
        f.write(b"x" * 100)
    with open(fresh, "wb") as f:
        f.write(b"y" * 50)
    old = time.time() - 3601
    os.utime(stale, (old, old))
    assert store.clean_ingest() == 100
    assert os.listdir(store.ingest_dir) == ["fresh"]


# --- concurrency -------------------------------------------------------------------------
SHARED = b"shared blob " * 50_000  # ~600 KB: big enough that writes overlap


def _writer(root: str, n: int, barrier) -> None:
    store = BlobStore(root)
    barrier.wait()
    for i in range(5):
        store.put(SHARED, expected=sha(SHARED))
        store.ingest(io.BytesIO(SHARED))
        store.put(f"own {n} {i}".encode() * 1000)


def test_concurrent_writers(tmp_path):
    root = str(tmp_path / "blobs")
    ctx = multiprocessing.get_context("fork")
    nproc = 6
    barrier = ctx.Barrier(nproc)
    procs = [ctx.Process(target=_writer, args=(root, n, barrier)) for n in range(nproc)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = BlobStore(root)
    expected = {sha(SHARED)} | {
        sha(f"own {n} {i}".encode() * 1000) for n in range(nproc) for i in range(5)
    }
    assert {d for d, _ in store.walk()} == expected
    for d in expected:
        store.verify(d)
    assert os.listdir(store.ingest_dir) == []
