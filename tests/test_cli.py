"""The ``csat`` command: the newcomer's journey (chat, score) and one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.app.cli import app, main
from storage.db import HEAD_REVISION, MIGRATIONS
from tests.helpers import EVERY_CHANNEL

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


def test_a_low_rating_shows_in_the_follow_up_table(env: dict[str, str]) -> None:
    chat = runner.invoke(app, ["chat"], input="1\nNobody called back\n", env=env)
    assert chat.exit_code == 0, chat.output
    table = runner.invoke(app, ["score", "today", "by", "agent"], env=env)
    assert table.exit_code == 0, table.output
    assert "Follow-up of low-score alerts" in table.output
    follow_up = table.output.split("Follow-up of low-score alerts", 1)[1]
    row = next(line for line in follow_up.splitlines() if line.strip().startswith("demo-agent "))
    assert row.split()[:4] == ["demo-agent", "1", "0", "0"], table.output
    report = json.loads(runner.invoke(app, ["score", "today", "--json"], env=env).output)
    assert report["follow_up"]["alerts"] == 1 and report["follow_up"]["follow_up_rate"] == 0.0
    listed = runner.invoke(app, ["alerts", "--status", "open"], env=env)
    assert listed.exit_code == 0 and "Nobody is following up yet" in listed.output, listed.output
    assert "1/5" in listed.output and "demo-agent" in listed.output
    none = runner.invoke(app, ["alerts", "--status", "resolved", "--json"], env=env)
    assert json.loads(none.output) == {"alerts": []}
    bad = runner.invoke(app, ["alerts", "--status", "lost"], env=env)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


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
    link = runner.invoke(
        app, ["send", "--channel", "link", "--to", "visitor-1", "--interaction", "L-1"], env=env
    )
    assert link.exit_code == 0, link.output
    assert re.search(r"survey page: \S*/s/[0-9a-f]+\.[\w-]{22}\s*$", link.output), link.output


def run_main(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, str, str]:
    """``csat ARGS`` through the real entry point (usage errors are formatted there)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


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
        (["export", "--format", "xml"], "'xml' is not one of 'csv', 'jsonl'"),
        (["export", "--since", "yesterday"], "--since"),
        (["send", "--channel", "fax", "--to", "x", "--interaction", "T"], "'fax' is not one of"),
        (["send", "--to", "x"], "Missing option '--channel'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["score", "--colour"], "No such option: --colour"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    env: dict[str, str],
    args: list[str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    code, stdout, stderr = run_main(args, env, monkeypatch, capsys)
    assert code == 2, (stdout, stderr)
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert fragment in stderr
    assert "Traceback" not in stderr + stdout and "╭" not in stderr
    assert "Value error" not in stderr


def test_bare_csat_prints_the_help(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    code, stdout, stderr = run_main([], env, monkeypatch, capsys)
    assert code == 0 and stderr == ""
    assert "Usage: csat" in stdout and "score" in stdout


def test_bad_setting_names_the_key(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["score"], env={**env, "CSAT_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code == 2
    assert "CSAT_TIMEZONE" in result.output


def test_half_configured_channel_names_the_missing_key(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["score"], env={**env, "TWILIO_ACCOUNT_SID": "AC123"})
    assert result.exit_code == 2
    assert "TWILIO_AUTH_TOKEN" in result.output


def test_db_upgrade_says_what_it_applied(tmp_path: Path) -> None:
    env = {"CSAT_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "COLUMNS": "80"}
    first = runner.invoke(app, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    applied = [line for line in first.output.splitlines() if line.startswith("applied ")]
    revisions = [line.split()[1].rstrip(":") for line in applied]
    assert revisions == sorted(revisions) and revisions[0] == "0001"
    assert revisions[-1] == HEAD_REVISION
    assert all(len(line.split(": ", 1)[1]) > 5 for line in applied)  # each one has its title
    assert f"({len(applied)} migration(s) applied)" in first.output
    again = runner.invoke(app, ["db", "upgrade"], env=env)
    assert again.exit_code == 0
    assert "applied 0" not in again.output and "nothing to apply" in again.output


def test_head_revision_is_the_migrations_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI, read from the CLI itself."""
    found: list[tuple[str, ...]] = [path]
    for name, command in getattr(group, "commands", {}).items():
        found += commands(command, (*path, name))
    return found


ALL_COMMANDS = commands(typer.main.get_command(app))


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "csat")
def test_every_help_shows_its_docstring_whole(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "Usage" in result.output
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    summary = " ".join((command.help or "").split("\n\n")[0].split())
    assert summary and summary in " ".join(result.output.split()), result.output


def test_help_shows_the_grammar_and_the_choices() -> None:
    score = " ".join(runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "[PERIOD] [by DIMENSION]" in score
    for word in ("today", "yesterday", "week", "month", "7d", "YYYY-MM-DD..YYYY-MM-DD", "agent"):
        assert word in score
    export = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).output
    assert "csv|jsonl" in export
    send = runner.invoke(app, ["send", "--help"], env={"COLUMNS": "200"}).output
    assert "sms|slack|telegram|email|link|console" in send


def test_worker_once_sends_due_surveys(env: dict[str, str]) -> None:
    runner.invoke(
        app, ["send", "--channel", "console", "--to", "ann", "--interaction", "T-7"], env=env
    )
    result = runner.invoke(app, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.output


def test_score_reads_well_at_80_columns(env: dict[str, str]) -> None:
    for name, answer in (("ann", "5"), ("bob", "4"), ("cy", "2")):
        chat = runner.invoke(
            app,
            ["chat", "--name", name, "--agent", "alexandra.de.vries@example.com"],
            input=f"{answer}\n\n",
            env=env,
        )
        assert chat.exit_code == 0, chat.output
    narrow = {**env, "COLUMNS": "80"}
    result = runner.invoke(app, ["score", "today", "by", "agent"], env=narrow)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert "…" not in result.output
    for cell in ("3/3 100%", "66.7%", "3.67", "fair"):
        assert cell in result.output, cell
    assert "alexandra" in result.output and "* low sample" in result.output
    bars = {
        found.group(1): line
        for line in lines
        if (found := re.fullmatch(r"\s+(\d+) [█]* ?\d+ \(\d+%\)", line))
    }
    assert set(bars) == {"1", "2", "3", "4", "5"}, result.output
    assert bars["5"].count("█") == bars["4"].count("█") == bars["2"].count("█") > 0
    assert "█" not in bars["3"] and bars["3"].endswith(" 0 (0%)")
    assert bars["5"].endswith(" 1 (33%)")


SDK_PREFIXES = ("slack_sdk", "slack_bolt", "telegram", "twilio", "aiohttp", "fastapi", "uvicorn")


@pytest.mark.parametrize("args", [["--help"], ["score", "today"], ["score", "--help"]])
def test_cli_start_loads_no_channel_sdk(
    env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    every_channel = {
        **env,
        **EVERY_CHANNEL,
    }
    probe = (
        "import sys\n"
        "from bot.app.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {SDK_PREFIXES!r})\n"
        "print('LOADED', code, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        env={**os.environ, **every_channel},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "LOADED 0 []" in done.stdout, done.stdout + done.stderr


def test_export_shows_progress_only_on_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    runner.invoke(app, ["send", "--channel", "console", "--to", "a", "--interaction", "P"], env=env)
    target = tmp_path / "out.csv"
    base = {**os.environ, **env}
    base.pop("TTY_COMPATIBLE", None)
    command = [sys.executable, "-m", "bot", "export", "--output", str(target)]
    terminal = subprocess.run(
        command, env={**base, "TTY_COMPATIBLE": "1"}, capture_output=True, text=True, timeout=60
    )
    assert terminal.returncode == 0, terminal.stderr
    assert "1 rows" in terminal.stderr  # the live count, drawn on stderr
    piped = subprocess.run(command, env=base, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == ""
    assert "1 rows written" in piped.stdout
