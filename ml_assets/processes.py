"""Whether a process of this host still runs (pure Python): how a lost writer, a dead run worker or an MLflow run
left RUNNING by a killed process is told from a live one."""

from __future__ import annotations

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
