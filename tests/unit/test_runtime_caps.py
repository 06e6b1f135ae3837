from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.runtime import capabilities as caps
from minke.runtime.capabilities import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    RecordingCapSyscalls,
)


def test_names_and_numbers_round_trip():
    assert len(caps.CAPABILITIES) == 41
    assert caps.cap_number("CAP_CHECKPOINT_RESTORE") == 40
    assert caps.cap_number("CAP_SYS_ADMIN") == 21
    assert caps.cap_number("net_raw") == 13
    for name, number in caps.CAPABILITIES.items():
        assert caps.cap_name(number) == name
    with pytest.raises(InvalidArgument, match="unknown capability number 41"):
        caps.cap_name(41)


def test_masks():
    assert caps.to_mask(["CAP_CHOWN", "CAP_KILL"]) == 0b100001
    assert caps.from_mask(0b100001 | 1 << 63) == {"CAP_CHOWN", "CAP_KILL"}
    assert caps.to_mask(caps.DOCKER_DEFAULT_CAPS) == 0xA80425FB  # Docker's CapEff


def test_validate_rejects_unknown_names():
    with pytest.raises(InvalidArgument, match="unknown capability 'CAP_FLY'"):
        caps.validate_capabilities({"bounding": ["CAP_CHOWN", "CAP_FLY"]})
    with pytest.raises(InvalidArgument, match="unknown capability set 'magic'"):
        caps.validate_capabilities({"magic": []})
    with pytest.raises(InvalidArgument, match="must be a list"):
        caps.validate_capabilities({"effective": "CAP_CHOWN"})
    norm = caps.validate_capabilities({"effective": ["chown"]})
    assert norm["effective"] == {"CAP_CHOWN"} and norm["ambient"] == frozenset()


def test_apply_order_and_sets():
    sys = RecordingCapSyscalls(last_cap=40)
    spec = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }
    caps.apply_capabilities(spec, sys)
    drops = [c[2] for c in sys.calls if c[:2] == ("prctl", PR_CAPBSET_DROP)]
    assert drops == [n for n in range(41) if n not in (0, 5, 13)]
    kinds = [c[0] if c[0] == "capset" else (c[1], c[2]) for c in sys.calls]
    first_capset = kinds.index("capset")
    # every bounding drop happens before capset, the ambient work after it
    assert all(k == (PR_CAPBSET_DROP, k[1]) for k in kinds[:first_capset])
    assert kinds[first_capset + 1] == (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    assert sys.calls[first_capset] == ("capset", 0b100001, 0b100001, 0b100000)
    assert sys.calls[-1] == ("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 5, 0, 0)
    assert sys.bounding == 0b10000000100001
    assert sys.ambient == 0b100000


def test_bounding_drop_goes_to_kernel_last_cap():
    sys = RecordingCapSyscalls(last_cap=45)
    caps.drop_bounding_set({"bounding": list(caps.CAPABILITIES)}, sys)
    assert [c[2] for c in sys.calls] == [41, 42, 43, 44, 45]


def test_ambient_not_allowed_is_logged_not_fatal(caplog):
    sys = RecordingCapSyscalls()
    caps.apply_capabilities({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]}, sys)
    assert sys.ambient == 0
    assert "CAP_KILL" in caplog.text


def test_invalid_input_makes_no_calls():
    sys = RecordingCapSyscalls()
    with pytest.raises(InvalidArgument):
        caps.apply_capabilities({"bounding": ["CAP_NOPE"]}, sys)
    assert sys.calls == []
