"""``/s/{token}``: the web survey page, for link surveys and e-mail stars.

``GET`` (and ``HEAD``) only show: the open question with its scale (a star chosen in an e-mail
arrives as ``?star=N`` and is shown selected), the comment box, the thanks or the closed notice.
Nothing is recorded until the person presses the page's button: a ``POST`` of the form, which goes
through the hub as any channel's tap or text, then back to the page (post/redirect/get). A POST
from another site is refused (its ``Origin`` must be this one), and every page is sent
``no-store`` and ``Referrer-Policy: same-origin``, so the token leaks to no other site or cache
(``no-referrer`` would make Chromium send ``Origin: null`` on the page's own POST).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.hub import Hub
from bot.results import Incoming, Tap
from bot.service import Service
from bot.surveys import normalise_locale
from bot.texts import message
from bot.web_surveys import PageState, PageView

survey_page = APIRouter(include_in_schema=False)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # the token never goes to another site
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
Token = Annotated[str, Path(max_length=64)]


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("bot.app", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(_service)]


def _missing(service: Service) -> HTMLResponse:
    return _page(service, {"state": "closed", "text": message("page_missing", None)}, None, 404)


def _page(
    service: Service, values: dict[str, Any], locale: str | None, status: int = 200
) -> HTMLResponse:
    html = (
        _templates()
        .get_template("survey.html")
        .render(
            brand=service.settings.csat_brand or "Feedback",
            lang=(normalise_locale(locale) or "en").split("-")[0],
            send=message("page_send", locale),
            change=message("page_change", locale),
            **values,
        )
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _view(service: Service, token: str) -> PageView | None:
    invitation_id = service.web.invitation_of(token)
    return None if invitation_id is None else service.web.view(invitation_id)


@survey_page.api_route("/s/{token}", methods=["GET", "HEAD"])
def show(
    service: ServiceDep,
    token: Token,
    star: Annotated[int | None, Query(ge=-1000, le=1000)] = None,
) -> Response:
    view = _view(service, token)
    if view is None:
        return _missing(service)
    locale = view.locale
    values: dict[str, Any] = {"state": view.state.value, "action": f"/s/{token}"}
    if view.state is PageState.ASK:
        assert view.question is not None
        question = view.question
        offered = {button.value for button in question.buttons}
        # A choice question always has a hint (its SMS list's), so it says itself whether it may
        # be skipped; an optional comment is the one scale-less question with a hint.
        optional = question.skippable if question.question_kind == "choice" else question.hint
        values.update(
            question=question,
            star=star if star in offered else None,
            skip=message("page_skip", locale) if optional else None,
        )
    elif view.state is PageState.THANKS:
        values.update(text=message("thanks", locale), first=view.first_question)
    elif view.state is PageState.WAIT:
        values.update(text=message("page_wait", locale))
    else:
        values.update(text=message("closed", locale))
    return _page(service, values, locale)


def _same_origin(request: Request) -> bool:
    """A browser names the page's origin on a form POST; a POST from another site is refused.
    The page's own origin is the request's host or, behind a proxy that rewrites ``Host``, the
    host of ``CSAT_PUBLIC_URL``. Without the header (an old browser, a mail provider's one-click
    unsubscribe) the token in the path is the credential."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    service: Service = request.app.state.service
    ours = {request.headers.get("host", "")}
    if service.settings.csat_public_url:
        ours.add(urlsplit(service.settings.csat_public_url).netloc)
    return urlsplit(origin).netloc in ours - {""}


@survey_page.post("/s/{token}")
async def answer(
    request: Request,
    service: ServiceDep,
    token: Token,
    question: Annotated[str, Form(max_length=64)],
    value: Annotated[int | None, Form(ge=-1000, le=1000)] = None,
    comment: Annotated[str, Form(max_length=2000)] = "",
    skip: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if not _same_origin(request):
        return HTMLResponse("Forbidden", status_code=403, headers=HEADERS)
    view = _view(service, token)
    if view is None:
        return _missing(service)
    hub: Hub = request.app.state.hub
    if view.state in (PageState.ASK, PageState.THANKS) and view.address is not None:
        invitation_id = view.invitation_id
        if value is not None:
            tap = Tap(invitation_id, question, value)
            await hub.receive(
                Incoming(view.channel, view.address, tap=tap, invitation_id=invitation_id)
            )
        elif view.state is PageState.ASK and (skip or comment.strip()):
            text = "skip" if skip else comment  # every locale takes the English word
            await hub.receive(
                Incoming(view.channel, view.address, text, invitation_id=invitation_id)
            )
    return RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)


@survey_page.api_route("/u/{token}", methods=["GET", "HEAD"])
def unsubscribe_page(service: ServiceDep, token: Token) -> Response:
    """The footer link: a button, not an opt-out, because scanners open links too."""
    view = _view(service, token)
    if view is None:
        return _missing(service)
    values = {
        "state": "unsubscribe",
        "action": f"/u/{token}",
        "text": message("email_unsubscribe", view.locale),
    }
    return _page(service, values, view.locale)


@survey_page.post("/u/{token}")
async def unsubscribe(request: Request, service: ServiceDep, token: Token) -> Response:
    """The page's button, or a mail provider's RFC 8058 one-click POST
    (``List-Unsubscribe=One-Click``, sent without an ``Origin``)."""
    if not _same_origin(request):
        return HTMLResponse("Forbidden", status_code=403, headers=HEADERS)
    view = _view(service, token)
    if view is None:
        return _missing(service)
    if view.address is not None:
        hub: Hub = request.app.state.hub
        await hub.opt_out(view.channel, view.address, "unsubscribe link")
    brand = service.settings.csat_brand
    text = message("page_unsubscribed", view.locale, brand=brand)
    return _page(service, {"state": "closed", "text": text}, view.locale)
