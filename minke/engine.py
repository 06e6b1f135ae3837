"""Engine: builds minke's services from a Config and wires them together.

This is the public Python API::

    from minke import Engine, Config
    engine = Engine(Config(root="/tmp/minke"))
    engine.images.list()

Only this module creates services and hands one to another; packages never reach for each
other's objects.  Services are built on first use so a command pays only for what it
touches.
"""

from __future__ import annotations

import os
from _thread import RLock

from minke.config import Config

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from typing import Any


class cached_property:  # noqa: N801 - named after the one it stands for
    """functools.cached_property (3.11's, with its lock: `minke serve` shares an Engine
    between threads), without functools' import: with collections and what that brings,
    ~4 ms of every short command."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__
        self.lock = RLock()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        cache = obj.__dict__
        with self.lock:
            if self.name not in cache:
                cache[self.name] = self.func(obj)
            return cache[self.name]


class Engine:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config.from_env()

    # --- storage -----------------------------------------------------------------------
    @cached_property
    def db(self) -> Any:
        from minke.store.db import Database

        os.makedirs(self.config.root, mode=0o700, exist_ok=True)
        return Database(self.config.db_path)

    @cached_property
    def blobs(self) -> Any:
        from minke.store.blobs import BlobStore

        return BlobStore(self.config.blobs_dir)

    @cached_property
    def snapshots(self) -> Any:
        from minke.snapshots import new_snapshotter

        return new_snapshotter(self.config.snapshotter, self.config.snapshots_dir, self.db)

    # --- services ----------------------------------------------------------------------
    @cached_property
    def images(self) -> Any:
        from minke.images.service import ImageService

        return ImageService(self.config, self.db, self.blobs, lambda: self.snapshots)

    @cached_property
    def registry(self) -> Any:
        from minke.registry.service import RegistryService

        return RegistryService(self.config, self.images, self.blobs, self.db)

    @cached_property
    def containers(self) -> Any:
        from minke.containers.service import ContainerService

        return ContainerService(self.config, self.db, lambda: self.images, self.snapshots,
                                networks=lambda: self.networks, volumes=lambda: self.volumes)

    @cached_property
    def networks(self) -> Any:
        from minke.network.service import NetworkService

        return NetworkService(_with_default_bridge(self.config), self.db)

    @cached_property
    def volumes(self) -> Any:
        from minke.volumes.service import VolumeService

        return VolumeService(self.config, self.db)

    # --- maintenance -------------------------------------------------------------------
    def gc(self) -> dict[str, int]:
        """Remove blobs and snapshots nothing references; return what was reclaimed."""
        from minke.store.gc import collect

        return collect(self.db, self.blobs, self.snapshots)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()


def _with_default_bridge(config: Config) -> Config:
    """A store with its own root (tests, a second engine) gets its own default bridge
    name: the kernel's link names are shared by every store, and two stores on one
    ``minke0`` would add their subnets to one link and delete it under each other."""
    from minke.config import DEFAULT_ROOT
    from minke.record import replace
    from minke.sha256 import hexdigest  # not hashlib: OpenSSL's load is ~5 ms

    if config.root == DEFAULT_ROOT or "default_bridge" in (config.extra or {}):
        return config
    tag = hexdigest(os.path.abspath(config.root).encode())[:9]
    return replace(config, extra={**(config.extra or {}), "default_bridge": f"mkb{tag}"})

