"""The ``csat`` command: the newcomer's journey (chat, score) and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {
        "CSAT_DATABASE_URL": database_url,
        "CSAT_TIMEZONE": "Europe/Amsterdam",
        "CSAT_BRAND": "Acme",
        "COLUMNS": "160",
    }


def test_chat_then_score(env: dict[str, str]) -> None:
    chat = runner.invoke(
        app, ["chat", "--locale", "nl"], input="10/10\nvijf\nSnel geholpen\n", env=env
    )
    assert chat.exit_code == 0, chat.output
    assert "Acme" in chat.output
    assert "1 tot en met 5" in chat.output
    lines = chat.output.splitlines()
    # question, re-prompt, follow-up, thanks
    assert sum("bot>" in line for line in lines) == 4, chat.output
    score = runner.invoke(app, ["score", "today", "--json"], env=env)
    assert score.exit_code == 0, score.output
    report = json.loads(score.output)
    assert report["period"]["timezone"] == "Europe/Amsterdam"
    assert report["overall"]["csat"]["distribution"]["5"] == 1
    assert report["overall"]["csat"]["score"] == 100.0
    table = runner.invoke(app, ["score", "today", "by", "agent"], env=env)
    assert table.exit_code == 0 and "demo-agent" in table.output


def test_send_export_forget(env: dict[str, str], tmp_path: Path) -> None:
    sent = runner.invoke(
        app,
        [
            "send",
            "--channel",
            "console",
            "--to",
            "ann",
            "--interaction",
            "T-1",
            "--agent",
            "alice",
            "--delay",
            "1h",
        ],
        env=env,
    )
    assert sent.exit_code == 0, sent.output
    assert "scheduled" in sent.output
    again = runner.invoke(
        app, ["send", "--channel", "console", "--to", "ann", "--interaction", "T-1"], env=env
    )
    assert "already triggered" in again.output
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(app, ["export", "--format", "jsonl", "--output", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["interaction_id"], r["agent"], r["status"]) for r in rows] == [
        ("T-1", "alice", "scheduled")
    ]
    forgot = runner.invoke(app, ["forget", "console", "ann"], env=env)
    assert forgot.exit_code == 0 and "1 survey" in forgot.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["send", "--channel", "sms", "--to", "x", "--interaction", "T"], "not enabled"),
        (
            ["send", "--channel", "console", "--to", "x", "--interaction", "T", "--delay", "soon"],
            "delay",
        ),
        (["score", "fortnight"], "fortnight"),
        (["forget", "console", "nobody"], "no respondent"),
        (["export", "--format", "xml"], "csv or jsonl"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    env: dict[str, str], args: list[str], fragment: str
) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_bad_setting_names_the_key(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["score"], env={**env, "CSAT_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code == 2
    assert "CSAT_TIMEZONE" in result.output


def test_half_configured_channel_names_the_missing_key(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["score"], env={**env, "TWILIO_ACCOUNT_SID": "AC123"})
    assert result.exit_code == 2
    assert "TWILIO_AUTH_TOKEN" in result.output


def test_db_upgrade(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0 and "up to date" in result.output


@pytest.mark.parametrize(
    "command", ["serve", "worker", "send", "score", "export", "forget", "db", "chat"]
)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_worker_once_sends_due_surveys(env: dict[str, str]) -> None:
    runner.invoke(
        app, ["send", "--channel", "console", "--to", "ann", "--interaction", "T-7"], env=env
    )
    result = runner.invoke(app, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.output
