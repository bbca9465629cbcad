"""uvicorn's h11 protocol with the connection limits uvicorn lacks: a deadline for the request headers, a cap on
open connections, and a bounded "lingering close" for bodies the app answered without reading.

- uvicorn has a keep-alive timeout for idle connections between requests, but none for a client that opens a
  connection and sends its request headers slowly, or never (slowloris): such connections stay open for good. Here
  every connection must deliver complete request headers within ``header_timeout_s`` of opening (on a keep-alive
  connection: of the first byte of the next request; uvicorn's keep-alive timeout closes it while idle), or it is
  closed.
- Connections beyond ``max_connections`` are answered by ``refuse_app`` (a 503) once their headers are in, and
  closed after that answer.
- An answer sent before the request's body was read (an error: 413, 415, 422, 503) leaves the rest of the body on
  the way. Closing at once would make the client's send fail before it reads the answer; keeping the connection
  would let a client trickle a body forever. So the rest is read and discarded, then the connection is closed, and
  if it is not all in within ``linger_timeout_s`` the connection is closed anyway (nginx's "lingering close").

The request *body* deadline is enforced in the ASGI app (it answers 408 with ``Connection: close``), not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

AsgiApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class ConnectionGuard:
    """The limits and what to call when they are hit (metrics, logs)."""

    header_timeout_s: float
    linger_timeout_s: float
    max_connections: int
    refuse_app: AsgiApp  # answers the requests of connections beyond max_connections
    on_header_timeout: Callable[[], None] = lambda: None
    on_linger_timeout: Callable[[], None] = lambda: None
    on_open: Callable[[int], None] = lambda open_connections: None
    on_close: Callable[[int], None] = lambda open_connections: None


def guarded_protocol(guard: ConnectionGuard) -> type[H11Protocol]:
    """An :class:`H11Protocol` subclass enforcing ``guard``, to pass to uvicorn as ``http=``."""

    class GuardedH11Protocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _linger_deadline: asyncio.TimerHandle | None = None
        _refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > guard.max_connections:
                self._refused = True
                self.app = guard.refuse_app
            guard.on_open(len(self.connections))
            self._header_deadline = self.loop.call_later(guard.header_timeout_s, self._header_deadline_passed)

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_deadline = _cancel(self._header_deadline)
            self._linger_deadline = _cancel(self._linger_deadline)
            super().connection_lost(exc)
            guard.on_close(len(self.connections))

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._linger_deadline is not None:
                if self.conn.their_state is not h11.SEND_BODY:  # the unread body is all in: done with this one
                    self._linger_deadline = _cancel(self._linger_deadline)
                    self.transport.close()
                return
            if self.conn.their_state is not h11.IDLE:  # a request's headers are complete
                self._header_deadline = _cancel(self._header_deadline)
            elif self._header_deadline is None:  # the first bytes of the next request on a keep-alive connection
                self._header_deadline = self.loop.call_later(guard.header_timeout_s, self._header_deadline_passed)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.SEND_BODY:  # answered before the body was read: linger, then close
                self._linger_deadline = self.loop.call_later(guard.linger_timeout_s, self._linger_deadline_passed)
            elif self._refused:
                self.transport.close()

        def _header_deadline_passed(self) -> None:
            self._header_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            guard.on_header_timeout()
            self.transport.close()

        def _linger_deadline_passed(self) -> None:
            self._linger_deadline = None
            if not self.transport.is_closing():
                guard.on_linger_timeout()
                self.transport.close()

    return GuardedH11Protocol


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()
    return None
