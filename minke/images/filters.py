"""``images --filter`` and ``image prune --filter``, with Docker's semantics.

- ``dangling=true|false``: images without tags (Docker: no RepoTags);
- ``reference=PATTERN`` (repeatable, any may match): Go ``path.Match`` of the pattern
  against each tag's familiar string and familiar name (reference.FamiliarMatch); the
  listed tags are narrowed to the matching ones;
- ``label=KEY`` / ``label=KEY=VALUE`` (repeatable, all must match), ``label!=...`` (prune);
- ``before=IMAGE`` / ``since=IMAGE``: created strictly before / after that image;
- ``until=TIMESTAMP|DURATION`` (prune): created before that time.

Without ``all``, untagged images that are the parent chain of another image (Docker's
intermediate images) are hidden, as ``docker images`` hides them without ``-a``.
"""

from __future__ import annotations

import time

from minke.errors import InvalidArgument
from minke.images.model import (
    Image,
    chain_ids,
    familiar_digested,
    familiar_name,
    familiar_tagged,
    parse_time,
    split_digested,
    split_tagged,
)
from minke.record import replace

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: typing costs a short command ~5 ms
    from typing import Any

LIST_FILTERS = ("dangling", "reference", "label", "before", "since")
PRUNE_FILTERS = ("until", "label", "label!", "dangling")


def parse_filters(values: list[str] | None) -> dict[str, list[str]]:
    """["dangling=true", "label=a=b"] -> {"dangling": ["true"], "label": ["a=b"]}."""
    out: dict[str, list[str]] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {v}")
        out.setdefault(key.strip().lower(), []).append(val)
    return out


def _check(filters: dict[str, list[str]], allowed: tuple[str, ...]) -> None:
    for key, vals in filters.items():
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "dangling":
            for v in vals:
                if v.lower() not in ("true", "false", "1", "0"):
                    raise InvalidArgument(f"invalid filter 'dangling={v}'")


def _bool(vals: list[str]) -> bool:
    return vals[-1].lower() in ("true", "1")


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` never match ``/``; ``[...]`` classes."""
    import re  # here: `images` without a reference filter needs none (~7 ms)

    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise InvalidArgument(f"invalid reference filter {pattern!r}: syntax error in pattern")
            body = pattern[i + 1 : j]
            if body.startswith("^"):
                body = "^" + re.escape(body[1:]).replace(r"\-", "-")
            else:
                body = re.escape(body).replace(r"\-", "-")
            out.append(f"(?!/)[{body}]")
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(out), name) is not None


def _ref_matches(pattern: str, familiar: str, name: str) -> bool:
    return path_match(pattern, familiar) or path_match(pattern, familiar_name(name))


def _labels(service: Any, image: Image) -> dict[str, str]:
    cfg = service.image_config(image.id)
    labels = (cfg.get("config") or {}).get("Labels") or {}
    return labels if isinstance(labels, dict) else {}


def _label_match(labels: dict[str, str], spec: str) -> bool:
    key, sep, val = spec.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == val


def _created(service: Any, ref: str) -> float:
    return service.get(ref, builtin=False).created_ts


def _intermediate(service: Any, images: list[Image]) -> set[str]:
    """IDs of untagged images whose layer chain is a strict prefix of another image's."""
    untagged = [i for i in images if not i.tags and not i.repo_digests and i.chain_id]
    if not untagged:
        return set()
    ancestors: set[str] = set()
    for img in images:
        try:
            diff_ids = (service.image_config(img.id).get("rootfs") or {}).get("diff_ids") or []
        except Exception:  # noqa: BLE001 - a broken config must not break listing
            continue
        ancestors.update(chain_ids(list(diff_ids))[:-1])
    return {i.id for i in untagged if i.chain_id in ancestors}


def apply_filters(service: Any, images: list[Image], *, all: bool, filters: dict[str, list[str]]) -> list[Image]:
    _check(filters, LIST_FILTERS)
    if not all and not filters.get("dangling"):
        hidden = _intermediate(service, images)
        images = [i for i in images if i.id not in hidden]
    if "dangling" in filters:
        want = _bool(filters["dangling"])
        images = [i for i in images if (not i.tags) == want]
    if "before" in filters:
        limit = min(_created(service, r) for r in filters["before"])
        images = [i for i in images if i.created_ts < limit]
    if "since" in filters:
        limit = max(_created(service, r) for r in filters["since"])
        images = [i for i in images if i.created_ts > limit]
    if "label" in filters:
        kept = []
        for i in images:
            labels = _labels(service, i)
            if all_(_label_match(labels, s) for s in filters["label"]):
                kept.append(i)
        images = kept
    if "reference" in filters:
        pats = filters["reference"]
        kept = []
        for i in images:
            tags = tuple(
                t for t in i.tags if any(_ref_matches(p, familiar_tagged(t), split_tagged(t)[0]) for p in pats)
            )
            digs = tuple(
                d
                for d in i.repo_digests
                if any(_ref_matches(p, familiar_digested(d), split_digested(d)[0]) for p in pats)
            )
            if tags or digs:
                kept.append(replace(i, tags=tags, repo_digests=digs))
        images = kept
    return images


def all_(it: Any) -> bool:
    return all(it)


def parse_until(value: str, now: float | None = None) -> float:
    """``until=`` value: a duration (10m, 1h30m, 2h) or a timestamp (unix or RFC 3339)."""
    import re

    now = time.time() if now is None else now
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)", value)
    if m:
        units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        total = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value))
        return now - total
    try:
        return float(value)
    except ValueError:
        pass
    for candidate in (value, value + "T00:00:00Z", value + "Z"):
        ts = parse_time(candidate)
        if ts is not None:
            return ts
    raise InvalidArgument(f"invalid filter 'until={value}': not a duration or a timestamp")


def prune_candidates(service: Any, *, all: bool, filters: dict[str, list[str]]) -> list[Image]:
    _check(filters, PRUNE_FILTERS)
    if "dangling" in filters:
        all = not _bool(filters["dangling"])
    images = service._images()
    out = []
    until = min((parse_until(v) for v in filters.get("until", [])), default=None)
    for i in images:
        if not all and i.tags:
            continue
        if service.in_use(i.id):
            continue
        if until is not None and not i.created_ts < until:
            continue
        if "label" in filters or "label!" in filters:
            labels = _labels(service, i)
            if not all_(_label_match(labels, s) for s in filters.get("label", [])):
                continue
            if any(_label_match(labels, s) for s in filters.get("label!", [])):
                continue
        out.append(i)
    return out
