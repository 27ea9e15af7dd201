"""Text metrics shared by the filters and the students' evaluation: the bottom layer, no imports
from the rest of Seedforge."""

from textmetrics.rouge import f1_from_lcs, lcs_length, rouge_l, rouge_tokens

__all__ = ["f1_from_lcs", "lcs_length", "rouge_l", "rouge_tokens"]
