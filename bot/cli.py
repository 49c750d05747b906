"""The ``csat`` command. Errors are one line on stderr and exit code 2."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from bot.errors import CsatError
from bot.report_text import change_text
from bot.requests import SurveyRequest
from bot.settings import Settings, load_settings

app = typer.Typer(
    help="csat-bot: CSAT surveys over SMS, Slack, Telegram and the terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
telegram_app = typer.Typer(help="Telegram set-up.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except CsatError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"{where}: {first['msg']}")


def _settings() -> Settings:
    return _run(load_settings)


_opened: list[Any] = []


def _service(settings: Settings | None = None, channels: dict[str, Any] | None = None) -> Any:
    """The service for one command; its engine is disposed when the command ends."""
    from bot.assembly import build_service

    settings = settings or _settings()
    service = _run(lambda: build_service(settings, channels))
    _opened.append(service.engine)
    return service


@app.callback()
def _cleanup(ctx: typer.Context) -> None:
    def dispose() -> None:
        while _opened:
            _opened.pop().dispose()

    ctx.call_on_close(dispose)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes serving the port (about one per core).")
    ] = 1,
) -> None:
    """Run the web app (webhooks, API) with the sender loop inside.

    With ``--workers N`` uvicorn runs N processes on the port, each with its own sender loop:
    claims are atomic, so the loops never send one survey twice.
    """
    import uvicorn

    from bot.assembly import build_adapters
    from bot.logs import log_config, setup_logging

    setup_logging()
    settings = _settings()
    adapters = _run(lambda: build_adapters(settings))
    service = _service(settings, {a.channel.name: a.channel for a in adapters})
    out.print(f"channels on: {', '.join(sorted(service.channels))}")
    out.print(f"database: {service.engine.url.render_as_string(hide_password=True)}")
    if service.settings.csat_api_token is None:
        out.print("CSAT_API_TOKEN is not set: /v1/* answers 503 until it is")
    if workers == 1:
        uvicorn.run(
            _app(service, adapters),
            host=host,
            port=port,
            log_level="info",
            log_config=log_config(),
        )
        return
    polling = [a.channel.name for a in adapters if getattr(a, "mode", None) == "polling"]
    if polling:
        _fail(
            f"--workers {workers}: {', '.join(polling)} long-polls, which only one process may "
            "do; set CSAT_PUBLIC_URL for webhooks or serve with one worker"
        )
    out.print(f"workers: {workers}")
    uvicorn.run(
        "bot.cli:serve_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(),
    )


def serve_app() -> Any:
    """The app of ``csat serve``, built from the environment; each worker process calls it."""
    from bot.assembly import build_adapters
    from bot.logs import setup_logging

    setup_logging()
    settings = _settings()
    adapters = _run(lambda: build_adapters(settings))
    return _app(_service(settings, {a.channel.name: a.channel for a in adapters}), adapters)


def _app(service: Any, adapters: Any) -> Any:
    from bot.web import create_app

    return create_app(service, adapters=adapters, run_sender=True)


@app.command()
def worker(
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 2.0,
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
) -> None:
    """Send due surveys and reminders (run as many as you like against PostgreSQL)."""
    from bot.assembly import build_adapters
    from bot.logs import setup_logging
    from bot.sender import Sender

    setup_logging()
    settings = _settings()
    adapters = _run(lambda: build_adapters(settings))
    sender = Sender(_service(settings, {a.channel.name: a.channel for a in adapters}))

    async def work() -> None:
        # Adapters are not started here: webhooks and polling belong to `csat serve`; the
        # channels open their clients on first send, and are closed here on the way out.
        try:
            if once:
                report = await sender.run_once()
                out.print(
                    f"sent {report.sent}, deferred {report.deferred}, "
                    f"retried {report.retried}, failed {report.failed}, "
                    f"reminders {report.reminded}"
                )
            else:
                await sender.run_forever(asyncio.Event(), interval)
        finally:
            for adapter in adapters:
                try:
                    await adapter.stop()
                except Exception:
                    logging.getLogger("csat.worker").exception("closing %s", adapter.channel.name)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


@app.command()
def send(
    channel: Annotated[str, typer.Option(help="sms, slack, telegram or console.")],
    to: Annotated[str, typer.Option(help="Phone number, Slack user id, Telegram chat id, name.")],
    interaction: Annotated[str, typer.Option(help="Your ticket/order id (idempotency key).")],
    survey: Annotated[str, typer.Option()] = "support",
    agent: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option()] = None,
    touchpoint: Annotated[str | None, typer.Option()] = None,
    locale: Annotated[str | None, typer.Option()] = None,
    delay: Annotated[str, typer.Option(help="e.g. 10m, 2h.")] = "0",
    customer: Annotated[
        str | None, typer.Option(help="Customer id for cross-channel throttle.")
    ] = None,
) -> None:
    """Schedule a survey (a running serve/worker delivers it)."""
    request = _run(
        lambda: SurveyRequest(
            channel=channel,
            to=to,
            interaction_id=interaction,
            survey=survey,
            agent=agent,
            team=team,
            touchpoint=touchpoint,
            locale=locale,
            delay=delay,
            customer_id=customer,
        )
    )
    service = _service()
    result = _run(lambda: service.start_survey(request))
    note = " (already triggered)" if result.duplicate else ""
    why = f": {result.reason}" if result.reason else ""
    out.print(
        f"invitation {result.invitation_id} {result.status}{why}, "
        f"send at {result.send_at.isoformat()}{note}",
        markup=False,
    )


@app.command()
def score(
    query: Annotated[
        list[str] | None, typer.Argument(help="e.g. today | week by agent | 7d")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON shape.")] = False,
) -> None:
    """Show the score: [period] [by dimension]."""
    service = _service()
    text = " ".join(query or [])
    report = _run(lambda: service.scores(service.parse_query(text)))
    if as_json:
        out.print_json(json.dumps(report))
        return
    print_report(report)


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or out
    period = report["period"]
    rows = [("overall", report["overall"]), *report["groups"].items()]
    has_nps = any(group.get("nps") for _, group in rows)
    has_ces = any(group.get("ces") for _, group in rows)
    table = Table(title=f"CSAT {period['label']} ({period['timezone']})")
    table.add_column(report.get("by") or "group", no_wrap=True)
    for column in ("n", "sent", "rate", "CSAT", "95% CI", "comp.", "mean", "band"):
        table.add_column(column, justify="left" if column == "band" else "right")
    if has_nps:
        table.add_column("NPS", justify="right")
    if has_ces:
        table.add_column("CES", justify="right")
    table.add_column("vs previous")
    for name, group in rows:
        csat = group.get("csat") or {}
        ci = csat.get("ci95")
        cells = [
            name + (" (low sample)" if group.get("low_sample") and group["responses"] else ""),
            str(group["responses"]),
            str(group["sent"]),
            _pct(group.get("response_rate")),
            _pct(csat.get("score")),
            f"{ci[0]:.0f}-{ci[1]:.0f}" if ci else "-",
            _pct(csat.get("composite")),
            _num(csat.get("mean")),
            csat.get("band") or "-",
        ]
        if has_nps:
            nps = group.get("nps")
            cells.append(_signed(nps.get("score"), nps.get("margin")) if nps else "-")
        if has_ces:
            ces = group.get("ces")
            cells.append(_num(ces.get("mean")) if ces else "-")
        cells.append(change_text(group) if group["responses"] else "-")
        table.add_row(*cells)
    console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed(value: float | None, margin: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.0f}" + (f" ±{margin:.0f}" if margin is not None else "")


@app.command()
def export(
    since: Annotated[datetime | None, typer.Option(help="From (UTC), e.g. 2025-03-01.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until (UTC, exclusive).")] = None,
    format: Annotated[str, typer.Option(help="csv or jsonl.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout).")] = None,
) -> None:
    """Export responses, one row per sent survey."""
    from datetime import UTC

    from bot.export import FORMATS, write
    from storage.export import iter_responses

    if format not in FORMATS:
        _fail("--format must be csv or jsonl")
    service = _service()
    rows = iter_responses(
        service.engine,
        since.replace(tzinfo=UTC) if since else None,
        until.replace(tzinfo=UTC) if until else None,
    )
    counted = _Counted(rows)
    if output is None:
        _run(lambda: write(format, counted, sys.stdout))
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        _run(lambda: write(format, counted, handle))
    out.print(f"{counted.count} rows written to {output}", markup=False)


class _Counted:
    """Passes rows through and counts them."""

    def __init__(self, rows: Any) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Any:
        for row in self.rows:
            self.count += 1
            yield row


@app.command()
def forget(
    channel: Annotated[str, typer.Argument(help="sms, slack, telegram or console.")],
    address: Annotated[str, typer.Argument(help="The respondent's address on that channel.")],
) -> None:
    """Erase a respondent's address, comments and raw messages (ratings stay, unlinked)."""
    service = _service()
    count = _run(lambda: service.forget(channel, address))
    out.print(f"erased; {count} survey(s) unlinked")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to CSAT_DATABASE_URL."""
    from storage.db import upgrade

    settings = _settings()
    _run(lambda: upgrade(settings.csat_database_url))
    out.print("database is up to date")


@telegram_app.command("set-webhook")
def telegram_set_webhook() -> None:
    """Register CSAT_PUBLIC_URL/telegram/webhook (with the secret) with Telegram."""
    from channels.telegram import set_webhook

    settings = _settings()
    url = _run(lambda: asyncio.run(set_webhook(settings)))
    out.print(f"webhook set: {url}", markup=False)


@app.command()
def chat(
    name: Annotated[str, typer.Option(help="Who you are (your console address).")] = "you",
    survey: Annotated[str, typer.Option()] = "support",
    locale: Annotated[str | None, typer.Option(help="en, nl, nb, de, es, zh.")] = None,
    agent: Annotated[str, typer.Option()] = "demo-agent",
) -> None:
    """Be the customer: get a survey in the terminal and answer it."""
    from anyio import to_thread

    from bot.sender import Sender
    from channels.console import ConsoleChannel, render

    def show(text: str) -> None:
        out.print(f"[bold cyan]bot>[/] {text}", highlight=False)

    settings = _settings()
    service = _service(settings, {"console": ConsoleChannel(write=show)})
    chosen = _run(lambda: service.survey(survey))
    service.surveys[survey] = replace(chosen, throttle=timedelta(0), sample_rate=1.0)
    request = _run(
        lambda: SurveyRequest(
            channel="console",
            to=name,
            interaction_id=f"chat-{uuid.uuid4().hex[:8]}",
            survey=survey,
            agent=agent,
            touchpoint="demo",
            locale=locale,
        )
    )

    async def converse() -> None:
        await to_thread.run_sync(lambda: service.start_survey(request))
        await Sender(service).run_once()
        out.print("[dim](type your answer; an empty line or Ctrl-D ends)[/]")
        while True:
            try:
                text = await to_thread.run_sync(lambda: input("you> "))
            except EOFError:
                break
            if not text.strip():
                break
            result = await to_thread.run_sync(service.handle_text, "console", name, text)
            for reply in result.replies:
                show(render(reply))
            if result.closed or result.reason in ("late", "no_open_survey"):
                break
        out.print("[dim]see the result with: csat score today[/]")

    _run(lambda: asyncio.run(converse()))


def main() -> None:
    app()
