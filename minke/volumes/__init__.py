"""Volumes: named and anonymous volumes under ROOT/volumes/NAME/_data, and the mount
flags of ``run`` (``-v``, ``--mount``, ``--tmpfs``).

- ``mounts``   flag strings -> ``MountSpec`` (pure), Docker's HostConfig.Mounts shape both
               ways, and ``MountSpec`` + resolved sources -> OCI spec mounts
- ``service``  VolumeService: create, ls, inspect, rm, prune, and ``prepare`` of a
               container's volume mounts (creating volumes, copying the image's content
               into an empty one on first use)
"""
