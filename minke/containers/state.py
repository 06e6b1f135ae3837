"""The container lifecycle as an explicit state machine (Docker's statuses).

::

    created ──start──> running ──exit──> exited ──start──> running
                          │  └─exit, policy says restart──> restarting ──> running
                          └─pause──> paused ──unpause──> running
    any state ──rm──> removing ──> (row deleted);   a failed removal ──> dead

An illegal transition raises ``FailedPrecondition`` with the container and its state in
the message.  Docker's wording is kept where users match on it ("is not running").
"""

from __future__ import annotations

from minke.errors import Conflict, FailedPrecondition


class Status(str):
    """A container's status: one of the seven members below, each a ``str`` of its value
    (as a StrEnum's; ``Status("running") is Status.RUNNING``, ``.value``, ``.name``).
    Not an enum.StrEnum: enum imports functools and collections, ~6 ms of every short
    command (a ``run`` included) that reads a container."""

    __slots__ = ()
    CREATED: Status
    RUNNING: Status
    PAUSED: Status
    RESTARTING: Status
    REMOVING: Status
    EXITED: Status
    DEAD: Status
    _members: dict[str, Status]

    def __new__(cls, value: str) -> Status:
        try:
            return cls._members[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid Status") from None

    def __reduce__(self) -> tuple:
        return Status, (self.value,)

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper()

    def __repr__(self) -> str:
        return f"<Status.{self.name}: {self.value!r}>"

    def __str__(self) -> str:
        return self.value

    # --- guards ------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        """A monitor owns the container: it runs, is paused, or waits to restart."""
        return self in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.EXITED)

    def can_stop(self) -> bool:
        return self.is_active

    def can_kill(self) -> bool:
        return self in (Status.RUNNING, Status.RESTARTING)

    def can_pause(self) -> bool:
        return self is Status.RUNNING

    def can_unpause(self) -> bool:
        return self is Status.PAUSED

    def can_remove(self, force: bool = False) -> bool:
        return force or not self.is_active or self is Status.REMOVING

    # --- checked transitions -----------------------------------------------------------
    def check_start(self, cid: str) -> None:
        if self is Status.RUNNING:
            return  # Docker: starting a running container is a no-op
        if not self.can_start():
            raise FailedPrecondition(f"cannot start container {cid[:12]}: container is {self.value}")

    def check_kill(self, cid: str) -> None:
        if not self.can_kill():
            raise Conflict(f"cannot kill container: {cid[:12]}: container {cid} is not running")

    def check_pause(self, cid: str) -> None:
        if not self.can_pause():
            raise FailedPrecondition(f"container {cid} is not running" if not self.is_active else f"container {cid} is {self.value}")

    def check_remove(self, cid: str, force: bool) -> None:
        # REMOVING seen under the container's lock is a removal that crashed: retry it.
        if not self.can_remove(force):
            raise Conflict(
                f"cannot remove container \"{cid[:12]}\": container is {self.value}: "
                "stop the container before removing or force remove"
            )


Status._members = {}
for _value in ("created", "running", "paused", "restarting", "removing", "exited", "dead"):
    Status._members[_value] = str.__new__(Status, _value)
    setattr(Status, _value.upper(), Status._members[_value])
del _value
