"""Things Networks on real packets, as root (issue 17): each Network is a routing domain of its own; a Thing's
device shell (`cellplane device shell`) is in its Network's domain; IP Profiles, device isolation and NAT rules
act there within a second of the API call, and a refused change leaves the domain's nftables ruleset as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.e2e.test_things_api import defaults, http, things_of
from tests.support import probes
from tests.support.dataplane import _Handler, data_plane_status, data_plane_unavailable, device_shell, shell_args
from tests.support.network import eventually
from tests.support.server import Server, free_port, server_env

STARTUP = 90.0
NL = "204-08"
REASON = data_plane_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("things-packets")
    env = server_env(data_dir, None, CELLPLANE_DATA_PLANE="on")
    started = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    started.start(timeout=STARTUP)
    try:
        yield started
    finally:
        started.stop()


def new_account(server: Server, name: str) -> Account:
    created = server.admin("create-account", "--friendly-name", name)
    return Account(created["account_sid"], created["auth_token"], server)


def active_things(account: Account, client: httpx.Client, count: int, **change: Any) -> list[dict[str, Any]]:
    things = things_of(account, count)
    for thing in things:
        response = client.patch(f"/things/{thing['sid']}", json={"state": "ACTIVE", **change})
        assert response.status_code in (200, 202), response.text
    for thing in things:
        # `state` shows where a change is going at once; `statePending` false: the network has applied it.
        done = eventually(lambda t=thing: client.get(f"/things/{t['sid']}").json(), lambda t: not t["statePending"])
        assert (done["state"], done["statePending"]) == ("ACTIVE", False), done
    return things


def domain_of(server: Server, network_id: str, iccid: str | None = None) -> dict[str, Any]:
    """The Network's routing domain; with `iccid`, that Thing attaches once first (which makes it)."""
    if iccid is not None:
        done = device_shell(server, iccid, "true", network=NL)
        assert done.returncode == 0, done.stdout + done.stderr
    found = eventually(lambda: data_plane_status(server)["domains"], lambda d: network_id in d, timeout=10)
    assert network_id in found, found
    domain: dict[str, Any] = found[network_id]
    return domain


def ruleset(namespace: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset"], capture_output=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


@contextmanager
def http_on(address: str, port: int = 0) -> Iterator[str]:
    httpd = ThreadingHTTPServer((address, port), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def shell(server: Server, iccid: str, *command: str) -> Iterator[subprocess.Popen[str]]:
    """A device shell running `command` in the background; its first line (the attach) already read."""
    process = subprocess.Popen(
        shell_args(server, iccid, *command, network=NL),
        env=server.env,
        cwd=server.data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert " as " in line, line + (process.stdout.read() if process.poll() is not None else "")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_outbound_deny_on_port_80_acts_within_a_second_and_a_bad_profile_changes_no_rule(server: Server) -> None:
    account = new_account(server, "firewall")
    with http(account) as client:
        group, network, profile = defaults(client)
        [thing] = active_things(account, client, 1)
        domain = domain_of(server, network["id"], thing["iccid"])
        host = domain["host_address"]
        with (
            http_on(host, 80) as web,
            http_on(host) as other,
            shell(
                server, thing["iccid"], "sh", "-c", probes.TWO_PORTS, "sh", f"{web}/bytes/10", f"{other}/bytes/10", "25"
            ) as loop,
        ):
            assert loop.stdout is not None
            # The default group's empty profile allows everything: both ports answer.
            first = loop.stdout.readline().split()
            assert first[1:] == ["200", "200"], first
            deny = {"action": "deny", "protocol": "tcp", "remoteCidr": "0.0.0.0/0", "remotePorts": "80"}
            sent = time.time()
            patched = client.patch(f"/ipProfiles/{profile['id']}", json={"outbound": [deny]})
            assert patched.status_code == 200, patched.text
            for raw in loop.stdout:
                when, to_80, to_other = raw.split()
                if to_80 != "200":
                    break
            assert to_80 == "000" and to_other == "200", raw
            # The first curl that started after the rules were in force is refused; it started under a second after.
            assert float(when) - sent < 1.0, float(when) - sent
            # Moving the Thing to a group with an open profile (same Network) lets port 80 through again, as fast.
            open_profile = client.post("/ipProfiles", json={"name": "open"}).json()
            moved_to = client.post(
                "/thingsGroups", json={"name": "open", "networkId": network["id"], "ipProfileId": open_profile["id"]}
            ).json()
            sent = time.time()
            moved = client.patch(f"/things/{thing['sid']}", json={"thingsGroupId": moved_to["id"]})
            assert moved.status_code == 200, moved.text
            for raw in loop.stdout:
                when, to_80, to_other = raw.split()
                if to_80 == "200":
                    break
            assert to_80 == "200" and float(when) - sent < 1.0, (raw, float(when) - sent)
            assert client.patch(f"/things/{thing['sid']}", json={"thingsGroupId": group["id"]}).status_code == 200

        # A profile with one invalid rule is refused whole, naming the field; the domain's ruleset is unchanged.
        before = ruleset(domain["namespace"])
        bad = client.patch(
            f"/ipProfiles/{profile['id']}",
            json={"outbound": [{"action": "allow", "protocol": "udp"}, {**deny, "remotePorts": "90-80"}]},
        )
        assert bad.status_code == 400 and bad.json()["info"] == "outbound[1].remotePorts", bad.text
        bad_nat = client.post(
            f"/networks/{network['id']}/natRules",
            json={"protocol": "tcp", "publicPort": 70000, "privateIp": "10.200.0.9", "privatePort": 80},
        )
        assert bad_nat.status_code == 400 and bad_nat.json()["info"] == "publicPort", bad_nat.text
        time.sleep(1.2)  # a re-application would have happened by now
        assert ruleset(domain["namespace"]) == before
        assert group["ipProfileId"] == profile["id"]


def test_a_nat_rule_reaches_a_things_server_and_an_inbound_rule_stops_it(server: Server) -> None:
    account = new_account(server, "nat")
    with http(account) as client:
        _, network, profile = defaults(client)
        [thing] = active_things(account, client, 1, lockedIp="10.200.0.50")
        rule = client.post(
            f"/networks/{network['id']}/natRules",
            json={"protocol": "tcp", "publicPort": 8080, "thingId": thing["sid"], "privatePort": 8000},
        )
        assert rule.status_code == 201, rule.text
        endpoint = rule.json()["endpoint"]
        domain = domain_of(server, network["id"])
        # The public address is the domain's uplink address inside its namespace: the host reaches it on the veth.
        network = eventually(
            lambda: client.get(f"/networks/{network['id']}").json(), lambda n: n["publicAddress"] != "127.100.0.1"
        )
        endpoint = f"{network['publicAddress']}:8080"
        assert client.get(f"/networks/{network['id']}/natRules/{rule.json()['id']}").json()["endpoint"] == endpoint
        assert network["publicAddress"] != domain["host_address"]
        with shell(server, thing["iccid"], sys.executable, "-m", "http.server", "8000"):
            got = eventually(lambda: _get(f"http://{endpoint}/"), lambda status: status == 200, timeout=10)
            assert got == 200
            deny = {"action": "deny", "protocol": "tcp", "remoteCidr": "0.0.0.0/0", "remotePorts": "8000"}
            sent = time.monotonic()
            assert client.patch(f"/ipProfiles/{profile['id']}", json={"inbound": [deny]}).status_code == 200
            refused = eventually(lambda: _get(f"http://{endpoint}/"), lambda status: status == 0, pause=0.02)
            assert refused == 0 and time.monotonic() - sent < 1.0, time.monotonic() - sent
            # Removing the rule: the endpoint no longer forwards at all (the inbound rule lifted, still no way in).
            assert client.patch(f"/ipProfiles/{profile['id']}", json={"inbound": []}).status_code == 200
            assert eventually(lambda: _get(f"http://{endpoint}/"), lambda s: s == 200) == 200
            assert client.delete(f"/networks/{network['id']}/natRules/{rule.json()['id']}").status_code == 204
            assert eventually(lambda: _get(f"http://{endpoint}/"), lambda s: s == 0) == 0


def test_device_isolation_keeps_things_apart_but_not_from_the_back_end(server: Server) -> None:
    account = new_account(server, "isolation")
    with http(account) as client:
        _, network, _ = defaults(client)
        assert client.patch(f"/networks/{network['id']}", json={"deviceIsolation": True}).status_code == 200
        listener, caller = active_things(account, client, 2)
        listener_ip = "10.200.0.60"
        assert client.patch(f"/things/{listener['sid']}", json={"lockedIp": listener_ip}).status_code == 200
        domain = domain_of(server, network["id"], caller["iccid"])
        with http_on(domain["host_address"]) as back_end:
            curl = f"curl -s -o /dev/null -w 'back=%{{http_code}}\\n' {back_end}/bytes/10"
            serve = f"{curl}; {sys.executable} -c '{probes.UDP_ECHO}' 9000"
            with shell(server, listener["iccid"], "sh", "-c", serve) as echo:
                assert echo.stdout is not None
                assert echo.stdout.readline().strip() == "back=200"  # the listener reaches the back end too
                assert "ready" in echo.stdout.readline()

                def probe() -> str:
                    curl = f"curl -s -o /dev/null -w 'back=%{{http_code}} ' {back_end}/bytes/10"
                    script = f"{curl}; {sys.executable} -c '{probes.REACH}' {listener_ip} 9000"
                    done = device_shell(server, caller["iccid"], "sh", "-c", script, network=NL)
                    return done.stdout.strip().splitlines()[-1]

                assert probe() == "back=200 udp=no icmp=no"
                assert client.patch(f"/networks/{network['id']}", json={"deviceIsolation": False}).status_code == 200
                time.sleep(1.0)
                assert probe() == "back=200 udp=ok icmp=ok"


def test_two_accounts_with_the_same_cidr_carry_traffic_independently(server: Server) -> None:
    shells = []
    for name in ("twin-a", "twin-b"):
        account = new_account(server, name)
        with http(account) as client:
            created = client.post("/networks", json={"name": "plant"}).json()
            assert client.post(f"/networks/{created['id']}/ipPools", json={"cidr": "10.77.0.0/24"}).status_code == 201
            group = client.post("/thingsGroups", json={"name": "plant", "networkId": created["id"]}).json()
            [thing] = active_things(account, client, 1, thingsGroupId=group["id"], lockedIp="10.77.0.7")
            shells.append((thing, domain_of(server, created["id"], thing["iccid"])))
    size = 300_000
    with http_on(shells[0][1]["host_address"]) as url_a, http_on(shells[1][1]["host_address"]) as url_b:
        running = [
            subprocess.Popen(
                shell_args(
                    server,
                    thing["iccid"],
                    "curl",
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{size_download}",
                    f"{url}/bytes/{size}",
                    network=NL,
                ),
                env=server.env,
                cwd=server.data_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for (thing, _), url in zip(shells, (url_a, url_b), strict=True)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in running]
    # The same address in both, at the same time, each download whole: each reached its server on the host end of
    # its own Network's uplink, the only host address its domain has a route to (a session put in the wrong domain,
    # or packets crossing over, would find no way there).
    for output in outputs:
        assert " as 10.77.0.7 " in output, output
        assert output.strip().endswith(str(size)), output
    assert shells[0][1]["namespace"] != shells[1][1]["namespace"]


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=0.5).status_code
    except httpx.HTTPError:
        return 0


def test_a_profile_patch_rewrites_that_networks_profile_chain_only(server: Server) -> None:
    """Per-Network application: a PATCH to one Network's IP Profile refills that profile's chain and sets in that
    Network's domain; every other object there, and the other Network's whole ruleset, is as it was (handles too:
    nothing was deleted and added again)."""
    first, second = new_account(server, "per-network-a"), new_account(server, "per-network-b")
    with http(first) as one, http(second) as two:
        _, network_a, profile_a = defaults(one)
        _, network_b, _ = defaults(two)
        [thing_a] = active_things(first, one, 1)
        [thing_b] = active_things(second, two, 1)
        domain_a = domain_of(server, network_a["id"], thing_a["iccid"])
        domain_b = domain_of(server, network_b["id"], thing_b["iccid"])
        time.sleep(1.2)  # both domains as applied (a periodic re-read has passed)
        before_a, before_b = ruleset(domain_a["namespace"]), ruleset(domain_b["namespace"])
        deny = {"action": "deny", "protocol": "tcp", "remoteCidr": "192.0.2.0/24", "remotePorts": "8080"}
        patched = one.patch(f"/ipProfiles/{profile_a['id']}", json={"outbound": [deny]})
        assert patched.status_code == 200, patched.text
        chain = f"out_{profile_a['id']}"
        after_a = eventually(lambda: ruleset(domain_a["namespace"]), lambda listed: f'"{chain}_0"' in listed, timeout=5)
        assert f'"{chain}_0"' in after_a, after_a
        time.sleep(1.2)  # and a periodic re-read of every Network
        assert ruleset(domain_b["namespace"]) == before_b
        owned = lambda item: any(  # noqa: E731 (the profile's chain, its rules and its sets)
            body.get("chain") == chain or str(body.get("name", "")).startswith(chain)
            for body in item.values()
            if isinstance(body, dict)
        )
        rest = lambda listed: [i for i in json.loads(listed)["nftables"] if "metainfo" not in i and not owned(i)]  # noqa: E731
        assert rest(ruleset(domain_a["namespace"])) == rest(before_a)
        elements = [
            i["set"] for i in json.loads(after_a)["nftables"] if "set" in i and i["set"]["name"] == f"{chain}_0"
        ]
        assert elements[0]["elem"] == [{"concat": [{"prefix": {"addr": "192.0.2.0", "len": 24}}, "tcp", 8080]}]
