"""Webhook routes that skip the router: the app sends them straight to their endpoint.

A busy SMS campaign posts hundreds of replies a second to one fixed path. Going through FastAPI's
router and inner middleware (the exception middleware, the exit stack, three nested routers
matched one route at a time) cost a sixth of each reply's CPU. A :class:`DirectRoute` is still an
ordinary Starlette route, listed in the app's routes and answering 405 to other methods through
the router; :class:`DirectRoutes` only looks the exact method and path up in a table first, and
hands the endpoint the app's exception handlers as the exception middleware would.

Webhooks posted by anyone on the internet read their bodies with :func:`read_body`, which stops
at a bound instead of buffering whatever arrives (the app's generic body limit is far larger than
any provider's payload, and parsing a big body would hold up the event loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


def route_path(scope: Scope) -> str:
    """The path the app routes on: the request path without the ``root_path`` it is mounted at
    (ASGI puts both in the scope; behind ``--root-path /csat`` a request for ``/csat/sms/inbound``
    is routed as ``/sms/inbound``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


class BodyTooLarge(Exception):
    """The request body is longer than the route accepts; the rest of it was not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


def declared_too_large(request: Request, limit: int) -> bool:
    """Whether the request says (Content-Length) that its body is longer than ``limit``."""
    declared = request.headers.get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk and given up as soon as it passes ``limit`` bytes.

    Raises :class:`BodyTooLarge` before reading anything when Content-Length already says so,
    otherwise once the chunks read add up to more than ``limit``: at most ``limit`` bytes plus
    one chunk (the server's read size) are ever held. The caller should answer with
    ``Connection: close`` then, so the server does not go on receiving the rest.
    """
    if declared_too_large(request, limit):
        raise BodyTooLarge(limit)
    receive = request.receive
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge(limit)
    if not message.get("more_body", False):
        return body  # a webhook's usual single chunk
    chunks, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class DirectRoute(Route):
    """A route on a fixed path (no path parameters) that the app dispatches before routing."""


class DirectRoutes:
    """ASGI middleware: exact (method, path) matches go to their :class:`DirectRoute`."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[DirectRoute],
        exception_handlers: Mapping[Any, Any],
    ) -> None:
        self.app = app
        self.table: dict[tuple[str, str], DirectRoute] = {}
        for route in routes:
            if route.param_convertors:
                raise ValueError(f"a direct route needs a fixed path, not {route.path!r}")
            for method in route.methods or ():
                self.table[(method, route.path)] = route
        by_status = {k: v for k, v in exception_handlers.items() if isinstance(k, int)}
        by_type = {k: v for k, v in exception_handlers.items() if not isinstance(k, int)}
        self.handlers = (by_type, by_status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.table.get((scope["method"], route_path(scope)))
            if route is not None:
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                scope["starlette.exception_handlers"] = self.handlers
                await route.app(scope, receive, send)
                return
        await self.app(scope, receive, send)
