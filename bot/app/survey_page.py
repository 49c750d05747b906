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

from collections.abc import Callable, Coroutine
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.types import Receive, Scope, Send

from bot.hub import Hub
from bot.results import Comment, Incoming, Tap
from bot.service import Service
from bot.surveys import normalise_locale
from bot.texts import message
from bot.web_surveys import PageState, PageView

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # the token never goes to another site
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
Token = Annotated[str, Path(max_length=64)]
COMMENT_LENGTH = 2000  # the comment box's maxlength
DEFAULT_PORTS = {"http": 80, "https": 443}


class _PageRoute(APIRoute):
    """A route of the page whose refusals are pages too, sent with the page's headers (a
    request it cannot read is 422, a method it does not take 405), not the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                return _notice(request.app.state.service, "page_invalid", None, 422)

        return guarded

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = {"Allow": ", ".join(sorted(self.methods))}
            refused = HTMLResponse("Method Not Allowed", 405, headers={**HEADERS, **allow})
            await refused(scope, receive, send)
            return
        await super().handle(scope, receive, send)


survey_page = APIRouter(include_in_schema=False, route_class=_PageRoute)


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
    return _notice(service, "page_missing", None, 404)


def _notice(service: Service, key: str, locale: str | None, status: int) -> HTMLResponse:
    return _page(service, {"state": "closed", "text": message(key, locale)}, locale, status)


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
    scheme = urlsplit(origin).scheme
    theirs = _origin(scheme, urlsplit(origin).netloc)
    ours = {_origin(scheme, request.headers.get("host", ""))}
    if service.settings.csat_public_url:
        public = urlsplit(service.settings.csat_public_url)
        ours.add(_origin(public.scheme, public.netloc))
    return theirs is not None and theirs in ours


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """Scheme, host and port as a browser compares origins: ``https://Example.com:443`` is
    ``https://example.com``. None for what is no http(s) origin."""
    scheme = scheme.lower()
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host.rstrip("."), port or DEFAULT_PORTS[scheme]


@survey_page.post("/s/{token}")
async def answer(
    request: Request,
    service: ServiceDep,
    token: Token,
    question: Annotated[str, Form(max_length=64)],
    value: Annotated[int | None, Form(ge=-1000, le=1000)] = None,
    comment: Annotated[str, Form(max_length=2 * COMMENT_LENGTH)] = "",
    skip: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if not _same_origin(request):
        return HTMLResponse("Forbidden", status_code=403, headers=HEADERS)
    view = _view(service, token)
    if view is None:
        return _missing(service)
    # The box counts a line break as one character; the browser sends it as two (CRLF).
    comment = comment.replace("\r\n", "\n").replace("\r", "\n")
    if len(comment) > COMMENT_LENGTH:
        return _notice(service, "page_invalid", view.locale, 422)
    hub: Hub = request.app.state.hub
    asked = view.question if view.state is PageState.ASK else None
    if view.state in (PageState.ASK, PageState.THANKS) and view.address is not None:
        invitation_id = view.invitation_id
        if value is not None:
            changing = asked is None or asked.question_id != question
            if changing and not await hub.run(service.web.may_change, view):
                return _notice(service, "page_too_many", view.locale, 429)
            tap = Tap(invitation_id, question, value)
            await hub.receive(
                Incoming(view.channel, view.address, tap=tap, invitation_id=invitation_id)
            )
        elif asked is not None and asked.question_id == question:
            # A comment, or a list of reasons (radio buttons), may be skipped; a scale may not.
            skippable = not asked.buttons or asked.question_kind == "choice"
            if skip and skippable:  # every locale takes the English word
                incoming = Incoming(view.channel, view.address, "skip", invitation_id=invitation_id)
                await hub.receive(incoming)
            elif comment.strip() and not asked.buttons:  # stored as typed: "5" is a comment
                typed = Comment(invitation_id, question, comment)
                await hub.receive(
                    Incoming(view.channel, view.address, comment=typed, invitation_id=invitation_id)
                )
    return RedirectResponse(f"/s/{token}", status_code=303, headers=HEADERS)


@survey_page.api_route("/u/{token}", methods=["GET", "HEAD"])
def unsubscribe_page(service: ServiceDep, token: Token) -> Response:
    """The footer link: a button, not an opt-out, because scanners open links too."""
    view = _view(service, token)
    if view is None:
        return _missing(service)
    if view.address is None:
        return _notice(service, "page_link_gone", view.locale, 410)
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
    if view.address is None:  # erased: there is no address left to opt out
        return _notice(service, "page_link_gone", view.locale, 410)
    hub: Hub = request.app.state.hub
    await hub.opt_out(view.channel, view.address, "unsubscribe link")
    brand = service.settings.csat_brand
    text = message("page_unsubscribed", view.locale, brand=brand)
    return _page(service, {"state": "closed", "text": text}, view.locale)
