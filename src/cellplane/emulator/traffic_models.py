"""Traffic from real clients, run inside a device's own network namespace: HTTP, MQTT and UDP.

`cellplane emulator run --traffic http://198.18.0.1:8000/bytes/5000` gives each device a model: a real client
(http.client, paho-mqtt, a UDP socket) whose sockets live in the device's namespace, so its packets take the same
path as a device shell's program (the namespace's TUN, GTP-U, the gateway, the routing domain). Each device runs its
models on a thread of its own that entered the namespace once (setns(2) moves only the calling thread), so the
emulator's event loop and other devices stay where they are.

    http://HOST:PORT/PATH                    GET PATH; the body is read to its end
    mqtt://HOST:PORT/TOPIC?size=N&count=N    N messages of N octets published at QoS 1 (each acknowledged)
    udp://HOST:PORT?size=N&count=N           N datagrams of N octets; answers are read for a moment (echo servers)
"""

from __future__ import annotations

import ctypes
import http.client
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

SCHEMES = ("http", "mqtt", "udp")
CLONE_NEWNET = 0x40000000
TIMEOUT = 10.0  # seconds a model waits on its server
MAX_SIZE = 65_000
MAX_COUNT = 10_000


class TrafficModelError(ValueError):
    """A traffic model that cannot be run as given (the message names what is wrong)."""


@dataclass(frozen=True)
class TrafficModel:
    scheme: str
    host: str
    port: int
    path: str = "/"  # HTTP: the request path; MQTT: the topic
    size: int = 100
    count: int = 1

    @property
    def url(self) -> str:
        query = "" if self.scheme == "http" else f"?size={self.size}&count={self.count}"
        path = self.path if self.scheme != "udp" else ""
        return f"{self.scheme}://{self.host}:{self.port}{path}{query}"

    def run(self) -> int:
        """One round of the model, from the calling thread's network namespace; the payload octets it moved."""
        if self.scheme == "http":
            return self._http()
        if self.scheme == "mqtt":
            return self._mqtt()
        return self._udp()

    def _http(self) -> int:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", self.path, headers={"User-Agent": "cellplane-emulator"})
            response = connection.getresponse()
            moved = 0
            while chunk := response.read(65536):
                moved += len(chunk)
            if response.status >= 400:
                raise OSError(f"HTTP {response.status} from {self.url}")
            return moved
        finally:
            connection.close()

    def _mqtt(self) -> int:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cellplane-{os.getpid()}-{time.time_ns()}")
        if client.connect(self.host, self.port, keepalive=30) != mqtt.MQTT_ERR_SUCCESS:
            raise OSError(f"MQTT broker {self.host}:{self.port} refused the connection")
        client.loop_start()
        try:
            payload = bytes(self.size)
            for _ in range(self.count):
                client.publish(self.path.lstrip("/"), payload, qos=1).wait_for_publish(TIMEOUT)
        finally:
            client.disconnect()
            client.loop_stop()
        return self.size * self.count

    def _udp(self) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((self.host, self.port))
            payload = bytes(self.size)
            moved = 0
            for _ in range(self.count):
                moved += sock.send(payload)
            sock.settimeout(0.5)
            buffer = bytearray(MAX_SIZE)
            for _ in range(self.count):  # an echo server's answers; none is fine
                try:
                    moved += sock.recv_into(buffer)
                except (TimeoutError, ConnectionRefusedError):
                    break
            return moved


def parse(text: str) -> TrafficModel:
    """A model from its URL; TrafficModelError says what is wrong with it."""
    parts = urlsplit(text)
    if parts.scheme not in SCHEMES:
        raise TrafficModelError(f"{text!r}: the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or port == 0:
        raise TrafficModelError(f"{text!r}: needs a host and a port, e.g. {parts.scheme}://198.18.0.1:8000")
    query = parse_qs(parts.query)

    def number(name: str, default: int, most: int) -> int:
        values = query.get(name)
        if not values:
            return default
        if not values[-1].isdigit() or not 1 <= int(values[-1]) <= most:
            raise TrafficModelError(f"{text!r}: {name} must be a whole number from 1 to {most}")
        return int(values[-1])

    if parts.scheme == "mqtt" and parts.path.strip("/") == "":
        raise TrafficModelError(f"{text!r}: an MQTT model needs a topic, e.g. mqtt://198.18.0.1:1883/devices/telemetry")
    path = parts.path or "/"
    if parts.scheme == "http" and parts.query:
        path += "?" + parts.query
    return TrafficModel(
        parts.scheme,
        parts.hostname,
        port,
        path,
        size=number("size", 100, MAX_SIZE),
        count=number("count", 1, MAX_COUNT),
    )


def _enter(namespace_path: str) -> None:
    """Move the calling thread into the network namespace at `namespace_path` (setns(2) acts on one thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(namespace_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({namespace_path}): {os.strerror(error)}")
    finally:
        os.close(fd)


class NamespaceWorker:
    """One thread that lives in a device's network namespace; `submit` runs a model there."""

    def __init__(self, namespace_path: str, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=_enter, initargs=(namespace_path,))

    def submit(self, model: TrafficModel) -> Any:
        return self._pool.submit(model.run)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
