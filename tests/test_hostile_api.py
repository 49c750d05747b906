"""The API against hostile and malformed input: every refusal is a 4xx with a JSON error, no
traceback, nothing stored; a blank token never opens the API; and generated requests over every
``/v1`` route never get a 5xx."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from bot.errors import ConfigError
from bot.service import Service
from bot.settings import load_settings
from storage.models import Invitation, Respondent
from tests.test_api import AUTH, Api


@pytest.fixture
def api(service: Service) -> Iterator[Api]:
    client = Api(service)
    yield client
    client.close()


def _stored(service: Service) -> tuple[int, int]:
    with Session(service.store.engine) as session:
        invitations = session.scalar(select(func.count()).select_from(Invitation)) or 0
        respondents = session.scalar(select(func.count()).select_from(Respondent)) or 0
    return invitations, respondents


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    noisy = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert noisy == [], [r.getMessage() for r in noisy]


# -- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", " ", "\t  "])
def test_a_blank_token_in_the_env_file_keeps_the_api_closed(
    tmp_path: Path, service: Service, blank: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"CSAT_API_TOKEN={blank}\n", encoding="utf-8")
    settings = load_settings(_env_file=env)
    assert settings.csat_api_token is None
    service.settings = service.settings.model_copy(update={"csat_api_token": None})
    client = Api(service)
    try:
        for headers in ({"authorization": "Bearer"}, {"authorization": "Bearer "}, {}):
            assert client.request("GET", "/v1/scores", headers=headers).status_code == 503
            body = {"channel": "memory", "to": "U1", "interaction_id": "T-1"}
            answer = client.request("POST", "/v1/surveys", json=body, headers=headers)
            assert answer.status_code == 503
    finally:
        client.close()
    assert _stored(service) == (0, 0)


@pytest.mark.parametrize("short", ["x", "secret", "fifteen-chars-x"])
def test_a_short_token_is_refused_at_start_up_by_name(short: str) -> None:
    with pytest.raises(ConfigError, match=r"^CSAT_API_TOKEN: must be at least 16 characters"):
        load_settings(_env_file=None, csat_api_token=short)


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer  ", "bearer", "Bearer test-token", "Bearer \x00"]
)
def test_an_empty_or_partial_bearer_never_matches(api: Api, service: Service, value: str) -> None:
    assert api.request("GET", "/v1/scores", headers={"authorization": value}).status_code == 401
    assert _stored(service) == (0, 0)


# -- hostile bodies and parameters -----------------------------------------------------------


def _post(api: Api, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return api.request(
        "POST",
        "/v1/surveys",
        content=raw,
        headers={**AUTH, "content-type": "application/json", **headers},
    )


SURVEY = {"channel": "memory", "to": "U1", "interaction_id": "T-1"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": 1e20}',
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": 1e309}',
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": -1e309}',
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": NaN}',
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": "99999999999d"}',
        b'{"channel": "memory", "to": "U1", "interaction_id": "T-1", "delay": -5}',
        {**SURVEY, "to": "U\x001"},
        {**SURVEY, "interaction_id": "T-\x001"},
        {**SURVEY, "agent": "al\x00ice"},
        {**SURVEY, "team": "a\x00"},
        {**SURVEY, "touchpoint": "\x00"},
        {**SURVEY, "customer_id": "c\x00"},
        {**SURVEY, "interaction_id": "x" * 100_000},
        {**SURVEY, "survey": "\x00"},
        {**SURVEY, "locale": "\x00"},
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"not json",
        b"\xff\xfe\x00",
        b"",
        b"null",
        b"7",
        b'"text"',
        b"[]",
        [SURVEY] * 1001,
        {**SURVEY, "channel": 5},
        {**SURVEY, "to": ["U1"]},
        {**SURVEY, "delay": {"minutes": 5}},
    ],
    ids=lambda body: repr(body)[:40],
)
def test_hostile_surveys_get_a_clear_4xx_and_store_nothing(
    api: Api, service: Service, no_tracebacks: None, body: Any
) -> None:
    answer = _post(api, body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]
    assert _stored(service) == (0, 0)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_only_json_is_accepted(api: Api, service: Service, content_type: str) -> None:
    answer = _post(api, SURVEY, **{"content-type": content_type})
    assert answer.status_code == 415, answer.text
    assert "application/json" in answer.json()["error"]
    assert _stored(service) == (0, 0)


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"]
)
def test_json_content_types_are_accepted(api: Api, content_type: str) -> None:
    assert _post(api, SURVEY, **{"content-type": content_type}).status_code == 201


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/scores", {"period": "0001-01-01"}),
        ("/v1/scores", {"period": "9999-12-31"}),
        ("/v1/scores", {"period": "0001-01-01..0001-01-02"}),
        ("/v1/scores", {"period": "9999-12-30..9999-12-31"}),
        ("/v1/scores", {"period": "\x00"}),
        ("/v1/scores", {"period": "x" * 10_000}),
        ("/v1/scores", {"by": "nonsense"}),
        ("/v1/scores", {"by": "\x00"}),
        ("/v1/responses", {"since": "9999-12-31T23:59:59-14:00"}),
        ("/v1/responses", {"until": "9999-12-31T23:59:59-14:00"}),
        ("/v1/responses", {"since": "0001-01-01T00:00:00+14:00"}),
        ("/v1/responses", {"since": "2025-01-01"}),
        ("/v1/responses", {"since": "yesterday"}),
        ("/v1/responses", {"format": "xml"}),
        ("/v1/responses", {"limit": "0"}),
        ("/v1/responses", {"limit": "-1"}),
        ("/v1/responses", {"limit": "1e9"}),
    ],
)
def test_hostile_queries_get_a_clear_4xx(
    api: Api, no_tracebacks: None, path: str, params: dict[str, str]
) -> None:
    answer = api.request("GET", path, params=params, headers=AUTH)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/surveys/" + "x" * 5000),
        ("DELETE", "/v1/surveys/T-1?survey=%00"),
        ("DELETE", "/v1/surveys/%00"),
        ("DELETE", "/v1/respondents/nochannel/U1"),
        ("DELETE", "/v1/respondents/memory/%00"),
        ("DELETE", "/v1/respondents/memory/" + "9" * 5000),
    ],
)
def test_hostile_paths_never_500(
    api: Api, service: Service, no_tracebacks: None, method: str, path: str
) -> None:
    answer = api.request(method, path, headers=AUTH)
    assert answer.status_code < 500, answer.text
    assert _stored(service) == (0, 0)


def test_the_openapi_document_describes_the_trigger_body(api: Api) -> None:
    document = api.request("GET", "/openapi.json").json()
    body = document["paths"]["/v1/surveys"]["post"]["requestBody"]
    assert body["required"] is True
    schema = json.dumps(body["content"]["application/json"]["schema"])
    assert "interaction_id" in schema or "SurveyRequest" in schema
    assert "SurveyRequest" in document["components"]["schemas"]


def test_one_bad_object_is_described_without_union_noise(api: Api) -> None:
    answer = _post(api, {**SURVEY, "channel": 5})
    assert "list[" not in answer.json()["error"] and "channel" in answer.json()["error"]
    answer = _post(api, [SURVEY, {**SURVEY, "interaction_id": 5}])
    assert "SurveyRequest" not in answer.json()["error"]
    assert "1.interaction_id" in answer.json()["error"]


# -- generated requests ----------------------------------------------------------------------

_text = st.text(max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_survey_like = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.sampled_from(["memory", "console", "sms"]) | _text,
        "to": _text,
        "interaction_id": _text,
        "agent": _text | st.none(),
        "team": _text,
        "touchpoint": _text,
        "locale": _text,
        "survey": st.sampled_from(["support", "nps", "ces"]) | _text,
        "delay": _text | st.floats() | st.integers(),
        "customer_id": _text,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request=st.one_of(
        st.tuples(
            st.just("POST"),
            st.just("/v1/surveys"),
            _survey_like | _json | st.lists(_survey_like, max_size=3),
        ),
        st.tuples(
            st.just("GET"),
            st.just("/v1/scores"),
            st.fixed_dictionaries({}, optional={"period": _text, "by": _text}),
        ),
        st.tuples(
            st.just("GET"),
            st.just("/v1/responses"),
            st.fixed_dictionaries(
                {}, optional={"since": _text, "until": _text, "format": _text, "limit": _text}
            ),
        ),
        st.tuples(st.just("DELETE"), st.just("/v1/surveys/"), _text),
        st.tuples(st.just("DELETE"), st.just("/v1/respondents/"), st.tuples(_text, _text)),
    )
)
def test_generated_requests_never_get_a_5xx(api: Api, request: tuple[str, str, Any]) -> None:
    from urllib.parse import quote

    method, path, payload = request
    if method == "POST":
        answer = _post(api, payload)
    elif path == "/v1/surveys/":
        answer = api.request("DELETE", path + quote(payload or "x", safe=""), headers=AUTH)
    elif path == "/v1/respondents/":
        channel, address = (quote(p or "x", safe="") for p in payload)
        answer = api.request("DELETE", f"{path}{channel}/{address}", headers=AUTH)
    else:
        answer = api.request(method, path, params=payload, headers=AUTH)
    assert answer.status_code < 500, (request, answer.text)
    if answer.status_code >= 400:
        assert answer.json()["error"]
