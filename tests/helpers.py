"""Small helpers shared by tests (no fixtures here)."""

from __future__ import annotations

import asyncio

from bot.requests import SurveyRequest
from bot.sender import Sender, SendReport
from bot.service import Service, TriggerResult


def deliver(service: Service) -> SendReport:
    return asyncio.run(Sender(service).run_once())


def trigger(
    service: Service, to: str = "cust-1", interaction: str = "T-1", **extra: object
) -> TriggerResult:
    fields: dict[str, object] = {"channel": "memory", "to": to, "interaction_id": interaction}
    fields.update(extra)
    return service.start_survey(SurveyRequest.model_validate(fields))
