"""The accounts the conformance tests aim at, one per surface: Super SIM's claimed SIMs, NAPs, fleets, an eSIM
profile; Wireless's SIMs, rate plans and Commands; and a local callback sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from cellplane.store.models import UsageBucket
from tests.compat.scope import WIRELESS, unrouted
from tests.support.db import insert
from tests.support.server import Server

# A 32-digit EID whose last two digits are its check digits: the whole number mod 97 is 1 (GSMA SGP.29).
EID = "89049032000000000000000000000163"


class CallbackSink(BaseHTTPRequestHandler):
    """Answers every callback 204 so generated CallbackUrls never leave 127.0.0.1 and never retry."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *_args: object) -> None:
        pass


@dataclass
class Target:
    """One fresh account and the real resources generated requests should hit (by sid and unique name).

    Reads aim at `stable` resources; writes that change or delete (POST /X/{Sid}, DELETE) aim at
    `scratch` ones, so that a fuzzed rename or removal cannot make later reads miss.
    """

    server: Server
    auth: tuple[str, str]
    callback_url: str
    # Path and form values by the collection they name: "Sims", "Fleets", "NetworkAccessProfiles", ...
    stable: dict[str, list[str]] = field(default_factory=dict)
    scratch: dict[str, list[str]] = field(default_factory=dict)
    # Query/body values by parameter name ("Iccid", "IsoCountry", "DataLimit", "CallbackUrl", ...).
    values: dict[str, list[Any]] = field(default_factory=dict)
    mount: str = "/supersim"  # where the surface is served; the spec's paths start at /v1
    # Sent with every generated request instead of `auth` when set (an Authorization: Bearer header).
    headers: dict[str, str] = field(default_factory=dict)
    _registrations: list[tuple[str, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.server.base_url}{self.mount}"

    def registrations(self) -> list[tuple[str, str]]:
        """(Iccid, RegistrationCode) of inventory SIMs for POST /Sims, provisioned on first use.

        Not earlier: ordering an eSIM profile reserves any unclaimed inventory SIM, so SIMs provisioned
        at setup would be gone by the time POST /Sims is fuzzed.
        """
        if not self._registrations:
            provisioned = self.server.admin("provision-sims", "--count", "3", "--product", "supersim")
            self._registrations = [(s["iccid"], s["registration_code"]) for s in provisioned]
        return self._registrations


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), f"setup {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def build_target(server: Server, callback_url: str) -> Target:
    """Create the account through the admin CLI and the API, using only the operations already routed."""
    created = server.admin("create-account", "--friendly-name", "compat")
    target = Target(server, (created["account_sid"], created["auth_token"]), callback_url)
    target.values["AccountSid"] = [created["account_sid"]]
    # Values the rules accept, so that some updates with several optional parameters succeed as a whole.
    target.values["DataLimit"] = [1000, 250]
    for name in ("CallbackUrl", "IpCommandsUrl", "SmsCommandsUrl"):
        target.values[name] = [callback_url]
    missing = unrouted()
    inventory = server.admin("provision-sims", "--count", "4", "--product", "supersim")
    with httpx.Client(base_url=f"{target.base_url}/v1", auth=target.auth, timeout=10) as http:
        sims = [
            _ok(http.post("/Sims", data={"Iccid": s["iccid"], "RegistrationCode": s["registration_code"]}))
            for s in inventory
        ]
        _ok(http.post(f"/Sims/{sims[0]['sid']}", data={"UniqueName": "compat-sim"}))
        _ok(http.post(f"/Sims/{sims[2]['sid']}", data={"UniqueName": "compat-sim-scratch"}))
        # The SIM made active below first: generated requests lean to the first choice, and IP Commands
        # (like everything that reaches a device) need a SIM that is active or ready.
        target.stable["Sims"] = [sims[1]["sid"], sims[0]["sid"], "compat-sim"]
        target.scratch["Sims"] = [sims[2]["sid"], sims[3]["sid"], "compat-sim-scratch"]
        target.values["Iccid"] = [s["iccid"] for s in sims]

        if "ListNetwork" not in missing:
            listed = _ok(http.get("/Networks", params={"PageSize": 5}))["networks"]
            countries = {n["sid"]: n["iso_country"] for n in listed}
            target.stable["Networks"] = [n["sid"] for n in listed]
            target.values["IsoCountry"] = sorted({n["iso_country"] for n in listed})
            target.values["Mcc"] = sorted({i["mcc"] for n in listed for i in n["identifiers"]})
            target.values["Mnc"] = sorted({i["mnc"] for n in listed for i in n["identifiers"]})
        if "CreateNetworkAccessProfile" not in missing:
            # Disjoint networks: a POST of networks[0:3] to the scratch NAP can succeed, a DELETE of its own can too.
            networks = target.stable.get("Networks", [])
            target.scratch["Networks"] = networks[3:5]
            for pool, name, allowed in (
                (target.stable, "compat-nap", networks[:2]),
                (target.scratch, "compat-nap-scratch", networks[3:5]),
            ):
                form = {"UniqueName": name, "Networks": allowed}
                pool["NetworkAccessProfiles"] = [_ok(http.post("/NetworkAccessProfiles", data=form))["sid"], name]
        if "CreateFleet" not in missing and "NetworkAccessProfiles" in target.stable:
            for pool, name in ((target.stable, "compat-fleet"), (target.scratch, "compat-fleet-scratch")):
                form = {"NetworkAccessProfile": target.stable["NetworkAccessProfiles"][0], "UniqueName": name}
                pool["Fleets"] = [_ok(http.post("/Fleets", data=form))["sid"], name]
            # A SIM in a fleet and active, so that Fleet filters, billing periods and IP addresses have content.
            _ok(http.post(f"/Sims/{sims[1]['sid']}", data={"Fleet": target.stable["Fleets"][0], "Status": "active"}))
        if "ListUsageRecord" not in missing and "Fleets" in target.stable:
            used = [(sid, countries[sid]) for sid in target.stable["Networks"][:2]]
            _plant_usage(target, sims[1]["sid"], used)
        if "CreateIpCommand" not in missing:
            # A command to the active SIM, so that fetches by sid find one; valid values for generated creates.
            form = {"Sim": sims[1]["sid"], "Payload": "compat", "DevicePort": 6655}
            target.stable["IpCommands"] = [_ok(http.post("/IpCommands", data=form))["sid"]]
            target.values["DevicePort"] = [6655, 1, 65535]
            target.values["PayloadType"] = ["text"]
        if "CreateSmsCommand" not in missing:
            # Likewise for SMS Commands; a Payload that fits in one SMS (and is valid IP Command text too).
            form = {"Sim": sims[1]["sid"], "Payload": "compat"}
            target.stable["SmsCommands"] = [_ok(http.post("/SmsCommands", data=form))["sid"]]
            target.values["Payload"] = ["checkin: firmware update", "compat"]
        if "CreateEsimProfile" not in missing:
            profile = _ok(http.post("/ESimProfiles", data={"Eid": EID, "CallbackUrl": callback_url}))
            target.stable["ESimProfiles"] = [profile["sid"]]
            target.values["Eid"] = [EID]
    return target


def _plant_usage(target: Target, sim_sid: str, networks: list[tuple[str, str]]) -> None:
    """Usage of the active SIM in its fleet on two networks over the last days (as the AAA writes it), so that
    UsageRecords answers with records to check, whatever the Group and Granularity; windows that hold it."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    fleet = target.stable["Fleets"][0]
    rows = [
        UsageBucket(
            account_sid=target.auth[0],
            sim_sid=sim_sid,
            fleet_sid=fleet,
            network_sid=network,
            iso_country=country,
            hour=now - timedelta(hours=hours_ago),
            bytes_up=1_000 * (index + 1),
            bytes_down=250_000 + hours_ago,
        )
        for index, (network, country) in enumerate(networks)
        for hours_ago in (1, 26, 80)
    ]
    insert(target.server, *rows)
    target.values["Group"] = ["sim", "fleet", "network", "isoCountry"]
    target.values["Granularity"] = ["hour", "day", "all"]
    target.values["StartTime"] = [(now - timedelta(days=5)).isoformat().replace("+00:00", "Z")]
    target.values["EndTime"] = [(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")]


def build_wireless_target(server: Server, callback_url: str) -> Target:
    """A Wireless account: SIMs provisioned to it, rate plans, an active SIM with Commands, all through the API."""
    created = server.admin("create-account", "--friendly-name", "compat-wireless")
    target = Target(server, (created["account_sid"], created["auth_token"]), callback_url, mount=WIRELESS.mount)
    target.values["AccountSid"] = [created["account_sid"]]
    # Values the rules accept, so that some writes with several optional parameters succeed as a whole.
    target.values.update(
        {
            "DataLimit": [1000, 250],
            "NationalRoamingDataLimit": [100, 1000],
            "InternationalRoamingDataLimit": [100, 1000],
            "DataMetering": ["payg", "quota-10"],
            "InternationalRoaming": [["data"], ["data", "messaging"]],
            "Command": ["compat", "Y29tcGF0"],  # the second is base64 too, for binary mode
            "IncludeSid": ["none", "start", "end"],
        }
    )
    missing = unrouted(WIRELESS)
    sims = server.admin("provision-sims", "--count", "4", "--product", "wireless", "--account", target.auth[0])
    target.values["Iccid"] = [s["iccid"] for s in sims]
    target.values["SimRegistrationCode"] = [s["registration_code"] for s in sims]
    with httpx.Client(base_url=f"{target.base_url}/v1", auth=target.auth, timeout=10) as http:
        plans = [_ok(http.post("/RatePlans", data={"UniqueName": name})) for name in ("compat-plan", "compat-scratch")]
        target.stable["RatePlans"] = [plans[0]["sid"], "compat-plan"]
        target.scratch["RatePlans"] = [plans[1]["sid"], "compat-scratch"]  # no Sim uses it: it can be deleted
        # The active SIM first (generated requests lean to the first choice): Commands need a ready or active
        # SIM with a rate plan. Scratch SIMs have the plan too, so that fuzzed status changes can succeed.
        plan = plans[0]["sid"]
        _ok(
            http.post(
                f"/Sims/{sims[0]['sid']}", data={"UniqueName": "compat-sim", "RatePlan": plan, "Status": "active"}
            )
        )
        _ok(http.post(f"/Sims/{sims[2]['sid']}", data={"UniqueName": "compat-sim-scratch", "RatePlan": plan}))
        _ok(http.post(f"/Sims/{sims[3]['sid']}", data={"RatePlan": plan}))
        target.stable["Sims"] = [sims[0]["sid"], "compat-sim", sims[1]["sid"]]
        target.scratch["Sims"] = [sims[2]["sid"], sims[3]["sid"], "compat-sim-scratch"]
        if "CreateCommand" not in missing:
            commands = [_ok(http.post("/Commands", data={"Sim": sims[0]["sid"], "Command": "compat"})) for _ in "ab"]
            target.stable["Commands"] = [commands[0]["sid"]]
            target.scratch["Commands"] = [commands[1]["sid"]]  # for DELETE
    return target
