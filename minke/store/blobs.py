"""BlobStore: content-addressed files, written atomically and verified.

Layout under ``root``::

    sha256/<hex>              one file per blob, named by the sha256 of its bytes
    ingest/<name>.<pid>.<rnd> temp files being written

Writing a blob (``put``, ``ingest``, ``writer``) always goes the same way:

1. stream into a new temp file in ``ingest/`` (same filesystem as ``sha256/``, so the
   final rename is atomic), hashing and counting as the bytes go by;
2. ``fsync`` the temp file, so the rename below can never publish a file whose data is
   still only in the page cache (ext4/xfs may otherwise show a zero-length file after a
   crash: the rename reaches the journal before the data);
3. check the size and digest against what the caller expected: a mismatch raises
   ``CorruptData("... expected sha256:... got sha256:...")`` and removes the temp;
4. if ``sha256/<hex>`` already holds the right bytes (another writer won the race, or the
   blob was there before) drop the temp; otherwise ``rename`` it into place;
5. ``fsync`` ``sha256/`` so the new directory entry itself survives a crash.

On any error or interruption (including KeyboardInterrupt) the temp file is removed and
``sha256/`` is untouched.  Two processes writing the same blob at once are safe: each
writes its own temp and the renames replace identical content atomically.  A process
killed with SIGKILL can leave a temp behind; ``clean_ingest()`` (called by GC) removes
temps older than an hour.

Only sha256 is stored (the digest Docker and OCI registries use for content); other
algorithms raise ``Unsupported``.  ``delete`` of a missing blob raises ``NotFound`` like
``open`` does.  Files are 0644 inside a store root the Engine creates 0700.
"""

from __future__ import annotations

import os
import time

from minke.errors import CorruptData, InvalidArgument, NotFound, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from collections.abc import Iterator
    from typing import BinaryIO

ALGORITHM = "sha256"
_HEX = frozenset("0123456789abcdef")
_CHUNK = 1 << 20
# Temp files older than this are left over from a killed writer (a live writer keeps
# writing, which keeps the mtime fresh; a one-hour pause mid-blob is not a live writer).
STALE_INGEST_SECONDS = 3600.0


def _check_digest(digest: str) -> str:
    """Return the hex part of a ``sha256:<hex>`` digest, or raise naming what is wrong."""
    if not isinstance(digest, str):
        raise InvalidArgument(f"invalid digest {digest!r}: not a string")
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not algorithm or not hexpart:
        raise InvalidArgument(f"invalid digest {digest!r}: bad format")
    if algorithm != ALGORITHM:
        raise Unsupported(
            f"unsupported digest algorithm {algorithm!r} in {digest}: the blob store keeps sha256 only"
        )
    if len(hexpart) != 64 or not _HEX.issuperset(hexpart):
        raise InvalidArgument(
            f"invalid digest {digest!r}: want sha256 and 64 lowercase hex characters"
        )
    return hexpart


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class BlobWriter:
    """A blob being written: ``write()`` bytes, then ``commit()`` (or nothing: dropped).

    Made by ``BlobStore.writer()`` and ``BlobStore.ingest()``.  ``digest`` and ``size``
    describe what has been written so far.  After ``commit()`` or ``abort()`` the writer
    is closed and further writes raise ValueError.
    """

    def __init__(
        self, store: BlobStore, expected_digest: str | None, expected_size: int | None
    ) -> None:
        if expected_digest is not None:
            _check_digest(expected_digest)
        if expected_size is not None and expected_size < 0:
            raise InvalidArgument(f"invalid blob size {expected_size}: negative")
        self._store = store
        self.expected_digest = expected_digest
        self.expected_size = expected_size
        import hashlib  # here: a command that only reads blobs does without OpenSSL's load

        self._hash = hashlib.sha256()
        self.size = 0
        self.committed: str | None = None
        # The temp name says which blob it is meant to be, to help whoever finds a stale one.
        label = expected_digest.partition(":")[2][:16] if expected_digest else "unknown"
        self.temp_path = os.path.join(
            store.ingest_dir, f"{label}.{os.getpid()}.{os.urandom(6).hex()}"
        )
        self._file: BinaryIO | None = open(
            os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644),
            "wb",
            buffering=0,
        )

    @property
    def digest(self) -> str:
        """The ``sha256:`` digest of the bytes written so far."""
        return f"{ALGORITHM}:{self._hash.hexdigest()}"

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        f = self._file
        if f is None:
            raise ValueError("write to a closed blob writer")
        try:
            view = memoryview(data)
            # A raw (unbuffered) file may write less than asked; loop until it is all down.
            done = 0
            total = view.nbytes
            view = view.cast("B")
            while done < total:
                n = f.write(view[done:])
                if not n:
                    raise OSError(f"short write to {self.temp_path}")
                done += n
        except BaseException:
            self.abort()
            raise
        self._hash.update(view)
        self.size += total
        if self.expected_size is not None and self.size > self.expected_size:
            # Fail as soon as it is known: a too-long stream may be endless.
            self.abort()
            raise CorruptData(
                f"blob size mismatch: expected {self.expected_size} bytes got more than that"
                + (f" for {self.expected_digest}" if self.expected_digest else "")
            )
        return total

    def commit(self) -> str:
        """Verify what was written and publish it as ``sha256/<hex>``; return the digest."""
        f = self._file
        if f is None:
            if self.committed is not None:
                return self.committed
            raise ValueError("commit of an aborted blob writer")
        try:
            os.fsync(f.fileno())
            f.close()
            self._file = None
            digest = self.digest
            if self.expected_size is not None and self.size != self.expected_size:
                raise CorruptData(
                    f"blob size mismatch: expected {self.expected_size} bytes got {self.size}"
                    + (f" for {self.expected_digest}" if self.expected_digest else "")
                )
            if self.expected_digest is not None and digest != self.expected_digest:
                raise CorruptData(
                    f"blob digest mismatch: expected {self.expected_digest} got {digest}"
                )
            self._store._publish(self.temp_path, digest, self.size)
        except BaseException:
            self.abort()
            raise
        self.committed = digest
        return digest

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.committed is None:
            self.abort()

    def abort(self) -> None:
        """Drop what was written.  Safe to call more than once and after a failed commit."""
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        if self.committed is None:
            _unlink_quiet(self.temp_path)


class BlobStore:
    """Blobs under ``root``; see the module docstring for the layout and write protocol."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs_dir = os.path.join(root, ALGORITHM)
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blobs_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.ingest_dir, mode=0o700, exist_ok=True)

    # --- reading -----------------------------------------------------------------------
    def path(self, digest: str) -> str:
        return os.path.join(self.blobs_dir, _check_digest(digest))

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def walk(self) -> Iterator[tuple[str, int]]:
        """Every stored blob as ``(digest, size)``, in no particular order."""
        try:
            entries = os.scandir(self.blobs_dir)
        except FileNotFoundError:
            return
        with entries:
            for entry in entries:
                name = entry.name
                if len(name) != 64 or not _HEX.issuperset(name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walked
                yield f"{ALGORITHM}:{name}", st.st_size

    def verify(self, digest: str) -> None:
        """Re-hash a stored blob; raise CorruptData if its bytes no longer match its name."""
        actual = self._hash_file(self.path(digest), digest)
        if actual != digest:
            raise CorruptData(f"blob digest mismatch: expected {digest} got {actual}")

    # --- writing -----------------------------------------------------------------------
    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store ``data``; return its digest.  ``expected`` is checked before anything lands."""
        with self.writer(expected_digest=expected, expected_size=None) as w:
            w.write(data)
            return w.commit()

    def ingest(
        self,
        stream: BinaryIO,
        expected_digest: str | None = None,
        expected_size: int | None = None,
    ) -> tuple[str, int]:
        """Copy ``stream`` to its end into the store; return ``(digest, size)``."""
        with self.writer(expected_digest=expected_digest, expected_size=expected_size) as w:
            readinto = getattr(stream, "readinto", None)
            if readinto is not None:
                buf = bytearray(_CHUNK)
                view = memoryview(buf)
                while True:
                    n = readinto(buf)
                    if not n:
                        break
                    w.write(view[:n])
            else:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    w.write(chunk)
            return w.commit(), w.size

    def writer(self, expected_digest: str | None = None, expected_size: int | None = None) -> BlobWriter:
        """A ``BlobWriter`` for a ``with`` block: leaving it without ``commit()`` removes
        the temp."""
        return BlobWriter(self, expected_digest, expected_size)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def clean_ingest(self, older_than: float = STALE_INGEST_SECONDS) -> int:
        """Remove temp files not modified for ``older_than`` seconds; return bytes freed."""
        cutoff = time.time() - older_than
        freed = 0
        try:
            entries = os.scandir(self.ingest_dir)
        except FileNotFoundError:
            return 0
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                    if st.st_mtime < cutoff:
                        os.unlink(entry.path)
                        freed += st.st_size
                except FileNotFoundError:
                    continue  # its writer finished or another cleaner got it
        return freed

    # --- internals ---------------------------------------------------------------------
    def _publish(self, temp_path: str, digest: str, size: int) -> None:
        final = os.path.join(self.blobs_dir, digest.partition(":")[2])
        if self._holds(final, digest, size):
            os.unlink(temp_path)
            return
        # rename(2) replaces atomically: a reader sees the old file or the new one, never a
        # partial one, and concurrent writers of the same digest rename identical bytes.
        os.rename(temp_path, final)
        _fsync_dir(self.blobs_dir)

    def _holds(self, final: str, digest: str, size: int) -> bool:
        """True if ``final`` exists with exactly the blob's bytes (a damaged one is replaced)."""
        try:
            st = os.stat(final)
        except FileNotFoundError:
            return False
        if st.st_size != size:
            return False
        try:
            return self._hash_file(final, digest) == digest
        except NotFound:
            return False

    @staticmethod
    def _hash_file(path: str, digest: str) -> str:
        import hashlib

        h = hashlib.sha256()
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None
        with f:
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while n := f.readinto(buf):
                h.update(view[:n])
        return f"{ALGORITHM}:{h.hexdigest()}"
