"""The system tier's shared fixture: the production stack, one per test module that asks for it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A started production stack (ml_assets_tests/system/production_stack.py) of this test module's own."""
    from ml_assets_tests.system.production_stack import running_stack

    yield from running_stack(tmp_path_factory.mktemp("stack"))


# The system tier's longest files, started first (dev.py passes --no-loadscope-reorder, so pytest-xdist hands out
# files in this order): a phase that ends on one of them alone leaves the other CPUs idle for minutes.
STARTED_FIRST = (
    "test_production.py",
    "test_production_faults.py",
    "test_dev_stack.py",
    "test_ui_browser.py",
    "test_dev.py",
    "test_daemon_e2e.py",
    "test_deployment_files.py",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return STARTED_FIRST.index(name) if name in STARTED_FIRST else len(STARTED_FIRST)

    items.sort(key=rank)  # stable: a file's tests keep their order, the other files theirs
