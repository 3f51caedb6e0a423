"""Every curl example of seeds/004 (the hosted Super SIM flavour), run with real curl and a Bearer token obtained from
the token endpoint: only the base URL and the placeholders change."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from tests.conftest import Account
from tests.support.identity import token_for

SEED = next((Path(__file__).resolve().parents[3] / "shared" / "seeds").glob("004_*.txt"), None)
SEED = SEED or next(Path("/work/shared/seeds").glob("004_*.txt"))
HOSTED_BASE = "https://supersim.api.korewireless.com/v1"


def curl_examples() -> list[str]:
    return [line.strip() for line in SEED.read_text().splitlines() if line.strip().startswith("curl ")]


def test_every_seed_004_curl_example_works_with_a_bearer_token(account: Account) -> None:
    examples = curl_examples()
    assert len(examples) == 7, examples
    server = account.server
    sub = server.admin("create-account", "--friendly-name", "child", "--parent", account.sid)
    client = account.client()
    nap = client.supersim.v1.network_access_profiles.create()
    fleet = client.supersim.v1.fleets.create(network_access_profile=nap.sid, unique_name="First Fleet")
    client.supersim.v1.fleets.create(network_access_profile=nap.sid, unique_name="My Fleet")
    sim, movable = account.claim(2)
    _, token = token_for(server, (account.sid, account.token), role="admin")
    fill = [
        (HOSTED_BASE, f"{server.base_url}/supersim/v1"),
        ("<YOUR_ACCESS_TOKEN>", token),
        ("<YOUR_AUTH_TOKEN>", token),
        ("Iccid=11111111111111111111", f"Iccid={sim.iccid}"),
        ("HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", fleet.sid),
        ("ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", sub["account_sid"]),
    ]
    answers = []
    for example in examples:
        command = example
        for placeholder, value in fill:
            command = command.replace(placeholder, value)
        # The SIM moved to the subaccount is one in no fleet (the seed: one in a fleet needs a Fleet too).
        target = movable.sid if "AccountSid=" in command else sim.sid
        command = re.sub(r"/Sims/(\{Sid\}|Sid)\"", f'/Sims/{target}"', command)
        assert "<" not in command and "aaaa" not in command, command
        result = subprocess.run(
            [*shlex.split(command), "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30
        )
        body, _, status = result.stdout.rpartition("\n")
        assert status in ("200", "202"), (example, status, body)
        answers.append(json.loads(body))
    listed, by_iccid, renamed, in_fleet, by_name, activated, moved = answers
    assert sim.sid in {s["sid"] for s in listed["sims"]}
    assert [s["sid"] for s in by_iccid["sims"]] == [sim.sid] and by_iccid["meta"]["page_size"] == 20
    assert renamed["unique_name"] == "My SIM"
    assert in_fleet["fleet_sid"] == fleet.sid
    assert by_name["fleet_sid"] != fleet.sid and by_name["fleet_sid"].startswith("HF")
    assert activated["status"] in ("active", "scheduled")
    assert moved["account_sid"] == sub["account_sid"]
