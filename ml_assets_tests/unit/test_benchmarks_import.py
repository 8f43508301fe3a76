"""Every benchmark module imports (a benchmark runs only by hand, so a name it lost would go unnoticed)."""

import importlib

import pytest

from ml_assets_tests.pipelines import REPO_ROOT

MODULES = sorted(p.stem for p in (REPO_ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_the_benchmark_module_imports(module):
    importlib.import_module(f"benchmarks.{module}")
