"""The web console in a real browser (headless Chromium driven by Playwright): sign in, find one SIM among 10,000,
activate it and watch it turn active without a reload, power its device on in the emulated network, send it an IP
Command and watch it reach `sent`; a read-only person sees no button that changes anything and a forced POST is
refused; every page passes axe-core and is screenshotted into tests/.artifacts/console/."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.browser import ARTIFACTS, LAUNCH_ARGS, axe_source, chromium_path
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

playwright_api = pytest.importorskip("playwright.sync_api")

SIM_COUNT = 10_000
THING_COUNT = 250  # three batches of the bulk job: the progress page sees it run
TIMEOUT_MS = 15_000  # a shared machine: a page or a live update may wait for CPU
playwright_api.expect.set_options(timeout=TIMEOUT_MS)
T = TypeVar("T")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The platform with its emulated network in-process (the console's lab page drives it)."""
    data_dir = tmp_path_factory.mktemp("cellplane-console")
    env = server_env(data_dir, None, CELLPLANE_EMULATOR_ENABLED="true")
    server = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    server.start(timeout=90)  # a shared machine: a start may wait for CPU
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(console_server: Server) -> dict[str, Any]:
    """An account with 10,000 SIMs (provisioned in one admin call), a fleet allowed on the demo network, and one
    SIM in it to find."""
    account = console_server.admin("create-account", "--friendly-name", "console")
    sims = console_server.admin("provision-sims", "--count", str(SIM_COUNT), "--account", account["account_sid"])
    assert len(sims) == SIM_COUNT
    target = sims[7_777]
    with httpx.Client(
        base_url=f"{console_server.base_url}/supersim/v1", auth=(account["account_sid"], account["auth_token"])
    ) as api:
        profile = api.post("/NetworkAccessProfiles", data={"UniqueName": "lab", "Networks": "310-260"})
        assert profile.status_code == 201, profile.text
        fleet = api.post("/Fleets", data={"UniqueName": "lab-fleet", "NetworkAccessProfile": profile.json()["sid"]})
        assert fleet.status_code == 201, fleet.text
        moved = api.post(f"/Sims/{target['sid']}", data={"Fleet": fleet.json()["sid"], "UniqueName": "find-me"})
        assert moved.status_code in (200, 202), moved.text
    things = console_server.admin(
        "provision-sims", "--count", str(THING_COUNT), "--product", "things", "--account", account["account_sid"]
    )
    with httpx.Client(
        base_url=f"{console_server.base_url}/things/v1", auth=(account["account_sid"], account["auth_token"])
    ) as api:
        network = api.get("/networks").json()["items"][0]
        profile = api.get("/ipProfiles").json()["items"][0]
    return {
        "account": account,
        "sim": target,
        "fleet": fleet.json()["sid"],
        "things": things,
        "network": network["id"],
        "profile": profile["id"],
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


def sign_in(browser: Any, server: Server, account: dict[str, str], read_only: bool = False) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.base_url}/console")
    assert "/console/sign-in" in page.url  # not signed in: sent to sign in first
    page.get_by_label("Account SID or API key SID").fill(account["account_sid"])
    page.get_by_label("Auth token or API key secret").fill(account["auth_token"])
    if read_only:
        page.get_by_label("Read-only session (viewer)").check()
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console$"))
    return page


def auth(world: dict[str, Any]) -> tuple[str, str]:
    return world["account"]["account_sid"], world["account"]["auth_token"]


def check_page(page: Any, axe: str, name: str) -> None:
    """No serious or critical axe-core violation, and a full-page screenshot kept for people to look at."""
    assert not page.title().startswith(("Not allowed", "Not done")), f"{name}: {page.title()}"  # the page itself
    page.add_script_tag(content=axe)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert not bad, f"{name}: accessibility violations:\n" + "\n".join(bad)


def test_operator_finds_activates_attaches_and_commands_a_sim(
    console_server: Server, world: dict[str, Any], browser: Any, axe: str
) -> None:
    sim = world["sim"]
    page = sign_in(browser, console_server, world["account"])
    total = SIM_COUNT + THING_COUNT  # Things are SIMs too, on the dashboard
    assert page.get_by_role("heading", name=re.compile(rf"SIMs \({total}\)")).is_visible()
    check_page(page, axe, "dashboard")

    # Find one SIM among 10,000 by its ICCID: the results update in place as the person types.
    page.get_by_role("link", name="SIMs", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/sims$"))
    check_page(page, axe, "sims")
    page.get_by_label("Search by ICCID, name, IP address or IMEI").fill(sim["iccid"])
    results = page.locator("#sim-results tbody tr")
    playwright_api.expect(results).to_have_count(1)
    playwright_api.expect(results.first).to_contain_text(sim["iccid"])
    results.first.get_by_role("link").click()
    page.wait_for_url(re.compile(rf".*/console/sims/{sim['sid']}$"))

    # Activate without reloading: the page's own marker survives, the status turns active (through `scheduled`).
    page.evaluate("window.__sameDocument = true")
    page.locator("[data-action=status-active]").click()
    playwright_api.expect(page.locator("#sim-status")).to_have_attribute("data-status", "active")
    assert page.evaluate("window.__sameDocument") is True
    check_page(page, axe, "sim")

    # Its device powers on in the emulated network (through the emulator's API, while the page stays open): the
    # attach arrives on the page live, by server-sent events.
    with httpx.Client(base_url=console_server.base_url, auth=auth(world)) as api:
        on = api.post("/cellplane/v1/Emulator/Devices", data={"Iccid": sim["iccid"], "Network": "310-260"})
        assert on.status_code == 201 and on.json()["state"] == "attached", on.text
    playwright_api.expect(page.locator("#events")).to_contain_text("attach_accepted")
    assert page.evaluate("window.__sameDocument") is True

    # The lab page drives the same device: idle, then attached again.
    page.get_by_role("link", name="Emulated network").click()
    device = page.locator(f"tr[data-iccid='{sim['iccid']}']")
    playwright_api.expect(device.locator("[data-state]")).to_have_attribute("data-state", "attached")
    device.get_by_role("button", name="Idle").click()
    playwright_api.expect(device.locator("[data-state]")).to_have_attribute("data-state", "idle")
    device.get_by_role("button", name="Attach").click()
    playwright_api.expect(device.locator("[data-state]")).to_have_attribute("data-state", "attached")
    device.get_by_role("button", name=re.compile("^Traffic")).click()
    playwright_api.expect(device.locator("td").nth(5)).not_to_have_text("0 B")  # the device counted its uplink
    check_page(page, axe, "lab")

    # An IP Command from the SIM's page: it appears queued and turns sent live.
    page.goto(f"{console_server.base_url}/console/sims/{sim['sid']}")
    page.get_by_label("IP Command payload").fill("hello device")
    page.get_by_label("Device port").fill("6655")
    page.locator("[data-action=send-ip]").click()
    status = page.locator("#commands-body tr").first.locator("[id^=status-HG]")
    playwright_api.expect(status).to_have_attribute("data-status", "sent")

    # The dashboard again, once recounted (it keeps its numbers up to 10 s): the attach and the traffic show.
    page.goto(f"{console_server.base_url}/console")
    for _ in range(20):
        if page.locator("dt:has-text('Accepted') + dd").inner_text() != "0" and page.locator(".chart").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("dt:has-text('Accepted') + dd").inner_text() != "0"
    assert page.locator(".chart rect").count() > 0
    check_page(page, axe, "dashboard")

    for name, path in (
        ("fleets", "/console/fleets"),
        ("rate-plans", "/console/rate-plans"),
        ("webhooks", "/console/webhooks"),
    ):
        page.goto(f"{console_server.base_url}{path}")
        check_page(page, axe, name)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/sign-in$"))
    check_page(page, axe, "sign-in")
    page.goto(f"{console_server.base_url}/console/sims")
    assert "/console/sign-in" in page.url  # the session ended on the server


def test_operator_edits_the_firewall_runs_a_bulk_action_and_manages_access(
    console_server: Server, world: dict[str, Any], browser: Any, axe: str
) -> None:
    base = console_server.base_url
    things_api = httpx.Client(base_url=f"{base}/things/v1", auth=auth(world))
    page = sign_in(browser, console_server, world["account"])

    # The firewall: add an inbound rule, then edit it in place and save; the API sees the edit.
    page.get_by_role("link", name="Firewall").click()
    page.wait_for_url(re.compile(r".*/console/ip-profiles$"))
    check_page(page, axe, "ip-profiles")
    page.locator(f"a[href$='/ip-profiles/{world['profile']}']").click()
    before = len(things_api.get(f"/ipProfiles/{world['profile']}").json()["inbound"])
    page.locator("#a-inbound-new").select_option("deny")
    page.locator("#p-inbound-new").select_option("tcp")
    page.locator("#c-inbound-new").fill("10.0.0.0/8")
    page.locator("#o-inbound-new").fill("22")
    page.locator("[data-action=add-rule-inbound]").click()
    rule = page.locator(f"li[data-rule='inbound-{before}']")
    playwright_api.expect(page.locator("#firewall .saved")).to_have_text(f"Inbound rule {before + 1} added.")
    playwright_api.expect(rule.locator("input[name=remote_ports]")).to_have_value("22")
    rule.locator("select[name=action]").select_option("allow")
    rule.locator("input[name=remote_ports]").fill("2222")
    rule.locator("[data-action=save-rule]").click()
    playwright_api.expect(page.locator("#firewall .saved")).to_have_text(f"Inbound rule {before + 1} saved.")
    saved = things_api.get(f"/ipProfiles/{world['profile']}").json()["inbound"][before]
    assert saved == {"action": "allow", "protocol": "tcp", "remoteCidr": "10.0.0.0/8", "remotePorts": "2222"}
    # A rule the firewall cannot enforce is refused, named, and nothing is saved.
    rule.locator("select[name=protocol]").select_option("icmp")
    rule.locator("[data-action=save-rule]").click()
    playwright_api.expect(page.locator("#flash")).to_contain_text(f"inbound[{before}].remotePorts")
    assert things_api.get(f"/ipProfiles/{world['profile']}").json()["inbound"][before] == saved
    check_page(page, axe, "ip-profile")

    # The private network: pools with their use, isolation turned on, a route added.
    page.get_by_role("link", name="Private networks").click()
    playwright_api.expect(page.locator("meter").first).to_be_visible()
    check_page(page, axe, "networks")
    page.locator(f"a[href$='/networks/{world['network']}']").click()
    isolation = page.locator("#isolation")
    was = isolation.get_attribute("data-isolation")
    page.locator("[data-action=isolation]").click()
    playwright_api.expect(isolation).to_have_attribute("data-isolation", "off" if was == "on" else "on")
    page.get_by_label("Destination (CIDR)").fill("172.30.0.0/16")
    page.locator("[data-action=add-route]").click()
    playwright_api.expect(page.locator("#routes")).to_contain_text("172.30.0.0/16")
    # An address pool added, resized and removed through the same service as /things/v1; what the service refuses
    # is said on the form, naming the field, and nothing changes.
    pools = page.locator("#pools")
    page.get_by_label("New pool (CIDR, /16 to /30)").fill("10.210.0.0/24")
    page.locator("[data-action=add-pool]").click()
    playwright_api.expect(pools.locator(".saved")).to_have_text("Pool 10.210.0.0/24 added.")
    added = pools.locator("tr[data-pool='10.210.0.0/24']")
    playwright_api.expect(added.locator("meter")).to_have_attribute("max", "254")
    listed = things_api.get(f"/networks/{world['network']}/ipPools").json()["items"]
    pool_sid = next(p["id"] for p in listed if p["cidr"] == "10.210.0.0/24")
    page.get_by_label("New CIDR of the pool 10.210.0.0/24").fill("10.210.0.0/23")
    page.locator("tr[data-pool='10.210.0.0/24'] [data-action=resize-pool]").click()
    playwright_api.expect(pools.locator(".saved")).to_have_text("Pool resized to 10.210.0.0/23.")
    assert things_api.get(f"/networks/{world['network']}/ipPools/{pool_sid}").json()["cidr"] == "10.210.0.0/23"
    first = things_api.get(f"/networks/{world['network']}/ipPools").json()["items"][0]["cidr"]
    page.get_by_label("New pool (CIDR, /16 to /30)").fill(first)
    page.locator("[data-action=add-pool]").click()
    playwright_api.expect(page.locator("#pool-problem")).to_contain_text(f"overlaps the network's pool {first} (cidr)")
    playwright_api.expect(page.get_by_label("New pool (CIDR, /16 to /30)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("New CIDR of the pool 10.210.0.0/23").fill("10.210.0.1/23")
    page.locator("tr[data-pool='10.210.0.0/23'] [data-action=resize-pool]").click()
    playwright_api.expect(page.locator("#pool-problem")).to_contain_text("(cidr)")
    playwright_api.expect(page.get_by_label("New CIDR of the pool 10.210.0.0/23")).to_have_value("10.210.0.1/23")
    assert things_api.get(f"/networks/{world['network']}/ipPools/{pool_sid}").json()["cidr"] == "10.210.0.0/23"
    check_page(page, axe, "network-pool-refused")
    page.get_by_role("button", name="Remove the pool 10.210.0.0/23").click()
    playwright_api.expect(pools.locator(".saved")).to_have_text("Pool 10.210.0.0/23 removed.")
    playwright_api.expect(pools.locator("tr[data-pool='10.210.0.0/23']")).to_have_count(0)
    assert things_api.get(f"/networks/{world['network']}/ipPools/{pool_sid}").status_code == 404
    check_page(page, axe, "network")

    # A bulk action over every Thing, watched to completion on its page without a reload.
    page.get_by_role("link", name="Bulk actions").click()
    page.get_by_label("Action", exact=True).select_option("addTags")
    page.get_by_label("Which Things").select_option("thingIds")
    page.get_by_label("Thing ids or ICCIDs").fill(" ".join(thing["iccid"] for thing in world["things"]))
    page.get_by_label("Tags to add or remove").fill("console-bulk")
    check_page(page, axe, "bulk-actions")
    page.locator("[data-action=start-bulk]").click()
    page.wait_for_url(re.compile(r".*/console/bulk-actions/BA\w+$"))
    page.evaluate("window.__sameDocument = true")
    progress = page.locator("[id^=progress-BA]")
    playwright_api.expect(progress).to_have_attribute("data-status", "completed", timeout=60_000)
    playwright_api.expect(progress).to_have_attribute("data-done", str(THING_COUNT))
    assert page.evaluate("window.__sameDocument") is True
    check_page(page, axe, "bulk-action")
    tagged = things_api.get("/things", params={"tag": "console-bulk", "pageSize": 1000}).json()["items"]
    assert len(tagged) == THING_COUNT

    # A selection in the SIM list: two Super SIMs activated at once, and a Thing by a bulk action.
    page.goto(f"{base}/console/sims")
    boxes = page.locator("#sim-results input[name=sim]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.locator("[data-action=selection-activate]").click()
    # As long as the bulk action's waits above: right after it, its SIM updates still write (one writer on SQLite).
    playwright_api.expect(page.locator("#selection-result")).to_contain_text("2 SIM(s) changed", timeout=60_000)
    page.get_by_label("Search by ICCID, name, IP address or IMEI").fill(world["things"][0]["iccid"])
    playwright_api.expect(page.locator("#sim-results tbody tr")).to_have_count(1)
    page.locator("#sim-results input[name=sim]").check()
    page.locator("[data-action=selection-activate]").click()
    playwright_api.expect(page.locator("#selection-result")).to_contain_text("1 Thing(s) by bulk action BA")
    check_page(page, axe, "sims-selection")

    # The security settings (admin): a user added, an API client whose secret shows once, the audit log.
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Role", exact=True).select_option("operator")
    page.get_by_label("Password (10 characters or more)").fill("a long enough password")
    page.locator("[data-action=add-user]").click()
    playwright_api.expect(page.locator("tr[data-user='ops@example.com']")).to_be_visible()
    check_page(page, axe, "users")
    page.get_by_role("link", name="API clients").click()
    page.locator("[data-action=add-client]").click()
    playwright_api.expect(page.get_by_label("Client secret")).not_to_have_value("")
    check_page(page, axe, "api-clients")
    page.get_by_role("link", name="Audit log").click()
    playwright_api.expect(page.locator("main table")).to_contain_text(f"POST /console/ip-profiles/{world['profile']}")
    check_page(page, axe, "audit")
    things_api.close()


def test_viewer_sees_no_changing_buttons_and_a_forced_post_is_refused(
    console_server: Server, world: dict[str, Any], browser: Any
) -> None:
    sim = world["sim"]
    with httpx.Client(base_url=f"{console_server.base_url}/things/v1", auth=auth(world)) as api:
        bulk = api.post(
            "/bulkActions",
            json={
                "action": "addTags",
                "parameters": {"tags": ["seen"]},
                "selection": {"thingIds": [world["things"][0]["sid"]]},
            },
        )
        assert bulk.status_code == 202, bulk.text
        profile = api.get(f"/ipProfiles/{world['profile']}")
        if not profile.json()["inbound"]:  # this test alone: a rule to show read-only
            rule = {"action": "allow", "protocol": "tcp", "remoteCidr": "10.0.0.0/8", "remotePorts": "2222"}
            assert api.patch(f"/ipProfiles/{world['profile']}", json={"inbound": [rule]}).status_code == 200
        rules_before = api.get(f"/ipProfiles/{world['profile']}").json()["inbound"]
        isolation_before = api.get(f"/networks/{world['network']}").json()["deviceIsolation"]
        pools_before = api.get(f"/networks/{world['network']}/ipPools").json()["items"]
    page = sign_in(browser, console_server, world["account"], read_only=True)
    assert page.locator("[data-role=viewer]").is_visible()
    for path in (
        "/console",
        "/console/sims",
        f"/console/sims/{sim['sid']}",
        "/console/fleets",
        "/console/rate-plans",
        "/console/webhooks",
        "/console/lab",
        "/console/bulk-actions",
        f"/console/bulk-actions/{bulk.json()['id']}",
        "/console/networks",
        f"/console/networks/{world['network']}",
        "/console/ip-profiles",
        f"/console/ip-profiles/{world['profile']}",
    ):
        page.goto(f"{console_server.base_url}{path}")
        changing = page.locator("[hx-post], form[method=post]:not([action$='/sign-out']), [data-action], [form]")
        assert changing.count() == 0, f"{path} shows {changing.count()} controls that change something"
    # The firewall shows its rules read-only; the security settings are not even linked.
    playwright_api.expect(page.locator("tr[data-rule='inbound-0']")).to_contain_text(rules_before[0]["remoteCidr"])
    for name in ("Users", "API clients", "Audit log"):
        assert page.get_by_role("link", name=name).count() == 0
    answer = page.goto(f"{console_server.base_url}/console/users")
    assert answer is not None and answer.status == 403
    token = page.locator("input[name=csrf_token]").first.input_value()  # the sign-out form's, a valid token
    forced = page.request.post(
        f"{console_server.base_url}/console/sims/{sim['sid']}/status",
        form={"status": "inactive", "csrf_token": token},
    )
    assert forced.status == 403, forced.text()
    assert "does not allow sims:write" in forced.text()
    for path, form, permission in (
        (
            f"/console/ip-profiles/{world['profile']}/rules",
            {"direction": "inbound", "op": "add", "action": "deny", "protocol": "any"},
            "networks:write",
        ),
        ("/console/bulk-actions", {"action": "retire", "selection": "tag", "tag": "console"}, "bulk:write"),
        (f"/console/networks/{world['network']}/isolation", {"device_isolation": "on"}, "networks:write"),
        (f"/console/networks/{world['network']}/pools", {"cidr": "10.220.0.0/24"}, "networks:write"),
        (
            f"/console/networks/{world['network']}/pools/{pools_before[0]['id']}",
            {"cidr": "10.0.0.0/16"},
            "networks:write",
        ),
        (f"/console/networks/{world['network']}/pools/{pools_before[0]['id']}/delete", {}, "networks:write"),
        ("/console/users", {"email": "x@example.com", "role": "admin", "password": "0123456789ab"}, "users:write"),
    ):
        forced = page.request.post(f"{console_server.base_url}{path}", form={**form, "csrf_token": token})
        assert forced.status == 403, (path, forced.text())
        assert f"does not allow {permission}" in forced.text()
    with httpx.Client(
        base_url=f"{console_server.base_url}/supersim/v1",
        auth=(world["account"]["account_sid"], world["account"]["auth_token"]),
    ) as api:
        assert api.get(f"/Sims/{sim['sid']}").json()["status"] != "inactive"  # nothing changed
    with httpx.Client(base_url=f"{console_server.base_url}/things/v1", auth=auth(world)) as api:
        assert api.get(f"/ipProfiles/{world['profile']}").json()["inbound"] == rules_before  # nothing changed
        assert api.get(f"/networks/{world['network']}").json()["deviceIsolation"] is isolation_before
        pools_after = api.get(f"/networks/{world['network']}/ipPools").json()["items"]
        assert [(p["id"], p["cidr"]) for p in pools_after] == [(p["id"], p["cidr"]) for p in pools_before]
        assert all(bulk["action"] != "retire" for bulk in api.get("/bulkActions").json()["items"])


def off_the_loop(function: Callable[..., T], *args: Any) -> T:
    """`function` in a thread of its own: it runs asyncio, and Playwright's sync API holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


class RowLock:
    """A Thing's row held FOR UPDATE by a transaction of the test's own (asyncpg, in a thread of its own): a bulk
    chunk that reaches the Thing waits for it, so a test decides when the chunk's outcomes happen."""

    def __init__(self, database_url: str, sid: str) -> None:
        self.dsn, self.sid = database_url.replace("+asyncpg", ""), sid
        self.held, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.dsn)
        try:
            async with connection.transaction():
                await connection.execute("SELECT sid FROM sims WHERE sid = $1 FOR UPDATE", self.sid)
                self.held.set()
                await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)
        finally:
            await connection.close()

    def __enter__(self) -> RowLock:
        self.thread.start()
        assert self.held.wait(30), "the row lock was not taken"
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(30)


def test_a_bulk_actions_failed_items_arrive_live(
    tmp_path_factory: pytest.TempPathFactory, browser: Any, axe: str
) -> None:
    """On PostgreSQL, chunks of 10: the third chunk waits for a Thing's row the test holds, so the page is open
    before its Thing fails; that failure joins the failed-items list without a reload."""
    if reason := postgres_available():
        pytest.skip(reason)
    database_url = off_the_loop(create_postgres_database)
    data_dir = tmp_path_factory.mktemp("cellplane-console-bulk")
    env = server_env(data_dir, database_url, CELLPLANE_BULK_CHUNK="10")
    server = Server(backend="postgres", data_dir=data_dir, port=free_port(), env=env)
    server.start(timeout=120)
    try:
        account = server.admin("create-account", "--friendly-name", "console-bulk")
        things = server.admin(
            "provision-sims", "--count", "30", "--product", "things", "--account", account["account_sid"]
        )
        with httpx.Client(
            base_url=f"{server.base_url}/things/v1", auth=(account["account_sid"], account["auth_token"])
        ) as api:
            for retired in (things[3], things[25]):  # one in the first chunk, one in the third
                assert api.patch(f"/things/{retired['sid']}", json={"state": "RETIRED"}).status_code == 202
            deadline = time.monotonic() + 30  # the retirements complete first (in flight, a Thing is refused for that)
            while any(api.get(f"/things/{t['sid']}").json()["state"] != "RETIRED" for t in (things[3], things[25])):
                assert time.monotonic() < deadline, "the Things were not retired"
                time.sleep(0.1)
            page = sign_in(browser, server, account)
            with RowLock(database_url, things[20]["sid"]) as lock:
                posted = api.post(
                    "/bulkActions",
                    json={"action": "activate", "selection": {"thingIds": [t["sid"] for t in things]}},
                )
                assert posted.status_code == 202, posted.text
                sid = posted.json()["id"]
                page.goto(f"{server.base_url}/console/bulk-actions/{sid}")
                progress, failed = page.locator(f"#progress-{sid}"), page.locator(f"#failed-{sid}")
                # Two chunks done, the third waiting for the held row: the first chunk's failure is listed.
                playwright_api.expect(progress).to_have_attribute("data-done", "20")
                playwright_api.expect(failed.locator("tr[data-position='3']")).to_contain_text("RETIRED")
                assert failed.locator("tr[data-position='25']").count() == 0
                page.evaluate("window.__sameDocument = true")
                lock.release.set()
            playwright_api.expect(progress).to_have_attribute("data-status", "completed")
            playwright_api.expect(failed.locator("tr[data-position='25']")).to_contain_text(things[25]["sid"])
            playwright_api.expect(failed).to_have_attribute("data-failed", "2")
            assert page.evaluate("window.__sameDocument") is True  # no reload
            check_page(page, axe, "bulk-action-failed")
            items = api.get(f"/bulkActions/{sid}/items", params={"outcome": "failed"}).json()["items"]
            assert [item["thingId"] for item in items] == [things[3]["sid"], things[25]["sid"]]
    finally:
        server.stop()
        off_the_loop(drop_postgres_database, database_url)


def test_console_refuses_a_post_without_the_session_csrf_token(console_server: Server, world: dict[str, Any]) -> None:
    account = world["account"]
    with httpx.Client(base_url=console_server.base_url) as client:
        signed = client.post(
            "/console/sign-in",
            data={"username": account["account_sid"], "password": account["auth_token"], "next": "/console"},
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        forged = client.post(f"/console/sims/{world['sim']['sid']}/status", data={"status": "inactive"})
        assert forged.status_code == 403
        assert "security token" in forged.text
        wrong = client.post("/console/sign-in", data={"username": account["account_sid"], "password": "nope"})
        assert wrong.status_code == 401


def test_first_load_is_small_and_served_from_the_package(console_server: Server) -> None:
    """Everything the sign-in page loads comes from the platform itself (no CDN), and under 300 KB."""
    with httpx.Client(base_url=console_server.base_url) as client:
        html = client.get("/console/sign-in")
        assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', html.text)
        assert {Path(a.split("?")[0]).name for a in assets} == {"console.css", "htmx.min.js", "console.js"}
        assert "http" not in " ".join(re.findall(r'(?:src|href)="([^"]+)"', html.text))
        sizes = [len(client.get(asset, headers={"Accept-Encoding": "identity"}).content) for asset in assets]
        assert len(html.content) + sum(sizes) < 300_000
