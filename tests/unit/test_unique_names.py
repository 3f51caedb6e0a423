"""UniqueName rules (domain/names.py) and sid matching: what could be mistaken for a sid, for "none", or not be typed
back is refused, naming the parameter."""

from __future__ import annotations

import pytest

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import is_sid
from cellplane.domain.names import check_unique_name

SID = "HS0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("name", ["meter-7", "Meter 7", "null-island", "👨\u200d👩\u200d👧", "x" * 64, "HS" + "0" * 31])
def test_ordinary_names_pass(name: str) -> None:
    check_unique_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("null", "reserved"),
        ("NULL", "reserved"),
        (" None ", "reserved"),
        ("undefined", "reserved"),
        ("a\nb", "control"),
        ("tab\t", "control"),
        ("bell\x07", "control"),
        ("del\x7f", "control"),
        ("line\u2028sep", "control"),
        ("right\u202eleft", "control"),
        ("zero\u200bwidth", "control"),
        (SID + "\n", "control"),
        (SID, "sid"),
        ("   ", "blank"),
        ("x" * 65, "at most 64"),
    ],
)
def test_ambiguous_names_are_refused_naming_the_parameter(name: str, why: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        check_unique_name(name, code=33101)
    assert refused.value.parameter == "UniqueName" and refused.value.code == 33101
    assert why in refused.value.message


def test_a_sid_with_a_trailing_newline_is_not_a_sid() -> None:
    assert is_sid(SID) and is_sid(SID, "HS")
    assert not is_sid(SID + "\n") and not is_sid(SID + "\n", "HS")
