"""Connections that never finish a request are closed: uvicorn times out idle keep-alive
connections, but not one that sends nothing, or half its headers, after it connects; a few
of those (each holding one of uvicorn's limit_concurrency places) could lock everyone out.
The request bodies are paced in colorgan.interfaces.web.work.counted."""

from __future__ import annotations


def header_timeout(seconds: float):
    """uvicorn's HTTP protocol class, closing a connection whose next request has not
    begun (its headers complete) `seconds` after it connected or its last answer went out.
    Uses the attributes both of uvicorn's HTTP protocols have had since 0.2x: loop,
    transport, cycle (the request being served) and on_response_complete."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HeaderTimeout(AutoHTTPProtocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._late, self.cycle)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _late(self, cycle) -> None:
            # the same cycle as when armed: no new request started since; close quietly
            if self.cycle is cycle and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeout
