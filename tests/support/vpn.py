"""A customer's site for the VPN tests and bench: a network namespace of its own, reached from the host through a veth
(host end in 198.18.0.0/15, forwarding enabled on that link only), with a strongSwan charon configured as a customer
would (its own strongswan.conf and swanctl.conf, loaded with swanctl) and a web server on a private address behind it.

    with Site() as site:
        site.configure({"PN...": (our_public_address, psk)}, local_ts="172.31.250.0/24", remote_ts="10.200.0.0/20")
        site.start_charon()
        ... site.stop_charon(kill=True) ...
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from tests.support import system_packages

PACKAGES = {
    "/usr/lib/ipsec/charon": "strongswan-charon",
    "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so": "libcharon-extra-plugins",
    # AES-GCM and the ECP groups: without it IKE comes up and no CHILD_SA is ever installed.
    "/usr/lib/ipsec/plugins/libstrongswan-openssl.so": "libstrongswan-standard-plugins",
    "/usr/sbin/swanctl": "strongswan-swanctl",
    "/usr/bin/tcpdump": "tcpdump",
}
SERVER_ADDRESS = "172.31.250.1"
SERVER_NET = "172.31.250.0/24"
MARKER = b"cellplane-vpn-cleartext-marker-"
PLUGINS = (
    "random nonce openssl pem pkcs1 x509 pubkey revocation constraints kdf curve25519 gmp aes sha1 sha2 hmac "
    "kernel-libipsec kernel-netlink socket-default vici"
)


def vpn_unavailable() -> str | None:
    """None when strongSwan (charon, kernel-libipsec, swanctl) and tcpdump are here, installing them as root."""
    if os.geteuid() != 0:
        return "VPN tunnels need root (namespaces, charon)"
    missing = sorted({p for path, p in PACKAGES.items() if not os.path.exists(path)})
    if missing:
        # Through the one installer: two xdist workers importing this at once raced for dpkg's lock, and the
        # loser skipped its share of the VPN tests ("cannot install tcpdump", CI 2026-12-06 23:01).
        system_packages.install(*missing, recommends=False)
    still = [p for path, p in PACKAGES.items() if not os.path.exists(path)]
    if still:
        return f"cannot install {', '.join(still)} (apt-get install {' '.join(still)})"
    return None


def _host_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return [ipaddress.IPv4Interface(line.split()[3]).network for line in out.splitlines()]


def _free_slash30(avoid: list[str]) -> ipaddress.IPv4Network:
    """A /30 in a /24 of 198.18.0.0/15 where the host has no address and no data plane lives."""
    taken = _host_networks() + [ipaddress.IPv4Network(a) for a in avoid]
    for _ in range(200):
        block = ipaddress.IPv4Network((int(ipaddress.IPv4Address("198.18.0.0")) + random.randrange(512) * 256, 24))
        if not any(block.overlaps(t) for t in taken):
            return ipaddress.IPv4Network((int(block.network_address) + 4 * random.randrange(1, 63), 30))
    raise RuntimeError("no free /24 in 198.18.0.0/15")


def ns(namespace: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True, check=check)


class Site:
    """The customer's site: namespace, gateway charon, web server. A context manager that removes all of it."""

    def __init__(self, avoid: list[str] | None = None) -> None:
        tag = secrets.token_hex(3)
        # cellplane-<instance>-<what>, with the instance claimed in /run/cellplane as the data plane does: any
        # platform's start sweeps cellplane-* namespaces whose instance has no live owner.
        self.instance = f"s{tag}"
        self.namespace = f"cellplane-{self.instance}-site"
        self.claim = Path("/run/cellplane") / f"{self.instance}.pid"
        self.host_link = f"cellplane-s{tag[:4]}"
        self.link = _free_slash30(avoid or [])
        hosts = list(self.link.hosts())
        self.host_address, self.address = str(hosts[0]), str(hosts[1])
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.namespace}-"))
        self.charon: subprocess.Popen[bytes] | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.capture: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Site:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _create(self) -> None:
        self.claim.parent.mkdir(parents=True, exist_ok=True)
        self.claim.write_text(f"{os.getpid()}\n")
        subprocess.run(["ip", "netns", "add", self.namespace], check=True)
        subprocess.run(
            ["ip", "link", "add", self.host_link, "type", "veth", "peer", "name", "site0", "netns", self.namespace],
            check=True,
        )
        subprocess.run(["ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_link], check=True)
        subprocess.run(["ip", "link", "set", self.host_link, "up"], check=True)
        # What the site sends back is forwarded by the host: enabled on this link only, never host-wide.
        Path(f"/proc/sys/net/ipv4/conf/{self.host_link}/forwarding").write_text("1")
        ns(self.namespace, "ip", "addr", "add", f"{self.address}/30", "dev", "site0")
        ns(self.namespace, "ip", "link", "set", "site0", "up")
        ns(self.namespace, "ip", "link", "set", "lo", "up")
        ns(self.namespace, "ip", "route", "add", "default", "via", self.host_address)
        ns(self.namespace, "ip", "addr", "add", f"{SERVER_ADDRESS}/24", "dev", "lo")
        www = self.dir / "www"
        www.mkdir()
        (www / "marker.txt").write_bytes(MARKER * 64)
        (www / "big.bin").write_bytes(os.urandom(1 << 20))
        self.web = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "python3", "-m", "http.server", "8080", "--bind", SERVER_ADDRESS],
            cwd=www,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while "8080" not in ns(self.namespace, "ss", "-Hltn", "sport = :8080", check=False).stdout:
            assert time.monotonic() < deadline, "the site's web server did not start"
            time.sleep(0.1)

    # --- charon ----------------------------------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return f"unix://{self.dir}/charon.vici"

    def configure(self, peers: dict[str, tuple[str, str]], dpd: int = 2) -> None:
        """swanctl.conf with a connection per (our publicAddress, its pre-shared key), as the customer writes it."""
        connections, secrets_ = [], []
        for name, (remote, psk) in peers.items():
            connections.append(
                f"""  {name} {{
    version = 2
    local_addrs = {self.address}
    remote_addrs = {remote}
    encap = yes
    dpd_delay = {dpd}s
    proposals = aes256-sha256-modp2048
    local {{
      auth = psk
      id = {self.address}
    }}
    remote {{
      auth = psk
      id = {remote}
    }}
    children {{
      {name} {{
        local_ts = {SERVER_NET}
        remote_ts = 10.0.0.0/8
        esp_proposals = aes256gcm16
        dpd_action = clear
      }}
    }}
  }}"""
            )
            secrets_.append(
                f'  ike-{name} {{\n    id-a = {self.address}\n    id-b = {remote}\n    secret = "{psk}"\n  }}'
            )
        (self.dir / "swanctl.conf").write_text(
            "connections {\n" + "\n".join(connections) + "\n}\nsecrets {\n" + "\n".join(secrets_) + "\n}\n"
        )
        (self.dir / "strongswan.conf").write_text(
            f"""charon {{
  load = {PLUGINS}
  install_routes = yes
  retransmit_timeout = 1
  retransmit_tries = 2
  retransmit_base = 1.0
  plugins {{
    vici {{
      socket = {self.uri}
    }}
  }}
  filelog {{
    site {{
      path = {self.dir}/charon.log
      default = 1
      ike_name = yes
    }}
  }}
}}
"""
        )
        (self.dir / "run").mkdir(exist_ok=True)

    def start_charon(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "charon.vici").unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "run" / "charon.pid").unlink()
        script = f"mount --bind '{self.dir}/run' /run && exec /usr/lib/ipsec/charon"
        self.charon = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "sh", "-c", script],
            env={**os.environ, "STRONGSWAN_CONF": str(self.dir / "strongswan.conf")},
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "charon.stderr").open("wb"),
        )
        deadline = time.monotonic() + 20
        while not (self.dir / "charon.vici").exists():
            if time.monotonic() > deadline or self.charon.poll() is not None:
                stderr = (self.dir / "charon.stderr").read_text(errors="replace")
                raise AssertionError(f"the site's charon did not start: {stderr} {self.log()[-1500:]}")
            time.sleep(0.1)
        time.sleep(0.2)
        self.swanctl("--load-all", "--file", str(self.dir / "swanctl.conf"))

    def stop_charon(self, kill: bool = False) -> None:
        """Stop the site's gateway; `kill`: at once, without telling the peer (it must find out by DPD)."""
        if self.charon is not None and self.charon.poll() is None:
            self.charon.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.charon.wait(10)
        self.charon = None

    def swanctl(self, *args: str) -> str:
        done = subprocess.run(["swanctl", *args, "--uri", self.uri], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "charon.log").read_text(errors="replace")
        return ""

    # --- capture ---------------------------------------------------------------------------------------------------

    def start_capture(self) -> Path:
        path = self.dir / "link.pcap"
        self.capture = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "tcpdump", "-U", "-n", "-i", "site0", "-w", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return path

    def stop_capture(self) -> None:
        if self.capture is not None and self.capture.poll() is None:
            self.capture.send_signal(signal.SIGINT)
            self.capture.wait(10)
        self.capture = None

    def close(self) -> None:
        self.stop_capture()
        self.stop_charon()
        if self.web is not None:
            self.web.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.web.wait(5)
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.claim.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_namespace() -> Iterator[str]:
    """An empty namespace `cellplane-<claimed instance>-scratch` (claimed like the data plane's, so no platform's
    sweep takes it), removed afterwards."""
    instance = f"p{secrets.token_hex(3)}"
    claim = Path("/run/cellplane") / f"{instance}.pid"
    claim.parent.mkdir(parents=True, exist_ok=True)
    claim.write_text(f"{os.getpid()}\n")
    namespace = f"cellplane-{instance}-scratch"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        ns(namespace, "ip", "link", "set", "lo", "up")
        yield namespace
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        claim.unlink(missing_ok=True)
