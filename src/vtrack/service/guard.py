"""The ASGI middleware in front of every route of ``vtrack serve``.

In this order: the Host header must be one served (``server.allowed_hosts``; a DNS-rebinding page
sends its own name), browsers' writes from another origin are refused, every route but ``/healthz``
(and ``/metrics`` when ``metrics_auth`` is off) needs the token (``Authorization: Bearer TOKEN``, the
page's cookie, or ``/?token=`` once), requests in flight are limited and request bodies are read up to
``server.max_request_bytes`` before the app sees them. ``/healthz`` passes untouched.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN_COOKIE = "vtrack_token"  # noqa: S105 - the cookie's name
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestGuard:
    """ASGI middleware: Host header check, cross-origin refusal, bearer-token (or cookie) auth, a
    request body limit and a limit of requests in flight.

    Args:
        app: the app guarded.
        token: the API token, or ``None`` for no authentication.
        metrics_auth: ``/metrics`` needs the token too.
        max_body: largest request body, in bytes.
        hosts: Host header values served (lowercase, no port), ``None`` for any
            (:func:`vtrack.service.server.allowed_hosts`).
        max_requests: requests handled at once; more are answered 503 (``/healthz`` never).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        metrics_auth: bool,
        max_body: int,
        hosts: frozenset[str] | None = None,
        max_requests: int | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.metrics_auth = metrics_auth
        self.max_body = max_body
        self.hosts = hosts
        self.max_requests = max_requests
        self.in_flight = 0  # the event loop's thread only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == "/healthz":  # liveness: never refused, reveals nothing
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            await _send_json(send, 421, {"detail": "Host header not served (server.allowed_hosts)"})
            return
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS and _cross_origin(headers, host):
            await _send_json(send, 403, {"detail": "cross-origin request refused"})
            return
        if self.token is not None and not self._open(path) and not self._authorised(scope):
            await _send_json(
                send,
                401,
                {"detail": "missing or invalid token: send 'Authorization: Bearer TOKEN'"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        if self.max_requests is not None and self.in_flight >= self.max_requests:
            busy = {"detail": "too many requests in progress; retry"}
            await _send_json(send, 503, busy, [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self._limited(scope, receive, send, method, headers)
        finally:
            self.in_flight -= 1

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, method: str, headers: dict[bytes, bytes]
    ) -> None:
        if method in ("POST", "PUT", "PATCH"):
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _send_json(send, 413, {"detail": f"request body over {self.max_body} bytes"})
                return
            body = bytearray()
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_body:
                    await _send_json(send, 413, {"detail": f"request body over {self.max_body} bytes"})
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    def _open(self, path: str) -> bool:
        return path == "/healthz" or (path == "/metrics" and not self.metrics_auth)

    def _authorised(self, scope: Scope) -> bool:
        assert self.token is not None
        expected = self.token.encode()
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), expected):
                    return True
            elif name == b"cookie":
                for part in value.split(b";"):
                    key, _, given = part.strip().partition(b"=")
                    if key == TOKEN_COOKIE.encode() and hmac.compare_digest(given, expected):
                        return True
        # a browser's first visit: /?token=... sets the cookie (see the route)
        if scope.get("path") == "/":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given_q = (query.get("token") or [""])[0].encode()
            return bool(given_q) and hmac.compare_digest(given_q, expected)
        return False


def _host_name(host: str) -> str:
    """A Host header's name without the port, lowercase (``[::1]:8080`` → ``::1``)."""
    h = host.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rpartition(":")[0] if h.count(":") == 1 else h


def _cross_origin(headers: dict[bytes, bytes], host: str) -> bool:
    """A browser's request from another origin: ``Origin`` not this host (``null`` included), or
    ``Sec-Fetch-Site: cross-site``/``same-site``. Clients that send neither (curl, scripts) pass."""
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site in ("cross-site", "same-site"):
        return True
    origin = headers.get(b"origin")
    if origin is None:
        return False
    try:
        netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
    except ValueError:
        return True
    return not netloc or netloc != host.strip().lower()


async def _send_json(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with a JSON body (the app is not called)."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


__all__ = ["SAFE_METHODS", "TOKEN_COOKIE", "RequestGuard"]
