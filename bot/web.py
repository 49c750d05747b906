"""The ASGI app: the team's API under ``/v1`` (bearer token), health and metrics.

Provider webhooks mount beside these routes. Handlers are plain ``def`` so FastAPI runs the
synchronous service in its thread pool and the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.direct import DirectRoute, DirectRoutes
from bot.errors import CsatError, InvalidInput, NotAllowed, NotFound
from bot.hub import ChannelAdapter, Hub
from bot.metrics import Metrics
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service

MAX_BATCH = 1000
_batch = TypeAdapter(SurveyRequest | list[SurveyRequest])


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"request body larger than {limit} bytes"}, status_code=413)


def create_app(
    service: Service, *, adapters: Sequence[ChannelAdapter] = (), run_sender: bool = False
) -> FastAPI:
    """The whole HTTP surface: the API, and each adapter's webhook routes. With ``run_sender``
    the delivery loop runs inside the app."""
    metrics = Metrics()
    sender = Sender(service, metrics=metrics)
    sinks = [a.alert_sink for a in adapters if a.alert_sink is not None]
    hub = Hub(service, sinks, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        started: list[ChannelAdapter] = []
        try:
            for adapter in adapters:
                await adapter.start(hub)
                started.append(adapter)
            if run_sender:
                task = asyncio.create_task(
                    sender.run_forever(stop, service.settings.csat_sender_interval)
                )
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            for adapter in reversed(started):
                await adapter.stop()
            await asyncio.to_thread(hub.close)

    app = FastAPI(title="csat-bot", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    app.state.sender = sender
    app.state.hub = hub
    direct: list[DirectRoute] = []
    for adapter in adapters:
        router = adapter.routes(hub)
        if router is not None:
            app.include_router(router)
            direct.extend(r for r in router.routes if isinstance(r, DirectRoute))

    @app.exception_handler(CsatError)
    async def _csat_error(_: Request, exc: CsatError) -> JSONResponse:
        status = 422
        if isinstance(exc, NotFound):
            status = 404
        elif isinstance(exc, NotAllowed):
            status = 403
        elif not isinstance(exc, InvalidInput):
            status = 500
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _describe(exc.errors())}, status_code=422)

    def require_token(request: Request) -> None:
        token = service.settings.csat_api_token
        if token is None:
            raise HTTPException(503, "the API is closed: set CSAT_API_TOKEN to open it")
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            value.strip().encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    guarded = [Depends(require_token)]

    @app.post("/v1/surveys", dependencies=guarded, status_code=201)
    async def trigger(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            parsed = _batch.validate_json(body)
        except ValidationError as exc:
            raise InvalidInput(_describe(exc.errors())) from None
        items = parsed if isinstance(parsed, list) else [parsed]
        if not items:
            raise InvalidInput("the list of surveys is empty")
        if len(items) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} surveys per request")
        results = await _threaded(lambda: service.start_surveys(items))
        for result, item in zip(results, items, strict=True):
            if not result.duplicate:
                metrics.triggered.labels(item.channel, result.status).inc()
        payload: Any = [r.as_json() for r in results]
        if not isinstance(parsed, list):
            payload = payload[0]
        created = any(not r.duplicate for r in results)
        return JSONResponse(payload, status_code=201 if created else 200)

    @app.delete("/v1/surveys/{interaction_id}", dependencies=guarded)
    def cancel(interaction_id: str, survey: str | None = None) -> dict[str, Any]:
        return {
            "interaction_id": interaction_id,
            "cancelled": service.cancel(interaction_id, survey),
        }

    @app.get("/v1/scores", dependencies=guarded)
    def scores(
        period: str = "today",
        by: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        return service.query_scores(period, by)

    @app.get("/v1/responses", dependencies=guarded, response_model=None)
    def responses(
        since: datetime | None = None,
        until: datetime | None = None,
        format: str = "json",
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> Response | dict[str, Any]:
        if format not in ("json", "csv"):
            raise InvalidInput("'format' must be json or csv")
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"'{name}' needs a time zone, e.g. 2025-03-09T00:00:00Z")
        rows = service.responses(since, until, limit)
        if format == "json":
            return {"responses": rows, "count": len(rows)}
        return PlainTextResponse(to_csv(rows), media_type="text/csv; charset=utf-8")

    @app.delete("/v1/respondents/{channel}/{address}", dependencies=guarded)
    def forget(channel: str, address: str) -> dict[str, Any]:
        return {"erased": True, "invitations_unlinked": service.forget(channel, address)}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        with service.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "channels": sorted(service.channels)}

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(DirectRoutes, routes=direct, exception_handlers=app.exception_handlers)
    app.add_middleware(BodyLimit, limit=service.settings.csat_max_body_bytes)
    return app


async def _threaded(fn: Callable[[], Any]) -> Any:
    from anyio import to_thread

    return await to_thread.run_sync(fn)


def _describe(errors: Any) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"'{location}': {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts[:5]) or "invalid request"


CSV_COLUMNS = (
    "invitation_id",
    "interaction_id",
    "survey",
    "survey_version",
    "channel",
    "agent",
    "team",
    "touchpoint",
    "locale",
    "status",
    "reason",
    "delivery_status",
    "last_error",
    "created_at",
    "sent_at",
    "responded_at",
    "question",
    "kind",
    "rating",
    "scale_max",
    "comment",
)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
