"""The HTTP server settings of ``vtrack serve`` (uvicorn): header-read timeout, connection limit,
access log without secrets.

uvicorn's h11 protocol starts no timer before a connection's first request, and a keep-alive timer
that any byte received cancels: a client that sends half a request line and waits holds its
connection forever, and enough of them fill ``limit_concurrency`` so that every request, ``/healthz``
included, is answered 503. :class:`HeaderTimeoutH11Protocol` closes a connection that has not sent a
whole request head within ``server.header_timeout_s`` of connecting (or of its previous response).
The app's own limit of requests in flight (``server.max_requests``, in the app's guard) never refuses
``/healthz``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from vtrack.config import ServerConfig
from vtrack.redact import redact_query

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 3
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host header values served by default without a token on a loopback address."""


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (request line and headers).

    The deadline (``header_timeout_s``, set by :func:`uvicorn_config` on the class it makes) runs from
    the connection's start and again from each response's end; bytes trickling in do not extend it.
    A connection still without a whole request head at the deadline is closed.
    """

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head came
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        waiting = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting and not self.transport.is_closing():
            log.debug("closing a connection that sent no whole request head in %.0f s", self.header_timeout_s)
            self.transport.close()


class SecretsFilter(logging.Filter):
    """Hides secret query values (``?token=``) and URL credentials in a log record's arguments (the
    access log quotes each request's path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True


def install_access_log_filter() -> None:
    """Add :class:`SecretsFilter` to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, SecretsFilter) for f in access.filters):
        access.addFilter(SecretsFilter())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(server: ServerConfig) -> frozenset[str] | None:
    """The Host header values served (lowercase, no port), or ``None`` for any.

    ``server.allowed_hosts`` when set (``'*'`` in it: any); else, with no token on a loopback address,
    the loopback names only: a web page of another site cannot reach the API through DNS rebinding.
    """
    if server.allowed_hosts is not None:
        names = {h.lower().strip("[]") for h in server.allowed_hosts}
        return None if "*" in names else frozenset(names)
    if server.token is None and _is_loopback(server.host):
        return LOOPBACK_HOSTS | {server.host.lower()}
    return None


def uvicorn_config(app: Any, server: ServerConfig, *, access_log: bool = False) -> uvicorn.Config:
    """The uvicorn settings of ``vtrack serve`` (also used by the tests' real servers).

    Args:
        app: the ASGI app (:func:`vtrack.service.app.create_app`).
        server: host, port, header timeout, connection limit.
        access_log: log each request (paths with secret query values hidden).
    """
    protocol = type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout_s": server.header_timeout_s}
    )
    install_access_log_filter()
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        http=protocol,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=5,
        limit_concurrency=server.max_connections,
    )


__all__ = ["HeaderTimeoutH11Protocol", "SecretsFilter", "allowed_hosts", "uvicorn_config"]
