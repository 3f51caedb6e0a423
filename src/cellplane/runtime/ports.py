"""Every address and port `cellplane up` binds, probed before anything is printed or minted (issue 14).

A bind-probe: each socket is bound and closed again at once, before the banner, the migrations, the operator
token or the demo credentials; the elements bind for real a moment later. A port another process takes in that
moment still fails at start (the probe narrows the window to milliseconds, it cannot close it); what it catches is
the usual case, a port already held by another program or a second `cellplane up`.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from cellplane.runtime.settings import Settings

# Settings that have a flag of `cellplane up` (the others are set by their CELLPLANE_* variable only).
FLAGS = {
    "host": "--host",
    "port": "--port",
    "aaa_auth_port": "--aaa-auth-port",
    "aaa_acct_port": "--aaa-acct-port",
    "gtpc_port": "--gtpc-port",
    "gtpu_port": "--gtpu-port",
    "roles": "--role",
}


@dataclass(frozen=True)
class Binding:
    """One socket the platform will open: the setting that names its port, and the one that names its host."""

    setting: str
    host_setting: str
    kind: str  # "TCP" or "UDP"
    host: str
    port: int


def setting_name(field: str) -> str:
    """`CELLPLANE_AAA_AUTH_PORT / --aaa-auth-port`, or just the variable for a setting without a flag."""
    variable = f"CELLPLANE_{field.upper()}"
    return f"{variable} / {FLAGS[field]}" if field in FLAGS else variable


def bindings(settings: Settings) -> list[Binding]:
    """What the platform configured by `settings` binds, in start order."""
    found = [Binding("port", "host", "TCP", settings.host, settings.port)]
    if settings.aaa_enabled:
        for field in ("aaa_auth_port", "aaa_acct_port"):
            found.append(Binding(field, "aaa_host", "UDP", settings.aaa_host, getattr(settings, field)))
    if settings.gateway_enabled:
        for field in ("gtpc_port", "gtpu_port", "gateway_dae_port"):
            found.append(Binding(field, "gateway_host", "UDP", settings.gateway_host, getattr(settings, field)))
    if settings.emulator_enabled:
        for field in ("emulator_gtpc_port", "emulator_gtpu_port"):
            found.append(Binding(field, "gateway_host", "UDP", settings.gateway_host, getattr(settings, field)))
    return found


def probe(binding: Binding) -> str | None:
    """None when the socket can be bound now, else the one line that says which setting to change and why."""
    family = socket.AF_INET6 if ":" in binding.host else socket.AF_INET
    kind = socket.SOCK_STREAM if binding.kind == "TCP" else socket.SOCK_DGRAM
    where = f"{binding.kind} {binding.host}:{binding.port}"
    try:
        with socket.socket(family, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # As uvicorn binds: a port left in TIME_WAIT by a previous run is free to use.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((binding.host, binding.port))
    except socket.gaierror as error:
        return f"{setting_name(binding.host_setting)}: {binding.host!r} is not an address ({error.strerror})"
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"{setting_name(binding.setting)}: {where} is in use"
        if error.errno == errno.EADDRNOTAVAIL:
            return f"{setting_name(binding.host_setting)}: {binding.host} is not an address of this machine"
        if error.errno == errno.EACCES:
            return f"{setting_name(binding.setting)}: {where} needs privileges (a port below 1024)"
        return f"{setting_name(binding.setting)}: {where} cannot be bound ({error.strerror})"
    return None


def first_problem(settings: Settings) -> str | None:
    """The first socket of the platform that cannot be bound, as one line; None when all can."""
    for binding in bindings(settings):
        problem = probe(binding)
        if problem is not None:
            return problem
    return None
