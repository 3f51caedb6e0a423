"""The README's five-minute tour runs as written (issue 14): its code blocks, in order, against a platform started as
`make up` starts it (`cellplane up --demo` in a fresh folder, on free ports), the shown outputs checked.

The convention for tour blocks (skip, background, shown outputs, `# ->`, placeholders) is in tests/support/tour.py.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import REPO, Server, free_port, free_ports
from tests.support.tour import Block, Tour, TourFailed, matches, tour_blocks, walking

README = REPO / "README.md"
# Default ports the tour names, and the settings a test server sets them by.
PORTS = {
    "8080": ("--port", socket.SOCK_STREAM),
    "1812": ("--aaa-auth-port", socket.SOCK_DGRAM),
    "1813": ("--aaa-acct-port", socket.SOCK_DGRAM),
    "2123": ("--gtpc-port", socket.SOCK_DGRAM),
    "2152": ("--gtpu-port", socket.SOCK_DGRAM),
    "7000": ("", socket.SOCK_DGRAM),  # the bridge example's firmware socket
    "7001": ("", socket.SOCK_DGRAM),  # and the bridge's --listen
}


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A folder laid out as a fresh clone after `make up` installed: .venv/bin/cellplane, nothing else."""
    folder = tmp_path / "cellplane"
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "cellplane").symlink_to(Path(sys.executable).parent / "cellplane")
    return folder


@pytest.fixture
def made_up(clone: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """`cellplane up --demo` in the clone with its default data directory; the tour's ports mapped to free ones."""
    tcp = iter(free_ports(1))
    udp = iter(free_ports(sum(1 for _, kind in PORTS.values() if kind == socket.SOCK_DGRAM), socket.SOCK_DGRAM))
    ports = {default: str(next(tcp if kind == socket.SOCK_STREAM else udp)) for default, (_, kind) in PORTS.items()}
    flags = [
        item for default, (flag, _) in PORTS.items() if flag and flag != "--port" for item in (flag, ports[default])
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env["CELLPLANE_GATEWAY_DAE_PORT"] = str(free_port(socket.SOCK_DGRAM))  # no flag; not in the tour
    server = Server("sqlite", clone, int(ports["8080"]), env, extra_args=["--demo", *flags])
    server.start(timeout=60)
    try:
        yield server, ports
    finally:
        server.stop()


def fills_for(clone: Path, ports: dict[str, str]) -> dict[str, str]:
    """What a reader copies from the banner into the tour's placeholders."""
    demo = json.loads((clone / ".cellplane" / "demo.json").read_text())
    iccid = next(sim["iccid"] for sim in demo["sims"] if sim["unique_name"] == "demo-sim-1")
    return {"AC0187...": demo["account_sid"], "4f1c...": demo["auth_token"], "<ICCID>": iccid}


def test_the_readme_tour_runs_as_written(made_up: tuple[Server, dict[str, str]], clone: Path) -> None:
    server, ports = made_up
    blocks = tour_blocks(README.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    socket.setdefaulttimeout(30)  # a datagram the tour waits for that never comes fails the test, not hangs it
    try:
        with walking(clone, env, fills_for(clone, ports), ports) as tour:
            assert server.log_path is not None
            ran = tour.run(blocks, make_up_output=server.log_path.read_text())
    finally:
        socket.setdefaulttimeout(None)
    assert ran >= 8, f"only {ran} tour blocks ran: has the tour's heading moved?"


def test_a_shown_output_that_is_not_what_comes_out_fails_the_tour(tmp_path: Path) -> None:
    """The checks themselves: a `# ->` that lies, an output block that lies, and a failing command each stop the tour;
    a block marked skip does not run."""
    readme = "\n".join(
        [
            "## A five-minute tour",
            "```python",
            "print('queued')  # -> queued",
            "x = 41",
            "```",
            "<!-- tour: skip -->",
            "```sh",
            "exit 1",
            "```",
            "```sh",
            "N=7",
            "```",
            "```sh",
            "echo $N   # -> 7",
            "echo AC123 tok   # -> AC0187... tok",
            "```",
            "```python",
            "print({'status': 'sent',",
            "       'sid': 'HC' + str(x + 1)})  # -> {'status': 'sent', 'sid': 'HC...'}",
            "```",
            "<!-- tour: output -->",
            "```",
            "{'status':   'sent', 'sid': 'HC42'}",
            "```",
            "## next",
        ]
    )
    blocks = tour_blocks(readme)
    assert [b.language for b in blocks] == ["python", "sh", "sh", "sh", "python", ""]

    def walk(changed: list[Block]) -> int:
        with walking(tmp_path, dict(os.environ), {"AC0187...": "AC123"}) as tour:
            return Tour.run(tour, changed, "")

    assert walk(blocks) == 4

    lying = [*blocks[:-1], Block("", "{'status': 'failed', 'sid': 'HC42'}", "output", 99)]
    with pytest.raises(TourFailed, match="line 99"):
        walk(lying)
    wrong_arrow = [Block("python", "print('sent')  # -> queued", "", 7)]
    with pytest.raises(TourFailed, match="README shows:\nqueued"):
        walk(wrong_arrow)
    with pytest.raises(TourFailed, match="failed \\(exit 7\\)"):
        walk([Block("sh", "curl http://127.0.0.1:9/nothing-here", "", 3)])  # curl fails: nothing answers on port 9
    assert matches("a ... c", "a  b\n b c") and not matches("a ... c", "a b d")
