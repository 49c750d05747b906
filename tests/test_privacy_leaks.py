"""Nothing a respondent could be recognised by leaks: log lines mask addresses (uvicorn's access
log included), and after an erasure none of the SQLite database's files still holds the erased
number or comments (the write-ahead log included)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bot.service import Service
from storage.models import Invitation
from tests.conftest import TWILIO_ACCOUNT as ACCOUNT
from tests.conftest import TWILIO_TOKEN as TOKEN
from tests.fakes.twilio_api import FakeTwilio
from tests.helpers import deliver, start_serve, trigger

PUBLIC = "https://csat.example.com"
AUTH = {"authorization": "Bearer t0ken-for-the-tests-0123"}
ROOT = Path(__file__).resolve().parents[1]


SURVEYS = """
[surveys.again]
throttle = "0"

[[surveys.again.questions]]
id = "csat"
kind = "csat"
text = { en = "How would you rate {brand}?" }

[[surveys.again.questions]]
id = "why"
kind = "text"
ask_if = "csat <= 3"
required = false
text = { en = "What went wrong?" }
"""


def _env(database: Path, twilio: FakeTwilio) -> dict[str, str]:
    """Settings for the app on ``database``, with its surveys file in the folder above."""
    surveys = database.parent.parent / "surveys.toml"
    surveys.write_text(SURVEYS, encoding="utf-8")
    return {
        "CSAT_SURVEYS_FILE": str(surveys),
        "CSAT_DATABASE_URL": f"sqlite:///{database}",
        "CSAT_API_TOKEN": "t0ken-for-the-tests-0123",
        "CSAT_SENDER_INTERVAL": "0.2",
        "CSAT_PUBLIC_URL": PUBLIC,
        "CSAT_QUIET_START": "00:00",
        "CSAT_QUIET_END": "24:00",
        "CSAT_BRAND": "Acme",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+3197010000000",
        "TWILIO_API_URL": twilio.url,
    }


@pytest.fixture
def served(tmp_path: Path, twilio: FakeTwilio) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    database = tmp_path / "db" / "csat.db"
    database.parent.mkdir()
    base, process = start_serve(_env(database, twilio), tmp_path)
    yield base, process
    if process.poll() is None:
        process.terminate()
        process.communicate(timeout=20)
    if process.stdout is not None:
        process.stdout.close()


class Customer:
    """A phone texting the served app, signed as Twilio signs."""

    signer = RequestValidator(TOKEN)
    sids = iter(range(1, 1_000_000))

    def __init__(self, base: str, number: str) -> None:
        self.base, self.number = base, number

    def text(self, body: str, signature: str | None = None) -> httpx.Response:
        sid = f"SM{next(self.sids):032x}"
        form = {"MessageSid": sid, "From": self.number, "To": "+3197010000000"}
        form |= {"Body": body, "AccountSid": ACCOUNT}
        if signature is None:
            signature = self.signer.compute_signature(PUBLIC + "/sms/inbound", form)
        headers = {"X-Twilio-Signature": signature}
        return httpx.post(f"{self.base}/sms/inbound", data=form, headers=headers, timeout=10)


def _survey_sent(base: str, twilio: FakeTwilio, number: str, interaction: str) -> None:
    before = len(twilio.messages)
    body = {"channel": "sms", "to": number, "interaction_id": interaction, "survey": "again"}
    created = httpx.post(f"{base}/v1/surveys", json=body, headers=AUTH, timeout=10)
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 20
    while len(twilio.messages) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(twilio.messages) == before + 1, "the sender loop sent the survey"


# -- logs ------------------------------------------------------------------------------------


NUMBER = "+31612345678"


def test_serve_logs_mask_addresses_in_every_line(
    served: tuple[str, subprocess.Popen[str]], twilio: FakeTwilio
) -> None:
    base, process = served
    _survey_sent(base, twilio, NUMBER, "L-1")
    customer = Customer(base, NUMBER)
    assert customer.text("2").status_code == 200
    assert customer.text("Slow, mail me at ann.smith@example.com").status_code == 200
    assert customer.text("5", signature="forged").status_code == 403

    def delete(path: str, headers: dict[str, str] | None = None) -> int:
        return httpx.delete(f"{base}{path}", headers=headers or {}, timeout=10).status_code

    assert delete(f"/v1/respondents/sms/{NUMBER}") == 401
    assert delete("/v1/respondents/sms/%2B31612345678", {"authorization": "Bearer no"}) == 401
    assert delete(f"/v1/respondents/sms/{NUMBER}", AUTH) == 200
    assert delete("/v1/respondents/sms/%2B31612345678", AUTH) == 404
    assert delete("/v1/respondents/sms/0612345678", AUTH) in (404, 422)
    assert delete("/v1/respondents/telegram/532389719", AUTH) in (404, 422)
    assert delete("/v1/respondents/slack/U012ABCDEF9", AUTH) in (404, 422)
    assert delete("/v1/respondents/console/ann.smith%40example.com", AUTH) in (404, 422)
    query = httpx.get(f"{base}/v1/responses?to={NUMBER}&who=ann.smith@example.com", timeout=10)
    assert query.status_code == 401

    process.terminate()
    output = process.communicate(timeout=20)[0]
    assert "DELETE /v1/respondents/sms/" in output, "the access log is on"
    assert "POST /sms/inbound" in output
    for secret in (
        "31612345678",
        "0612345678",
        "12345678",
        "532389719",
        "U012ABCDEF9",
        "ann.smith@",
        "ann.smith%40",
    ):
        assert secret not in output, f"{secret} in the output:\n{output}"
    assert "+316***78" in output or "%2B316***78" in output, "enough is kept to debug"


# ``csat worker --once`` sets up its logging and makes a real pass; afterwards the same process logs
# through the handlers the worker installed, as the worker's own code and its libraries do.
WORKER_SCRIPT = """
import logging
from bot.app.cli import app

try:
    app(["worker", "--once"])
except SystemExit as done:
    assert not done.code, done.code
log = logging.getLogger("csat.sender")
log.warning("could not reach %s (DELETE /v1/respondents/sms/%%2B31612345678)", "+31612345678")
try:
    raise RuntimeError("boom for +31 6 1234 5678 and ann.smith@example.com")
except RuntimeError:
    log.exception("sender pass failed")
"""


def test_worker_logs_mask_addresses_too(tmp_path: Path, twilio: FakeTwilio) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSAT_", "TWILIO_"))}
    (tmp_path / "db").mkdir()
    env |= _env(tmp_path / "db" / "csat.db", twilio)
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=ROOT, check=True)
    done = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "could not reach" in output and "RuntimeError" in output
    for secret in ("31612345678", "1234 5678", "ann.smith@"):
        assert secret not in output, f"{secret} in the output:\n{output}"


# -- erasure leaves nothing in the database's files ------------------------------------------


ERASED = "+31612349876"
KEPT = "+31687651234"


def _found(directory: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """Which of ``needles`` each file under ``directory`` holds, byte for byte."""
    found: dict[str, list[str]] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            hits = [n.decode() for n in needles if n in data]
            if hits:
                found[path.name] = hits
    return found


def _forms_of(number: str, comment: str) -> list[bytes]:
    digits = number.lstrip("+")
    return [
        number.encode(),
        digits.encode(),
        ("0" + digits[2:]).encode(),  # national form
        comment.encode(),
        comment.encode("utf-16-le"),
    ]


def test_after_erasure_no_file_of_the_sqlite_database_holds_the_respondent(
    served: tuple[str, subprocess.Popen[str]], twilio: FakeTwilio, tmp_path: Path
) -> None:
    base, _ = served
    directory = tmp_path / "db"
    erased, kept = Customer(base, ERASED), Customer(base, KEPT)
    secret_comment = "Zanzibar wombat 7731 was rude"
    kept_comment = "Quokka parade 4410 was lovely"
    for i in range(3):
        _survey_sent(base, twilio, ERASED, f"E-{i}")
        assert erased.text("10/10 " + secret_comment).status_code == 200  # re-prompted
        assert erased.text("2").status_code == 200
        assert erased.text(f"{secret_comment}, call {ERASED} ({i})").status_code == 200
    _survey_sent(base, twilio, KEPT, "K-1")
    assert kept.text("1").status_code == 200
    assert kept.text(kept_comment).status_code == 200
    needles = _forms_of(ERASED, secret_comment)
    assert _found(directory, needles), "the respondent is in the files before the erasure"

    gone = httpx.delete(f"{base}/v1/respondents/sms/%2B31612349876", headers=AUTH, timeout=10)
    assert gone.status_code == 200, gone.text
    assert gone.json()["invitations_unlinked"] == 3
    assert _found(directory, needles) == {}, "erased data still readable in the files"
    assert _found(directory, [kept_comment.encode()]), "the others' data is still there"

    # `csat forget` from another process while the server runs: the same.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSAT_", "TWILIO_"))}
    env |= _env(directory / "csat.db", twilio)
    forgot = subprocess.run(
        [sys.executable, "-m", "bot", "forget", "sms", KEPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr
    assert _found(directory, _forms_of(KEPT, kept_comment) + needles) == {}
    rows = httpx.get(f"{base}/v1/responses", headers=AUTH, timeout=10).json()["responses"]
    assert sorted(r["rating"] for r in rows if r["rating"] is not None) == [1, 2, 2, 2]
    assert all(r["comment"] is None for r in rows)


def test_erasure_scrubs_the_number_from_send_errors(service: Service, db_engine: Engine) -> None:
    sent = trigger(service, to="cust-1", interaction="T-1")
    deliver(service)
    with Session(db_engine) as session:
        session.execute(
            update(Invitation)
            .where(Invitation.id == sent.invitation_id)  # type: ignore[arg-type]
            .values(last_error="21211: The 'To' number cust-1 is not a valid phone number.")
        )
        session.commit()
    assert service.forget("memory", "cust-1") == 1
    with Session(db_engine) as session:
        row = session.get(Invitation, sent.invitation_id)
        assert row is not None and row.last_error is not None
        assert "cust-1" not in row.last_error and row.last_error.startswith("21211")
