"""E-mail surveys through a real SMTP server (aiosmtpd on loopback): the mail as sent, its links
on the web survey page, scanners that open every link, one-click unsubscribe, SMTP failures."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.errors import ConfigError, InvalidInput
from bot.requests import SurveyRequest
from bot.service import Service
from bot.settings import Settings
from bot.surveys import builtin_surveys
from channels.email import EmailChannel, SmtpServer
from storage.models import Answer, InboundMessage, Invitation, Respondent
from storage.sql_store import SqlStore
from tests.conftest import Clock
from tests.helpers import browse, deliver, free_port

PUBLIC = "http://csat.test"
SENDER = "Acme Support <survey@acme.example>"


class Inbox:
    """An SMTP server's handler: keeps every mail; refuses the recipients in ``refuse``."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mailer(settings: Settings, db_engine: Engine, clock: Clock, smtp: tuple[Inbox, int]) -> Service:
    channel = EmailChannel(
        server=SmtpServer("127.0.0.1", smtp[1], None, None, implicit_tls=False),
        sender=SENDER,
        brand="Acme",
    )
    return Service(
        settings=settings.model_copy(update={"csat_public_url": PUBLIC}),
        store=SqlStore(db_engine),
        surveys=builtin_surveys(),
        channels={"email": channel},
        clock=clock,
        rng=random.Random(4),
    )


def survey(service: Service, to: str = "Ann@Example.com", **extra: str) -> None:
    extra.setdefault("interaction_id", f"T-{to}")
    service.start_surveys([SurveyRequest(channel="email", to=to, **extra)])  # type: ignore[arg-type]
    deliver(service)


def parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    page = mail.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


def links(mail: EmailMessage) -> list[str]:
    text, page = parts(mail)
    found = re.findall(r'href="([^"]+)"', page) + re.findall(r"https?://\S+", text)
    return [url.replace("&amp;", "&") for url in found]


def recorded(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        answers = len(session.execute(select(Answer.id)).all())
        messages = len(session.execute(select(InboundMessage.id)).all())
    return answers, messages


def test_the_mail_asks_with_one_link_per_star(mailer: Service, smtp: tuple[Inbox, int]) -> None:
    survey(mailer, locale="nl")
    inbox, _ = smtp
    assert len(inbox.mails) == 1
    mail = inbox.mails[0]
    assert mail["To"] == "ann@example.com"  # one address whatever its case
    assert mail["From"] == SENDER and mail["Message-ID"].endswith("@acme.example>")
    assert mail.get_content_type() == "multipart/alternative"
    unsubscribe = re.fullmatch(
        r"<(http://csat\.test/u/[0-9a-f]+\.[\w-]+)>", mail["List-Unsubscribe"]
    )
    assert unsubscribe is not None
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, page = parts(mail)
    assert 'lang="nl"' in page and "Versturen" in text
    stars = [url for url in links(mail) if "?star=" in url]
    assert sorted({int(url.rsplit("=", 1)[1]) for url in stars}) == [1, 2, 3, 4, 5]
    assert unsubscribe.group(1) in text and unsubscribe.group(1) in page
    with Session(mailer.store.engine) as session:  # type: ignore[attr-defined]
        sent = session.execute(select(Invitation.status, Invitation.provider_message_id)).one()
    assert sent == ("sent", mail["Message-ID"])


def test_a_scanner_opening_every_link_records_nothing(
    mailer: Service, smtp: tuple[Inbox, int], db_engine: Engine
) -> None:
    survey(mailer)
    every = links(smtp[0].mails[0])
    assert len(every) >= 11  # five stars in each part and the opt-out link

    async def scenario(http: httpx.AsyncClient) -> None:
        for url in random.Random(1).sample(every * 2, len(every) * 2):
            for method in ("GET", "HEAD"):
                answer = await http.request(method, url)
                assert answer.status_code == 200, url

    browse(mailer, scenario)
    assert recorded(db_engine) == (0, 0)
    again = mailer.start_surveys(  # and the address was not unsubscribed
        [SurveyRequest(channel="email", to="ann@example.com", interaction_id="T-again")]
    )[0]
    assert again.reason != "opted out"
    pseudonym = mailer.ctx.pseudonym("email", "ann@example.com")
    assert not mailer.store.is_suppressed("email", pseudonym)


def test_a_person_follows_a_star_and_presses_send(
    mailer: Service, smtp: tuple[Inbox, int], db_engine: Engine
) -> None:
    survey(mailer)
    four = next(url for url in links(smtp[0].mails[0]) if url.endswith("?star=4"))

    async def scenario(http: httpx.AsyncClient) -> None:
        page = await http.get(four)
        assert re.search(r'value="4" required\s+checked', page.text)
        path = four.removeprefix(PUBLIC).split("?")[0]
        sent = await http.post(
            path, data={"question": "csat", "value": "4"}, headers={"origin": PUBLIC}
        )
        assert sent.status_code == 303
        again = await http.post(  # a double click
            path, data={"question": "csat", "value": "4"}, headers={"origin": PUBLIC}
        )
        assert again.status_code == 303

    browse(mailer, scenario)
    with Session(db_engine) as session:
        values = session.execute(select(Answer.question_id, Answer.value)).all()
    assert [tuple(v) for v in values] == [("csat", 4)]
    groups = mailer.scores(mailer.parse_query("today by channel"))["groups"]
    assert groups["email"]["csat"]["responses"] == 1


def test_one_click_unsubscribe_stops_the_next_survey(
    mailer: Service, smtp: tuple[Inbox, int]
) -> None:
    survey(mailer)
    target = re.sub(r"^<|>$", "", smtp[0].mails[0]["List-Unsubscribe"]).removeprefix(PUBLIC)

    async def scenario(http: httpx.AsyncClient) -> None:
        shown = await http.get(target)
        assert shown.status_code == 200 and "<button" in shown.text
        done = await http.post(target, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "no more surveys" in done.text

    browse(mailer, scenario)
    result = mailer.start_surveys(
        [SurveyRequest(channel="email", to="ann@example.com", interaction_id="T-next")]
    )[0]
    assert (result.status, result.reason) == ("skipped", "opted out")


def test_smtp_4xx_is_retried_and_5xx_fails_with_its_code(
    mailer: Service, smtp: tuple[Inbox, int], clock: Clock
) -> None:
    inbox, _ = smtp
    inbox.refuse["busy@example.com"] = "451 4.7.1 Try again later"
    inbox.refuse["gone@example.com"] = "550 5.1.1 <gone@example.com>: no such user"
    survey(mailer, "busy@example.com")
    survey(mailer, "gone@example.com")
    with Session(mailer.store.engine) as session:  # type: ignore[attr-defined]
        rows = dict(session.execute(select(Invitation.interaction_id, Invitation.status)).all())
        errors = dict(
            session.execute(select(Invitation.interaction_id, Invitation.last_error)).all()
        )
    assert rows["T-busy@example.com"] == "scheduled" and "451" in errors["T-busy@example.com"]
    assert rows["T-gone@example.com"] == "failed" and "550" in errors["T-gone@example.com"]
    inbox.refuse.clear()
    clock.advance(minutes=5)
    deliver(mailer)
    assert [mail["To"] for mail in inbox.mails] == ["busy@example.com"]
    mailer.forget("email", "GONE@example.com")  # the erasure takes the address out of errors
    with Session(mailer.store.engine) as session:  # type: ignore[attr-defined]
        errors_left = session.execute(select(Invitation.last_error)).scalars().all()
        addresses = session.execute(select(Respondent.address)).scalars().all()
    assert not any("gone@example.com" in str(row).lower() for row in [*errors_left, *addresses])
    assert "busy@example.com" in addresses


def test_addresses_are_checked_and_half_set_email_refuses_to_start(
    mailer: Service, settings: Settings
) -> None:
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        mailer.start_surveys(
            [SurveyRequest(channel="email", to="ann at example", interaction_id="T-bad")]
        )
    half = settings.model_copy(update={"csat_smtp_url": "smtp://mail.example:587"})
    with pytest.raises(ConfigError, match="CSAT_EMAIL_FROM"):
        Settings.model_validate(half.model_dump()).enabled_channels()
    with pytest.raises(ValueError, match="smtp://"):
        Settings(_env_file=None, csat_smtp_url="http://mail.example")  # type: ignore[call-arg]


def test_after_erasure_no_database_file_holds_the_address_or_the_comment(
    mailer: Service, smtp: tuple[Inbox, int], db_engine: Engine
) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("reads the SQLite files; PostgreSQL's erasure is the same SQL")
    from pathlib import Path

    address, comment = "zed.secret@example.com", "Marmot 5521 helped me"
    survey(mailer, address, interaction_id="T-zed")
    page = next(url for url in links(smtp[0].mails[0]) if "?star=" in url).split("?")[0]
    path = page.removeprefix(PUBLIC)
    auth = {"authorization": "Bearer test-token-0123456789"}

    async def scenario(http: httpx.AsyncClient) -> None:
        origin = {"origin": PUBLIC}
        await http.post(path, data={"question": "csat", "value": "2"}, headers=origin)
        await http.post(path, data={"question": "comment", "comment": comment}, headers=origin)
        gone = await http.delete(f"/v1/respondents/email/{address.upper()}", headers=auth)
        assert gone.status_code == 200, gone.text

    directory = Path(str(db_engine.url.database)).parent
    browse(mailer, scenario)
    needles = [address.encode(), comment.encode()]
    for file in directory.iterdir():
        if file.is_file():
            data = file.read_bytes()
            assert not [n for n in needles if n in data], file.name
    assert recorded(db_engine)[0] == 2  # the rating stays, unlinked, and the comment row


def test_csat_serve_mails_the_survey_and_counts_the_answer(
    database_url: str, smtp: tuple[Inbox, int], tmp_path: Any
) -> None:
    """The whole wiring: settings, the e-mail adapter, the sender loop of a real ``csat serve``."""
    import time

    from tests.helpers import start_serve

    inbox, port = smtp
    env = {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_API_TOKEN": "email-serve-token-0123456789",
        "CSAT_SENDER_INTERVAL": "0.1",
        "CSAT_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "CSAT_EMAIL_FROM": SENDER,
    }
    base, process = start_serve({**env, "CSAT_PUBLIC_URL": "http://placeholder"}, tmp_path)
    try:
        auth = {"Authorization": f"Bearer {env['CSAT_API_TOKEN']}"}
        made = httpx.post(
            f"{base}/v1/surveys",
            json={"channel": "email", "to": "Bo@Example.com", "interaction_id": "S-1"},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        refused = httpx.post(
            f"{base}/v1/surveys",
            json={"channel": "email", "to": "bo at example", "interaction_id": "S-2"},
            headers=auth,
        )
        assert refused.status_code == 422 and "e-mail address" in refused.text
        deadline = time.monotonic() + 30
        while not inbox.mails and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [mail["To"] for mail in inbox.mails] == ["bo@example.com"]
        star = next(url for url in links(inbox.mails[0]) if url.endswith("?star=5"))
        path = star.removeprefix("http://placeholder").split("?")[0]
        shown = httpx.get(f"{base}{path}?star=5")
        assert re.search(r'value="5" required\s+checked', shown.text)
        sent = httpx.post(
            f"{base}{path}", data={"question": "csat", "value": "5"}, headers={"origin": base}
        )
        assert sent.status_code == 303
        scores = httpx.get(
            f"{base}/v1/scores", params={"period": "today", "by": "channel"}, headers=auth
        ).json()
        assert scores["groups"]["email"]["csat"]["responses"] == 1
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "Traceback" not in output, output
    assert "bo@example.com" not in output  # addresses are masked in the logs


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_mail_goes_over_tls_as_the_url_says(
    mode: str, mailer: Service, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``smtp://`` upgrades with STARTTLS (here the server insists on it), ``smtps://`` is TLS
    from the first byte; the server's certificate is checked (trusted here via SSL_CERT_FILE)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the TLS server")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    if mode == "starttls":
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
        )
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        url = f"{'smtp' if mode == 'starttls' else 'smtps'}://user:p%40ss@127.0.0.1:{port}"
        server = SmtpServer.parse(url)
        assert (server.username, server.password) == ("user", "p@ss")
        channel = EmailChannel(
            server=SmtpServer("127.0.0.1", port, None, None, server.implicit_tls),
            sender=SENDER,
            brand="Acme",
        )
        mailer.ctx.channels["email"] = channel
        survey(mailer, "tls@example.com")
    finally:
        controller.stop()
    assert [mail["To"] for mail in inbox.mails] == ["tls@example.com"]


def test_a_question_over_several_lines_makes_a_one_line_subject(
    mailer: Service, smtp: tuple[Inbox, int], tmp_path: Any
) -> None:
    """A survey file's text may hold line breaks; a mail header may not. The subject is the
    question on one line (and short); the body keeps the lines."""
    from pathlib import Path

    from bot.survey_files import load_surveys

    file = Path(tmp_path) / "surveys.toml"
    long_line = "and please take your time, " * 8
    file.write_text(
        "[surveys.visit]\n[[surveys.visit.questions]]\n"
        'id = "csat"\nkind = "csat"\n'
        'text = { en = """Thanks for visiting {brand} today.\r\n'
        'How would you rate   the visit?\t\n\n""" }\n'
        "[surveys.long]\n[[surveys.long.questions]]\n"
        'id = "csat"\nkind = "csat"\n'
        f'text = {{ en = """How was it?\n{long_line}\nthanks""" }}\n',
        encoding="utf-8",
    )
    mailer.ctx.surveys.update(load_surveys(file))
    survey(mailer, "visit@example.com", survey="visit")
    survey(mailer, "long@example.com", survey="long")
    inbox, _ = smtp
    subjects = {mail["To"]: mail["Subject"] for mail in inbox.mails}
    assert subjects["visit@example.com"] == (
        "Thanks for visiting Acme today. How would you rate the visit?"
    )
    trimmed = subjects["long@example.com"]
    assert trimmed.startswith("How was it? and please") and trimmed.endswith("…")
    assert len(trimmed) <= 120 and "\n" not in trimmed
    text, _ = parts(next(m for m in inbox.mails if m["To"] == "visit@example.com"))
    assert "Thanks for visiting Acme today.\nHow would you rate" in text.replace("\r\n", "\n")
    with Session(mailer.store.engine) as session:  # type: ignore[attr-defined]
        statuses = session.execute(select(Invitation.status, Invitation.last_error)).all()
    assert [tuple(row) for row in statuses] == [("sent", None), ("sent", None)]


@pytest.mark.parametrize("public", ["", "csat.example.com", "/survey"])
def test_email_without_an_absolute_public_url_refuses_to_start(
    database_url: str, public: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mail's links and its List-Unsubscribe header must be absolute: every command that
    would send mail stops at start-up naming CSAT_PUBLIC_URL, and nothing is queued."""
    from typer.testing import CliRunner

    from bot.app.cli import app

    monkeypatch.chdir(tmp_path)
    env = {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_SMTP_URL": "smtp://127.0.0.1:2525",
        "CSAT_EMAIL_FROM": SENDER,
        "CSAT_PUBLIC_URL": public,
    }
    runner = CliRunner()
    send = ["send", "--channel", "email", "--to", "ann@example.com", "--interaction", "T-1"]
    for args in (["worker", "--once"], send, ["serve", "--port", str(free_port())]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "CSAT_PUBLIC_URL" in result.output and "email" in result.output, result.output
        assert "Traceback" not in result.output
    from storage.db import make_engine

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.execute(select(Invitation.id)).all() == []
    finally:
        engine.dispose()
