"""Alerts: a Slack-compatible webhook for failed runs and drifted months."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class AlertWebhook(dg.ConfigurableResource):
    """Where run-failure alerts go: a Slack-compatible incoming-webhook URL, or nowhere."""

    webhook_url: str | None = Field(
        default=None, description="ML_ASSETS_ALERT_WEBHOOK_URL; unset = log only."
    )
    dagster_ui_url: str = Field(default="http://127.0.0.1:3000", description="Base of the run links.")
    timeout_s: float = 10.0

    def post(self, payload: dict) -> None:
        import requests

        try:
            requests.post(self.webhook_url, json=payload, timeout=self.timeout_s).raise_for_status()
        except requests.RequestException as exc:  # the URL is a secret: never put it in the message
            raise RuntimeError(f"the alert webhook did not accept the alert ({type(exc).__name__})") from None
