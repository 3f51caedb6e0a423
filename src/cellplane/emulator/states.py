"""Device states and the radio access types a device can use."""

from __future__ import annotations

from enum import StrEnum

from cellplane.protocols.gtp import RatType

from .errors import InvalidValue


class DeviceState(StrEnum):
    """What the network knows of a device (TS 23.401 §4.6: EMM and ECM states, folded into one).

    attaching   Create Session sent, no answer yet
    attached    PDN connection up, ECM-CONNECTED: packets flow at once
    idle        PDN connection up, ECM-IDLE: downlink pages the device, which answers and gets it
    edrx        PDN connection up, asleep in extended DRX (TS 23.682 §4.5.13): downlink is buffered until it
                wakes where the visited network offers HLCOM (TS 23.682 §4.5.7), dropped where it does not
    rejected    the network refused the attach; `reason` and `code` say why
    detached    no PDN connection (powered on but detached, or disconnected by the network)
    """

    ATTACHING = "attaching"
    ATTACHED = "attached"
    IDLE = "idle"
    EDRX = "edrx"
    REJECTED = "rejected"
    DETACHED = "detached"


# The states a caller may ask for; the others are outcomes.
SETTABLE = frozenset({DeviceState.ATTACHED, DeviceState.IDLE, DeviceState.EDRX, DeviceState.DETACHED})
# States with a PDN connection at the gateway.
CONNECTED = frozenset({DeviceState.ATTACHED, DeviceState.IDLE, DeviceState.EDRX})

# RAT names as a device developer says them -> TS 29.274 §8.17 RAT Type.
_RAT_NAMES = {
    "lte-m": RatType.LTE_M,
    "ltem": RatType.LTE_M,
    "cat-m1": RatType.LTE_M,
    "catm1": RatType.LTE_M,
    "nb-iot": RatType.EUTRAN_NB_IOT,
    "nbiot": RatType.EUTRAN_NB_IOT,
    "lte": RatType.EUTRAN,
    "4g": RatType.EUTRAN,
    "eutran": RatType.EUTRAN,
    "3g": RatType.UTRAN,
    "umts": RatType.UTRAN,
    "utran": RatType.UTRAN,
    "2g": RatType.GERAN,
    "gsm": RatType.GERAN,
    "geran": RatType.GERAN,
    "5g": RatType.NR,
    "nr": RatType.NR,
}
RAT_LABELS = {
    RatType.LTE_M: "LTE-M",
    RatType.EUTRAN_NB_IOT: "NB-IoT",
    RatType.EUTRAN: "LTE",
    RatType.UTRAN: "3G",
    RatType.GERAN: "2G",
    RatType.NR: "5G",
}


def parse_rat(value: str | int) -> RatType:
    """A RAT Type from a name ("LTE-M", "NB-IoT", "LTE", "3G", "2G", "5G") or its TS 29.274 number."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return RatType(value)
        except ValueError:
            pass
    elif isinstance(value, str) and value.strip().lower() in _RAT_NAMES:
        return _RAT_NAMES[value.strip().lower()]
    names = ", ".join(RAT_LABELS.values())
    raise InvalidValue(f"radio access type must be one of {names}, not {value!r}", "Rat")


def parse_state(value: str) -> DeviceState:
    try:
        state = DeviceState(str(value).lower())
    except ValueError:
        state = None
    if state not in SETTABLE:
        allowed = ", ".join(sorted(SETTABLE))
        raise InvalidValue(f"state must be one of {allowed}, not {value!r}", "State")
    return state
