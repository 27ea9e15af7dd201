"""Compatibility path, removed in phase 2 of issue 14: the module is now rundir.writers.

Kept only for modules another branch is changing (service/classify_student.py, service/report.py);
everything else imports rundir.writers. It points up a layer (generator -> rundir): the import
contract ignores this one import until phase 2 deletes the file.
"""

from rundir.writers import atomic_write_bytes, fsync_dir, read_jsonl, write_json, write_jsonl, write_yaml

__all__ = ["atomic_write_bytes", "fsync_dir", "read_jsonl", "write_json", "write_jsonl", "write_yaml"]
