"""The HTTP API through the real ASGI app: auth, validation, idempotency, exports, privacy."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot.app.web import create_app
from bot.service import Service
from channels.memory import MemoryChannel
from storage.models import Answer, InboundMessage, Invitation, Respondent
from tests.helpers import deliver

AUTH = {"authorization": "Bearer test-token-0123456789"}


class Api:
    """A synchronous face on an httpx client speaking HTTP to the ASGI app."""

    def __init__(self, service: Service) -> None:
        self.app = create_app(service)
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://csat.test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def api(service: Service) -> Iterator[Api]:
    client = Api(service)
    yield client
    client.close()


def _count(service: Service, model: type) -> int:
    with Session(service.store.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_trigger_one_then_repeat_is_idempotent(api: Api, service: Service) -> None:
    body = {
        "channel": "memory",
        "to": "U1",
        "interaction_id": "T-1",
        "agent": "alice",
        "delay": "10m",
    }
    first = api.request("POST", "/v1/surveys", json=body, headers=AUTH)
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["status"] == "scheduled" and data["duplicate"] is False
    again = api.request("POST", "/v1/surveys", json=body, headers=AUTH)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert _count(service, Invitation) == 1


def test_batch_is_all_or_nothing(api: Api, service: Service) -> None:
    batch = [
        {"channel": "memory", "to": "U1", "interaction_id": "T-1"},
        {"channel": "memory", "to": "has space", "interaction_id": "T-2"},
    ]
    response = api.request("POST", "/v1/surveys", json=batch, headers=AUTH)
    assert response.status_code == 422
    assert "item 1" in response.json()["error"]
    assert _count(service, Invitation) == 0
    batch[1]["to"] = "U2"
    ok = api.request("POST", "/v1/surveys", json=batch, headers=AUTH)
    assert ok.status_code == 201 and len(ok.json()) == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"channel": "memory", "to": "U1"}, "interaction_id"),
        ({"channel": "fax", "to": "U1", "interaction_id": "T"}, "not enabled"),
        (
            {"channel": "memory", "to": "U1", "interaction_id": "T", "survey": "nope"},
            "unknown survey",
        ),
        ({"channel": "memory", "to": "U1", "interaction_id": "T", "delay": "soon"}, "delay"),
        ({"channel": "memory", "to": "U1", "interaction_id": "T", "delay": -5}, "delay"),
        ({"channel": "memory", "to": "U1", "interaction_id": "T", "colour": "red"}, "colour"),
        ([], "empty"),
    ],
)
def test_bad_trigger_is_refused_and_writes_nothing(
    api: Api, service: Service, body: object, fragment: str
) -> None:
    response = api.request("POST", "/v1/surveys", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]
    assert _count(service, Invitation) == 0 and _count(service, Respondent) == 0


def test_malformed_json_is_422(api: Api, service: Service) -> None:
    response = api.request(
        "POST",
        "/v1/surveys",
        content=b"{not json",
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert _count(service, Invitation) == 0


def test_oversized_body_is_413(api: Api, service: Service) -> None:
    big = json.dumps([{"channel": "memory", "to": "U1", "interaction_id": "x" * 100}] * 20000)
    response = api.request(
        "POST",
        "/v1/surveys",
        content=big.encode(),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert _count(service, Invitation) == 0


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic dGVzdC10b2tlbg=="}]
)
def test_wrong_or_missing_token_is_401(api: Api, service: Service, headers: dict[str, str]) -> None:
    body = {"channel": "memory", "to": "U1", "interaction_id": "T-1"}
    assert api.request("POST", "/v1/surveys", json=body, headers=headers).status_code == 401
    assert api.request("GET", "/v1/scores", headers=headers).status_code == 401
    assert _count(service, Invitation) == 0


def test_without_a_token_the_api_is_closed(service: Service) -> None:
    service.settings = service.settings.model_copy(update={"csat_api_token": None})
    client = Api(service)
    try:
        response = client.request("GET", "/v1/scores", headers=AUTH)
        assert response.status_code == 503
        assert "CSAT_API_TOKEN" in response.json()["error"]
    finally:
        client.close()


def test_scores_export_and_forget(api: Api, service: Service, memory: MemoryChannel) -> None:
    for n, rating in enumerate(["5", "2"]):
        body = {
            "channel": "memory",
            "to": f"U{n}",
            "interaction_id": f"T-{n}",
            "agent": "alice" if n == 0 else "bob",
        }
        assert api.request("POST", "/v1/surveys", json=body, headers=AUTH).status_code == 201
        deliver(service)
        service.handle_text("memory", f"U{n}", rating)
        service.handle_text("memory", f"U{n}", '=HYPERLINK("x") comment')

    scores = api.request(
        "GET", "/v1/scores", params={"period": "today", "by": "agent"}, headers=AUTH
    )
    assert scores.status_code == 200, scores.text
    report = scores.json()
    assert report["period"]["timezone"] == "Europe/Amsterdam"
    assert report["overall"]["csat"]["score"] == 50.0
    assert set(report["groups"]) == {"alice", "bob"}
    assert report["groups"]["alice"]["csat"]["score"] == 100.0

    bad = api.request("GET", "/v1/scores", params={"period": "fortnight"}, headers=AUTH)
    assert bad.status_code == 422 and "fortnight" in bad.json()["error"]

    exported = api.request("GET", "/v1/responses", params={"format": "csv"}, headers=AUTH)
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["rating"] for r in rows] == ["5", "2"]
    assert rows[0]["comment"].startswith("'=")

    listed = api.request("GET", "/v1/responses", headers=AUTH).json()
    assert listed["count"] == 2

    erased = api.request("DELETE", "/v1/respondents/memory/U0", headers=AUTH)
    assert erased.status_code == 200 and erased.json()["invitations_unlinked"] == 1
    with Session(service.store.engine) as session:
        assert session.scalars(select(Respondent.address)).all() == ["U1"]  # type: ignore[call-overload]
        comments = session.scalars(
            select(Answer.comment).where(Answer.comment.is_not(None))  # type: ignore[call-overload,union-attr]
        ).all()
        raws = session.scalars(
            select(InboundMessage.raw_text).where(InboundMessage.raw_text.is_not(None))  # type: ignore[call-overload,union-attr]
        ).all()
    assert len(comments) == 1 and len(raws) == 2
    again = api.request("GET", "/v1/scores", headers=AUTH).json()
    assert again["overall"]["csat"]["responses"] == 2
    assert api.request("DELETE", "/v1/respondents/memory/U0", headers=AUTH).status_code == 404


def test_cancel_endpoint(api: Api, service: Service) -> None:
    body = {"channel": "memory", "to": "U1", "interaction_id": "T-9", "delay": "1h"}
    api.request("POST", "/v1/surveys", json=body, headers=AUTH)
    response = api.request("DELETE", "/v1/surveys/T-9", headers=AUTH)
    assert response.status_code == 200 and response.json()["cancelled"] == 1
    assert api.request("DELETE", "/v1/surveys/T-404", headers=AUTH).status_code == 404


def test_unknown_route_and_method_get_json_errors(api: Api) -> None:
    missing = api.request("GET", "/v1/nothing-here", headers=AUTH)
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = api.request("PUT", "/v1/surveys", headers=AUTH)
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_health_and_metrics(api: Api) -> None:
    assert api.request("GET", "/healthz").json()["status"] == "ok"
    api.request(
        "POST",
        "/v1/surveys",
        json={"channel": "memory", "to": "U1", "interaction_id": "T-1"},
        headers=AUTH,
    )
    metrics = api.request("GET", "/metrics")
    assert metrics.status_code == 200
    assert 'csat_surveys_triggered_total{channel="memory",status="scheduled"} 1.0' in metrics.text
