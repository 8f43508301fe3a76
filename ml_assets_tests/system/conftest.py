"""System-test helpers: a bounded CPU hog for the busy-machine tests."""

import contextlib
import os
import signal
import subprocess
import sys

SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def cpu_hog(per_cpu: int = 4, limit_s: float = 1800):
    """`per_cpu` x the CPUs of busy loops at normal priority (load average 4x the cores, as on a laptop
    compiling while the user works), each ending on its own after `limit_s` and all killed on exit.
    Yields a function returning the 1-minute load average seen so far at its highest."""
    cpus = os.cpu_count() or 1
    hogs = [
        subprocess.Popen([sys.executable, "-c", SPIN.format(limit=limit_s)], start_new_session=True)
        for _ in range(per_cpu * cpus)
    ]
    highest = [0.0]

    def load() -> float:
        highest[0] = max(highest[0], os.getloadavg()[0])
        return highest[0]

    try:
        yield load
    finally:
        for hog in hogs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hog.pid, signal.SIGKILL)
            hog.wait()
