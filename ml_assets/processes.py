"""Processes of this host (pure Python): whether one still runs, which is how a lost writer, a dead run worker or an
MLflow run left RUNNING by a killed process is told from a live one; and busy loops that load the machine, for the
busy-machine tests and benchmarks."""

from __future__ import annotations

import contextlib
import os


def process_alive(pid: int) -> bool:
    """The process runs: it exists and is not a zombie (ended, its parent not yet told). Another user's process,
    which may not be signalled, counts as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except OSError:  # no /proc (not Linux), or the process ended meanwhile
        return os.path.exists(f"/proc/{pid}") or not os.path.isdir("/proc")


_SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def busy_cpus(per_cpu: int = 4, limit_s: float = 1800):
    """A busy machine, bounded: `per_cpu` x the CPUs of busy loops at normal priority (at 4, a load average of 4x the
    cores, as on a laptop compiling while its user works), each ending on its own after `limit_s`, all killed on
    exit. Yields a function returning the highest 1-minute load average seen so far. For the busy-machine tests and
    benchmarks."""
    import signal
    import subprocess
    import sys

    loops = [
        subprocess.Popen([sys.executable, "-c", _SPIN.format(limit=limit_s)], start_new_session=True)
        for _ in range(per_cpu * (os.cpu_count() or 1))
    ]
    highest = [0.0]

    def load() -> float:
        highest[0] = max(highest[0], os.getloadavg()[0])
        return highest[0]

    try:
        yield load
    finally:
        for loop in loops:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(loop.pid, signal.SIGKILL)
            loop.wait()
