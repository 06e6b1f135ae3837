"""Apply a layer into a snapshot's mounts without mounting them.

A bind mount is a full tree: apply natively into its source.  An overlay mount is applied
into its upperdir with overlay whiteouts (the lowerdirs are not needed for that).
"""

from __future__ import annotations

from typing import BinaryIO

from minke.errors import InvalidArgument
from minke.snapshots.base import Mount


def apply_to_mounts(stream: BinaryIO, mounts: list[Mount]) -> int:
    from minke.archive.apply import apply_layer

    if len(mounts) != 1:
        raise InvalidArgument(f"cannot apply a layer to {len(mounts)} mounts")
    (m,) = mounts
    if m.type == "bind":
        if "ro" in m.options:
            raise InvalidArgument(f"cannot apply a layer to read-only mount {m.source}")
        return apply_layer(stream, m.source, whiteouts="native")
    if m.type == "overlay":
        upper = m.option("upperdir")
        if not upper:
            raise InvalidArgument("cannot apply a layer to a read-only overlay")
        return apply_layer(stream, upper, whiteouts="overlay")
    raise InvalidArgument(f"cannot apply a layer to a {m.type} mount")
