"""A fake Slack on 127.0.0.1: the Web API the adapter calls, and the signed requests Slack sends.

The Web API half is a small Starlette app served by uvicorn in a thread (slack_sdk's async client
speaks aiohttp, so it needs a real socket). Every call is checked against Slack's own OpenAPI
description (``../shared/specs/slack_web_openapi_v2.json``): the method exists, a token came
with it, required arguments are present and typed. Blocks are checked against Block Kit's
published limits, the way Slack answers ``invalid_blocks``. Any call can be scripted to fail
with an ``ok: false`` error, a 429 with ``Retry-After``, or a 5xx.

The other half builds what Slack POSTs to us (block_actions, view_submission, slash commands,
events) from the real payloads in ``../shared/fixtures``, signed with slack_sdk's
``SignatureVerifier``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import uvicorn
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SPEC = SHARED / "specs" / "slack_web_openapi_v2.json"
FIXTURES = SHARED / "fixtures"

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
TEAM = "T0G9PQBBK"
INSTALLED_TOKEN = "xoxb-installed-token"
INSTALLED_TEAM = "T222BETA"
CLIENT_ID = "111.222"
CLIENT_SECRET = "client-secret"

# Kept in the project for when ../shared is absent: the required arguments of the methods used.
FALLBACK_REQUIRED: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "conversations.open": (),
    "chat.postMessage": ("channel",),
    "chat.update": ("channel", "ts"),
    "chat.postEphemeral": ("channel", "user"),
    "views.open": ("trigger_id", "view"),
    "oauth.v2.access": ("code",),
}
JSON_ARGS = ("blocks", "attachments", "view", "files")
# The upload flow Slack introduced in 2024, after the OpenAPI file was published: the arguments
# its reference pages give (docs.slack.dev/reference/methods/files.getUploadURLExternal and
# files.completeUploadExternal). ``files`` is a JSON array of {"id", "title"?}.
SUPPLEMENT: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "files.getUploadURLExternal": (("filename", "length"), {"length": "integer"}),
    "files.completeUploadExternal": (("files",), {"files": "string"}),
}


@dataclass
class Upload:
    """A file announced with files.getUploadURLExternal, then its bytes, then where it went."""

    filename: str
    length: int
    content: bytes = b""
    shared_to: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class Method:
    required: tuple[str, ...]
    types: Mapping[str, str]
    needs_token: bool


class SlackContract:
    """What the Web API accepts, from the OpenAPI file or, without it, the facts above."""

    def __init__(self) -> None:
        self.methods: dict[str, Method] = {}
        self.source = str(SPEC)
        for name, (required, types) in SUPPLEMENT.items():
            self.methods[name] = Method(required, types, True)
        if not SPEC.exists():
            print(f"slack contract: {SPEC} is absent; checking required arguments only")
            self.source = "fallback"
            for name, required in FALLBACK_REQUIRED.items():
                self.methods[name] = Method(required, {}, name != "oauth.v2.access")
            return
        spec = json.loads(SPEC.read_text(encoding="utf-8"))
        for path, verbs in spec["paths"].items():
            for operation in verbs.values():
                params = operation.get("parameters", [])
                scopes = [s for sec in operation.get("security", []) for s in sec.values()]
                token_param = next((p for p in params if p["name"] == "token"), None)
                needs_token = bool(token_param and token_param.get("required")) or any(
                    scope != ["none"] for scope in scopes
                )
                self.methods[path.lstrip("/")] = Method(
                    required=tuple(
                        p["name"] for p in params if p.get("required") and p["name"] != "token"
                    ),
                    types={p["name"]: p.get("type", "string") for p in params},
                    needs_token=needs_token,
                )

    def problems(self, method: str, args: Mapping[str, Any], token: str | None) -> list[str]:
        spec = self.methods.get(method)
        if spec is None:
            return [f"{method}: no such Web API method"]
        found: list[str] = []
        if spec.needs_token and not token:
            found.append(f"{method}: no token")
        for name in spec.required:
            if args.get(name) in (None, ""):
                found.append(f"{method}: required argument {name!r} missing")
        for name, value in args.items():
            kind = spec.types.get(name)
            if kind is None:
                continue  # Slack ignores arguments it does not know (the spec is from 2021)
            if kind == "boolean" and str(value).lower() not in ("true", "false", "1", "0"):
                found.append(f"{method}: {name!r} is not a boolean: {value!r}")
            elif kind == "integer" and not str(value).lstrip("-").isdigit():
                found.append(f"{method}: {name!r} is not an integer: {value!r}")
            elif kind == "string" and name in JSON_ARGS and isinstance(value, str):
                try:
                    json.loads(value)
                except ValueError:
                    found.append(f"{method}: {name!r} is not JSON")
        return found


def block_kit_problems(blocks: Any, where: str = "blocks") -> list[str]:
    """Block Kit's documented limits, the ones that make Slack answer ``invalid_blocks``."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return [f"{where}: expected 1-50 blocks"]
    problems: list[str] = []
    action_ids: set[str] = set()

    def text_ok(obj: Any, limit: int, what: str) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            problems.append(f"{what}: not a text object")
        elif not 0 < len(obj.get("text", "")) <= limit:
            problems.append(f"{what}: text length not in 1-{limit}")

    def element_ok(element: Any, what: str) -> None:
        action_id = element.get("action_id", "")
        if not 0 < len(action_id) <= 255 or action_id in action_ids:
            problems.append(f"{what}: action_id missing, too long or repeated")
        action_ids.add(action_id)
        kind = element.get("type")
        if kind == "button":
            text_ok(element.get("text"), 75, what)
            if len(element.get("value", "")) > 2000:
                problems.append(f"{what}: value over 2000 characters")
        elif kind == "static_select":
            options = element.get("options") or [
                o for g in element.get("option_groups", []) for o in g.get("options", [])
            ]
            if not options or len(element.get("options", [])) > 100:
                problems.append(f"{what}: 1-100 options")
            for option in options:
                text_ok(option.get("text"), 75, f"{what} option")
        elif kind == "plain_text_input":
            if int(element.get("max_length", 3000)) > 3000:
                problems.append(f"{what}: max_length over 3000")
        else:
            problems.append(f"{what}: element type {kind!r} not used by csat-bot")

    for index, block in enumerate(blocks):
        what = f"{where}[{index}]"
        kind = block.get("type")
        if len(block.get("block_id", "")) > 255:
            problems.append(f"{what}: block_id over 255 characters")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{what}: section without text or fields")
            if "text" in block:
                text_ok(block["text"], 3000, what)
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"{what}: more than 10 fields")
            for field_ in fields:
                text_ok(field_, 2000, f"{what} field")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 25:
                problems.append(f"{what}: 1-25 elements")
            for element in elements:
                element_ok(element, what)
        elif kind == "context":
            if not 0 < len(block.get("elements", [])) <= 10:
                problems.append(f"{what}: 1-10 context elements")
            for element in block.get("elements", []):
                text_ok(element, 3000, what)
        elif kind == "header":
            text_ok(block.get("text"), 150, what)
        elif kind == "input":
            text_ok(block.get("label"), 2000, what)
            element_ok(block.get("element") or {}, what)
        elif kind != "divider":
            problems.append(f"{what}: block type {kind!r} not used by csat-bot")
    return problems


def view_problems(view: Any) -> list[str]:
    if isinstance(view, str):
        view = json.loads(view)
    problems = []
    if view.get("type") != "modal":
        problems.append("view: not a modal")
    for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
        text = (view.get(key) or {}).get("text", "")
        if (key == "title" and not text) or len(text) > limit:
            problems.append(f"view: {key} longer than {limit} or missing")
    if len(view.get("private_metadata", "")) > 3000:
        problems.append("view: private_metadata over 3000 characters")
    return problems + block_kit_problems(view.get("blocks"), "view.blocks")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class FakeSlack:
    """The Web API; state is per test (:meth:`reset`), the server lives for the session."""

    contract: SlackContract
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    scripted: dict[str, deque[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.hooks.clear()
            self.problems.clear()
            self.messages.clear()
            self.uploads.clear()
            self.scripted.clear()
            self.tokens = {BOT_TOKEN: TEAM}

    # -- scripting ------------------------------------------------------------------------

    def fail(self, method: str, error: str, times: int = 1) -> None:
        for _ in range(times):
            self.scripted.setdefault(method, deque()).append(
                (200, {"ok": False, "error": error}, {})
            )

    def rate_limit(self, method: str, retry_after: int, times: int = 1) -> None:
        body = {"ok": False, "error": "ratelimited"}
        for _ in range(times):
            self.scripted.setdefault(method, deque()).append(
                (429, body, {"Retry-After": str(retry_after)})
            )

    def server_error(self, method: str, status: int = 503, times: int = 1) -> None:
        for _ in range(times):
            self.scripted.setdefault(method, deque()).append((status, {}, {}))

    # -- reading --------------------------------------------------------------------------

    def to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def hook_url(self) -> str:
        return self.base_url.replace("/api/", "/hooks/") + "commands/T111/111/xxxxx"

    # -- serving --------------------------------------------------------------------------

    async def _args(self, request: Request) -> tuple[dict[str, Any], str | None]:
        args: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        kind = request.headers.get("content-type", "")
        if body and kind.startswith("application/json"):
            args.update(json.loads(body))
        elif body:
            args.update(parse_qsl(body.decode(), keep_blank_values=True))
        token = args.pop("token", None)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            args.setdefault("client_id", user)
            args.setdefault("client_secret", password)
        return args, token

    async def api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args, token = await self._args(request)
        problems = self.contract.problems(method, args, token)
        for key in ("blocks",):
            if key in args:
                value = json.loads(args[key]) if isinstance(args[key], str) else args[key]
                problems += block_kit_problems(value)
                if method in ("chat.postMessage", "chat.update") and not args.get("text"):
                    problems.append(f"{method}: blocks without a text fallback")
        if "view" in args:
            problems += view_problems(args["view"])
        with self.lock:
            self.calls.append(Call(method, args, token))
            self.problems.extend(problems)
            queue = self.scripted.get(method)
            scripted = queue.popleft() if queue else None
        if problems:
            error = "invalid_blocks" if any("block" in p for p in problems) else "invalid_arguments"
            return JSONResponse({"ok": False, "error": error, "problems": problems})
        if scripted is not None:
            status, body, headers = scripted
            return JSONResponse(body, status_code=status, headers=headers)
        if method != "oauth.v2.access" and token not in self.tokens:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        return JSONResponse(self.answer(method, args, token))

    def answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        n = next(self._ids)
        if method == "auth.test":
            team = self.tokens.get(token or "", TEAM)
            return {
                "ok": True,
                "url": "https://acme.example/",
                "team": "Acme",
                "user": "csat",
                "team_id": team,
                "user_id": "UBOT1",
                "bot_id": "B111",
                "is_enterprise_install": False,
            }
        if method == "conversations.open":
            user = str(args.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + user[1:]}}
        if method == "chat.postMessage":
            ts = f"{1700000000 + n}.{n:06d}"
            with self.lock:
                self.messages[(str(args["channel"]), ts)] = args
            return {
                "ok": True,
                "channel": args["channel"],
                "ts": ts,
                "message": {"text": args.get("text"), "ts": ts},
            }
        if method == "chat.update":
            key = (str(args["channel"]), str(args["ts"]))
            with self.lock:
                if key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[key] = args
            return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text")}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V{n:06d}", "type": "modal"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{n:08d}"
            with self.lock:
                self.uploads[file_id] = Upload(str(args["filename"]), int(args["length"]))
            return {
                "ok": True,
                "upload_url": self.base_url.replace("/api/", "/upload/") + file_id,
                "file_id": file_id,
            }
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"])
            with self.lock:
                missing = [f["id"] for f in files if self.uploads.get(f["id"]) is None]
                incomplete = [
                    f["id"]
                    for f in files
                    if f["id"] not in missing
                    and len(self.uploads[f["id"]].content) != self.uploads[f["id"]].length
                ]
                if missing or incomplete:
                    return {"ok": False, "error": "file_not_found" if missing else "invalid_upload"}
                for f in files:
                    self.uploads[f["id"]].shared_to = str(args.get("channel_id") or "")
                    self.uploads[f["id"]].comment = str(args.get("initial_comment") or "")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "oauth.v2.access":
            if args.get("client_id") != CLIENT_ID or args.get("client_secret") != CLIENT_SECRET:
                return {"ok": False, "error": "invalid_client_id"}
            if args.get("code") != "good-code":
                return {"ok": False, "error": "invalid_code"}
            self.tokens[INSTALLED_TOKEN] = INSTALLED_TEAM
            return {
                "ok": True,
                "app_id": "A111",
                "authed_user": {"id": "U900"},
                "scope": "chat:write,im:write,im:history,commands",
                "token_type": "bot",
                "access_token": INSTALLED_TOKEN,
                "bot_user_id": "UBOT2",
                "team": {"id": INSTALLED_TEAM, "name": "Beta"},
                "enterprise": None,
                "is_enterprise_install": False,
            }
        return {"ok": True}

    async def upload(self, request: Request) -> Response:
        """The upload URL: the file's bytes, posted as the body (the length must match)."""
        file_id = request.path_params["file_id"]
        body = await request.body()
        with self.lock:
            found = self.uploads.get(file_id)
            if found is None:
                return PlainTextResponse("unknown upload", status_code=404)
            found.content = body
        return PlainTextResponse(f"OK - {len(body)}")

    async def hook(self, request: Request) -> Response:
        with self.lock:
            self.hooks.append(json.loads(await request.body()))
        return PlainTextResponse("ok")

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self.api, methods=["GET", "POST"]),
                Route("/hooks/{rest:path}", self.hook, methods=["POST"]),
                Route("/upload/{file_id}", self.upload, methods=["POST"]),
            ]
        )


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    fake = FakeSlack(SlackContract())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.asgi(),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}/api/"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def slack(slack_server: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake, reset; and no test may reach a real host (only 127.0.0.1 resolves)."""
    real = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", b"127.0.0.1"):
            raise OSError(f"test tried to reach {host!r}; only the local fakes are allowed")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    slack_server.reset()
    yield slack_server
    assert slack_server.problems == [], slack_server.problems


# -- what Slack sends us ------------------------------------------------------------------


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"Slack payload fixture {path} is absent (../shared/fixtures not checked out)")
    return path.read_text(encoding="utf-8")


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    age: float = 0,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
        "content-type": content_type,
    }


def block_actions(
    *,
    user: str,
    action: dict[str, Any],
    message: Mapping[str, Any],
    channel: str,
    team: str = TEAM,
) -> str:
    """A block_actions form body, from bolt-python's recorded payload, for our message."""
    payload = json.loads(fixture("slack_block_actions.json"))
    payload["user"] = {"id": user, "team_id": team}
    payload["team"] = {"id": team}
    payload["channel"] = {"id": channel}
    payload["container"].update(channel_id=channel, message_ts=message["ts"])
    payload["message"].update(
        ts=message["ts"], text=message.get("text", ""), blocks=copy.deepcopy(message["blocks"])
    )
    payload["actions"] = [{"type": "button", "block_id": "b", **action}]
    return urlencode({"payload": json.dumps(payload)})


def view_submission(
    *, user: str, view: Mapping[str, Any], view_id: str, text: str | None, team: str = TEAM
) -> str:
    payload = json.loads(fixture("slack_view_submission.json"))
    payload["user"].update(id=user, team_id=team)
    payload["team"] = {"id": team, "domain": "acme"}
    payload["view"].update(
        id=view_id,
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        state={"values": {"comment": {"text": {"type": "plain_text_input", "value": text}}}},
    )
    return urlencode({"payload": json.dumps(payload)})


def slash_command(
    *, user: str, text: str, response_url: str, team: str = TEAM, command: str = "/csat"
) -> str:
    fields = dict(parse_qsl(fixture("slack_slash_command.txt"), keep_blank_values=True))
    for key in ("enterprise_id", "enterprise_name"):  # a workspace outside Enterprise Grid
        fields.pop(key, None)
    fields.update(user_id=user, team_id=team, command=command, text=text, response_url=response_url)
    return urlencode(fields)


def message_event(*, user: str, text: str, channel: str, ts: str, team: str = TEAM) -> str:
    """An Events API envelope for a DM, in the shape Slack's events documentation gives."""
    return json.dumps(
        {
            "token": "verification_token",
            "team_id": team,
            "api_app_id": "A111",
            "event": {
                "type": "message",
                "channel_type": "im",
                "user": user,
                "text": text,
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
                "client_msg_id": f"msg-{ts}",
            },
            "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}",
            "event_time": int(float(ts)),
            "authorizations": [
                {
                    "team_id": team,
                    "user_id": "UBOT1",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
    )
