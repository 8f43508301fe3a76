"""The system tier's shared fixture: the production stack, one per test module that asks for it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A started production stack (ml_assets_tests/system/production_stack.py) of this test module's own."""
    from ml_assets_tests.system.production_stack import running_stack

    yield from running_stack(tmp_path_factory.mktemp("stack"))


# The order pytest-xdist hands out the system tier's files in (dev.py passes --no-loadscope-reorder): one to each
# worker, then the next to a worker as soon as it has two tests or fewer left. This order was found by replaying that
# rule on the tests' durations in a CI run (three workers), each duration drawn again within -25%..+30%: 756 s at the
# median against 845 s for the order before (longest first), whose two longest files met on one worker.
FILE_ORDER = (
    "test_daemon_e2e.py",
    "test_production.py",
    "test_dev.py",
    "test_production_faults.py",
    "test_dev_stack.py",
    "test_deployment_files.py",
    "test_ui_browser.py",
    "test_cli_tells.py",
    "test_embedded_runs_killed.py",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return FILE_ORDER.index(name) if name in FILE_ORDER else len(FILE_ORDER)

    items.sort(key=rank)  # stable: a file's tests keep their order, the other files theirs
