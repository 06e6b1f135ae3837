"""Value classes without dataclasses, for the modules a short command imports.

``@dataclass`` compiles __init__, __repr__, __eq__, __hash__, __setattr__ and __delattr__
with ``exec`` for every class (here ~1.5 ms a frozen class), and importing dataclasses
imports inspect, ast, dis and tokenize (~9 ms).  A cached ``minke build`` goes through a
dozen such classes (the build's, Config, Image, Query, Reference).  ``@record`` gives the
same behaviour (fields from the annotations in order, defaults, ``factory(dict)`` for a
fresh mutable default, ``factory(dict, compare=False)`` for one left out of eq and hash,
keyword or positional construction, field-wise eq/hash/repr, immutability when frozen;
``replace`` for ``dataclasses.replace``) with shared generic functions, built once at
import.  Records are not dataclasses: ``dataclasses.fields``/``asdict`` do not take them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")


class FrozenRecordError(AttributeError):
    """Assigning to a field of a frozen record (dataclasses' FrozenInstanceError)."""


class _Factory:
    __slots__ = ("make", "compare")

    def __init__(self, make: Callable[[], Any], compare: bool) -> None:
        self.make = make
        self.compare = compare


def factory(make: Callable[[], Any], *, compare: bool = True) -> Any:
    """A default built afresh for every instance (``field(default_factory=make)``);
    ``compare=False`` leaves the field out of eq and hash, as dataclasses' field does."""
    return _Factory(make, compare)


_MISSING = object()


def _values(self: Any) -> tuple[Any, ...]:
    d = self.__dict__
    return tuple(d[n] for n in self.__record_compare__)


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    d = self.__dict__
    inner = ", ".join(f"{n}={d[n]!r}" for n in self.__record_fields__)
    return f"{self.__class__.__qualname__}({inner})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


def record(cls: type[T] | None = None, *, frozen: bool = True) -> Any:
    """Class decorator: ``@record`` (frozen, hashable) or ``@record(frozen=False)``."""

    def wrap(klass: type[T]) -> type[T]:
        names = tuple(n for n in klass.__dict__.get("__annotations__", {}) if not n.startswith("__"))
        defaults: dict[str, Any] = {}
        for n in names:
            if n in klass.__dict__:
                defaults[n] = klass.__dict__[n]
                if isinstance(defaults[n], _Factory):
                    delattr(klass, n)  # leave no shared instance on the class
            elif defaults:
                raise TypeError(f"non-default field {n!r} follows a default one in {klass.__name__}")
        index = frozenset(names)
        compared = tuple(n for n in names
                         if not (isinstance(defaults.get(n), _Factory) and not defaults[n].compare))
        qual = klass.__qualname__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > len(names):
                raise TypeError(f"{qual}() takes {len(names)} positional arguments but {len(args)} were given")
            values = dict(zip(names, args, strict=False))
            for k, v in kwargs.items():
                if k not in index:
                    raise TypeError(f"{qual}() got an unexpected keyword argument {k!r}")
                if k in values:
                    raise TypeError(f"{qual}() got multiple values for argument {k!r}")
                values[k] = v
            if len(values) < len(names):
                for n in names:
                    if n not in values:
                        d = defaults.get(n, _MISSING)
                        if d is _MISSING:
                            raise TypeError(f"{qual}() missing required argument: {n!r}")
                        values[n] = d.make() if isinstance(d, _Factory) else d
            self.__dict__.update((n, values[n]) for n in names)

        klass.__init__ = __init__  # type: ignore[misc]
        klass.__record_fields__ = names  # type: ignore[attr-defined]
        klass.__record_compare__ = compared  # type: ignore[attr-defined]
        klass.__eq__ = _eq  # type: ignore[method-assign, assignment]
        klass.__repr__ = _repr  # type: ignore[method-assign, assignment]
        klass.__match_args__ = names  # type: ignore[attr-defined]
        if frozen:
            klass.__hash__ = _hash  # type: ignore[method-assign, assignment]
            klass.__setattr__ = _frozen_setattr  # type: ignore[method-assign, assignment]
            klass.__delattr__ = _frozen_delattr  # type: ignore[method-assign, assignment]
        else:
            klass.__hash__ = None  # type: ignore[assignment]  # mutable and compared by value
        return klass

    return wrap if cls is None else wrap(cls)


def replace(obj: T, **changes: Any) -> T:
    """A copy of a record with some fields changed (``dataclasses.replace``)."""
    values = {n: obj.__dict__[n] for n in obj.__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)
