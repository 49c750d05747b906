"""The web survey page (``/s/{token}``) and the link channel: shown by GET, recorded only by the
page's own POST, through the same core as every channel."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.app.web import create_app
from bot.requests import SurveyRequest
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.link import LinkChannel
from channels.memory import MemoryChannel
from storage.models import Answer, InboundMessage
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import browse, deliver, start_serve

ORIGIN = "http://csat.test"


@pytest.fixture
def web(settings: Settings, db_engine: Engine, memory: MemoryChannel, clock: Clock) -> Service:
    return Service(
        settings=settings,
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"memory": memory, "link": LinkChannel()},
        clock=clock,
        rng=random.Random(5),
    )


def link_survey(service: Service, person: str = "visitor-1", **extra: str) -> str:
    result = service.start_surveys(
        [SurveyRequest(channel="link", to=person, interaction_id=f"chat-{person}", **extra)]
    )[0]
    assert result.url is not None and result.as_json()["url"] == result.url
    deliver(service)  # the sender hands it out: nothing to send for a link
    return result.url


def answers(engine: Engine) -> list[tuple[str, int | None, str | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Answer.question_id, Answer.value, Answer.comment).order_by(Answer.id)  # type: ignore[arg-type]
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def inbound(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(InboundMessage)).scalar_one())


def form(html: str) -> tuple[str, str]:
    """The page's form action and its hidden question id."""
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    question = re.search(r'name="question" value="([^"]+)"', html)
    assert action and question, html
    return action.group(1), question.group(1)


def test_a_link_survey_is_answered_on_its_page(web: Service, db_engine: Engine) -> None:
    url = link_survey(web)
    assert url.startswith("/s/")

    async def scenario(http: httpx.AsyncClient) -> None:
        page = await http.get(url)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "How would you rate the support you received from Acme?" in page.text
        assert page.text.count('type="radio" name="value"') == 5
        action, question = form(page.text)
        sent = await http.post(
            action, data={"question": question, "value": "4"}, headers={"origin": ORIGIN}
        )
        assert sent.status_code == 303 and sent.headers["location"] == url
        follow = await http.get(url)
        assert "<textarea" in follow.text  # the comment question follows a rating
        action, question = form(follow.text)
        await http.post(
            action,
            data={"question": question, "comment": "Quick & <b>kind</b>"},
            headers={"origin": ORIGIN},
        )
        done = await http.get(url)
        assert "Thank you" in done.text
        assert "<b>kind</b>" not in done.text

    browse(web, scenario)
    assert [(q, v) for q, v, _ in answers(db_engine)] == [("csat", 4), ("comment", None)]
    assert answers(db_engine)[1][2] == "Quick & <b>kind</b>"
    report = web.scores(web.parse_query("today by channel"))
    assert report["groups"]["link"]["csat"]["responses"] == 1


def test_opening_any_link_any_number_of_times_records_nothing(
    web: Service, db_engine: Engine
) -> None:
    """What a mail scanner does: GET and HEAD of the page with every star, in any order."""
    url = link_survey(web)

    async def scenario(http: httpx.AsyncClient) -> None:
        for star in [5, 1, 3, 2, 4, 5, 1]:
            page = await http.get(f"{url}?star={star}")
            assert page.status_code == 200
            assert re.search(rf'value="{star}" required\s+checked', page.text), star
            head = await http.head(f"{url}?star={star}")
            assert head.status_code == 200

    browse(web, scenario)
    assert answers(db_engine) == [] and inbound(db_engine) == 0


def test_forged_altered_or_unknown_tokens_show_nothing(web: Service) -> None:
    url = link_survey(web)
    token = url.rsplit("/", 1)[1]
    number, signature = token.split(".")
    other = f"{int(number, 16) + 1:x}.{signature}"
    flipped = f"{number}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"

    async def scenario(http: httpx.AsyncClient) -> None:
        for bad in [other, flipped, number, "1.x", "zz." + signature, "a" * 64, "%00"]:
            page = await http.get(f"/s/{bad}")
            assert page.status_code in (404, 422), bad
            assert "How would you rate" not in page.text
            sent = await http.post(f"/s/{bad}", data={"question": "csat", "value": "5"}, headers={})
            assert sent.status_code in (404, 422), bad

    browse(web, scenario)


def test_a_post_from_another_site_is_refused(web: Service, db_engine: Engine) -> None:
    url = link_survey(web)

    async def scenario(http: httpx.AsyncClient) -> None:
        data = {"question": "csat", "value": "1"}
        for origin in ("https://evil.example", "null"):
            refused = await http.post(url, data=data, headers={"origin": origin})
            assert refused.status_code == 403
        bad = await http.post(url, data={"question": "csat", "value": "x"})
        assert bad.status_code == 422

    browse(web, scenario)
    assert answers(db_engine) == []


def test_a_second_press_corrects_and_a_closed_survey_says_so(
    web: Service, db_engine: Engine, clock: Clock
) -> None:
    url = link_survey(web)

    async def scenario(http: httpx.AsyncClient) -> None:
        headers = {"origin": ORIGIN}
        await http.post(url, data={"question": "csat", "value": "2"}, headers=headers)
        await http.post(url, data={"question": "comment", "skip": "1"}, headers=headers)
        thanks = await http.get(url)
        assert "Thank you" in thanks.text and "Change your rating" in thanks.text
        await http.post(url, data={"question": "csat", "value": "5"}, headers=headers)

    browse(web, scenario)
    assert [(q, v) for q, v, _ in answers(db_engine)] == [("csat", 5)]

    late = link_survey(web, "visitor-2")
    clock.advance(days=8)  # past the link channel's week

    async def closed(http: httpx.AsyncClient) -> None:
        page = await http.get(late)
        assert "closed" in page.text and 'name="value"' not in page.text
        await http.post(late, data={"question": "csat", "value": "1"}, headers={"origin": ORIGIN})

    browse(web, closed)
    assert len(answers(db_engine)) == 1


def test_the_page_speaks_the_survey_locale(web: Service) -> None:
    url = link_survey(web, "bezoeker", locale="nl")

    async def scenario(http: httpx.AsyncClient) -> None:
        page = await http.get(url)
        assert 'lang="nl"' in page.text and "Versturen" in page.text

    browse(web, scenario)


def test_csat_serve_returns_the_url_and_counts_the_answer(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    env = {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_API_TOKEN": "web-survey-token-0123456789",
        "CSAT_PUBLIC_URL": "http://127.0.0.1",
        "CSAT_SENDER_INTERVAL": "0.1",
    }
    base, process = start_serve(env, tmp_path)
    try:
        auth = {"Authorization": f"Bearer {env['CSAT_API_TOKEN']}"}
        made = httpx.post(
            f"{base}/v1/surveys",
            json={"channel": "link", "to": "visitor-9", "interaction_id": "chat-9"},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        url = made.json()["url"]
        path = url.removeprefix("http://127.0.0.1")
        for _ in range(100):  # the sender hands it out within its interval
            page = httpx.get(f"{base}{path}?star=5")
            if 'name="value"' in page.text:
                break
        action, question = form(page.text)
        sent = httpx.post(
            f"{base}{action}", data={"question": question, "value": "5"}, headers={"origin": base}
        )
        assert sent.status_code == 303
        scores = httpx.get(
            f"{base}/v1/scores", params={"period": "today", "by": "channel"}, headers=auth
        )
        assert scores.json()["groups"]["link"]["csat"]["responses"] == 1
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)  # closes the pipe
    assert "Traceback" not in output, output


def test_hostile_requests_to_the_page_never_fail_the_server_or_store_anything(
    web: Service, db_engine: Engine
) -> None:
    """Generated paths, queries and form bodies: always a 2xx/3xx/4xx, never a 5xx; with a
    forged token nothing is stored."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    url = link_survey(web)
    real = url.rsplit("/", 1)[1]
    tokens = st.one_of(
        st.just(real),
        st.text(max_size=80),
        st.from_regex(r"[0-9a-f]{1,14}\.[A-Za-z0-9_-]{0,30}", fullmatch=True),
    )
    fields = st.dictionaries(
        st.sampled_from(["question", "value", "comment", "skip", "List-Unsubscribe"]),
        st.one_of(st.text(max_size=50), st.integers(-(10**12), 10**12).map(str)),
        max_size=4,
    )
    seen: list[int] = []

    async def hit(token: str, star: str, data: dict[str, str], path: str) -> None:
        transport = httpx.ASGITransport(app=create_app(web))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
            target = f"/{path}/{quote(token, safe='')}"
            for response in (
                await http.get(target, params={"star": star}),
                await http.post(target, data=data, headers={"origin": ORIGIN}),
            ):
                seen.append(response.status_code)
                assert response.status_code < 500, (token, star, data, response.text[:200])
                assert "Traceback" not in response.text

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(tokens, st.text(max_size=12), fields, st.sampled_from(["s", "u"]))
    def run(token: str, star: str, data: dict[str, str], path: str) -> None:
        before = answers(db_engine)
        asyncio.run(hit(token, star, data, path))
        if token != real:
            assert answers(db_engine) == before

    run()
    assert any(code >= 400 for code in seen)


def test_behind_a_proxy_the_public_url_is_this_site(web: Service, settings: Settings) -> None:
    """A proxy may pass its upstream's name as Host; the browser's Origin is the public URL."""
    web.settings = settings.model_copy(update={"csat_public_url": "https://csat.example.com"})
    url = link_survey(web).removeprefix("https://csat.example.com")

    async def scenario(http: httpx.AsyncClient) -> None:
        data = {"question": "csat", "value": "5"}
        ok = await http.post(url, data=data, headers={"origin": "https://csat.example.com"})
        assert ok.status_code == 303
        evil = await http.post(url, data=data, headers={"origin": "https://csat.example.co"})
        assert evil.status_code == 403

    browse(web, scenario)


def test_a_page_opened_before_the_sender_handed_it_out_waits_and_reloads(
    web: Service, db_engine: Engine
) -> None:
    result = web.start_surveys(
        [SurveyRequest(channel="link", to="early", interaction_id="chat-early")]
    )[0]
    assert result.url is not None

    async def scenario(http: httpx.AsyncClient) -> None:
        page = await http.get(result.url)
        assert 'http-equiv="refresh"' in page.text and 'name="value"' not in page.text
        refused = await http.post(
            result.url, data={"question": "csat", "value": "5"}, headers={"origin": ORIGIN}
        )
        assert refused.status_code == 303

    browse(web, scenario)
    assert answers(db_engine) == []
    deliver(web)

    async def later(http: httpx.AsyncClient) -> None:
        page = await http.get(result.url)
        assert 'name="value"' in page.text and 'http-equiv="refresh"' not in page.text

    browse(web, later)


def test_a_token_with_other_characters_or_leading_zeros_is_not_valid(
    web: Service, db_engine: Engine
) -> None:
    """Not a server error: any token that is not the invitation's own, letter for letter, shows
    the page of a link that is not valid; and each invitation has exactly one URL."""
    url = link_survey(web)
    token = url.rsplit("/", 1)[1]
    number, signature = token.split(".")
    unicode_tokens = [
        f"{number}.é{signature[1:]}",
        f"{number}.{signature[:-1]}ü",
        f"{number}.{'ß' * len(signature)}",
        f"{number}.{signature}\u200b",
        f"١.{signature}",  # an Arabic-Indic digit one
        "é",
    ]
    padded = [f"0{number}.{signature}", f"00{number}.{signature}", f"+{number}.{signature}"]

    async def scenario(http: httpx.AsyncClient) -> None:
        for bad in unicode_tokens + padded:
            for path in ("s", "u"):
                target = f"/{path}/{quote(bad, safe='')}"
                page = await http.get(target)
                assert page.status_code == 404, (bad, page.text[:200])
                assert "This survey link is not valid" in page.text
                sent = await http.post(
                    target, data={"question": "csat", "value": "5"}, headers={"origin": ORIGIN}
                )
                assert sent.status_code == 404, (bad, sent.text[:200])
        assert (await http.get(url)).status_code == 200  # the one URL still works

    browse(web, scenario)
    assert answers(db_engine) == [] and inbound(db_engine) == 0


async def rate_and_open_the_comment(http: httpx.AsyncClient, url: str) -> None:
    """The rating pressed, so that the page asks for the comment."""
    rated = await http.post(
        url, data={"question": "csat", "value": "2"}, headers={"origin": ORIGIN}
    )
    assert rated.status_code == 303 and "<textarea" in (await http.get(url)).text


def test_a_comment_from_the_box_is_stored_as_typed(web: Service, db_engine: Engine) -> None:
    """What an SMS reply would be read as (a rating, a skip word) is, in the comment box, a
    comment; the rating stays."""
    typed = {"visitor-a": "5", "visitor-b": "no", "visitor-c": " 1/5 \r\nSTOP "}
    urls = {person: link_survey(web, person) for person in typed}

    async def scenario(http: httpx.AsyncClient) -> None:
        for person, comment in typed.items():
            await rate_and_open_the_comment(http, urls[person])
            sent = await http.post(
                urls[person],
                data={"question": "comment", "comment": comment},
                headers={"origin": ORIGIN},
            )
            assert sent.status_code == 303
            assert "Thank you" in (await http.get(urls[person])).text

    browse(web, scenario)
    assert answers(db_engine) == [
        ("csat", 2, None),
        ("comment", None, "5"),
        ("csat", 2, None),
        ("comment", None, "no"),
        ("csat", 2, None),
        ("comment", None, "1/5 \nSTOP"),
    ]


def test_a_full_comment_box_with_line_breaks_is_kept(web: Service, db_engine: Engine) -> None:
    """The box's maxlength counts a line break once; the browser sends CRLF. A comment that
    fits the box is stored (with plain line breaks); one that does not is refused whole."""
    url = link_survey(web)
    lines = ["x" * 199] * 10
    fits = "\r\n".join(lines) + "\r\n"  # 2000 characters in the box, 2010 sent
    too_long = fits + "y"

    async def scenario(http: httpx.AsyncClient) -> None:
        await rate_and_open_the_comment(http, url)
        refused = await http.post(
            url, data={"question": "comment", "comment": too_long}, headers={"origin": ORIGIN}
        )
        assert refused.status_code == 422 and "could not be read" in refused.text
        assert refused.headers["cache-control"] == "no-store"
        sent = await http.post(
            url, data={"question": "comment", "comment": fits}, headers={"origin": ORIGIN}
        )
        assert sent.status_code == 303

    browse(web, scenario)
    stored = answers(db_engine)
    assert [(q, v) for q, v, _ in stored] == [("csat", 2), ("comment", None)]
    comment = stored[1][2]
    assert comment is not None and "\r" not in comment
    assert comment == "\n".join(lines)  # stored stripped, as every channel's comment


def test_every_refusal_of_the_page_carries_its_headers(web: Service, db_engine: Engine) -> None:
    url = link_survey(web)
    token = url.rsplit("/", 1)[1]

    async def scenario(http: httpx.AsyncClient) -> None:
        origin = {"origin": ORIGIN}
        refusals = [
            await http.post(url, data={"question": "csat", "value": "x"}, headers=origin),
            await http.post(url, data={"value": "3"}, headers=origin),
            await http.post(url, data={"question": "q" * 65, "value": "3"}, headers=origin),
            await http.get(f"{url}?star=lots"),
            await http.get(f"/s/{'a' * 65}"),
            await http.get(f"/u/{'a' * 65}"),
            await http.put(url, data={"question": "csat", "value": "3"}, headers=origin),
            await http.delete(f"/u/{token}"),
        ]
        for response in refusals:
            assert 400 <= response.status_code < 500, response.text[:200]
            assert response.headers["cache-control"] == "no-store", response.status_code
            assert response.headers["referrer-policy"] == "same-origin", response.status_code
            assert "Traceback" not in response.text
        assert refusals[0].status_code == 422 and "could not be read" in refusals[0].text
        assert refusals[-1].status_code == 405

    browse(web, scenario)
    assert answers(db_engine) == [] and inbound(db_engine) == 0


def test_after_erasure_the_opt_out_link_says_it_no_longer_works(web: Service) -> None:
    url = link_survey(web, "gone-1")
    token = url.rsplit("/", 1)[1]
    web.forget("link", "gone-1")

    async def scenario(http: httpx.AsyncClient) -> None:
        shown = await http.get(f"/u/{token}")
        assert shown.status_code == 410 and "no longer works" in shown.text
        assert "<button" not in shown.text
        pressed = await http.post(f"/u/{token}", headers={"origin": ORIGIN})
        assert pressed.status_code == 410 and "no longer works" in pressed.text
        assert "no more surveys" not in pressed.text

    browse(web, scenario)
    assert not web.store.is_suppressed("link", web.ctx.pseudonym("link", "gone-1"))


@pytest.mark.parametrize(
    "public",
    ["https://Csat.Example.COM", "https://csat.example.com:443", "HTTPS://csat.example.com/"],
)
def test_the_public_url_is_compared_as_an_origin(
    web: Service, settings: Settings, public: str, db_engine: Engine
) -> None:
    """Case of the host and an explicit default port make no other origin."""
    web.settings = settings.model_copy(update={"csat_public_url": public})
    url = "/s/" + link_survey(web).rsplit("/s/", 1)[1]

    async def scenario(http: httpx.AsyncClient) -> None:
        data = {"question": "csat", "value": "5"}
        for other in (
            "https://csat.example.com:8443",
            "http://csat.example.com",
            "https://evil.example.com",
            "https://csat.example.com.evil",
        ):
            refused = await http.post(url, data=data, headers={"origin": other})
            assert refused.status_code == 403, other
        ok = await http.post(url, data=data, headers={"origin": "https://csat.example.com"})
        assert ok.status_code == 303
        # The request's own host, with its default port written out, is this site too.
        again = await http.post(url, data=data, headers={"origin": ORIGIN, "host": "CSAT.test:80"})
        assert again.status_code == 303

    browse(web, scenario)
    assert [(q, v) for q, v, _ in answers(db_engine)] == [("csat", 5)]


def test_a_rating_changes_a_few_times_then_the_page_says_enough(
    web: Service, db_engine: Engine
) -> None:
    url = link_survey(web)
    headers = {"origin": ORIGIN}

    async def scenario(http: httpx.AsyncClient) -> None:
        await http.post(url, data={"question": "csat", "value": "1"}, headers=headers)
        await http.post(url, data={"question": "comment", "skip": "1"}, headers=headers)
        for value in ["2", "3", "4", "5", "4"]:
            changed = await http.post(url, data={"question": "csat", "value": value})
            assert changed.status_code == 303, value
        for value in ["1", "2"]:
            refused = await http.post(url, data={"question": "csat", "value": value})
            assert refused.status_code == 429
            assert "not recorded" in refused.text and "Traceback" not in refused.text
            assert refused.headers["cache-control"] == "no-store"
        assert "Thank you" in (await http.get(url)).text

    browse(web, scenario)
    assert [(q, v) for q, v, _ in answers(db_engine)] == [("csat", 4)]
    with Session(db_engine) as session:
        reasons = session.execute(select(InboundMessage.reason)).scalars().all()
    assert reasons.count("correction") == 5
