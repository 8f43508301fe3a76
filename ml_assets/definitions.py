"""The ml_assets code location: every component under ml_assets/defs/, loaded by Dagster."""

import os
from pathlib import Path

import dagster as dg

DEFS_FOLDER = Path(__file__).parent / "defs"

# Dagster asks for the definitions several times in one process (six in a CLI run: the job, each subset of it, each
# repository load); the ones last built are given again while nothing they are built from has changed
_LOADED: dict[tuple, dg.Definitions] = {}


def _built_from() -> tuple:
    """What the definitions are built from: the environment (templated settings), the working directory and every
    file of the defs folder (its YAML and Python, by size and modification time)."""
    files = tuple(
        sorted(
            (str(path), stat.st_mtime_ns, stat.st_size)
            for path in DEFS_FOLDER.rglob("*")
            if "__pycache__" not in path.parts and path.is_file() and (stat := path.stat())
        )
    )
    return tuple(sorted(os.environ.items())), os.getcwd(), files


@dg.definitions
def defs() -> dg.Definitions:
    key = _built_from()
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return _LOADED[key]
