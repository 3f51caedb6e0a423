"""A real HTTP webhook receiver on 127.0.0.1 that validates every signature with the SDK's RequestValidator."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator


@dataclass
class Received:
    method: str
    path: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    twilio_signature_valid: bool
    kore_signature_valid: bool


class _Server(ThreadingHTTPServer):
    # A handler may be stalling (see `stall_first`): closing the receiver does not wait for it.
    daemon_threads = True
    block_on_close = False


@dataclass
class WebhookReceiver:
    """Collects webhooks; `fail_first` answers that many requests with 500 before accepting; `stall_first` holds
    that many requests for `stall_seconds` before answering (a slow receiver: the sender should have given up)."""

    auth_token: str
    fail_first: int = 0
    status: int = 200
    stall_first: int = 0
    stall_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: int = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                host = self.headers.get("Host", "")
                url = f"http://{host}{self.path}"
                parts = urlsplit(url)
                if self.command in ("POST", "PUT", "PATCH"):
                    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
                    validated = RequestValidator(receiver.auth_token).validate(
                        url, params, self.headers.get("X-Twilio-Signature", "")
                    )
                else:
                    params = dict(parse_qsl(parts.query, keep_blank_values=True))
                    validated = RequestValidator(receiver.auth_token).validate(
                        url, {}, self.headers.get("X-Twilio-Signature", "")
                    )
                bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
                expected_kore = hashlib.sha256(
                    receiver.auth_token.encode() + self.command.encode() + bare.encode() + body
                ).hexdigest()
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    stalling = receiver.attempts <= receiver.stall_first
                if stalling:
                    time.sleep(receiver.stall_seconds)
                    with contextlib.suppress(OSError):  # the sender has most likely hung up by now
                        self.send_response(200)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    return
                status = 500 if failing else receiver.status
                if not failing:
                    with receiver._lock:
                        receiver.received.append(
                            Received(
                                method=self.command,
                                path=parts.path,
                                url=url,
                                params=params,
                                headers={k.lower(): v for k, v in self.headers.items()},
                                body=body,
                                twilio_signature_valid=validated,
                                kore_signature_valid=self.headers.get("kore-signature") == expected_kore,
                            )
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)
        raise AssertionError(f"webhook condition not met in {timeout}s; received {self.received}")
