"""A fake Twilio REST API on loopback that holds every request to Twilio's own OpenAPI contract.

The SDK's aiohttp client cannot be pointed at an in-process ASGI app, so the fake is a real HTTP
server in a thread, reached only through ``TWILIO_API_URL``. Each request is checked against
``../shared/specs/twilio_api_v2010.json`` (path and method exist, basic auth with the account's
credentials, form body, required parameters, types, patterns, enums). When that folder is absent,
the few facts the SMS tests rely on (:data:`FALLBACK`) are used instead and the reduced checking
is announced on stderr and by a skipped test.

Answers are scripted per test: 201 (a message resource), 400 with Twilio error 21610, 429 with
Retry-After, or 500; or by time, as a storm (:meth:`FakeTwilio.storm`); and a send can be made to
take a while (:attr:`FakeTwilio.delay`), as a slow provider's does.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "twilio_api_v2010.json"
FORM = "application/x-www-form-urlencoded"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@dataclass(frozen=True)
class Param:
    type: str
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    format: str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    path_params: dict[str, Param]
    required: tuple[str, ...]
    body: dict[str, Param] | None  # form parameters; None when the operation takes no body

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{pattern}$")


# What the tests need when ../shared is absent: the Messages create operation as the spec has it.
FALLBACK = (
    Operation(
        method="POST",
        template="/2010-04-01/Accounts/{AccountSid}/Messages.json",
        path_params={"AccountSid": Param("string", r"^AC[0-9a-fA-F]{32}$")},
        required=("To",),
        body={
            "To": Param("string", format="phone-number"),
            "From": Param("string", format="phone-number"),
            "MessagingServiceSid": Param("string", r"^MG[0-9a-fA-F]{32}$"),
            "Body": Param("string"),
            "StatusCallback": Param("string", format="uri"),
            "SmartEncoded": Param("boolean"),
            "ValidityPeriod": Param("integer"),
        },
    ),
)


@dataclass(frozen=True)
class Contract:
    operations: tuple[Operation, ...]
    source: str
    skipped: str | None  # why the full contract is not being checked, if it is not
    example: dict[str, Any] = field(default_factory=dict)


def _param(schema: dict[str, Any], components: dict[str, Any]) -> Param:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return Param(
        type=str(schema.get("type", "string")),
        pattern=schema.get("pattern"),
        enum=tuple(str(v) for v in schema.get("enum", ())),
        format=schema.get("format"),
    )


@functools.cache
def load_contract() -> Contract:
    """Parse the spec once per session (it is large); fall back to :data:`FALLBACK`."""
    if not SPEC.is_file():
        reason = f"{SPEC.parent} not found: checking only the built-in Messages facts"
        print(f"twilio fake: {reason}", file=sys.stderr)
        return Contract(FALLBACK, "built-in facts", reason)
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    components = spec["components"]["schemas"]
    operations: list[Operation] = []
    example: dict[str, Any] = {}
    for template, item in spec["paths"].items():
        for method in ("get", "post", "put", "delete", "patch"):
            op = item.get(method)
            if op is None:
                continue
            path_params = {
                p["name"]: _param(p.get("schema", {}), components)
                for p in op.get("parameters", ())
                if p.get("in") == "path"
            }
            body = None
            required: tuple[str, ...] = ()
            form = op.get("requestBody", {}).get("content", {}).get(FORM)
            if form is not None:
                schema = form["schema"]
                body = {k: _param(v, components) for k, v in schema["properties"].items()}
                required = tuple(schema.get("required", ()))
            operations.append(Operation(method.upper(), template, path_params, required, body))
            if op.get("operationId") == "CreateMessage":
                created = op["responses"]["201"]["content"]["application/json"]
                example = dict(created.get("examples", {}).get("create", {}).get("value", {}))
    return Contract(tuple(operations), SPEC.name, None, example)


def _type_ok(param: Param, value: str) -> bool:
    if param.type == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if param.type == "number":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if param.type == "boolean":
        return value in ("true", "false")
    return True


def check_request(
    contract: Contract,
    method: str,
    path: str,
    headers: dict[str, str],
    form: list[tuple[str, str]],
    credentials: tuple[str, str],
) -> list[str]:
    """Everything about the request that the real Twilio API would refuse."""
    problems: list[str] = []
    candidates = [(op, m) for op in contract.operations if (m := op.regex.match(path))]
    if not candidates:
        return [f"no such path in the Twilio contract: {path}"]
    found = next(((op, m) for op, m in candidates if op.method == method), None)
    if found is None:
        allowed = ", ".join(sorted(op.method for op, _ in candidates))
        return [f"{method} not allowed on {path} (contract allows {allowed})"]
    op, match = found
    for name, param in op.path_params.items():
        value = match.group(name)
        if param.pattern and not re.fullmatch(param.pattern, value):
            problems.append(f"path parameter {name}={value!r} does not match {param.pattern}")
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        user = password = ""
    if scheme.lower() != "basic" or (user, password) != credentials:
        problems.append("missing or wrong HTTP basic auth (account SID and auth token)")
    elif "AccountSid" in match.groupdict() and match.group("AccountSid") != user:
        problems.append("the account in the path is not the authenticated account")
    if op.body is None:
        return problems
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM:
        problems.append(f"body must be {FORM}, got {kind or 'none'}")
    given: dict[str, list[str]] = {}
    for key, value in form:
        given.setdefault(key, []).append(value)
    for name in op.required:
        if not any(v.strip() for v in given.get(name, ())):
            problems.append(f"required parameter {name} missing")
    for name, values in given.items():
        param = op.body.get(name)
        if param is None:
            problems.append(f"unknown parameter {name}")
            continue
        for value in values:
            if not _type_ok(param, value):
                problems.append(f"{name}={value!r} is not a {param.type}")
            if param.pattern and not re.fullmatch(param.pattern, value):
                problems.append(f"{name}={value!r} does not match {param.pattern}")
            if param.enum and value not in param.enum:
                problems.append(f"{name}={value!r} is not one of {', '.join(param.enum)}")
            if param.format == "phone-number" and not E164.match(value):
                problems.append(f"{name}={value!r} is not an E.164 phone number")
            if param.format == "uri" and not value.startswith(("https://", "http://")):
                problems.append(f"{name}={value!r} is not an absolute URL")
    if op.template.endswith("/Messages.json") and method == "POST":
        # Rules the schema cannot express, from the Messages resource documentation.
        if not (given.get("From") or given.get("MessagingServiceSid")):
            problems.append("one of From or MessagingServiceSid is required")
        if not (given.get("Body") or given.get("MediaUrl") or given.get("ContentSid")):
            problems.append("one of Body, MediaUrl or ContentSid is required")
    return problems


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    form: dict[str, str]
    problems: tuple[str, ...]


class FakeTwilio:
    """State shared between the server thread and the test: the script and what was received."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.contract = load_contract()
        self.received: list[Seen] = []
        self.script: deque[tuple[int, float | None]] = deque()
        self.phases: list[tuple[float, int, float | None]] = []  # (until, status, Retry-After)
        self.delay = 0.0  # seconds each message creation takes
        self.created: list[dict[str, str]] = []  # messages answered 201, in order
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- test controls ----------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.script.clear()
            self.phases.clear()
            self.created.clear()
            self.delay = 0.0

    def storm(self, *phases: tuple[float, int, float | None]) -> float:
        """From now on, answer message creations with ``status`` (and that Retry-After) for
        ``seconds``, phase after phase: ``storm((20, 429, 1), (10, 500, None))``. Returns the
        monotonic time at which the provider recovers."""
        until = time.monotonic()
        with self._lock:
            self.phases.clear()
            for seconds, status, wait in phases:
                until += seconds
                self.phases.append((until, status, wait))
        return until

    def _storming(self) -> tuple[int, float | None] | None:
        now = time.monotonic()
        for until, status, wait in self.phases:
            if now < until:
                return status, wait
        return None

    def answer(self, *statuses: int | tuple[int, float]) -> None:
        """Script the next answers: 201, 21610 (a 400 with that code), 429 (optionally with a
        Retry-After: ``(429, 30)``) or 500; unscripted requests get 201."""
        with self._lock:
            for item in statuses:
                code, wait = item if isinstance(item, tuple) else (item, None)
                self.script.append((code, wait))

    @property
    def messages(self) -> list[dict[str, str]]:
        with self._lock:
            return [s.form for s in self.received if s.path.endswith("/Messages.json")]

    @property
    def problems(self) -> list[str]:
        with self._lock:
            return [p for s in self.received for p in s.problems]

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> JSONResponse:
        raw = (await request.body()).decode()
        form = parse_qsl(raw, keep_blank_values=True)
        problems = check_request(
            self.contract,
            request.method,
            request.url.path,
            {k.lower(): v for k, v in request.headers.items()},
            form,
            (self.account_sid, self.auth_token),
        )
        with self._lock:
            self.received.append(
                Seen(request.method, request.url.path, dict(form), tuple(problems))
            )
            code, wait = self.script.popleft() if self.script else (201, None)
            creating = request.url.path.endswith("/Messages.json")
            if creating and code == 201 and (weather := self._storming()) is not None:
                code, wait = weather
            delay = self.delay if creating else 0.0
        if problems:
            return _error(400, 21601, "contract violation: " + "; ".join(problems))
        if delay:
            await asyncio.sleep(delay)
        if code == 21610:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if code == 429:
            headers = {"Retry-After": str(int(wait))} if wait is not None else {}
            return _error(429, 20429, "Too Many Requests", headers)
        if code >= 500:
            return _error(code, 20500, "Internal Server Error")
        if creating:
            with self._lock:
                self.created.append(dict(form))
        return JSONResponse(self._created(dict(form)), status_code=201)

    def _created(self, form: dict[str, str]) -> dict[str, Any]:
        sid = f"SM{next(self._ids):032x}"
        body = dict(self.contract.example)
        body.update(
            {
                "account_sid": self.account_sid,
                "sid": sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form.get("Body"),
                "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            }
        )
        return body

    # -- server thread ------------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Twilio did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        self._socket = sock

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._socket.close()


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Twilio's legacy error body, the shape the SDK turns into ``TwilioRestException``."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers)
