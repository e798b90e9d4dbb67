"""The server inside an asyncio application.

    >>> async def stored(obj: StoredObject) -> None:
    ...     await queue.put(obj.path)          # the application's own asyncio objects
    >>> server = AsyncServer(ServerConfig(port=11112, output_directory="/data/in"),
    ...                      on_stored=stored)
    >>> await server.serve_forever()           # until cancelled or server.shutdown()

Associations are served as by `fastscp.server.Server` (each in its own
thread, so a slow peer or disk never stalls the event loop, and the loop
never stalls reception); callbacks that are coroutine functions run on the
application's event loop, so they may use its asyncio objects freely, and
the association that called one waits for its result (an
``on_store_request`` decision is needed before the data set is written).
Plain callbacks run in the association's thread, as with `Server`.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union

from fastscp.config import ServerConfig
from fastscp.records import (
    AssociationInfo, CompletedStudy, StoreDecision, StoredObject, StoreRequest,
)
from fastscp.server import Server
from fastscp.stats import Stats

T = TypeVar("T")
R = TypeVar("R")
#: a callback of AsyncServer: a plain function or a coroutine function
Callback = Union[Callable[[T], R], Callable[[T], Awaitable[R]]]


class AsyncServer:
    """A DICOM Storage SCP served from an asyncio event loop; the callbacks
    are those of `fastscp.server.Server` and may be coroutine functions."""

    def __init__(self, config: ServerConfig, *,
                 on_stored: Optional[Callback[StoredObject, None]] = None,
                 on_store_request: Optional[Callback[StoreRequest, StoreDecision]] = None,
                 on_study_complete: Optional[Callback[CompletedStudy, None]] = None,
                 on_association_accepted: Optional[Callback[AssociationInfo, None]] = None,
                 on_association_released: Optional[Callback[AssociationInfo, None]] = None,
                 on_association_aborted: Optional[Callback[AssociationInfo, None]] = None):
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server = Server(
            config, on_stored=self._bridge(on_stored),
            on_store_request=self._bridge(on_store_request),
            on_study_complete=self._bridge(on_study_complete),
            on_association_accepted=self._bridge(on_association_accepted),
            on_association_released=self._bridge(on_association_released),
            on_association_aborted=self._bridge(on_association_aborted))

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def metrics_port(self) -> Optional[int]:
        """The port of the metrics endpoint (config.metrics_port; None: none)."""
        return self._server.metrics_port

    def stats(self) -> Stats:
        """What the server has done so far (`fastscp.stats.Stats`; from any thread)."""
        return self._server.stats()

    def _bridge(self, callback: Optional[Callback[T, R]]) -> Optional[Callable[[T], R]]:
        """A coroutine function becomes a plain one that runs it on the
        event loop and waits for its result (from an association's thread)."""
        if callback is None or not inspect.iscoroutinefunction(callback):
            return callback         # type: ignore[return-value]
        coroutine_function: Callable[[T], Awaitable[R]] = callback

        @functools.wraps(coroutine_function)
        def run_on_loop(arg: T) -> R:
            loop = self._loop
            if loop is None or loop.is_closed():
                raise RuntimeError("the event loop of the AsyncServer is not running")
            result: R = asyncio.run_coroutine_threadsafe(
                _awaited(coroutine_function(arg)), loop).result()
            return result
        return run_on_loop

    async def serve_forever(self) -> None:
        """Serve until `shutdown()` or until this coroutine is cancelled;
        then the associations in progress are aborted and pending
        end-of-study work runs (as `Server.serve_forever` at its end)."""
        self._loop = loop = asyncio.get_running_loop()
        ended = loop.create_future()

        def run() -> None:
            try:
                self._server.serve_forever(handle_signals=False)
            finally:
                loop.call_soon_threadsafe(_resolve, ended)

        thread = threading.Thread(target=run, name="fastscp-server", daemon=True)
        thread.start()
        try:
            await asyncio.shield(ended)
        except asyncio.CancelledError:
            self._server.shutdown()
            # callbacks of the ending associations may still need this loop
            await ended
            raise

    def shutdown(self) -> None:
        """Stop serving (from the loop, another thread or a signal handler)."""
        self._server.shutdown()

    def close(self) -> None:
        """Release the sockets of a server that was never served."""
        self._server.close()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
