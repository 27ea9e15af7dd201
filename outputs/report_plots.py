"""The report's figures, each a PNG embedded as a data URI (the page never loads anything)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: figures go straight to bytes

import matplotlib.pyplot as plt

PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#718096", "#d69e2e", "#319795"]


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def funnel_chart(funnel: dict[str, Any]) -> str:
    """Kept rows and every rejection reason, grouped by the stage that rejected."""
    names = ["kept"]
    counts = [funnel["kept"]]
    colors = [PALETTE[2]]
    for i, (stage, reasons) in enumerate(funnel["rejected"].items()):
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            names.append(f"{stage} / {reason}")
            counts.append(count)
            colors.append(PALETTE[(i + 3) % len(PALETTE)] if i else PALETTE[1])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2))
    ax.barh(range(len(names)), counts, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    for y, count in enumerate(counts):
        ax.text(count, y, f" {count}", va="center", fontsize=8)
    ax.set_xlabel(f"rows (of {funnel['candidates']} candidates)")
    ax.set_title("Filter funnel: kept, and rejected by stage / reason")
    return _png(fig)


def histograms(series: Mapping[str, Sequence[float]], xlabel: str, title: str, bins: int = 30) -> str:
    present = {k: v for k, v in series.items() if len(v)}
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(4 * max(len(present), 1), 3), squeeze=False)
    for ax, (name, values), color in zip(axes[0], present.items(), PALETTE, strict=False):
        ax.hist(values, bins=bins, color=color)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    if not present:
        axes[0][0].text(0.5, 0.5, "no rows", ha="center")
    fig.suptitle(title, y=1.06)  # above the panel titles, not on top of them
    return _png(fig)


def bars(labels: Sequence[str], groups: Mapping[str, Sequence[float]], title: str, ylabel: str) -> str:
    """Grouped vertical bars (e.g. kept vs target per label)."""
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 3.2))
    width = 0.8 / max(len(groups), 1)
    for i, (name, values) in enumerate(groups.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name, color=PALETTE[i % 8])
    ax.set_xticks([x + width * (len(groups) - 1) / 2 for x in range(len(labels))], labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(groups) > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def top_counts(counts: Sequence[tuple[str, int]], title: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(counts) + 1.2))
    ax.barh(range(len(counts)), [c for _, c in counts], color=PALETTE[0])
    ax.set_yticks(range(len(counts)), [w for w, _ in counts], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title(title)
    return _png(fig)
