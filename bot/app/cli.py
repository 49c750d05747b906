"""The ``csat`` command. Errors are one line on stderr and exit code 2."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from bot.errors import CsatError
from bot.locales import SUPPORTED_LOCALES
from bot.periods import DIMENSIONS, PERIODS_HELP
from bot.settings import Settings, load_settings
from storage.errors import DatabaseSettingError
from storage.values import AlertStatus, Reason

# Plain help (no rich markup): a grammar such as "[period] [by dimension]" is shown as written.
app = typer.Typer(
    help="csat-bot: CSAT surveys over SMS, Slack, Telegram and the terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
telegram_app = typer.Typer(help="Telegram set-up.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(telegram_app, name="telegram")
out = Console()
err = Console(stderr=True)
T = TypeVar("T")
ChannelName = Literal["sms", "slack", "telegram", "email", "link", "console"]


def _fail(message: str) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (CsatError, DatabaseSettingError) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"{where}: {first['msg'].removeprefix('Value error, ')}")


def _settings() -> Settings:
    return _run(load_settings)


_opened: list[Any] = []


def _service(settings: Settings | None = None, channels: dict[str, Any] | None = None) -> Any:
    """The service for one command; its store is closed when the command ends."""
    from bot.app.assembly import build_service

    settings = settings or _settings()
    service = _run(lambda: build_service(settings, channels))
    _opened.append(service.store)
    return service


def _built(settings: Settings) -> tuple[Any, list[Any]]:
    """The service and its adapters on one store, closed when the command ends."""
    from bot.app.assembly import build_all

    service, adapters = _run(lambda: build_all(settings))
    _opened.append(service.store)
    return service, adapters


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

    from bot.logs import log_config, setup_logging

    setup_logging()
    service, adapters = _built(_settings())
    out.print(f"channels on: {', '.join(sorted(service.channels))}")
    out.print(f"database: {service.store.describe()}")
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
        "bot.app.cli:serve_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(),
    )


def serve_app() -> Any:
    """The app of ``csat serve``, built from the environment; each worker process calls it."""
    from bot.logs import setup_logging

    setup_logging()
    return _app(*_built(_settings()))


def _app(service: Any, adapters: Any) -> Any:
    from bot.app.web import create_app

    return create_app(service, adapters=adapters, run_sender=True)


@app.command()
def worker(
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 2.0,
    once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False,
) -> None:
    """Send due surveys and reminders (run as many as you like against PostgreSQL)."""
    import asyncio

    from bot.logs import setup_logging
    from bot.sender import Sender

    setup_logging()
    service, adapters = _built(_settings())
    digests = [d for a in adapters if (d := getattr(a, "digest_sink", None)) is not None]
    sinks = [a.alert_sink for a in adapters if a.alert_sink is not None]
    sender = Sender(service, digest_sinks=digests, alert_sinks=sinks)

    async def work() -> None:
        # Adapters are not started here: webhooks and polling belong to `csat serve`. A channel
        # that keeps connections (SMS) opens its pooled client on this loop, so sends reuse
        # keep-alive connections; every channel is closed here on the way out.
        try:
            for adapter in adapters:
                opening = getattr(adapter.channel, "open", None)
                if opening is not None:
                    await opening()
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
    channel: Annotated[ChannelName, typer.Option(help="Where the survey goes.")],
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
    from bot.requests import SurveyRequest

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
    if result.url is not None:
        out.print(f"survey page: {result.url}", markup=False, soft_wrap=True)


@app.command()
def score(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="QUERY",
            help=f"[PERIOD] [by DIMENSION]. PERIOD: {PERIODS_HELP}. "
            f"DIMENSION: {', '.join(DIMENSIONS)}.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON shape.")] = False,
) -> None:
    """Show the score: csat score [PERIOD] [by DIMENSION], e.g. `csat score week by agent`."""
    from bot.app.assembly import build_reports

    settings = _settings()
    reports = _run(lambda: build_reports(settings))
    _opened.append(reports.ctx.store)
    text = " ".join(query or [])
    report = _run(lambda: reports.scores(reports.parse_query(text)))
    if as_json:
        out.print_json(json.dumps(report))
        return
    from bot.app.report_view import print_report

    print_report(report, out)


@app.command()
def alerts(
    status: Annotated[
        AlertStatus | None, typer.Option(help="Only open, claimed or resolved alerts.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON shape.")] = False,
) -> None:
    """Low-score alerts and their follow-up: who claimed and resolved each, and when."""
    from rich import box
    from rich.table import Table

    from bot.alerts import Alert as AlertView
    from bot.alerts import describe, elapsed, follow_up_line
    from bot.app.assembly import build_reports

    settings = _settings()
    reports = _run(lambda: build_reports(settings))
    _opened.append(reports.ctx.store)
    found = _run(lambda: reports.ctx.store.alerts(status, limit))
    if as_json:
        out.print_json(json.dumps({"alerts": [describe(alert) for alert in found]}))
        return
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
    for name in ("id", "rating", "agent", "interaction", "raised", "follow-up"):
        table.add_column(name, overflow="fold")
    now = reports.ctx.clock()
    for alert in found:
        table.add_row(
            str(alert.id),
            f"{alert.value}/{alert.scale_max}",
            alert.agent or "-",
            alert.interaction_id,
            f"{elapsed(alert.created_at, now)} ago",
            follow_up_line(AlertView.of(alert)),
        )
    out.print(table)
    if not found:
        out.print("no alerts", style="dim")


@app.command()
def comments(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="QUERY",
            help="[PERIOD] [low|all] [by DIMENSION], e.g. `csat comments week low by agent`.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Comments per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="The next page (printed at the end).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON shape.")] = False,
) -> None:
    """The latest comments with their rating, newest first."""
    from bot.app.assembly import build_comments
    from bot.comments import comments_text

    settings = _settings()
    feed = _run(lambda: build_comments(settings))
    _opened.append(feed.ctx.store)
    page = _run(lambda: feed.latest(feed.parse(" ".join(query or [])), limit=limit, cursor=cursor))
    if as_json:
        out.print_json(json.dumps(page))
        return
    out.print(comments_text(page, width=1000), highlight=False, markup=False)
    if page["next_cursor"]:
        out.print(f"next page: --cursor {page['next_cursor']}", style="dim", highlight=False)


@app.command()
def export(
    since: Annotated[datetime | None, typer.Option(help="From (UTC), e.g. 2025-03-01.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until (UTC, exclusive).")] = None,
    format: Annotated[Literal["csv", "jsonl"], typer.Option(help="File format.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="File to write (default stdout).")] = None,
) -> None:
    """Export responses, one row per sent survey."""
    from datetime import UTC

    from bot.app.assembly import open_store
    from bot.export import write

    settings = _settings()
    store = _run(lambda: open_store(settings))
    _opened.append(store)
    rows = store.responses(
        since.replace(tzinfo=UTC) if since else None,
        until.replace(tzinfo=UTC) if until else None,
        None,
    )
    with _progress(enabled=output is not None or not out.is_terminal) as tick:
        counted = _Counted(rows, tick)
        if output is None:
            _run(lambda: write(format, counted, sys.stdout))
            return
        with output.open("w", encoding="utf-8", newline="") as handle:
            _run(lambda: write(format, counted, handle))
    out.print(f"{counted.count} rows written to {output}", markup=False)


@contextlib.contextmanager
def _progress(*, enabled: bool) -> Any:
    """A live row count and the time taken on stderr, when stderr is a terminal (and the rows do not
    go to that same terminal); the total is not known in advance, since rows are streamed."""
    if not (enabled and err.is_terminal):
        yield lambda count: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.completed:,.0f} rows"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("exporting", total=None)
        yield lambda count: progress.update(task, completed=count)


class _Counted:
    """Passes rows through, counts them, and reports the count every 1000 rows."""

    def __init__(self, rows: Any, tick: Callable[[int], None]) -> None:
        self.rows, self.tick, self.count = rows, tick, 0

    def __iter__(self) -> Any:
        for row in self.rows:
            self.count += 1
            if self.count % 1000 == 0:
                self.tick(self.count)
            yield row
        self.tick(self.count)


@app.command()
def forget(
    channel: Annotated[ChannelName, typer.Argument(help="The channel of the address.")],
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
    applied = _run(lambda: upgrade(settings.csat_database_url))
    for migration in applied:
        out.print(f"applied {migration.revision}: {migration.title}", markup=False, soft_wrap=True)
    count = f"{len(applied)} migration(s) applied" if applied else "nothing to apply"
    out.print(f"database is up to date ({count})")


@telegram_app.command("set-webhook")
def telegram_set_webhook() -> None:
    """Register CSAT_PUBLIC_URL/telegram/webhook (with the secret) with Telegram."""
    import asyncio

    from channels.telegram import set_webhook

    settings = _settings()
    url = _run(lambda: asyncio.run(set_webhook(settings)))
    out.print(f"webhook set: {url}", markup=False)


@app.command()
def chat(
    name: Annotated[str, typer.Option(help="Who you are (your console address).")] = "you",
    survey: Annotated[str, typer.Option()] = "support",
    locale: Annotated[
        str | None, typer.Option(help=f"One of {', '.join(SUPPORTED_LOCALES)} (or a tag: pt-BR).")
    ] = None,
    agent: Annotated[str, typer.Option()] = "demo-agent",
) -> None:
    """Be the customer: get a survey in the terminal and answer it."""
    import asyncio
    import uuid

    from anyio import to_thread

    from bot.requests import SurveyRequest
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
            if result.closed or result.reason in (Reason.LATE, Reason.NO_OPEN_SURVEY):
                break
        out.print("[dim]see the result with: csat score today[/]")

    _run(lambda: asyncio.run(converse()))


def main(argv: list[str] | None = None) -> None:
    """The ``csat`` entry point: a usage error is one line on stderr (exit 2), like every other."""
    try:
        code = app(args=argv, prog_name="csat", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as vendored by typer
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `csat` or `csat db`: the help
            out.print(exc.format_message(), markup=False, highlight=False)
            sys.exit(0)
        err.print(f"error: {_usage_message(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False, highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: typer.TyperException) -> str:
    message = " ".join(exc.format_message().split()).replace("Value error, ", "")
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see: {ctx.command_path} --help)"
    return message
