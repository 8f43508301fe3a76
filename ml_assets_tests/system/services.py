"""The production-stack tests' one gate (skip without PostgreSQL/Redis/RabbitMQ binaries, fail instead in CI),
the system tests' one way of waiting on an event, and their one way of asking a Dagster webserver (its GraphQL, as
the UI does)."""

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from ml_assets.local_stack import services_missing


def require_services() -> None:
    """Skips the test when the stack's services are missing, unless ML_ASSETS_REQUIRE_SERVICES is set (.ci/run
    sets it): then the test fails, naming them."""
    missing = services_missing()
    if not missing:
        return
    if os.environ.get("ML_ASSETS_REQUIRE_SERVICES"):
        pytest.fail(f"ML_ASSETS_REQUIRE_SERVICES is set but these are missing: {missing}")
    pytest.skip(f"services absent: {missing}")


def wait_until(
    condition: Callable, what: str, timeout_s: float, poll_s: float = 0.05, explain: Callable[[], str] = str
):
    """`condition()`'s first truthy value, asked every `poll_s` until `timeout_s`; else the test fails, saying `what`
    did not happen in time and what `explain()` adds (a server's output, say)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"{what} within {timeout_s:.0f} s{explain()}")


RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def graphql(base_url: str, query: str, variables: dict) -> dict:
    """The `data` of a GraphQL query to the Dagster webserver at `base_url` (http://127.0.0.1:PORT)."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["data"]
    except urllib.error.HTTPError as error:  # GraphQL says what was wrong with the query in the body
        raise AssertionError(f"{error}: {error.read().decode()[:2000]}") from None
