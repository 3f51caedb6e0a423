"""VPN tunnels on real IKEv2 and ESP, as root (issue 20): the platform runs a strongSwan charon in a Network's routing
domain (kernel-libipsec: ESP in UDP, user space), the test a second one at a "customer site" namespace configured
with its own swanctl.conf, a web server behind it. A Thing's device shell reaches that server through the tunnel,
and the link between the two gateways carries only IKE and UDP-encapsulated ESP; the site's gateway dies and the
tunnel goes down (event, webhook) and comes back by itself; a wrong key says authentication failed; deleting the
tunnel takes its routes, SAs and the domain's charon. DPD is 2 s here (CELLPLANE_VPN_DPD_SECONDS).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.e2e.test_things_api import assert_refused, defaults, http, things_of
from tests.support.dataplane import data_plane_status, data_plane_unavailable, device_shell
from tests.support.network import eventually
from tests.support.server import Server, free_port, server_env
from tests.support.vpn import MARKER, SERVER_ADDRESS, SERVER_NET, Site, ns, vpn_unavailable
from tests.support.webhooks import WebhookReceiver

STARTUP = 90.0
NL = "204-08"
DPD = 2
PSK = "correct horse battery staple"
REASON = data_plane_unavailable() or vpn_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("things-vpn")
    env = server_env(data_dir, None, CELLPLANE_DATA_PLANE="on", CELLPLANE_VPN_DPD_SECONDS=str(DPD))
    started = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    started.start(timeout=STARTUP)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[Site]:
    with Site(avoid=[data_plane_status(server)["link_subnet"]]) as made:
        yield made


def new_account(server: Server, name: str) -> Account:
    created = server.admin("create-account", "--friendly-name", name)
    return Account(created["account_sid"], created["auth_token"], server)


def active_thing(account: Account, client: httpx.Client) -> dict[str, Any]:
    [thing] = things_of(account, 1)
    assert client.patch(f"/things/{thing['sid']}", json={"state": "ACTIVE"}).status_code in (200, 202)
    done = eventually(lambda: client.get(f"/things/{thing['sid']}").json(), lambda t: not t["statePending"])
    assert (done["state"], done["statePending"]) == ("ACTIVE", False), done
    return thing


def tunnel_state(client: httpx.Client, network_id: str, sid: str, accept: Any, timeout: float) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: client.get(f"/networks/{network_id}/vpnTunnels/{sid}").json(), accept, timeout=timeout, pause=0.2
    )
    return found


def domain_namespace(server: Server, network_id: str) -> str:
    domains = eventually(lambda: data_plane_status(server)["domains"], lambda d: network_id in d, timeout=10)
    namespace: str = domains[network_id]["namespace"]
    return namespace


def charon_pid(namespace: str) -> int | None:
    try:
        return int(Path(f"/tmp/{namespace}-charon/run/charon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def platform_log(namespace: str) -> str:
    """The platform charon's log of this domain, without packet-level lines (for failure messages)."""
    try:
        text = Path(f"/tmp/{namespace}-charon/charon.log").read_text(errors="replace")
    except OSError:
        return "no log"
    return "\n".join(line for line in text.splitlines() if "[ENC]" not in line and "[NET]" not in line)[-3000:]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def only_ike_and_esp_in_udp(pcap: Path) -> list[str]:
    """Every IPv4 packet of the capture that is not IKE (UDP 500), IKE or ESP in UDP (4500): none expected."""
    from scapy.all import IP, UDP, rdpcap  # type: ignore[import-untyped]

    odd = []
    for packet in rdpcap(str(pcap)):
        if IP not in packet:
            continue  # ARP, IPv6 neighbour discovery of the veth
        if UDP not in packet or {packet[UDP].sport, packet[UDP].dport} - {500, 4500}:
            odd.append(packet.summary())
    return odd


def test_bad_tunnels_are_refused_naming_the_field_and_nothing_reaches_charon(server: Server) -> None:
    account = new_account(server, "vpn-refusals")
    with http(account) as client:
        _, network, _ = defaults(client)
        url = f"/networks/{network['id']}/vpnTunnels"
        good = {"peerAddress": "198.51.100.7", "preSharedKey": PSK, "remoteCidrs": ["192.168.50.0/24"]}
        for change, field in (
            ({"ikeProposal": "aes256-sha256"}, "ikeProposal"),  # no key exchange method: charon refuses it
            ({"ikeProposal": "aes256-sha256-modp2047"}, "ikeProposal"),  # no such group
            ({"ikeProposal": "aes256gcm16-modp2048"}, "ikeProposal"),  # AEAD IKE without a PRF
            ({"espProposal": "aes256"}, "espProposal"),  # classic cipher, no integrity
            ({"espProposal": "aes256gcm16-sha256-aes128"}, "espProposal"),  # AEAD mixed with classic
            ({"espProposal": "blowfish999-sha1"}, "espProposal"),  # no such cipher
            ({"remoteCidrs": ["192.168.0.0/16", "192.168.50.0/24"]}, "remoteCidrs"),  # overlap each other
            ({"remoteCidrs": ["10.200.4.0/24"]}, "remoteCidrs"),  # overlaps the network's pool 10.200.0.0/20
            ({"remoteCidrs": []}, "remoteCidrs"),
            ({"localCidrs": ["10.99.0.0/24"]}, "localCidrs"),  # not the network's
            ({"peerAddress": "10.200.0.9"}, "peerAddress"),  # inside the network's own pool
            ({"peerAddress": "192.168.50.1"}, "peerAddress"),  # inside what goes through the tunnel
            ({"peerAddress": "127.0.0.1"}, "peerAddress"),
            ({"preSharedKey": "short"}, "preSharedKey"),
            ({"preSharedKey": None}, "preSharedKey"),
            ({"state": "up"}, "state"),
        ):
            assert_refused(client.post(url, json={**good, **change}), field)
        assert client.get(url).json()["items"] == []
        # Nothing was configured: the Network has no domain (nor charon) for a tunnel that does not exist.
        time.sleep(1.5)
        assert network["id"] not in data_plane_status(server)["domains"]

        created = client.post(url, json=good)
        assert created.status_code == 202, created.text
        tunnel = created.json()
        assert tunnel["state"] == "connecting" and "preSharedKey" not in tunnel
        assert tunnel["ikeProposal"] == "aes256-sha256-modp2048" and tunnel["espProposal"] == "aes256gcm16"
        assert tunnel["localCidrs"] == ["10.200.0.0/20"] and tunnel["bytesIn"] == 0
        overlapping = {**good, "peerAddress": "198.51.100.8", "remoteCidrs": ["192.168.50.128/25"]}
        assert_refused(client.post(url, json=overlapping), "remoteCidrs")  # overlaps the first tunnel's
        assert_refused(client.post(url, json={**good, "remoteCidrs": ["192.168.60.0/24"]}), "peerAddress")
        routes = f"/networks/{network['id']}/routes"
        assert_refused(
            client.post(routes, json={"destination": "192.168.51.0/24", "target": tunnel["id"]}), "destination"
        )
        assert_refused(
            client.post(routes, json={"destination": "192.168.50.0/24", "target": "PV" + "0" * 32}), "target"
        )
        assert client.delete(f"{url}/{tunnel['id']}").status_code == 204


def test_a_thing_reaches_the_site_through_the_tunnel_and_the_link_carries_only_ike_and_esp(
    server: Server, site: Site
) -> None:
    account = new_account(server, "vpn-site")
    receiver = WebhookReceiver(account.token).start()
    try:
        with http(account) as client:
            assert client.put("/eventsCallback", json={"url": receiver.url + "/events"}).status_code == 200
            _, network, _ = defaults(client)
            thing = active_thing(account, client)
            # The Thing's first attach makes the Network's domain: its publicAddress is the site's peer.
            assert device_shell(server, thing["iccid"], "true", network=NL).returncode == 0
            namespace = domain_namespace(server, network["id"])
            public = client.get(f"/networks/{network['id']}").json()["publicAddress"]
            site.configure({"cellplane": (public, PSK)}, dpd=DPD)
            site.start_charon()

            url = f"/networks/{network['id']}/vpnTunnels"
            created = client.post(
                url, json={"peerAddress": site.address, "preSharedKey": PSK, "remoteCidrs": [SERVER_NET]}
            )
            assert created.status_code == 202, created.text
            sid = created.json()["id"]
            assert created.json()["localAddress"] == public
            up = tunnel_state(client, network["id"], sid, lambda t: t["state"] == "up", 30)
            assert up["state"] == "up", (up, platform_log(namespace), site.log()[-3000:])
            assert up["establishedAt"] and up["lastError"] is None
            route = client.post(f"/networks/{network['id']}/routes", json={"destination": SERVER_NET, "target": sid})
            assert route.status_code == 201, route.text

            pcap = site.start_capture()
            fetched = device_shell(
                server,
                thing["iccid"],
                "curl",
                "-sS",
                "--max-time",
                "10",
                f"http://{SERVER_ADDRESS}:8080/marker.txt",
                network=NL,
            )
            site.stop_capture()
            assert fetched.returncode == 0, fetched.stdout + fetched.stderr
            assert MARKER in fetched.stdout.encode()
            raw = pcap.read_bytes()
            assert MARKER not in raw, "the payload crossed the link in clear"
            assert only_ike_and_esp_in_udp(pcap) == []
            assert b"\x11\x94" in raw  # UDP port 4500 (ESP in UDP) was seen
            counted = tunnel_state(client, network["id"], sid, lambda t: t["bytesIn"] > len(MARKER) * 64, 5)
            assert counted["bytesIn"] > len(MARKER) * 64 and counted["bytesOut"] > 0, counted

            # The site's gateway dies without a word: dead-peer detection finds out.
            site.stop_charon(kill=True)
            stopped = time.monotonic()
            down = tunnel_state(client, network["id"], sid, lambda t: t["state"] == "down", 20)
            took = time.monotonic() - stopped
            assert down["state"] == "down" and down["lastError"], down
            # DPD after at most DPD seconds of silence, then 3 retransmissions 1 s apart (the platform's charon is
            # configured from CELLPLANE_VPN_DPD_SECONDS: about 1.5 times it), then one poll; slack for a loaded host.
            assert took < DPD + 3 + 5, took
            hooks = receiver.wait_for(lambda got: any(h.params.get("eventType") == "vpnTunnelDown" for h in got))
            hook = next(h for h in hooks if h.params.get("eventType") == "vpnTunnelDown")
            assert hook.twilio_signature_valid and hook.params["vpnTunnelId"] == sid and hook.params["state"] == "down"
            assert any(h.params.get("eventType") == "vpnTunnelUp" for h in hooks)

            events = httpx.get(
                f"{server.base_url}/cellplane/v1/ConnectionEvents",
                params={"EventType": "vpn_tunnel_down"},
                auth=(account.sid, account.token),
            ).json()
            assert any(e["reason"] == down["lastError"] for e in events["connection_events"]), events

            # It comes back: charon keeps trying, and the tunnel is up again by itself.
            site.start_charon()
            again = tunnel_state(client, network["id"], sid, lambda t: t["state"] == "up", 30)
            assert again["state"] == "up", (again, platform_log(namespace))
            assert again["establishedAt"] != up["establishedAt"]
            # Counters are the tunnel's over its life: a new SA's counters start at zero, the tunnel's do not.
            assert again["bytesIn"] >= counted["bytesIn"] and again["bytesOut"] >= counted["bytesOut"], again
            receiver.wait_for(lambda got: sum(h.params.get("eventType") == "vpnTunnelUp" for h in got) >= 2)

            # Delete: routes, SAs and (the domain's last tunnel) its charon go.
            pid = charon_pid(namespace)
            assert pid is not None and alive(pid)
            assert SERVER_NET in ns(namespace, "ip", "route").stdout
            assert client.delete(f"{url}/{sid}").status_code == 204
            assert client.get(f"/networks/{network['id']}/routes").json()["items"] == []
            eventually(lambda: alive(pid), lambda a: not a, timeout=10)
            assert not alive(pid)
            assert SERVER_NET not in ns(namespace, "ip", "route").stdout
            assert "ESTABLISHED" not in eventually(
                lambda: site.swanctl("--list-sas"), lambda out: "ESTABLISHED" not in out, timeout=10
            )
            assert not Path(f"/tmp/{namespace}-charon").exists()
    finally:
        receiver.stop()


def test_a_wrong_pre_shared_key_is_down_with_authentication_failed(server: Server, site: Site) -> None:
    account = new_account(server, "vpn-wrong-key")
    with http(account) as client:
        _, network, _ = defaults(client)
        url = f"/networks/{network['id']}/vpnTunnels"
        body = {"peerAddress": site.address, "preSharedKey": "not the site's key", "remoteCidrs": [SERVER_NET]}
        created = client.post(url, json=body)
        assert created.status_code == 202, created.text
        sid = created.json()["id"]
        public = eventually(
            lambda: client.get(f"/networks/{network['id']}").json()["publicAddress"],
            lambda a: a.startswith("198.1"),
            timeout=10,
        )
        site.stop_charon()
        site.configure({"wrongkey": (public, PSK)}, dpd=DPD)
        site.start_charon()
        down = tunnel_state(
            client,
            network["id"],
            sid,
            lambda t: t["state"] == "down" and "authentication" in (t["lastError"] or ""),
            20,
        )
        assert down["state"] == "down", (down, site.log()[-2000:])
        assert "authentication failed" in down["lastError"], down
        assert client.delete(f"{url}/{sid}").status_code == 204
        site.stop_charon()
