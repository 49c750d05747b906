"""Prometheus counters, one registry per app so several apps (and tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.triggered = Counter(
            "csat_surveys_triggered_total",
            "Survey triggers by channel and outcome",
            ["channel", "status"],
            registry=self.registry,
        )
        self.replies = Counter(
            "csat_replies_total",
            "Inbound replies by channel and reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "csat_alerts_total", "Low-score alerts raised", ["channel"], registry=self.registry
        )
        self.follow_ups = Counter(
            "csat_alert_follow_ups_total",
            "Alerts claimed and resolved from chat",
            ["action"],
            registry=self.registry,
        )
        self.reminders = Counter(
            "csat_alert_reminders_total",
            "Alerts posted again because nobody claimed them in time",
            registry=self.registry,
        )
        self.sends = Counter(
            "csat_sends_total",
            "What the sender did with claimed surveys and reminders",
            ["outcome"],
            registry=self.registry,
        )
        self.sender_errors = Counter(
            "csat_sender_errors_total",
            "Sender passes that failed as a whole (logged; the loop goes on)",
            registry=self.registry,
        )
