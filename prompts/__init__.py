"""Task specs (Jinja templates + pydantic output schemas) and the pipeline's record type.

No I/O beyond reading the package's own templates, and no model: everything above imports this.
"""

from prompts.record import Record, Rejection, Verdict, stable_hash
from prompts.registry import SPECS, get_spec
from prompts.spec import SpecRenderError, TaskSpec, validation_errors

__all__ = [
    "SPECS",
    "Record",
    "Rejection",
    "SpecRenderError",
    "TaskSpec",
    "Verdict",
    "get_spec",
    "stable_hash",
    "validation_errors",
]
