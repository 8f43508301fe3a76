#!/usr/bin/env python3
"""Set up and run ml_assets on a machine that has only Python 3.11 and pip.

    python3 dev.py run    # set up .venv, then materialize every offline pipeline (flights' 12 months,
    iris, heart disease)
    python3 dev.py test   # set up .venv (with dev extras), then run the test suite in two phases
                          # (fast tier: test -m "not slow and not browser" -n 2)
    python3 dev.py ui     # set up .venv, then start `dagster dev` on http://127.0.0.1:3000
    python3 dev.py backfill 2013-01 2013-12   # queue an asset backfill of nyc_flights; `dev.py ui` (its daemon) runs it
    python3 dev.py stack [--workers N]   # the production profile locally: its own PostgreSQL, RabbitMQ,
    Redis, S3 and MLflow
                                          # servers (passwords checked, fresh each start), N Celery workers and
                                          # `dagster dev`, all on 127.0.0.1; Ctrl-C stops it
    python3 dev.py lint   # ruff on the code base, and the import layers (import-linter)
    python3 dev.py docs   # write docs/configuration-reference.md from the YAML's models (a test checks it is current)
    python3 dev.py screenshots   # retake docs/*.png with the browser tests (needs Chromium)
    python3 dev.py lock [s3fs==2026.9.0 ...]   # re-resolve pyproject.toml in a scratch venv, rewrite constraints.txt
    python3 dev.py bench  # the course-script benchmark (also: targets, scale, scaling, backfill, cli_month, yardstick)

Set-up happens once: a hash of pyproject.toml and constraints.txt in .venv says whether it is current.
constraints.txt pins every resolved version: the same set on every machine, and no resolver backtracking
(without it pip gave up with ResolutionImpossible on s3fs/aiobotocore/botocore after a minute of backtracking).
DAGSTER_HOME defaults to .dagster_home/ in the repo, so runs survive a restart.
Extra arguments go to the tool: `python3 dev.py test -k taxi`,
`python3 dev.py run --pipelines nyc_flights --months 2013-01 2013-03` (a range, as `dev.py backfill` takes
it; or 2013-01..2013-03),
`python3 dev.py backfill 2021-01 2021-03 --pipeline nyc_taxi_green`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ml_assets-installed"
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = ".[dev,bench,prod,stack]"
DAGSTER_HOME = ROOT / ".dagster_home"
PIP_INSTALL = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check"]


def say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"ml_assets needs Python 3.11; this is {sys.version.split()[0]}. Run it with python3.11.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        compile_package()
        return
    if not (BIN / "python").exists():
        say(f"creating {VENV}")
        venv.create(VENV, with_pip=True)
    say("installing ml_assets and its dependencies (once; a minute or two)")
    pinned = ["-q", "-c", str(CONSTRAINTS)]
    if not install_with_uv([*pinned, "-e", EXTRAS]):
        subprocess.run([*PIP_INSTALL, *pinned, "-e", EXTRAS], cwd=ROOT, check=True)
    STAMP.write_text(wanted)
    compile_package()


def install_with_uv(arguments: list[str]) -> bool:
    """`uv pip install` (pinned in constraints.txt, and in the dev extra) installs the pinned set in about a third of
    pip's time, bytecode included; False, and pip installs it, where uv cannot be installed or cannot install it."""
    if subprocess.run([*PIP_INSTALL, "-q", "-c", str(CONSTRAINTS), "uv"], cwd=ROOT).returncode != 0:
        say("uv could not be installed: pip installs the dependencies instead")
        return False
    uv = [str(BIN / "uv"), "pip", "install", "--python", str(BIN / "python"), "--compile-bytecode"]
    if subprocess.run([*uv, *arguments], cwd=ROOT).returncode != 0:
        say("uv could not install the dependencies (its error is above): pip installs them instead")
        return False
    return True


def compile_package() -> None:
    """ml_assets' bytecode written now (only what changed): every process this starts (runs, steps, code servers,
    workers, tests) reads it rather than compiling the package again, even where PYTHONDONTWRITEBYTECODE keeps
    Python itself from writing it."""
    import compileall

    compileall.compile_dir(ROOT / "ml_assets", quiet=1, workers=1)


def lock(hints: list[str]) -> int:
    """Resolve pyproject.toml afresh in a scratch venv and write constraints.txt.

    `hints` are extra requirements that steer the resolver: unaided, pip backtracks through old s3fs
    releases (whose aiobotocore pins botocore) for minutes and fails, so `dev.py lock s3fs==2026.9.0`.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ml_assets-lock-") as scratch:
        venv.create(scratch, with_pip=True)
        python = str(Path(scratch) / ("Scripts" if os.name == "nt" else "bin") / "python")
        say("resolving pyproject.toml in a scratch venv (a few minutes)")
        subprocess.run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", EXTRAS, *hints],
            cwd=ROOT,
            check=True,
        )
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude-editable"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    header = CONSTRAINTS.read_text().split("\n")[:3] if CONSTRAINTS.exists() else []
    tmp = CONSTRAINTS.with_suffix(".tmp")
    tmp.write_text("\n".join(line for line in header if line.startswith("#")) + "\n" + frozen)
    tmp.replace(CONSTRAINTS)
    say(f"wrote {CONSTRAINTS.name}: {len(frozen.splitlines())} pinned packages")
    return 0


# The embedded instance (written when DAGSTER_HOME has none, or one this file wrote before): two runs at a time on
# a small machine (sensors, automation and backfills queue behind), queued runs start within a second, not the
# default five; a run whose process is gone is marked FAILED by the daemon of `dagster dev` within a minute
# (ml_assets/orchestration/launcher.py), never left STARTED.
EMBEDDED_CONFIG = """telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 2
  dequeue_interval_seconds: 1
run_launcher:
  module: ml_assets.orchestration.launcher
  class: ProcessCheckingRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 15
  max_resume_run_attempts: 0
"""
EARLIER_EMBEDDED_CONFIGS = {
    "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n  dequeue_interval_seconds: 1\n"
}


def dagster_env() -> dict[str, str]:
    env = dict(os.environ)
    home = Path(env.setdefault("DAGSTER_HOME", str(DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() in EARLIER_EMBEDDED_CONFIGS:
        config.write_text(EMBEDDED_CONFIG)
    return env


def run(args: list[str]) -> int:
    """Every offline pipeline in one process on the persistent instance, then one summary table."""
    began = time.perf_counter()
    code = subprocess.run(
        [str(BIN / "python"), "-m", "ml_assets.cli", "run", *args], cwd=ROOT, env=dagster_env()
    ).returncode
    say(f"dev.py run {'finished' if code == 0 else 'FAILED'} in {time.perf_counter() - began:.1f} s")
    return code


def backfill(args: list[str]) -> int:
    """An asset backfill of a month range, run by the daemon as one run over the range (ml_assets/cli.py)."""
    return subprocess.run(
        [str(BIN / "python"), "-m", "ml_assets.cli", "backfill", *args], cwd=ROOT, env=dagster_env()
    ).returncode


def test(args: list[str]) -> int:
    """The suite. Asked for tests (-m, -k, -n, a path): one pytest run as asked. Otherwise two phases: the unit and
    integration tiers two files at a time (pytest-xdist; each file's tests in one process, so a module's fixture is
    built once); then the system tier (daemons, servers, the browser, production stacks, the busy-machine tests)
    three files at a time, as its tests wait on servers and daemons as well as on the CPU. Options such as
    --durations=30 go to each."""

    def pytest(*extra: str) -> int:
        return subprocess.run(
            [str(BIN / "python"), "-m", "pytest", *extra], cwd=ROOT, env=dagster_env()
        ).returncode

    selects = any(
        a in ("-m", "-k", "-n") or a.startswith(("-m", "-k", "-n", "ml_assets_tests")) or "::" in a
        for a in args
    )
    if selects:
        return pytest(*args)
    say("unit and integration tiers, two test files at a time")
    first = pytest("-n", "2", "--dist", "loadfile", "-m", "not system", *args)
    say("system tier, three test files at a time (each waits on servers and daemons as well as on the CPU)")
    second = pytest("-n", "3", "--dist", "loadfile", "--no-loadscope-reorder", "-m", "system", *args)
    return first or second


def stack(args: list[str]) -> int:
    """The production profile with its own PostgreSQL, Redis, S3 and MLflow servers (fresh each start), until Ctrl-C."""
    os.chdir(ROOT)
    # the stack's owner replaces this process: Ctrl-C and SIGTERM reach it directly
    os.execv(str(BIN / "python"), [str(BIN / "python"), "-m", "ml_assets.local_stack", *args])
    return 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {
        "run",
        "test",
        "ui",
        "backfill",
        "bench",
        "lint",
        "docs",
        "screenshots",
        "stack",
        "lock",
    }:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "lock":
        return lock(rest)
    ensure_venv()
    if command == "run":
        return run(rest)
    if command == "backfill":
        return backfill(rest)
    if command == "stack":
        return stack(rest)
    if command == "bench":
        # `bench` = benchmarks.month; `bench scaling --with-xgboost` = benchmarks.scaling with that flag
        module = rest.pop(0) if rest and not rest[0].startswith("-") else "month"
        return subprocess.run([str(BIN / "python"), "-m", f"benchmarks.{module}", *rest], cwd=ROOT).returncode
    if (
        command == "lint"
    ):  # ruff's checks and format, then the import layers of pyproject.toml's [tool.importlinter]
        paths = ["ml_assets", "ml_assets_tests", "benchmarks", "dev.py"]
        ruff = subprocess.run([str(BIN / "ruff"), "check", *paths, *rest], cwd=ROOT)
        formatted = subprocess.run([str(BIN / "ruff"), "format", "--check", *paths], cwd=ROOT)
        layers = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT)
        return ruff.returncode or formatted.returncode or layers.returncode
    if command == "test":
        return test(rest)
    if command == "screenshots":  # the manual's pictures, taken by the browser tests from this release
        env = {**os.environ, "ML_ASSETS_DOCS_SCREENSHOTS": str(ROOT / "docs")}
        return subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "pytest",
                "ml_assets_tests/system/test_ui_browser.py",
                "-p",
                "no:randomly",
                *rest,
            ],
            cwd=ROOT,
            env=env,
        ).returncode
    if command == "docs":  # the configuration reference, rendered from the YAML's models
        return subprocess.run(
            [str(BIN / "python"), "-m", "ml_assets.components.reference", "docs/configuration-reference.md"],
            cwd=ROOT,
        ).returncode
    return subprocess.run(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", *rest], cwd=ROOT, env=dagster_env()
    ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
