"""Validation, heuristics, dedup and score thresholds: small filter classes returning verdicts."""

from filters.base import Filter
from filters.chain import FilterChain, build_chain
from filters.config import FiltersConfig, FilterSpec
from filters.registry import FILTERS

__all__ = ["FILTERS", "Filter", "FilterChain", "FilterSpec", "FiltersConfig", "build_chain"]
