"""Compatibility path for files another branch is changing (service/cli_classify.py,
bench/student_value.py, tests/test_classify_vllm.py): the runs are now pipeline.labeled and
pipeline.label. Phase 2b of issue 14 deletes this file."""

from pipeline.label import label_texts
from pipeline.labeled import QuotaShortfall, generate_labeled

__all__ = ["QuotaShortfall", "generate_labeled", "label_texts"]
