"""The production-stack tests' one gate: skip without PostgreSQL/Redis/RabbitMQ binaries, fail instead in CI."""

import os

import pytest

from deploy.stack import services_missing


def require_services() -> None:
    """Skips the test when the stack's services are missing, unless ML_ASSETS_REQUIRE_SERVICES is set (.ci/run
    sets it): then the test fails, naming them."""
    missing = services_missing()
    if not missing:
        return
    if os.environ.get("ML_ASSETS_REQUIRE_SERVICES"):
        pytest.fail(f"ML_ASSETS_REQUIRE_SERVICES is set but these are missing: {missing}")
    pytest.skip(f"services absent: {missing}")
