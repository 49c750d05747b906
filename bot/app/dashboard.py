"""The web dashboard at ``/dashboard``: server-rendered, no JavaScript, readable on a phone.

Every number comes from the same use cases as ``GET /v1/scores`` and ``GET /v1/comments`` for the
same query, so the page and the API cannot disagree. Leads sign in with a one-time link from chat
(:mod:`bot.signin`); the API token signs in too. Anyone else gets the sign-in page and nothing
else.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.app.tokens import bearer_matches, token_matches
from bot.app.trend_svg import trend_svg
from bot.errors import InvalidInput
from bot.periods import DIMENSIONS, TIME_UNITS
from bot.report_text import pct
from bot.service import Service
from bot.signin import COOKIE, SESSION_LIFETIME, SignIn

PERIODS = ("today", "yesterday", "week", "month", "7d", "30d", "90d", "365d")
dashboard = APIRouter(include_in_schema=False)


@cache
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.app", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )
    env.globals.update(pct=pct, interval=_interval)
    return env


def _interval(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.0f}–{ci[1]:.0f}"


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(_service)]


def _viewer(request: Request, service: Service) -> str | None:
    """The signed-in lead, or "operator" for the API token; None for anyone else."""
    lead = SignIn(service.ctx).lead_of(request.cookies.get(COOKIE))
    if lead is not None:
        return lead
    if bearer_matches(request.headers.get("authorization", ""), service.settings.csat_api_token):
        return "operator"
    return None


def _login_page(problem: str | None = None, status: int = 401) -> HTMLResponse:
    html = _templates().get_template("login.html").render(problem=problem)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _signed_in(request: Request, service: Service, lead: str) -> RedirectResponse:
    response = RedirectResponse("/dashboard", status_code=303)
    secure = (service.settings.csat_public_url or str(request.base_url)).startswith("https")
    response.set_cookie(
        COOKIE,
        SignIn(service.ctx).session(lead),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/dashboard",
    )
    return response


@dashboard.get("/dashboard/login")
def login_link(request: Request, service: ServiceDep, token: str = "") -> Response:
    lead = SignIn(service.ctx).redeem(token) if token else None
    if lead is None:
        problem = "That link is used up or has expired: ask for a new one." if token else None
        return _login_page(problem)
    return _signed_in(request, service, lead)


@dashboard.post("/dashboard/login")
def login_token(
    request: Request, service: ServiceDep, api_token: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    if not token_matches(api_token, service.settings.csat_api_token):
        return _login_page("Wrong token.")
    return _signed_in(request, service, "operator")


@dashboard.get("/dashboard/logout")
def logout() -> Response:
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


def _choices(period: str, by: str) -> tuple[str, str]:
    if period not in PERIODS:
        raise InvalidInput(f"'period': one of {', '.join(PERIODS)}")
    if by not in DIMENSIONS:
        raise InvalidInput(f"'by': one of {', '.join(DIMENSIONS)}")
    return period, by


@dashboard.get("/dashboard")
def page(
    request: Request,
    service: ServiceDep,
    period: Annotated[str, Query(max_length=20)] = "30d",
    by: Annotated[str, Query(max_length=20)] = "agent",
    comments: Annotated[str, Query(pattern="^(all|low)$")] = "all",
) -> Response:
    if _viewer(request, service) is None:
        return _login_page()
    period, by = _choices(period, by)
    query = service.parse_query(f"{period} by {by}")
    report = service.scores(query)
    unit = TIME_UNITS[0] if _days(report) <= 62 else TIME_UNITS[1]
    # The trend needs only the buckets: the overall figures are the breakdown's own.
    trend = {**report, "by": unit, "groups": service.reports.buckets(query.period, unit)}
    feed = service.comments.latest(service.comments.parse(f"{period} {comments}"), limit=10)
    reasons = service.scores(service.parse_query(f"{period} by reason"))
    html = (
        _templates()
        .get_template("dashboard.html")
        .render(
            report=report,
            trend=trend,
            trend_chart=trend_svg(trend),
            comments=feed,
            reasons=reasons,
            period=period,
            by=by,
            filter=comments,
            periods=PERIODS,
            dimensions=DIMENSIONS,
        )
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _days(report: dict[str, Any]) -> int:
    from datetime import datetime

    start = datetime.fromisoformat(report["period"]["start"])
    end = datetime.fromisoformat(report["period"]["end"])
    return max(1, round((end - start).total_seconds() / 86400))


@dashboard.get("/dashboard/export.csv")
def download(
    request: Request,
    service: ServiceDep,
    period: Annotated[str, Query(max_length=20)] = "30d",
    by: Annotated[str, Query(max_length=20)] = "agent",
) -> Response:
    """The breakdown table as shown, as CSV."""
    if _viewer(request, service) is None:
        return _login_page()
    period, by = _choices(period, by)
    report = service.query_scores(period, by)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [by, "sent", "answered", "responses", "csat", "ci95_low", "ci95_high", "low_sample"]
    )
    rows = [("overall", report["overall"]), *report["groups"].items()]
    for name, group in rows:
        csat = group.get("csat") or {}
        low, high = csat.get("ci95") or (None, None)
        writer.writerow(
            [
                name,
                group["sent"],
                group["answered"],
                group["responses"],
                csat.get("score"),
                low,
                high,
                group["low_sample"],
            ]
        )
    filename = f"csat-{period}-by-{by}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
