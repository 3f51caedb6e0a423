"""The web console in a real browser (headless Chromium driven by Playwright): sign in, find one SIM among 10,000,
activate it and watch it turn active without a reload, power its device on in the emulated network, send it an IP
Command and watch it reach `sent`; a read-only person sees no button that changes anything and a forced POST is
refused; every page passes axe-core and is screenshotted into tests/.artifacts/console/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import ARTIFACTS, LAUNCH_ARGS, axe_source, chromium_path
from tests.support.server import Server, free_port, server_env

playwright_api = pytest.importorskip("playwright.sync_api")

SIM_COUNT = 10_000
TIMEOUT_MS = 15_000  # a shared machine: a page or a live update may wait for CPU
playwright_api.expect.set_options(timeout=TIMEOUT_MS)


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
    return {"account": account, "sim": target, "fleet": fleet.json()["sid"]}


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
    assert page.get_by_role("heading", name=re.compile(r"SIMs \(10000\)")).is_visible()
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


def test_viewer_sees_no_changing_buttons_and_a_forced_post_is_refused(
    console_server: Server, world: dict[str, Any], browser: Any
) -> None:
    sim = world["sim"]
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
    ):
        page.goto(f"{console_server.base_url}{path}")
        changing = page.locator("[hx-post], form[method=post]:not([action$='/sign-out']), [data-action]")
        assert changing.count() == 0, f"{path} shows {changing.count()} controls that change something"
    token = page.locator("input[name=csrf_token]").first.input_value()  # the sign-out form's, a valid token
    forced = page.request.post(
        f"{console_server.base_url}/console/sims/{sim['sid']}/status",
        form={"status": "inactive", "csrf_token": token},
    )
    assert forced.status == 403, forced.text()
    assert "does not allow sims:write" in forced.text()
    with httpx.Client(
        base_url=f"{console_server.base_url}/supersim/v1",
        auth=(world["account"]["account_sid"], world["account"]["auth_token"]),
    ) as api:
        assert api.get(f"/Sims/{sim['sid']}").json()["status"] != "inactive"  # nothing changed


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
