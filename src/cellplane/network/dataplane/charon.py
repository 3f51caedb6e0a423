"""One strongSwan charon in one routing domain's namespace, driven over VICI (the `vici` package).

    charon = Charon(domain.namespace, timing)
    await charon.start()                  # its own strongswan.conf, VICI socket, log and /run; ESP in user space
    await charon.load(name, conn, psk)    # a connection (swanctl.conf's shape) and its pre-shared key
    await charon.sas()                    # {connection: IkeSa}: what list-sas says now
    charon.errors()                       # {connection: its last failure}, from charon's log since the last call
    await charon.stop()

This kernel has no ESP: the `kernel-libipsec` plugin does ESP in user space through a TUN device (`ipsec0` in the
namespace), carried in UDP on port 4500 (connections say `encap = yes`). Charon installs no routes
(`install_routes = no`, and kernel-libipsec's own routes go to a table nothing looks up): the platform routes what a
Network's routes send through a tunnel into `ipsec0` itself. kernel-libipsec needs an address of each local traffic
selector in the namespace (the source of its routes): the platform puts the pool's network address, which no Thing
is ever given, on the domain's `lo`.
charon's pid file is fixed at /var/run/charon.pid, so each charon runs in a mount namespace of its own with its state
directory's `run/` mounted on /run; it is given SIGTERM if the platform dies (PR_SET_PDEATHSIG), and its state
directory is `<tmp>/<namespace>-charon` (the namespace name is unique to the platform instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vici  # type: ignore[import-untyped]

from . import names
from .netlink import NetNS

log = logging.getLogger("cellplane.vpn")

CHARON_PATHS = ("/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon", "/usr/lib/strongswan/charon")
PLUGINS = (
    "random nonce openssl pem pkcs1 x509 pubkey revocation constraints kdf curve25519 gmp aes sha1 sha2 hmac "
    "kernel-libipsec kernel-netlink socket-default vici"
)
DEVICE = "ipsec0"
# kernel-libipsec installs a route per CHILD_SA whatever `install_routes` says, into this table, which charon looks
# up for every packet through a rule of its own. We delete that rule: a Network's own routes (target: the tunnel)
# decide what enters the tunnel, not its traffic selectors alone.
ROUTING_TABLE = 220
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PR_SET_PDEATHSIG = 1


def charon_path() -> str | None:
    """Where this host's charon is, or None (strongswan-charon, libcharon-extra-plugins not installed)."""
    for path in CHARON_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


def missing() -> str | None:
    """Why VPN tunnels cannot run here, or None."""
    path = charon_path()
    if path is None:
        return (
            "strongSwan's charon is not installed"
            " (apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-standard-plugins)"
        )
    plugin = Path(path).parent / "plugins" / "libstrongswan-kernel-libipsec.so"
    if not plugin.exists():
        return "strongSwan's kernel-libipsec plugin is not installed (apt-get install libcharon-extra-plugins)"
    if not (Path(path).parent / "plugins" / "libstrongswan-openssl.so").exists():
        # AES-GCM (the default ESP proposal) and the ECP groups come from the openssl plugin: without it charon
        # starts, negotiates IKE, and then never installs a CHILD_SA.
        return "strongSwan's openssl plugin is not installed (apt-get install libstrongswan-standard-plugins)"
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "unshare and nsenter (util-linux) are not installed"
    return None


@dataclass(frozen=True)
class Timing:
    """Dead-peer detection and retransmission: a silent peer is declared dead after about
    `dpd + retransmit_timeout * (retransmit_tries + 1)` seconds."""

    dpd: int = 30
    retransmit_timeout: float = 4.0
    retransmit_tries: int = 2

    @classmethod
    def for_dpd(cls, dpd: int) -> Timing:
        """Retransmissions scaled to the DPD interval (a dead peer is declared after about 1.5 times it)."""
        return cls(dpd=dpd, retransmit_timeout=max(1.0, dpd / 6), retransmit_tries=2)


@dataclass(frozen=True)
class IkeSa:
    """One connection's IKE SA as list-sas says it: its state, whether a CHILD_SA is installed, its bytes."""

    unique_id: str
    established: bool
    installed: bool
    seconds_up: int
    bytes_in: int
    bytes_out: int
    # Every CHILD_SA of the connection (rekeyed ones too, while charon lists them): unique id -> (bytes in, out).
    children: dict[str, tuple[int, int]] = field(default_factory=dict)


# charon's log lines (filelog with ike_name): "<name|uniqueid> message"; what a customer should read for each failure.
_LINE = re.compile(r"<([A-Za-z0-9_-]+)\|\d+> (.*)")
_FAILURES = (
    (re.compile(r"AUTHENTICATION_FAILED"), "authentication failed: the site refused our pre-shared key"),
    (re.compile(r"MAC mismatched|authentication of .* failed"), "authentication failed: pre-shared keys differ"),
    (re.compile(r"NO_PROPOSAL_CHOSEN|no acceptable proposal|no matching proposal"), "no proposal the site accepts"),
    (re.compile(r"TS_UNACCEPTABLE|no acceptable traffic selectors"), "the site refused the traffic selectors"),
    (re.compile(r"giving up after \d+ retransmits"), "the site does not answer (dead peer)"),
    (re.compile(r"received DELETE for IKE_SA"), "the site closed the tunnel"),
    (re.compile(r"establishing IKE_SA failed|installing CHILD_SA .* failed"), "charon could not establish the tunnel"),
)


class CharonError(RuntimeError):
    """charon did not start, or refused a request."""


class Charon:
    """A charon process of one namespace; VICI calls run in worker threads (the package is blocking)."""

    def __init__(self, namespace: str, timing: Timing) -> None:
        self.namespace = namespace
        self.timing = timing
        self.dir = Path(tempfile.gettempdir()) / f"{namespace}-charon"
        self.socket = self.dir / "charon.vici"
        self.log_path = self.dir / "charon.log"
        self.process: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    # --- life ---------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Write its configuration, start it in the namespace, wait until VICI answers and `ipsec0` exists."""
        path = charon_path()
        if path is None:
            raise CharonError(missing() or "charon is not installed")
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "run").mkdir(parents=True)
        self.dir.chmod(0o700)
        (self.dir / "strongswan.conf").write_text(self._conf())
        script = f"mount --bind '{self.dir}/run' /run && exec '{path}'"
        self.process = await asyncio.create_subprocess_exec(
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "nsenter",
            f"--net=/run/netns/{self.namespace}",
            "--",
            "sh",
            "-c",
            script,
            env={
                "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                "STRONGSWAN_CONF": str(self.dir / "strongswan.conf"),
            },
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while not (await asyncio.to_thread(self._ready)):
            if self.process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise CharonError(f"charon did not start in {self.namespace}: {self._log_tail()}")
            await asyncio.sleep(0.1)
        await asyncio.to_thread(self._drop_rule)
        log.info("charon started in %s (pid %s)", self.namespace, self.process.pid)

    async def stop(self) -> None:
        """Stop charon (it deletes its SAs with the peers on SIGTERM) and remove its state directory."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def _ready(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with self._session() as session:
                session.version()
            with NetNS(self.namespace) as ns:
                return bool(ns.link_lookup(ifname=DEVICE))
        except (OSError, vici.exception.SessionException):
            return False

    def _drop_rule(self) -> None:
        with NetNS(self.namespace) as ns:
            for rule in ns.get_rules(family=socket.AF_INET):
                if rule.get_attr("FRA_TABLE") == ROUTING_TABLE or rule.get("table") == ROUTING_TABLE:
                    ns.rule("del", table=ROUTING_TABLE, priority=rule.get_attr("FRA_PRIORITY"))

    def _conf(self) -> str:
        t = self.timing
        return f"""# written by cellplane for routing domain {self.namespace}; secrets arrive over VICI only
charon {{
  load = {PLUGINS}
  install_routes = no
  install_virtual_ip = no
  routing_table = {ROUTING_TABLE}
  routing_table_prio = {ROUTING_TABLE}
  retransmit_timeout = {t.retransmit_timeout}
  retransmit_tries = {t.retransmit_tries}
  retransmit_base = 1.0
  plugins {{
    vici {{
      socket = unix://{self.socket}
    }}
  }}
  filelog {{
    cellplane {{
      path = {self.log_path}
      append = no
      flush_line = yes
      default = 1
      enc = 0
      net = 0
      knl = 0
      ike_name = yes
    }}
  }}
}}
"""

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])
        return "no log"

    # --- VICI ---------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Any:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(self.socket))
            yield vici.Session(sock)
        finally:
            sock.close()

    async def load(self, name: str, connection: dict[str, Any], psk: str, owners: list[str]) -> None:
        """Load connection `name` and its pre-shared key (one request each; a refusal raises CharonError, and what
        was loaded of it is unloaded again)."""

        def call() -> None:
            with self._session() as session:
                try:
                    session.load_shared({"id": name, "type": "IKE", "data": psk, "owners": owners})
                    session.load_conn({name: connection})
                except vici.exception.CommandException as error:
                    with contextlib.suppress(vici.exception.CommandException):
                        session.unload_shared({"id": name})
                    raise CharonError(str(error)) from None

        await asyncio.to_thread(call)

    async def unload(self, name: str) -> None:
        """Unload connection `name`, close its SAs (deleting them with the peer) and drop its key."""

        def call() -> None:
            with self._session() as session:
                for request in (
                    lambda: session.unload_conn({"name": name}),
                    lambda: _drain(session.terminate({"ike": name, "force": "yes", "timeout": "-1"})),
                    lambda: session.unload_shared({"id": name}),
                ):
                    with contextlib.suppress(vici.exception.CommandException):
                        request()

        await asyncio.to_thread(call)

    async def initiate(self, name: str) -> None:
        """Start establishing connection `name` again, without waiting for the outcome (list-sas and the log say it)."""

        def call() -> None:
            with self._session() as session, contextlib.suppress(vici.exception.CommandException):
                _drain(session.initiate({"child": name, "ike": name, "timeout": "-1"}))

        await asyncio.to_thread(call)

    async def connections(self) -> list[str]:
        def call() -> list[str]:
            with self._session() as session:
                return [_text(c) for c in session.get_conns().get("conns", [])]

        return await asyncio.to_thread(call)

    async def sas(self) -> dict[str, IkeSa]:
        def call() -> dict[str, IkeSa]:
            found: dict[str, IkeSa] = {}
            with self._session() as session:
                for entry in session.list_sas():
                    for name, sa in entry.items():
                        children = list((sa.get("child-sas") or {}).values())
                        installed = [c for c in children if _text(c.get("state")) == "INSTALLED"]
                        counted = {
                            _text(c.get("uniqueid")): (
                                int(_text(c.get("bytes-in")) or 0),
                                int(_text(c.get("bytes-out")) or 0),
                            )
                            for c in children
                        }
                        ike = IkeSa(
                            unique_id=_text(sa.get("uniqueid")),
                            established=_text(sa.get("state")) == "ESTABLISHED",
                            installed=bool(installed),
                            seconds_up=int(_text(sa.get("established")) or 0),
                            bytes_in=sum(int(_text(c.get("bytes-in")) or 0) for c in installed),
                            bytes_out=sum(int(_text(c.get("bytes-out")) or 0) for c in installed),
                            children=counted,
                        )
                        best = found.get(_text(name))
                        if best is not None:
                            ike.children.update(best.children)  # an IKE SA being rekeyed: count both
                        if best is None or (ike.installed, ike.established) > (best.installed, best.established):
                            found[_text(name)] = ike
                        else:
                            best.children.update(ike.children)
            return found

        return await asyncio.to_thread(call)

    def errors(self) -> dict[str, str]:
        """Each connection's last failure in charon's log since the previous call (customer-readable, with
        charon's own words after a colon)."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                chunk = handle.read()
        except OSError:
            return {}
        end = chunk.rfind(b"\n") + 1
        self._log_offset += end
        found: dict[str, str] = {}
        for line in chunk[:end].decode(errors="replace").splitlines():
            matched = _LINE.search(line)
            if matched is None:
                continue
            name, message = matched.groups()
            for pattern, meaning in _FAILURES:
                if pattern.search(message):
                    found[name] = f"{meaning} (charon: {message.strip()})"[:256]
                    break
        return found


def sweep() -> list[str]:
    """Remove what charons of dead platform instances left (state directories; a charon still running there, which
    PR_SET_PDEATHSIG should have ended, is stopped); returns the directories removed."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{names.PREFIX}*-charon"):
        instance = names.instance_of(path.name)
        if instance is None or names.owner_alive(instance):
            continue
        with contextlib.suppress(OSError, ValueError):
            pid = int((path / "run" / "charon.pid").read_text().strip())
            if "charon" in Path(f"/proc/{pid}/comm").read_text():
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    if removed:
        log.warning("removed VPN leftovers of stopped platforms: %s", ", ".join(removed))
    return removed


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the platform's process dies, so no charon outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
