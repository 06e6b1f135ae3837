"""Paths and defaults.  A Config is made once by the caller and passed in, never global.

Every path can be moved: ``--root`` / ``MINKE_ROOT``, ``--run-root`` / ``MINKE_RUN_ROOT``,
so tests use private roots.
"""

from __future__ import annotations

import os

from minke.record import factory, record

DEFAULT_ROOT = "/var/lib/minke"
DEFAULT_RUN_ROOT = "/run/minke"
DEFAULT_CONFIG_DIR = "/etc/minke"


@record  # a frozen value class without dataclasses' import (minke.record)
class Config:
    root: str = DEFAULT_ROOT
    run_root: str = DEFAULT_RUN_ROOT
    config_dir: str = DEFAULT_CONFIG_DIR
    log_level: str = "warning"
    snapshotter: str = "auto"  # "overlay", "native" or "auto" (overlay when the kernel has it)
    runtime: str = "minke"  # "minke" (built in), "runc", "crun" or a path
    cgroup_parent: str = "minke"
    extra: dict[str, str] = factory(dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: str | None) -> Config:
        """Build a Config from MINKE_* environment variables, then explicit overrides."""
        env = dict(os.environ) if env is None else env
        values: dict[str, str] = {}
        for key, var in (
            ("root", "MINKE_ROOT"),
            ("run_root", "MINKE_RUN_ROOT"),
            ("config_dir", "MINKE_CONFIG_DIR"),
            ("log_level", "MINKE_LOG_LEVEL"),
            ("snapshotter", "MINKE_SNAPSHOTTER"),
            ("runtime", "MINKE_RUNTIME"),
        ):
            if env.get(var):
                values[key] = env[var]
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        # Absolute: the paths go to processes that run elsewhere (the monitor in "/",
        # the container's runtime, hooks) and into the store's records.
        for key in ("root", "run_root", "config_dir"):
            if key in values:
                values[key] = os.path.abspath(values[key])
        return cls(**values)

    # Derived paths: one place decides the layout of the root.
    @property
    def blobs_dir(self) -> str:
        return os.path.join(self.root, "blobs")

    @property
    def db_path(self) -> str:
        return os.path.join(self.root, "minke.db")

    @property
    def snapshots_dir(self) -> str:
        return os.path.join(self.root, "snapshots")

    @property
    def containers_dir(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def runtime_state_dir(self) -> str:
        return os.path.join(self.run_root, "runtime")
