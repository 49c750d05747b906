"""The service: the use cases, each its own object over the store, behind one facade.

Channels, the web app and the CLI call the facade; each use case can also be built alone from a
:class:`~bot.context.ServiceContext` (tests do). The parts:

- :class:`~bot.triggering.Triggering`: start, cancel and expire surveys;
- :class:`~bot.conversations.Conversations`: replies, taps, keywords, lead commands;
- :class:`~bot.receipts.Receipts`: delivery receipts;
- :class:`~bot.optouts.OptOuts`: the suppression list;
- :class:`~bot.reports.Reports`: scores; :class:`~bot.comments.Comments`: the comments feed;
- :class:`~bot.privacy.Privacy`: erasure and retention.

The sender (:mod:`bot.sender`) runs the delivery loop over the same context.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime

from bot.channel import Channel
from bot.comments import Comments
from bot.context import ServiceContext, utcnow
from bot.conversations import Conversations
from bot.followups import FollowUps
from bot.optouts import OptOuts
from bot.privacy import Privacy
from bot.receipts import Receipts
from bot.reports import Reports
from bot.results import InboundResult, TriggerResult
from bot.settings import Settings
from bot.signin import SignIn
from bot.surveys import Survey
from bot.triggering import Triggering
from bot.web_surveys import WebSurveys
from storage.interface import Store

__all__ = ["InboundResult", "Service", "TriggerResult", "utcnow"]


class Service:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        surveys: Mapping[str, Survey],
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.ctx = ctx = ServiceContext(
            settings=settings,
            store=store,
            surveys=surveys,
            channels=channels,
            clock=clock,
            rng=rng,
        )
        self.store = store
        self.triggering = Triggering(ctx)
        self.reports = Reports(ctx)
        self.optouts = OptOuts(ctx)
        self.conversations = Conversations(ctx, self.reports, self.optouts)
        self.receipts = Receipts(ctx, self.optouts)
        self.privacy = Privacy(ctx)
        self.comments = Comments(ctx)
        self.signin = SignIn(ctx)
        self.web = WebSurveys(ctx)
        self.followups = FollowUps(ctx)
        # The facade's methods are the parts' own.
        self.start_survey = self.triggering.start_survey
        self.start_surveys = self.triggering.start_surveys
        self.cancel = self.triggering.cancel
        self.expire_due = self.triggering.expire_due
        self.handle_text = self.conversations.handle_text
        self.route_text = self.conversations.route_text
        self.handle_button = self.conversations.handle_button
        self.handle_comment = self.conversations.handle_comment
        self.record_delivery = self.receipts.record_delivery
        self.opt_out = self.optouts.opt_out
        self.opt_in = self.optouts.opt_in
        self.is_lead = self.reports.is_lead
        self.parse_query = self.reports.parse_query
        self.scores = self.reports.scores
        self.scores_for = self.reports.scores_for
        self.query_scores = self.reports.query_scores
        self.trend_for = self.reports.trend_for
        self.forget = self.privacy.forget
        self.purge_raw = self.privacy.purge_raw
        self.comments_for = self.comments.comments_for

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self.ctx.settings, self.ctx.leads = settings, settings.leads()

    @property
    def surveys(self) -> dict[str, Survey]:
        return self.ctx.surveys

    @property
    def channels(self) -> dict[str, Channel]:
        return self.ctx.channels

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    def survey(self, name: str) -> Survey:
        return self.ctx.survey(name)

    def channel(self, name: str) -> Channel:
        return self.ctx.channel(name)

    def pseudonym(self, channel: str, address: str) -> str:
        return self.ctx.pseudonym(channel, address)
