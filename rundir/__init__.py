"""The run directory: one type owns its lock, journal, versions, atomic publishing with a
manifest, and reading one consistent version (`RunDir(path).read()`), with the row codec between
`Record`s and JSON lines. See run.py for the layout."""

from rundir.codec import BadRow
from rundir.lock import RunLocked
from rundir.run import CorruptArtifact, NotARunDirectory, RunDir, RunVersion
from rundir.session import OpenRun, Published, RunExists

__all__ = [
    "BadRow",
    "CorruptArtifact",
    "NotARunDirectory",
    "OpenRun",
    "Published",
    "RunDir",
    "RunExists",
    "RunLocked",
    "RunVersion",
]
