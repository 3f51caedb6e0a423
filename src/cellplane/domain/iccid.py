"""ICCIDs (ITU-T E.118): 19 or 20 digits starting with 89, the last a Luhn check digit."""

from __future__ import annotations


def luhn_check_digit(payload: str) -> int:
    """The digit that makes `payload + digit` pass the Luhn test."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_iccid(iccid: str) -> bool:
    if not (iccid.isdigit() and 19 <= len(iccid) <= 20 and iccid.startswith("89")):
        return False
    return luhn_check_digit(iccid[:-1]) == int(iccid[-1])


def make_iccid(issuer: str, serial: int, length: int = 20) -> str:
    """An ICCID of `length` digits: 89 + issuer digits + zero-padded serial + check digit."""
    body = f"89{issuer}"
    width = length - 1 - len(body)
    if width <= 0 or serial >= 10**width:
        raise ValueError("serial does not fit the ICCID length")
    payload = f"{body}{serial:0{width}d}"
    return payload + str(luhn_check_digit(payload))
