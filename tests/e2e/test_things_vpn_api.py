"""VPN tunnels where they cannot run (the shared test server has the data plane off): a tunnel is still created
(202, stored, listed, deleted like any resource) but says at once why it will not come up, instead of staying
`connecting` for ever. The tunnels themselves are tests/e2e/test_things_vpn.py's (root)."""

from __future__ import annotations

from tests.conftest import Account
from tests.e2e.test_things_api import defaults, http


def test_a_tunnel_without_a_data_plane_is_down_saying_why(account: Account) -> None:
    with http(account) as client:
        _, network, _ = defaults(client)
        url = f"/networks/{network['id']}/vpnTunnels"
        body = {"peerAddress": "198.51.100.20", "preSharedKey": "a long enough key", "remoteCidrs": ["10.250.0.0/24"]}
        created = client.post(url, json=body)
        assert created.status_code == 202, created.text
        tunnel = created.json()
        assert tunnel["state"] == "down" and "data plane is off" in tunnel["lastError"], tunnel
        assert "preSharedKey" not in tunnel and created.headers["ETag"]
        assert [t["id"] for t in client.get(url).json()["items"]] == [tunnel["id"]]
        route = client.post(
            f"/networks/{network['id']}/routes", json={"destination": "10.250.0.0/25", "target": tunnel["id"]}
        )
        assert route.status_code == 201, route.text
        assert client.delete(f"{url}/{tunnel['id']}").status_code == 204
        assert client.get(f"{url}/{tunnel['id']}").status_code == 404
        assert client.get(f"/networks/{network['id']}/routes").json()["items"] == []
