"""A fake Telegram Bot API server, speaking the real wire format on 127.0.0.1.

PTB reaches it only through ``TELEGRAM_API_URL`` (``<url>/bot<token>/<method>``), so everything
between our code and the socket is the real SDK. Every call is checked against the Bot API
contract in ``../shared/specs/telegram_bot_api.json``: the method exists, required parameters are
present, every parameter is one the method has and of a type it accepts, nested objects (keyboards,
ForceReply) have their required fields, and callback data fits 1-64 bytes. Failures (403 blocked,
400 chat not found, 429 with ``retry_after``) can be scripted per method.

When ``../shared`` is absent the contract checks fall back to the required-parameter facts below,
and say so once.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "telegram_bot_api.json"
TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Acme CSAT",
    "username": "acme_csat_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
FALLBACK_REQUIRED: dict[str, tuple[str, ...]] = {
    "getMe": (),
    "getUpdates": (),
    "setWebhook": ("url",),
    "deleteWebhook": (),
    "getWebhookInfo": (),
    "sendMessage": ("chat_id", "text"),
    "sendPhoto": ("chat_id", "photo"),
    "answerCallbackQuery": ("callback_query_id",),
    "editMessageText": (),
    "editMessageReplyMarkup": (),
}
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_INTEGER = re.compile(r"-?\d+")


@functools.cache
def contract() -> dict[str, Any] | None:
    """The spec, read once per test session; ``None`` (with the reason printed) when absent."""
    if not SPEC.exists():
        print(f"telegram fake: {SPEC} not found; checking required parameters only")
        return None
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None


@dataclass
class FakeTelegram:
    """State of the fake: calls seen, contract violations, messages sent, scripted failures."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    callback_ids: set[str] = field(default_factory=set)
    failures: deque[Failure] = field(default_factory=deque)
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    webhook: dict[str, Any] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Bumped by ``reset``: a long poll still open from an earlier test (its client is gone, but
    # the server finishes the request) then ends at once instead of acting on the next test.
    _generation: int = 0

    # -- scripting ------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        chat_id: int | None = None,
    ) -> None:
        with self._lock:
            self.failures.append(Failure(method, status, description, retry_after, chat_id))

    def push_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)

    def expect_callback(self, query_id: str) -> None:
        with self._lock:
            self.callback_ids.add(query_id)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self.calls.clear()
            self.violations.clear()
            self.messages.clear()
            self.callback_ids.clear()
            self.failures.clear()
            self.updates.clear()
            self.webhook.clear()

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        with self._lock:
            return [c.params for c in self.calls if c.method == method]

    # -- the contract ---------------------------------------------------------------------

    def check(self, method: str, params: dict[str, Any]) -> list[str]:
        spec = contract()
        if spec is None:
            if method not in FALLBACK_REQUIRED:
                return [f"{method}: not a method this project uses"]
            return [f"{method}: missing {n}" for n in FALLBACK_REQUIRED[method] if n not in params]
        described = spec["methods"].get(method)
        if described is None:
            return [f"{method}: no such Bot API method"]
        fields = {f["name"]: f for f in described.get("fields", [])}
        problems = [
            f"{method}: required parameter {name} missing"
            for name, f in fields.items()
            if f["required"] and name not in params
        ]
        for name, value in params.items():
            if name not in fields:
                problems.append(f"{method}: unknown parameter {name}")
                continue
            problems += _check_value(spec, f"{method}.{name}", value, fields[name]["types"], True)
        return problems

    # -- HTTP -----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])]
        )

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params = dict(request.query_params)
        body = await request.body()
        kind = request.headers.get("content-type", "")
        if body and kind.startswith("application/json"):
            params.update(json.loads(body))
        elif body and kind.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        elif body:
            async with request.form() as form:
                for key, value in form.items():
                    if isinstance(value, str):
                        params[key] = value
                    else:  # a file part: an InputFile, kept for the test to look at
                        params[key] = Upload(value.filename or "", await value.read())
        problems = self.check(method, params)
        with self._lock:
            self.calls.append(Call(method, params, time.monotonic()))
            self.violations.extend(problems)
        if problems:
            return _error(400, "Bad Request: " + "; ".join(problems))
        failure = self._scripted(method, params)
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        if method == "getUpdates":
            return await self._get_updates(params)
        with self._lock:
            return self._answer(method, params)

    def _scripted(self, method: str, params: dict[str, Any]) -> Failure | None:
        with self._lock:
            for failure in list(self.failures):
                chat = failure.chat_id
                for_chat = chat is None or str(chat) == params.get("chat_id")
                if failure.method == method and for_chat:
                    self.failures.remove(failure)
                    return failure
        return None

    async def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        """Like Telegram: the offset confirms (forgets) the updates below it once, when the call
        arrives; while the call waits it only looks for updates at or above the offset. It never
        forgets an update pushed later (an abandoned long poll, whose client was cancelled, used
        to drop the next test's update with the same id), and it ends early after ``reset``."""
        offset = int(params.get("offset", 0))
        deadline = time.monotonic() + min(float(params.get("timeout", 0)), 0.2)
        with self._lock:
            generation = self._generation
            kept = [u for u in self.updates if u["update_id"] >= offset]
            self.updates = deque(kept)
        while True:
            with self._lock:
                stale = generation != self._generation
                ready = [] if stale else [u for u in self.updates if u["update_id"] >= offset]
            if stale or ready or time.monotonic() >= deadline:
                return JSONResponse({"ok": True, "result": ready})
            await asyncio.sleep(0.02)

    def _answer(self, method: str, params: dict[str, Any]) -> JSONResponse:
        if method == "getMe":
            return _ok(BOT_USER)
        if method == "setWebhook":
            self.webhook = dict(params)
            return _ok(True, "Webhook was set")
        if method == "deleteWebhook":
            self.webhook = {}
            return _ok(True, "Webhook was deleted")
        if method == "sendMessage":
            return _ok(self._store(int(params["chat_id"]), params))
        if method == "sendPhoto":
            return _ok(self._store(int(params["chat_id"]), params))
        if method == "answerCallbackQuery":
            query_id = params["callback_query_id"]
            if query_id not in self.callback_ids:
                return _error(400, "Bad Request: query is too old and response timeout expired")
            self.callback_ids.discard(query_id)
            return _ok(True)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            key = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
            message = self.messages.get(key)
            if message is None:
                return _error(400, "Bad Request: message to edit not found")
            if method == "editMessageText":
                message["text"] = params.get("text", message["text"])
            message.pop("reply_markup", None)
            if "reply_markup" in params:
                message["reply_markup"] = _json(params["reply_markup"])
            message["edit_date"] = int(time.time())
            return _ok(message)
        return _ok(True)

    def _store(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": "Customer"}
        if chat_id < 0:
            chat = {"id": chat_id, "type": "supergroup", "title": "Support leads"}
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
        }
        if "photo" in params:
            size = len(params["photo"].content) if isinstance(params["photo"], Upload) else 0
            message["photo"] = [
                {
                    "file_id": f"photo-{message['message_id']}",
                    "file_unique_id": "u",
                    "width": 800,
                    "height": 400,
                    "file_size": size,
                }
            ]
            if "caption" in params:
                message["caption"] = params["caption"]
        else:
            message["text"] = params["text"]
        markup = _json(params["reply_markup"]) if "reply_markup" in params else None
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part (an InputFile in the Bot API's words)."""

    filename: str
    content: bytes


def _ok(result: Any, description: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return JSONResponse(body)


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_value(
    spec: dict[str, Any], where: str, value: Any, types: list[str], top: bool
) -> list[str]:
    """Problems with ``value`` against a union of Bot API type names (empty when one fits)."""
    best: list[str] | None = None
    for name in types:
        problems = _check_one(spec, where, value, name, top)
        if not problems:
            return []
        if best is None or len(problems) < len(best):
            best = problems
    return best or [f"{where}: no type"]


def _check_one(spec: dict[str, Any], where: str, value: Any, name: str, top: bool) -> list[str]:
    if name.startswith("Array of "):
        items = _json(value) if top else value
        if not isinstance(items, list):
            return [f"{where}: expected {name}"]
        inner = name.removeprefix("Array of ")
        return [
            problem
            for i, item in enumerate(items)
            for problem in _check_one(spec, f"{where}[{i}]", item, inner, False)
        ]
    if name == "Integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            top and isinstance(value, str) and bool(_INTEGER.fullmatch(value))
        )
        return [] if ok else [f"{where}: expected Integer, got {value!r}"]
    if name == "Float":
        try:
            float(value)
        except (TypeError, ValueError):
            return [f"{where}: expected Float, got {value!r}"]
        return []
    if name == "Boolean":
        ok = isinstance(value, bool) or (top and value in ("true", "false"))
        return [] if ok else [f"{where}: expected Boolean, got {value!r}"]
    if name == "String":
        return [] if isinstance(value, str) else [f"{where}: expected String, got {value!r}"]
    if name == "InputFile":
        return [] if isinstance(value, Upload) else [f"{where}: expected an uploaded file"]
    obj = _json(value) if top else value
    if not isinstance(obj, dict):
        return [f"{where}: expected {name} object"]
    described = spec["types"].get(name)
    if described is None or "fields" not in described:
        return []
    fields = {f["name"]: f for f in described["fields"]}
    problems = [
        f"{where}: {name}.{key} is required"
        for key, f in fields.items()
        if f["required"] and key not in obj
    ]
    for key, item in obj.items():
        if key not in fields:
            problems.append(f"{where}: {name} has no field {key}")
        else:
            problems += _check_value(spec, f"{where}.{key}", item, fields[key]["types"], False)
    if name == "InlineKeyboardButton":
        actions = [k for k in BUTTON_ACTIONS if k in obj]
        if len(actions) != 1:
            problems.append(f"{where}: exactly one action field needed, got {actions}")
        data = obj.get("callback_data")
        if isinstance(data, str) and not 1 <= len(data.encode()) <= 64:
            problems.append(f"{where}: callback_data is {len(data.encode())} bytes (1-64 allowed)")
    return problems


@contextmanager
def running(fake: FakeTelegram) -> Iterator[str]:
    """Serve ``fake`` with uvicorn on a free loopback port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake Telegram API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
