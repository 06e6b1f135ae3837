"""Snapshotters: overlay (layers shared as lowerdirs) and native (copies).

``new_snapshotter(kind, root, db)`` picks one; "auto" takes overlay when the kernel and
the root's filesystem support it.  Implementations are imported lazily.
"""

from __future__ import annotations

from minke.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def new_snapshotter(kind: str, root: str, db: Any) -> Any:
    import os

    os.makedirs(root, mode=0o700, exist_ok=True)
    if kind == "auto":
        from minke.snapshots.overlay import overlay_supported

        kind = "overlay" if overlay_supported(root) else "native"
    if kind == "overlay":
        from minke.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(root, db)
    if kind == "native":
        from minke.snapshots.native import NativeSnapshotter

        return NativeSnapshotter(root, db)
    raise InvalidArgument(f"unknown snapshotter {kind!r}: use overlay, native or auto")
