"""Containers: an image made into running processes.

- ``options``: Docker's flag values parsed and checked (sizes, env files, -v/--mount, ulimits,
  restart policies) into Docker's ``Config`` / ``HostConfig`` JSON.
- ``spec``: the OCI runtime spec from the image, Config and HostConfig, with Docker's
  defaults (a pure function).
- ``state``: the lifecycle state machine.
- ``records``: container rows in the metadata database.
- ``service``: ``ContainerService``, the lifecycle (create, start, stop, kill, rm, wait ...).
- ``monitor``: the small per-container process that is the container's parent.
- ``logs``: Docker's json-file log format, with rotation, read and written.
"""
