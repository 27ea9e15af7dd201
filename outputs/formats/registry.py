"""The export formats `seedforge export --format` offers. A new format is one module (a `write`
and a `readme` wrapped in an `ExportFormat`, see base.py) plus one line here."""

from __future__ import annotations

from outputs.formats import alpaca, hf, messages, parquet, sharegpt
from outputs.formats.base import ExportFormat

FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        messages.FORMAT,
        alpaca.FORMAT,
        sharegpt.FORMAT,
        hf.FORMAT,
        parquet.FORMAT,
    )
}
