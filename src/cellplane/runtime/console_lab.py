"""The in-process emulated network as the console's lab (console/lab.py): the runtime may import both."""

from __future__ import annotations

import asyncio

from cellplane.console.lab import LabDevice, LabError
from cellplane.domain.networks import catalogue
from cellplane.emulator import DeviceView, Emulator
from cellplane.emulator.errors import EmulatorError
from cellplane.network.gateway import Gateway

LISTED_NETWORKS = 25  # the lab's network menu: the demo's network first, then the start of the catalogue


class EmulatorLab:
    def __init__(self, emulator: Emulator, gateway: Gateway | None, home_network: str = "310-260") -> None:
        self.emulator = emulator
        self.gateway = gateway
        self.home_network = home_network

    def devices(self) -> list[LabDevice]:
        return [_device(view) for view in self.emulator.devices()]

    def networks(self) -> list[tuple[str, str]]:
        networks = list(catalogue())
        home = next((n for n in networks if n.key == self.home_network), None)
        listed = ([home] if home else []) + [n for n in networks if n is not home][: LISTED_NETWORKS - 1]
        return [(n.key, f"{n.friendly_name} ({n.key})") for n in listed]

    async def power_on(self, iccid: str, network: str) -> LabDevice:
        mcc, sep, mnc = network.partition("-")
        if not sep:
            raise LabError("Network must be MCC-MNC, such as 310-260")
        try:
            return _device(await self.emulator.power_on(iccid, mcc=mcc, mnc=mnc))
        except EmulatorError as error:
            raise LabError(str(error)) from None

    async def power_off(self, iccid: str) -> None:
        try:
            await self.emulator.power_off(iccid)
        except EmulatorError as error:
            raise LabError(str(error)) from None

    async def set_state(self, iccid: str, state: str) -> LabDevice:
        try:
            return _device(await self.emulator.set_state(iccid, state))
        except EmulatorError as error:
            raise LabError(str(error)) from None

    async def traffic(self, iccid: str, up: int, down: int) -> None:
        try:
            await self.emulator.traffic(iccid, up=up, down=down)
            if self.gateway is not None:
                # Let the gateway read the uplink already sent, then report it, so the usage shows at once.
                await asyncio.sleep(0.05)
                await self.gateway.report_usage(self.emulator.device(iccid).imsi)
        except EmulatorError as error:
            raise LabError(str(error)) from None


def _device(view: DeviceView) -> LabDevice:
    return LabDevice(
        iccid=view.iccid,
        imei=view.imei,
        state=view.state,
        network=view.network,
        rat=view.rat,
        reason=view.reason,
        ip_address=(view.session or {}).get("ip_address"),
        bytes_up=int(view.usage.get("up_bytes", 0)),
        bytes_down=int(view.usage.get("down_bytes", 0)),
    )
