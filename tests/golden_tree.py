"""Golden-run mechanics that know nothing about the product: the fixed place cases run in, a frozen
clock, turning an output directory into comparable files, and comparing them with tests/golden/.

The product side (which functions a case calls) is tests/golden_cases.py; this module only needs
to know which top-level packages are the product, to freeze their clock.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import difflib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time as _time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "golden"
INPUTS = GOLDEN / "inputs"  # fixed inputs, copied next to the cases: not a case itself
# Cases run here, always: run ids hash the run dir's absolute path, and seed/domain/input paths are
# written into stats.json, config.yaml, ids of auto-labeled rows and export.json. A fixed absolute
# path makes all of them reproducible instead of masked. A lock serialises concurrent test runs.
ROOT = Path("/tmp/seedforge-golden")
LAYOUT = "_layout.txt"  # per case: every directory, file and symlink (with its target) it wrote

FROZEN_NOW = _dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=_dt.timezone.utc)
FROZEN_CLOCK = 1000.0  # perf_counter/monotonic never advance: every duration is 0


# --- the fixed root -------------------------------------------------------------------------------


@contextlib.contextmanager
def fixed_root(name: str) -> Iterator[Path]:
    """ROOT, exclusively, with a fresh copy of the inputs and an empty ROOT/<name>. What a case
    wrote stays there afterwards (to inspect a failure) until the case runs again."""
    ROOT.mkdir(parents=True, exist_ok=True)
    if ROOT.resolve() != ROOT:
        raise RuntimeError(f"{ROOT} resolves to {ROOT.resolve()}: golden runs need a real, fixed path")
    with open(f"{ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in (ROOT / "inputs", ROOT / name):
            shutil.rmtree(stale, ignore_errors=True)
        shutil.copytree(INPUTS, ROOT / "inputs")
        (ROOT / name).mkdir()
        yield ROOT


# --- the frozen clock -----------------------------------------------------------------------------


class FrozenDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        return FROZEN_NOW.astimezone(tz) if tz is not None else FROZEN_NOW.replace(tzinfo=None)

    @classmethod
    def utcnow(cls) -> _dt.datetime:  # type: ignore[override]
        return FROZEN_NOW.replace(tzinfo=None)

    @classmethod
    def today(cls) -> _dt.datetime:  # type: ignore[override]
        return cls.now()


class _Proxy(types.ModuleType):
    """A module whose listed attributes are replaced; everything else comes from the real one."""

    def __init__(self, real: types.ModuleType, **replaced: Any):
        super().__init__(real.__name__)
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _frozen_clock(value: float) -> Callable[[], float]:
    return lambda: value


FROZEN_TIME = _Proxy(
    _time,
    perf_counter=_frozen_clock(FROZEN_CLOCK),
    monotonic=_frozen_clock(FROZEN_CLOCK),
    time=_frozen_clock(FROZEN_NOW.timestamp()),
    perf_counter_ns=lambda: int(FROZEN_CLOCK * 1e9),
    monotonic_ns=lambda: int(FROZEN_CLOCK * 1e9),
    time_ns=lambda: int(FROZEN_NOW.timestamp() * 1e9),
)
FROZEN_DATETIME_MODULE = _Proxy(_dt, datetime=FrozenDatetime)
_REPLACEMENTS: dict[int, Any] = {
    id(_time): FROZEN_TIME,
    id(_dt): FROZEN_DATETIME_MODULE,
    id(_dt.datetime): FrozenDatetime,
    id(_time.perf_counter): FROZEN_TIME.perf_counter,
    id(_time.monotonic): FROZEN_TIME.monotonic,
    id(_time.time): FROZEN_TIME.time,
}


def _product_modules(packages: tuple[str, ...]) -> dict[str, types.ModuleType]:
    return {
        name: module
        for name, module in list(sys.modules.items())
        if module is not None and name.split(".")[0] in packages
    }


def _clock_references(module: types.ModuleType) -> list[str]:
    return [attr for attr, value in vars(module).items() if id(value) in _REPLACEMENTS and value is not None]


@contextlib.contextmanager
def frozen_clock(packages: tuple[str, ...]) -> Iterator[None]:
    """Inside, the product's modules see a clock that never moves (durations 0, one fixed instant).

    Only the product's own modules are patched (their `time`/`datetime` references), not the
    `time` module itself: libraries (datasets, filelock, matplotlib) keep a real clock. A product
    module first imported inside the block would escape the freeze, so that is an error naming it.
    """
    patched: list[tuple[types.ModuleType, str, Any]] = []
    before = _product_modules(packages)
    for module in before.values():
        for attr in _clock_references(module):
            patched.append((module, attr, vars(module)[attr]))
            setattr(module, attr, _REPLACEMENTS[id(vars(module)[attr])])
    try:
        yield
    finally:
        for module, attr, value in patched:
            setattr(module, attr, value)
    late = [name for name, module in _product_modules(packages).items() if name not in before]
    escaped = [name for name in late if _clock_references(sys.modules[name])]
    if escaped:
        raise RuntimeError(
            f"imported during a golden case, so its clock was not frozen: {', '.join(sorted(escaped))}; "
            "import it in tests/golden_cases.py (PRELOAD)"
        )


# --- a directory as comparable files --------------------------------------------------------------

_PNG_URI = re.compile(rb"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _report_html(data: bytes) -> bytes:
    """Embedded PNGs become their sha256: same check, a readable and small recorded file."""

    def digest(match: re.Match[bytes]) -> bytes:
        png = base64.b64decode(match.group(1))
        return b"data:image/png;sha256," + hashlib.sha256(png).hexdigest().encode()

    return _PNG_URI.sub(digest, data)


def _table_json(table: Any) -> bytes:
    """An Arrow table as readable JSON: schema (with its metadata decoded) and every row."""
    metadata = {}
    for key, value in (table.schema.metadata or {}).items():
        text = value.decode("utf-8")
        try:
            metadata[key.decode("utf-8")] = json.loads(text)
        except ValueError:
            metadata[key.decode("utf-8")] = text
    doc = {
        "schema": [f"{field.name}: {field.type}" for field in table.schema],
        "schema_metadata": metadata,
        "num_rows": table.num_rows,
        "rows": table.to_pylist(),
    }
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _parquet(path: Path) -> bytes:
    import pyarrow.parquet as pq

    return _table_json(pq.read_table(path))


def _arrow(path: Path) -> bytes:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        try:
            table = pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_file(source).read_all()
    return _table_json(table)


# Binary files are recorded as a readable dump of their content under NAME + ".json".
BINARY = {".parquet": _parquet, ".arrow": _arrow}


def snapshot(case_dir: Path) -> dict[str, bytes]:
    """Every file a case wrote (relative path -> comparable bytes), plus its layout listing."""
    files: dict[str, bytes] = {}
    layout: list[str] = []
    for dirpath, dirnames, filenames in os.walk(case_dir):
        here = Path(dirpath)
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = here / name
            rel = path.relative_to(case_dir).as_posix()
            if path.is_symlink():
                layout.append(f"link {rel} -> {os.readlink(path)}")
                if name in dirnames:
                    dirnames.remove(name)  # os.walk does not follow it anyway; the target is listed
            elif path.is_dir():
                layout.append(f"dir  {rel}/")
            else:
                layout.append(f"file {rel}")
                convert = BINARY.get(path.suffix)
                if convert is not None:
                    files[rel + ".json"] = convert(path)
                elif name == "report.html":
                    files[rel] = _report_html(path.read_bytes())
                else:
                    files[rel] = path.read_bytes()
    files[LAYOUT] = ("\n".join(layout) + "\n").encode()
    return files


def recorded(case: str) -> dict[str, bytes]:
    base = GOLDEN / case
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def write_recorded(case: str, files: dict[str, bytes]) -> None:
    base = GOLDEN / case
    shutil.rmtree(base, ignore_errors=True)
    for rel, data in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_case(case: Callable[[Path, Path], None], name: str, packages: tuple[str, ...]) -> dict[str, bytes]:
    """Run one case at ROOT/<name> with the product's clock frozen; return its snapshot."""
    with fixed_root(name) as root:
        case_dir = root / name
        with frozen_clock(packages):
            case(root / "inputs", case_dir)
        return snapshot(case_dir)


# --- comparison -------------------------------------------------------------------------------------


def _short_diff(rel: str, expected: bytes, actual: bytes, max_lines: int = 30) -> str:
    try:
        old, new = expected.decode("utf-8").splitlines(), actual.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return f"  (binary: {len(expected)} bytes recorded, {len(actual)} bytes now)"
    # JSON rows are long: cut each diff line so a changed field stays readable
    lines = [
        line if len(line) <= 400 else line[:400] + " ..."
        for line in difflib.unified_diff(old, new, f"recorded/{rel}", f"now/{rel}", n=1, lineterm="")
    ]
    if not lines:
        return "  (same lines; line endings or a trailing newline differ)"
    more = f"\n  ... {len(lines) - max_lines} more diff lines" if len(lines) > max_lines else ""
    return "\n".join("  " + line for line in lines[:max_lines]) + more


def differences(case: str, actual: dict[str, bytes], max_files: int = 6) -> str:
    """Empty when `actual` matches the recording byte for byte; else what differs, with diffs."""
    expected = recorded(case)
    problems = []
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    if missing:
        problems.append("recorded but not written now: " + ", ".join(missing))
    if extra:
        problems.append("written now but not recorded: " + ", ".join(extra))
    changed = [rel for rel in sorted(set(expected) & set(actual)) if expected[rel] != actual[rel]]
    for rel in changed[:max_files]:
        problems.append(f"tests/golden/{case}/{rel} differs:\n{_short_diff(rel, expected[rel], actual[rel])}")
    if len(changed) > max_files:
        problems.append(f"... and {len(changed) - max_files} more differing files: {', '.join(changed[max_files:])}")
    return "\n".join(problems)
