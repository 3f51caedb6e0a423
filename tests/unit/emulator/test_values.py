"""Emulator values: RAT names, settable states, visited networks, generated IMEIs, the API's refusals."""

from __future__ import annotations

import pytest

from cellplane.emulator import Emulator, EmulatorConfig, InvalidState, InvalidValue, UnknownDevice
from cellplane.emulator.device import luhn_digit
from cellplane.emulator.networks import Networks
from cellplane.emulator.states import DeviceState, parse_rat, parse_state
from cellplane.protocols.gtp import RatType


@pytest.mark.parametrize(
    ("name", "rat"),
    [("LTE-M", RatType.LTE_M), ("cat-m1", RatType.LTE_M), ("NB-IoT", RatType.EUTRAN_NB_IOT), ("4G", 6), (2, 2)],
)
def test_rat_names_map_to_ts_29_274_values(name: str | int, rat: int) -> None:
    assert parse_rat(name) == rat


@pytest.mark.parametrize("bad", ["wifi", "", 0, 99, True])
def test_unknown_rat_names_the_parameter(bad: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_rat(bad)  # type: ignore[arg-type]
    assert caught.value.parameter == "Rat"


def test_only_requestable_states_can_be_asked_for() -> None:
    assert parse_state("Idle") == DeviceState.IDLE and parse_state("edrx") == DeviceState.EDRX
    for outcome in ("rejected", "attaching", "flying"):
        with pytest.raises(InvalidValue):
            parse_state(outcome)


def test_networks_are_checked_and_remember_their_settings() -> None:
    networks = Networks()
    network = networks.configure("310", "410", hlcom=False)
    assert networks.get("310", "410") is network and not network.hlcom and network.plmn.code == "310410"
    assert networks.get("208", "01").hlcom  # HLCOM by default; a test says when a network lacks it
    for mcc, mnc, parameter in (("31", "410", "Mcc"), ("310", "4", "Mnc"), ("310", "41a", "Mnc")):
        with pytest.raises(InvalidValue) as caught:
            networks.get(mcc, mnc)
        assert caught.value.parameter == parameter


def test_luhn_check_digit_of_ts_23_003_annex_b() -> None:
    assert luhn_digit("35349006987331") == "9"  # IMEI 353490069873319
    assert luhn_digit("49015420323751") == "8"


async def test_api_refusals_name_the_parameter() -> None:
    emulator = Emulator(EmulatorConfig(gateway_gtpc_port=9, gateway_gtpu_port=9))
    await emulator.start()
    try:
        with pytest.raises(InvalidValue, match="Iccid") as caught:
            await emulator.power_on("123", mcc="310", mnc="410", imsi="310410000000001")
        assert caught.value.parameter == "Iccid"
        with pytest.raises(InvalidValue) as caught:
            await emulator.power_on("8988307000000000001", mcc="310", mnc="410")  # no IMSI, no lookup
        assert caught.value.parameter == "Imsi"
        with pytest.raises(UnknownDevice):
            emulator.device("8988307000000000001")
        with pytest.raises(UnknownDevice):
            await emulator.traffic("8988307000000000001", up=100)
    finally:
        await emulator.stop()


async def test_a_gateway_that_never_answers_leaves_the_device_rejected() -> None:
    """No gateway behind the port: Create Session is retransmitted N3 times, then the attach has failed."""
    emulator = Emulator(EmulatorConfig(gateway_gtpc_port=9, gateway_gtpu_port=9, t3=0.05, n3=1))
    await emulator.start()
    try:
        device = await emulator.power_on("8988307000000000001", mcc="310", mnc="410", imsi="310410000000001")
        assert (device.state, device.reason, device.gtp_cause) == ("rejected", "the gateway did not answer", 100)
        with pytest.raises(InvalidState):
            await emulator.traffic("8988307000000000001", up=100)
        with pytest.raises(InvalidState):
            await emulator.set_state("8988307000000000001", "idle")
        with pytest.raises(InvalidValue) as caught:
            await emulator.traffic("8988307000000000001", up=10)  # 10 octets cannot be an IPv4/UDP packet
        assert caught.value.parameter == "UploadBytes"
    finally:
        await emulator.stop()
