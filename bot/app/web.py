"""The ASGI app: the team's API under ``/v1`` (bearer token), health and metrics.

Provider webhooks mount beside these routes. Handlers are plain ``def`` so FastAPI runs the
synchronous service in its thread pool and the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.alerts import describe
from bot.app.dashboard import dashboard
from bot.app.survey_page import survey_page
from bot.app.tokens import bearer_matches
from bot.direct import DirectRoute, DirectRoutes
from bot.errors import CsatError, InvalidInput, NotAllowed, NotFound
from bot.export import as_dict
from bot.export import lines as export_lines
from bot.hub import ChannelAdapter, Hub
from bot.metrics import Metrics
from bot.requests import SurveyRequest
from bot.sender import Sender
from bot.service import Service
from storage.values import AlertStatus

MAX_BATCH = 1000
_one = TypeAdapter(SurveyRequest)
_many = TypeAdapter(list[SurveyRequest])


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
    """The whole HTTP surface: the API and operations routers, and each adapter's webhook routes.
    With ``run_sender`` the delivery loop runs inside the app."""
    metrics = Metrics()
    digests = [d for a in adapters if (d := getattr(a, "digest_sink", None)) is not None]
    sinks = [a.alert_sink for a in adapters if a.alert_sink is not None]
    sender = Sender(service, metrics=metrics, digest_sinks=digests, alert_sinks=sinks)
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
            await hub.drain()  # alerts still being posted go out before the channels close
            for adapter in reversed(started):
                await adapter.stop()
            await asyncio.to_thread(hub.close)

    app = FastAPI(title="csat-bot", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    app.state.metrics = metrics
    app.state.sender = sender
    app.state.hub = hub
    app.add_exception_handler(CsatError, _csat_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.include_router(api)
    app.include_router(operations)
    app.include_router(dashboard)
    app.include_router(survey_page)
    direct: list[DirectRoute] = []
    for adapter in adapters:
        router = adapter.routes(hub)
        if router is not None:
            app.include_router(router)
            direct.extend(r for r in router.routes if isinstance(r, DirectRoute))
    app.openapi = _with_trigger_schema(app)  # type: ignore[method-assign]
    app.add_middleware(DirectRoutes, routes=direct, exception_handlers=app.exception_handlers)
    app.add_middleware(BodyLimit, limit=service.settings.csat_max_body_bytes)
    return app


def _with_trigger_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI document plus the SurveyRequest schema that ``POST /v1/surveys``
    refers to (its handler reads the raw body itself)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = plain()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["SurveyRequest"] = SurveyRequest.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


# -- errors ---------------------------------------------------------------------------------


async def _csat_error(_: Request, exc: CsatError) -> JSONResponse:
    status = 422
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, NotAllowed):
        status = 403
    elif not isinstance(exc, InvalidInput):
        status = 500
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": _describe(exc.errors())}, status_code=422)


# -- dependencies ---------------------------------------------------------------------------


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


ServiceDep = Annotated[Service, Depends(_service)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]


def require_token(request: Request, service: ServiceDep) -> None:
    token = service.settings.csat_api_token
    if token is None:
        raise HTTPException(503, "the API is closed: set CSAT_API_TOKEN to open it")
    if not bearer_matches(request.headers.get("authorization", ""), token):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


async def _threaded(fn: Callable[[], Any]) -> Any:
    from anyio import to_thread

    return await to_thread.run_sync(fn)


def _describe(errors: Any) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"'{location}': {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts[:5]) or "invalid request"


def _trigger_openapi() -> dict[str, Any]:
    """The request body of ``POST /v1/surveys`` for the OpenAPI document: the handler reads the
    raw body itself (one clear error per bad object, all-or-nothing batches)."""
    one = {"$ref": "#/components/schemas/SurveyRequest"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            one,
                            {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_BATCH},
                        ]
                    }
                }
            },
        }
    }


def _parse_batch(body: bytes) -> SurveyRequest | list[SurveyRequest]:
    """One trigger or a list of them; the error names what is wrong with the object that was
    sent, not with the union of the two shapes."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON") from None
    adapter = _many if isinstance(document, list) else _one
    try:
        return adapter.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(_describe(exc.errors())) from None
    except RecursionError:
        raise InvalidInput("the body is nested too deeply") from None


def _printable(name: str, value: str | None) -> None:
    """Path and query text reaches the database: no control characters (PostgreSQL refuses NUL
    in text outright), and nothing longer than any stored value."""
    if value is None:
        return
    if len(value) > 255 or any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise InvalidInput(f"'{name}' must be printable text of at most 255 characters")


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"'{name}' needs a time zone, e.g. 2025-03-09T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"'{name}' is out of range") from None


def _json_document(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """``{"responses": [...], "count": N}`` written as the rows arrive."""
    yield '{"responses": ['
    count = 0
    for row in rows:
        yield ("," if count else "") + json.dumps(as_dict(row), ensure_ascii=False)
        count += 1
    yield f'], "count": {count}}}'


# -- the team's API (bearer token) ----------------------------------------------------------

api = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


@api.post(
    "/surveys",
    status_code=201,
    openapi_extra=_trigger_openapi(),
    responses={415: {"description": "the body is not JSON"}},
)
async def trigger(request: Request, service: ServiceDep, metrics: MetricsDep) -> JSONResponse:
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json" and not (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        raise HTTPException(415, "the body must be JSON: send Content-Type: application/json")
    body = await request.body()
    parsed = _parse_batch(body)
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


@api.delete("/surveys/{interaction_id}")
def cancel(interaction_id: str, service: ServiceDep, survey: str | None = None) -> dict[str, Any]:
    _printable("interaction_id", interaction_id)
    _printable("survey", survey)
    return {"interaction_id": interaction_id, "cancelled": service.cancel(interaction_id, survey)}


@api.get("/scores")
def scores(
    service: ServiceDep,
    period: str = "today",
    by: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    return service.query_scores(period, by)


@api.get("/comments")
def comments(
    service: ServiceDep,
    period: str = "today",
    filter: Literal["low", "all"] = "all",
    by: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """The latest comments with their rating, newest first, a page at a time."""
    words = [period, filter] + ([f"by {by}"] if by else [])
    query = service.comments.parse(" ".join(words))
    return service.comments.latest(query, limit=limit, cursor=cursor)


@api.get("/alerts")
def alerts(
    service: ServiceDep,
    status: Literal["open", "claimed", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Low-score alerts, newest first, with who followed them up and when; ``before`` (an id)
    pages on."""
    found = service.followups.listed(
        None if status is None else AlertStatus(status), limit + 1, before
    )
    page = found[:limit]
    return {
        "alerts": [describe(alert) for alert in page],
        "next_before": page[-1].id if len(found) > limit else None,
    }


@api.get("/responses", response_model=None)
def responses(
    service: ServiceDep,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["json", "csv", "jsonl"] = "json",
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Every survey sent in the range (created_at, UTC), streamed: no cap unless ``limit``."""
    rows = service.store.responses(_utc("since", since), _utc("until", until), limit)
    if format == "json":
        return StreamingResponse(_json_document(rows), media_type="application/json")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(export_lines(format, rows), media_type=media)


@api.delete("/respondents/{channel}/{address}")
def forget(channel: str, address: str, service: ServiceDep) -> dict[str, Any]:
    _printable("channel", channel)
    _printable("address", address)
    return {"erased": True, "invitations_unlinked": service.forget(channel, address)}


# -- operations (no token: a load balancer and Prometheus ask) --------------------------------

operations = APIRouter()


@operations.get("/healthz")
def healthz(service: ServiceDep) -> dict[str, Any]:
    service.store.ping()
    return {"status": "ok", "channels": sorted(service.channels)}


@operations.get("/metrics")
def metrics_endpoint(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
