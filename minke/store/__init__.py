"""The store: blobs by digest, the SQLite metadata database, locks, leases and GC.

- ``minke.store.blobs``   ``BlobStore``: content-addressed files, written atomically and
  verified (temp file, fsync, digest check, rename, directory fsync).
- ``minke.store.db``      ``Database``: SQLite in WAL mode, migrations from
  ``minke.store.schema``, nestable ``transaction()``.
- ``minke.store.locks``   ``FileLock``: flock-based, exclusive or shared, optional timeout.
- ``minke.store.leases``  ``lease()``: protect blobs and snapshots an operation is still
  writing from garbage collection.
- ``minke.store.gc``      ``collect()``: remove blobs and snapshots nothing references.

Nothing is imported here so that ``import minke.store.db`` stays as light as sqlite3.
"""
