"""Processes of this host (pure Python): whether one still runs, which is how a lost writer, a dead run worker or an
MLflow run left RUNNING by a killed process is told from a live one; and busy loops that load the machine (so many
per CPU, or as many as keep it at a load), for the busy-machine tests and benchmarks."""

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


def _start_loops(count: int, limit_s: float) -> list:
    """`count` busy loops at normal priority, each in a session of its own and ending on its own after `limit_s`."""
    import subprocess
    import sys

    return [
        subprocess.Popen([sys.executable, "-c", _SPIN.format(limit=limit_s)], start_new_session=True)
        for _ in range(count)
    ]


def _kill_loops(loops: list) -> None:
    """Each loop killed (stopped ones too) and reaped."""
    import signal

    for loop in loops:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(loop.pid, signal.SIGKILL)
        loop.wait()


@contextlib.contextmanager
def busy_cpus(per_cpu: int = 4, limit_s: float = 1800):
    """A busy machine, bounded: `per_cpu` x the CPUs of busy loops at normal priority (at 4, a load average of 4x the
    cores, as on a laptop compiling while its user works), each ending on its own after `limit_s`, all killed on
    exit. Yields a function returning the highest 1-minute load average seen so far. For the busy-machine tests and
    benchmarks."""
    loops = _start_loops(per_cpu * (os.cpu_count() or 1), limit_s)
    highest = [0.0]

    def load() -> float:
        highest[0] = max(highest[0], os.getloadavg()[0])
        return highest[0]

    try:
        yield load
    finally:
        _kill_loops(loops)


def _runnable_tasks() -> int | None:
    """Tasks of the machine ready to run this instant (/proc/loadavg's 4th field), this reader included."""
    try:
        with open("/proc/loadavg") as loadavg:
            return int(loadavg.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def busy_machine(runnable_per_cpu: float = 2.0, limit_s: float = 1800, settle_s: float = 600):
    """A machine kept at least this busy, bounded: busy loops at normal priority make up whatever the machine's own
    work leaves short of `runnable_per_cpu` x the CPUs in tasks ready to run, and are stopped (SIGSTOP) while other
    work keeps it that busy. Alone they load the machine as busy_cpus does; beside a loaded test run they run little
    or not at all. Waits (up to `settle_s`) for the 1-minute load average to reach 1.5 times the CPUs, then yields a
    function returning the lowest 1-minute load average seen since (read every second). Loops end on their own after
    `limit_s`; all are killed on exit."""
    import collections
    import math
    import signal
    import threading
    import time

    cpus = os.cpu_count() or 1
    target = runnable_per_cpu * cpus
    loops = _start_loops(math.ceil(target), limit_s)
    running = len(loops)  # all run until the first reading says how busy the machine is without them
    own_work: collections.deque[int] = collections.deque(maxlen=20)  # 5 s of readings
    lowest: list[float | None] = [None]
    stop = threading.Event()

    def steer() -> None:
        nonlocal running
        last_read = 0.0
        while not stop.wait(0.25):
            runnable = _runnable_tasks()
            if runnable is not None:
                own_work.append(runnable - running - 1)  # without the running loops and this reader
                average = sum(own_work) / len(own_work)
                wanted = min(len(loops), max(0, math.ceil(target - average)))
                for number, loop in enumerate(loops):
                    if (number < wanted) != (number < running):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(loop.pid, signal.SIGCONT if number < wanted else signal.SIGSTOP)
                running = wanted
            if lowest[0] is not None and time.monotonic() - last_read >= 1:
                lowest[0], last_read = min(lowest[0], os.getloadavg()[0]), time.monotonic()

    steering = threading.Thread(target=steer, name="busy_machine", daemon=True)
    steering.start()
    try:
        settled_by = time.monotonic() + settle_s
        while os.getloadavg()[0] < 1.5 * cpus and time.monotonic() < settled_by:
            time.sleep(1)
        lowest[0] = os.getloadavg()[0]
        yield lambda: lowest[0]
    finally:
        stop.set()
        steering.join()
        _kill_loops(loops)
