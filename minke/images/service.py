"""ImageService: the images a store holds and everything a user does with them.

Built by :class:`minke.engine.Engine` as ``ImageService(config, db, blobs, snapshots)``
(``snapshots`` may be a function that returns the snapshotter, made on first use).
Public methods (the CLI and the API server call these)::

    get(ref) -> Image                 resolve a name, ID, ID prefix or name@digest
    list(all=False, filters=None)     Images, newest first (filters: dangling, reference,
                                      label, before, since)
    summaries(all=False, filters=None) the same as Docker's ImageSummary dicts
    image_config(image_id) -> dict    the parsed config blob
    tag(source, target)
    remove(ref, force=False)          [{"Untagged": ...}, {"Deleted": ...}] like Docker
    inspect(ref) -> dict              Docker's image inspect JSON
    history(ref) -> list[dict]        Docker's history items, newest first
    prune(all=False, filters=None)    {"ImagesDeleted": [...], "SpaceReclaimed": n}
    save(refs, out, format)           docker-archive (Docker 25 layout) or oci-archive
    load(stream | path) -> list[str]  the "Loaded image: ..." lines
    import_(stream, ref, changes, message) -> image ID
    store_image(...)                  record an image whose blobs are in the store

The name ``hello-whale`` (any normalised form, tag latest) is built in: resolving it when
it is missing builds and stores it, the way ``docker run hello-world`` pulls.

Containers: an image is "in use" when a row of the ``containers`` table (migration 2) names
it in ``image_id``.  ``in_use`` may be passed in to replace that lookup; while no
containers table exists nothing is in use.  ``rmi -f`` of an image a stopped container
uses removes its tags but keeps the image (dangling) so the container still has its
config and layers; a running container's image cannot be removed even with ``-f``.
"""

from __future__ import annotations

import time

from minke.errors import Conflict, InvalidArgument, InvalidReference, MinkeError, NotFound
from minke.images import resolve as _resolve
from minke.images.model import (
    Image,
    familiar_digested,
    familiar_tagged,
    load_json,
    split_digested,
    split_tagged,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from collections.abc import Callable, Iterable
    from typing import Any, BinaryIO


class ImageService:
    def __init__(
        self,
        config: Any,
        db: Any,
        blobs: Any,
        snapshots: Any,
        in_use: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.blobs = blobs
        self._snapshots = snapshots
        self._in_use_hook = in_use

    @property
    def snapshots(self) -> Any:
        # A function (the engine's) until first use: most image commands, and a cached
        # build, never touch a snapshot, and the snapshotter's import and set-up cost.
        s = self._snapshots
        if callable(s) and not hasattr(s, "prepare"):
            s = self._snapshots = s()
        return s

    # --- reading the tables ------------------------------------------------------------
    def _images(self, ids: Iterable[str] | None = None) -> list[Image]:
        if ids is None:
            rows = self.db.query("SELECT * FROM images")
            tag_rows = self.db.query("SELECT name, image_id FROM tags ORDER BY name")
            dig_rows = self.db.query("SELECT name, image_id FROM repo_digests ORDER BY name")
        else:
            ids = list(ids)
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            rows = self.db.query(f"SELECT * FROM images WHERE id IN ({marks})", ids)
            tag_rows = self.db.query(
                f"SELECT name, image_id FROM tags WHERE image_id IN ({marks}) ORDER BY name", ids
            )
            dig_rows = self.db.query(
                f"SELECT name, image_id FROM repo_digests WHERE image_id IN ({marks}) ORDER BY name",
                ids,
            )
        tags: dict[str, list[str]] = {}
        for r in tag_rows:
            tags.setdefault(r["image_id"], []).append(r["name"])
        digs: dict[str, list[str]] = {}
        for r in dig_rows:
            digs.setdefault(r["image_id"], []).append(r["name"])
        out = [
            Image(
                id=r["id"],
                manifest_digest=r["manifest_digest"],
                manifest_media_type=r["manifest_media_type"],
                created=r["created"],
                added_at=r["added_at"],
                size=r["size"],
                chain_id=r["chain_id"],
                tags=tuple(tags.get(r["id"], ())),
                repo_digests=tuple(digs.get(r["id"], ())),
            )
            for r in rows
        ]
        out.sort(key=lambda i: (-i.created_ts, -i.added_at, i.id))
        return out

    def _image(self, image_id: str) -> Image:
        found = self._images([image_id])
        if not found:
            raise NotFound(f"No such image: {image_id}")
        return found[0]

    def get(self, ref: str, *, builtin: bool = True) -> Image:
        """Resolve ``ref`` (name, ID, ID prefix, name@digest) to an Image.

        With ``builtin`` a missing ``hello-whale`` is built and stored first."""
        q = _resolve.parse_query(ref)
        image_id = _resolve.lookup_id(self.db, q)
        if image_id is None and builtin and q.is_hello_whale:
            from minke.images.hello_whale import ensure_hello_whale

            image_id = ensure_hello_whale(self)
        if image_id is None and q.id is None:
            image_id = _resolve.lookup_prefix(self.db, ref)
        if image_id is None:
            raise q.not_found
        return self._image(image_id)

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref, builtin=False)
        except NotFound:
            return False
        return True

    def image_config(self, image_id: str) -> dict[str, Any]:
        """The image's config blob, parsed."""
        doc = load_json(self.blobs.read(image_id), f"config {image_id}")
        if not isinstance(doc, dict):
            raise InvalidArgument(f"config {image_id} is not a json object")
        return doc

    def manifest(self, image: Image) -> dict[str, Any]:
        doc = load_json(self.blobs.read(image.manifest_digest), f"manifest {image.manifest_digest}")
        if not isinstance(doc, dict):
            raise InvalidArgument(f"manifest {image.manifest_digest} is not a json object")
        return doc

    # --- containers ----------------------------------------------------------------------
    def _user_of(self, image_id: str) -> tuple[str, bool] | None:
        """(container id, running) of a container using the image, or None."""
        if self._in_use_hook is not None:
            return ("", False) if self._in_use_hook(image_id) else None
        has_table = self.db.query_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'"
        )
        if not has_table:
            return None
        rows = self.db.query("SELECT * FROM containers WHERE image_id = ?", (image_id,))
        if not rows:
            return None
        for r in rows:
            status = r["status"] if "status" in r.keys() else ""
            if status in ("running", "paused", "restarting"):
                return r["id"], True
        return rows[0]["id"], False

    def in_use(self, image_id: str) -> bool:
        """True when a container uses the image."""
        return self._user_of(image_id) is not None

    # --- listing ---------------------------------------------------------------------------
    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Image]:
        """Images newest first; tags/digests narrowed to the ``reference`` filter's matches."""
        from minke.images.filters import apply_filters

        return apply_filters(self, self._images(), all=all, filters=filters or {})

    def summaries(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """Docker's ImageSummary objects (``GET /images/json``)."""
        out = []
        for img in self.list(all=all, filters=filters):
            try:
                labels = (self.image_config(img.id).get("config") or {}).get("Labels")
            except (MinkeError, OSError):
                labels = None
            out.append(
                {
                    "Containers": -1,
                    "Created": int(img.created_ts),
                    "Id": img.id,
                    "Labels": labels or {},
                    "ParentId": "",
                    "RepoDigests": [familiar_digested(d) for d in img.repo_digests],
                    "RepoTags": [familiar_tagged(t) for t in img.tags],
                    "SharedSize": -1,
                    "Size": img.size,
                }
            )
        return out

    # --- tagging ---------------------------------------------------------------------------
    def tag(self, source: str, target: str, *, touch: bool = True) -> None:
        """Point the tag ``target`` at the image ``source`` names.  With ``touch=False`` a
        tag that names that image already is left as it is (no write; its LastTagTime
        stays): a cached rebuild's tags."""
        from minke.oci.reference import parse_reference

        ref = parse_reference(target, default_tag=False)
        if ref.digest:
            raise InvalidReference("refusing to create a tag with a digest reference")
        ref = ref.docker_ref()
        image = self.get(source)
        name = f"{ref.name}:{ref.tag}"
        row = None if touch else self.db.query_one("SELECT image_id FROM tags WHERE name = ?", (name,))
        if row is None or row["image_id"] != image.id:
            with self.db.transaction():
                self._set_tag(name, image.id, time.time())
        self.event("tag", image.id, ref.familiar())

    def _set_tag(self, name: str, image_id: str, tagged_at: float | None) -> str | None:
        """Set a tag (inside a transaction); return the image ID it pointed at before."""
        old = self.db.query_one("SELECT image_id FROM tags WHERE name = ?", (name,))
        self.db.execute(
            "INSERT INTO tags (name, image_id, tagged_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
            (name, image_id, tagged_at),
        )
        return old["image_id"] if old and old["image_id"] != image_id else None

    # --- storing ---------------------------------------------------------------------------
    def store_image(
        self,
        *,
        config_bytes: bytes,
        manifest_bytes: bytes,
        manifest_media_type: str,
        layers: list[tuple[str, str, str, int]],
        chain_id: str | None,
        size: int,
        tags: Iterable[str] = (),
        repo_digests: Iterable[str] = (),
        tagged_at: float | None = None,
    ) -> tuple[str, list[tuple[str, str]]]:
        """Record an image whose config, manifest and layer blobs are stored and whose
        layers are unpacked (the caller holds a lease on them until this returns).

        ``layers`` are (diff_id, blob_digest, media_type, blob size).  One transaction:
        the image row, its layers rows, tags and repo digests.  Returns (image ID, [(tag,
        ID it was moved from)]).
        """
        from minke.images.model import sha256_of

        image_id = sha256_of(config_bytes)
        manifest_digest = sha256_of(manifest_bytes)
        config = load_json(config_bytes, f"config {image_id}")
        created = config.get("created") if isinstance(config, dict) else None
        if not isinstance(created, str):
            created = None
        moved: list[tuple[str, str]] = []
        with self.db.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, created, "
                "added_at, size, chain_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (image_id, manifest_digest, manifest_media_type, created, time.time(), size, chain_id),
            )
            for diff_id, blob_digest, media_type, blob_size in layers:
                self.db.execute(
                    "INSERT OR IGNORE INTO layers (diff_id, blob_digest, media_type, size) "
                    "VALUES (?, ?, ?, ?)",
                    (diff_id, blob_digest, media_type, blob_size),
                )
            for name in tags:
                old = self._set_tag(name, image_id, tagged_at)
                if old:
                    moved.append((name, old))
            for name in repo_digests:
                self.add_repo_digest(name, image_id)
        return image_id, moved

    def add_repo_digest(self, name: str, image_id: str) -> None:
        """Record ``name@sha256:...`` (a digest the image has in a registry) for the image;
        a digest recorded for another image moves to this one."""
        with self.db.transaction():
            self.db.execute("INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?, ?)", (name, image_id))

    # --- removing --------------------------------------------------------------------------
    def event(self, action: str, image_id: str, name: str) -> None:
        """Record an image event (``minke events``): Actor ID the image's, ``name`` its
        reference as given (Docker's)."""
        from minke import events

        events.record(self.config.root, "image", action, image_id, {"name": name})

    def remove(self, ref: str, force: bool = False) -> list[dict[str, str]]:
        """Docker's ImageDelete: untag, and delete the image when no reference is left."""
        image_id = self.get(ref, builtin=False).id
        records = self._remove(ref, force)
        for r in records:
            if "Untagged" in r:
                self.event("untag", image_id, r["Untagged"])
            elif "Deleted" in r:
                self.event("delete", image_id, image_id)
        return records

    def _remove(self, ref: str, force: bool = False) -> list[dict[str, str]]:
        from minke.oci.reference import parse_reference

        image = self.get(ref, builtin=False)
        short = image.short_id
        records: list[dict[str, str]] = []
        user = self._user_of(image.id)
        refs = list(image.tags) + list(image.repo_digests)
        with self.db.transaction():
            if not _resolve.is_id_prefix(image.id, ref):
                parsed = parse_reference(ref).docker_ref()
                if len(refs) == 1 and user is not None and not force:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) - '
                        f"container {user[0][:12]} is using its referenced image {short}"
                    )
                if parsed.digest:
                    name = f"{parsed.name}@{parsed.digest}"
                    self.db.execute("DELETE FROM repo_digests WHERE name = ?", (name,))
                    records.append({"Untagged": familiar_digested(name)})
                else:
                    name = f"{parsed.name}:{parsed.tag}"
                    self.db.execute("DELETE FROM tags WHERE name = ?", (name,))
                    records.append({"Untagged": familiar_tagged(name)})
                    # No tag of that repository left: its digest references go too.
                    if not any(split_tagged(t)[0] == parsed.name for t in image.tags if t != name):
                        for d in image.repo_digests:
                            if split_digested(d)[0] == parsed.name:
                                self.db.execute("DELETE FROM repo_digests WHERE name = ?", (d,))
                                records.append({"Untagged": familiar_digested(d)})
                left = self.db.query_one(
                    "SELECT (SELECT count(*) FROM tags WHERE image_id = ?) + "
                    "(SELECT count(*) FROM repo_digests WHERE image_id = ?) AS n",
                    (image.id, image.id),
                )
                if left["n"] > 0 or (user is not None):
                    return records
            else:
                repos = {split_tagged(t)[0] for t in image.tags} | {
                    split_digested(d)[0] for d in image.repo_digests
                }
                single = len(image.tags) <= 1 and len(repos) <= 1
                if user is not None and user[1]:
                    raise Conflict(
                        f"conflict: unable to delete {short} (cannot be forced) - "
                        f"image is being used by running container {user[0][:12]}"
                    )
                if user is not None and not force:
                    raise Conflict(
                        f"conflict: unable to delete {short} (must be forced) - "
                        f"image is being used by stopped container {user[0][:12]}"
                    )
                if not single and not force:
                    raise Conflict(
                        f"conflict: unable to delete {short} (must be forced) - "
                        "image is referenced in multiple repositories"
                    )
                for t in image.tags:
                    self.db.execute("DELETE FROM tags WHERE name = ?", (t,))
                    records.append({"Untagged": familiar_tagged(t)})
                for d in image.repo_digests:
                    self.db.execute("DELETE FROM repo_digests WHERE name = ?", (d,))
                    records.append({"Untagged": familiar_digested(d)})
                if user is not None:
                    return records
            self.db.execute("DELETE FROM images WHERE id = ?", (image.id,))
            records.append({"Deleted": image.id})
        self.collect_garbage()
        return records

    def collect_garbage(self) -> dict[str, int]:
        from minke.store.gc import collect

        return collect(self.db, self.blobs, self.snapshots)

    def prune(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Remove dangling images (with ``all``: every image no container uses)."""
        from minke.images.filters import prune_candidates

        deleted: list[dict[str, str]] = []
        for image in prune_candidates(self, all=all, filters=filters or {}):
            with self.db.transaction():
                for t in image.tags:
                    self.db.execute("DELETE FROM tags WHERE name = ?", (t,))
                    deleted.append({"Untagged": familiar_tagged(t)})
                for d in image.repo_digests:
                    self.db.execute("DELETE FROM repo_digests WHERE name = ?", (d,))
                    deleted.append({"Untagged": familiar_digested(d)})
                self.db.execute("DELETE FROM images WHERE id = ?", (image.id,))
                deleted.append({"Deleted": image.id})
        reclaimed = 0
        if deleted:
            reclaimed = int(self.collect_garbage().get("SpaceReclaimed", 0))
        return {"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed}

    # --- inspect / history -------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        from minke.images.inspect import inspect_image

        return inspect_image(self, self.get(ref))

    def history(self, ref: str) -> list[dict[str, Any]]:
        from minke.images.inspect import image_history

        return image_history(self, self.get(ref))

    # --- archives --------------------------------------------------------------------------
    def save(self, refs: list[str], out: BinaryIO, format: str = "docker-archive") -> None:
        from minke.images.archive_formats import save

        save(self, refs, out, format)
        for r in refs:
            self.event("save", self.get(r).id, r)

    def load(self, source: BinaryIO | str) -> list[str]:
        """Load a docker-archive / OCI archive (stream, maybe compressed) or an OCI layout
        directory (path).  Returns Docker's "Loaded image: ..." lines."""
        from minke.images.archive_formats import load

        lines = load(self, source)
        for line in lines:
            name = line.split(": ", 1)[-1].strip()
            try:
                self.event("load", self.get(name).id, name)
            except MinkeError:
                pass  # an image the same load replaced meanwhile
        return lines

    def import_(
        self,
        stream: BinaryIO,
        ref: str | None = None,
        changes: Iterable[str] = (),
        message: str = "",
        source: str = "-",
    ) -> str:
        from minke.images.importer import import_rootfs

        image_id = import_rootfs(self, stream, ref=ref, changes=list(changes), message=message, source=source)
        self.event("import", image_id, image_id)
        return image_id

    # --- helpers for other modules ------------------------------------------------------
    def normalise_tag(self, text: str) -> str:
        """"busybox" -> "docker.io/library/busybox:latest"; refuses digests."""
        from minke.oci.reference import parse_reference

        ref = parse_reference(text, default_tag=False)
        if ref.digest:
            raise InvalidReference("refusing to create a tag with a digest reference")
        ref = ref.docker_ref()
        return f"{ref.name}:{ref.tag}"


__all__ = ["ImageService", "Image"]
