"""ICCIDs against the outside world: published real-world numbers, and an independent Luhn over what
`cellplane admin provision-sims` prints.

The Luhn here is written from the ISO/IEC 7812-1 description (double every second digit from the right, add the
digits of each product), not from domain/iccid.py, so a shared mistake cannot pass both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cellplane.domain.iccid import is_valid_iccid, luhn_check_digit, make_iccid
from tests.support.server import CLI, server_env

# ICCIDs published by others, each with a Luhn check digit that holds.
PUBLISHED_VALID = [
    # The SIM of the Android emulator (AOSP reference RIL; also asserted in Firefox OS's marionette tests): AT&T.
    "89014103211118510720",
    # The example of the e118-iin-list package's README (NordicSemiconductor, formerly cellprobe): Telia, Denmark.
    "89450421180216254864",
    # smartjac's worked example of the ICCID checksum: 896588081210001114 gets check digit 6 (19 digits).
    "8965880812100011146",
]
# Published placeholders whose last digit is not their check digit, and one-digit slips of the valid ones.
PUBLISHED_INVALID = [
    "89883070000123456789",  # the example ICCID of Twilio's Super SIM OpenAPI spec (a placeholder, check digit off)
    "8901234567012345678",  # Nordic's AT%XICCID documentation example, its F filler removed
]
SLIPS = [
    "89014103211118510721",  # check digit changed
    "89014103211118501720",  # two adjacent digits swapped (51 -> 15)
    "89450421180216254874",  # one digit mistyped
    "8965880812100011164",  # last two digits swapped
]


def independent_luhn_valid(number: str) -> bool:
    """ISO/IEC 7812-1 Annex B: from the rightmost digit (the check digit, weight 1), weights alternate 1, 2; the
    digits of every product are summed; the total is a multiple of 10."""
    total = 0
    for position, char in enumerate(number[::-1]):
        product = int(char) * (2 if position % 2 == 1 else 1)
        total += sum(int(d) for d in str(product))
    return total % 10 == 0


def test_the_independent_luhn_matches_the_textbook() -> None:
    # ISO/IEC 7812 and Luhn's own example numbers, to check the checker.
    assert independent_luhn_valid("79927398713")
    assert not independent_luhn_valid("79927398710")
    assert independent_luhn_valid("4111111111111111")  # the Visa test card number


@pytest.mark.parametrize("iccid", PUBLISHED_VALID)
def test_published_iccids_are_valid(iccid: str) -> None:
    assert independent_luhn_valid(iccid)
    assert is_valid_iccid(iccid)
    assert luhn_check_digit(iccid[:-1]) == int(iccid[-1])


@pytest.mark.parametrize("iccid", PUBLISHED_INVALID + SLIPS)
def test_wrong_check_digits_are_refused(iccid: str) -> None:
    assert not independent_luhn_valid(iccid)
    assert not is_valid_iccid(iccid)


@pytest.mark.parametrize("iccid", ["890141032111185107", "890141032111185107200", "99014103211118510720"])
def test_wrong_length_or_industry_is_refused(iccid: str) -> None:
    # 18 and 21 digits, and a number that is not telecommunication (major industry identifier other than 89).
    assert not is_valid_iccid(iccid)


def test_generated_iccids_have_19_or_20_digits_and_a_right_check_digit() -> None:
    for length in (19, 20):
        for serial in (0, 1, 7, 123_456, 10**8 - 1):
            iccid = make_iccid("88307", serial, length=length)
            assert len(iccid) == length and iccid.startswith("8988307") and independent_luhn_valid(iccid), iccid


@pytest.mark.parametrize("product", ["supersim", "wireless", "esim"])
def test_provision_sims_prints_valid_iccids(tmp_path: Path, product: str) -> None:
    """What an operator gets from the CLI, checked digit by digit by the independent Luhn."""
    env = server_env(tmp_path, None)
    # The admin commands work on an existing platform's database (they never create one): make it as `up` would.
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [*CLI, "admin", "provision-sims", "--count", "300", "--product", product, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sims = json.loads(result.stdout)
    iccids = [sim["iccid"] for sim in sims]
    assert len(iccids) == len(set(iccids)) == 300
    for iccid in iccids:
        assert iccid.isdigit() and 19 <= len(iccid) <= 20 and iccid.startswith("89"), iccid
        assert independent_luhn_valid(iccid), iccid
        # Any single changed digit breaks it (Luhn catches every one-digit error).
        slipped = iccid[:-3] + str((int(iccid[-3]) + 1) % 10) + iccid[-2:]
        assert not independent_luhn_valid(slipped) and not is_valid_iccid(slipped)
