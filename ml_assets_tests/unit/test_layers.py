"""The import layers of pyproject.toml's [tool.importlinter] (`dev.py lint` runs them): kept by the package, and
broken, naming the import, by a planted one."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml_assets_tests.pipelines import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers():
    done = _lint(REPO_ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    "module, planted, broken",
    [
        ("tasks/results.py", "import dagster as dg", "imports no Dagster"),
        ("learning/inputs.py", "from ml_assets.orchestration import plan", "Layers"),
        ("tasks/results.py", "from ml_assets.tasks import protocols", "No circles"),
    ],
)
def test_a_planted_import_breaks_the_contract_it_crosses(tmp_path, module, planted, broken):
    shutil.copytree(
        REPO_ROOT / "ml_assets", tmp_path / "ml_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "ml_assets" / module
    target.write_text(
        target.read_text().replace(
            "from __future__ import annotations\n", f"from __future__ import annotations\n\n{planted}\n", 1
        )
    )
    done = _lint(tmp_path)
    assert done.returncode != 0
    broken_part = done.stdout.split("Broken contracts")[-1]
    assert broken in broken_part, done.stdout[-3000:]
