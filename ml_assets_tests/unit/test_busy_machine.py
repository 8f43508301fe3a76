"""The busy-machine tests' load (ml_assets.processes.busy_machine): its loops stand aside while other work keeps the
machine busy and take over when that work ends."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest

from ml_assets.processes import busy_machine


def _loop_states() -> list[str]:
    """The state letter (/proc/PID/stat) of each busy loop this process started: T when stopped (SIGSTOP)."""
    states = []
    for pid in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat[stat.rindex(")") + 2 :].split()
            if (
                int(fields[1]) == os.getpid()
                and b"end = time.monotonic()" in open(f"/proc/{pid}/cmdline", "rb").read()
            ):
                states.append(fields[0])
        except (OSError, ValueError):  # not a process, or one that ended while we looked
            pass
    return states


def _wait_for(condition, what: str, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout_s:.0f} s: loops {_loop_states()}, load {os.getloadavg()}")


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads Linux's /proc/loadavg")
def test_busy_loops_stop_while_other_work_keeps_the_machine_busy_and_run_when_it_ends():
    per_cpu = 4.0  # high enough that the other test files running beside this one never fill it alone
    target = math.ceil(per_cpu * (os.cpu_count() or 1))
    others = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(target + 1)]
    try:
        with busy_machine(runnable_per_cpu=per_cpu, limit_s=300, settle_s=0):
            assert len(_loop_states()) == target
            _wait_for(
                lambda: set(_loop_states()) == {"T"},
                f"{target + 1} other busy processes did not stop the loops",
            )
            for other in others:
                other.kill()
                other.wait()
            _wait_for(
                lambda: _loop_states().count("T") <= target // 2,
                "the loops did not take over when the other work ended",
            )
        assert _loop_states() == []  # killed and reaped on exit
    finally:
        for other in others:
            other.kill()
            other.wait()
