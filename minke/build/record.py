"""The build package's value classes: ``minke.record`` (kept under this name for its
users)."""

from minke.record import FrozenRecordError, factory, record, replace

__all__ = ["FrozenRecordError", "factory", "record", "replace"]
