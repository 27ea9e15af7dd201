"""Compiled vs eager engine: total wall time of a whole `seedforge generate` run, per run size.

vLLM compiles the model with torch.compile (`enforce_eager: false`): a longer engine
start, then more tokens/s. `enforce_eager: true` starts faster and decodes slower. Which one
minimises the wall time depends on how many tokens the run decodes. Each (mode, size) is one
fresh CLI process on the embedded teacher, timed from launch to exit; stats.json gives the
engine's start seconds and the teacher's tokens/s.

    python bench/startup_modes.py [--sizes 40 200] [--modes compiled eager] [--extrapolate 1000]

With two or more sizes, a straight line (start-up + seconds per row) is fitted per mode and read
at `--extrapolate` rows, labelled as an extrapolation; the measured sizes are what the ratio uses.

The last line, `ratio: X`, is eager wall / compiled wall at the largest size (> 1: compiled wins).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "examples/general/seed_tasks.jsonl"


def run(mode: str, size: int, work: Path) -> dict[str, float]:
    out = work / f"{mode}-{size}"
    config = work / f"{mode}.yaml"
    config.write_text(f"teacher:\n  enforce_eager: {'true' if mode == 'eager' else 'false'}\n")
    cmd = [sys.executable, "-m", "cli", "generate", "--seeds", str(SEEDS), "--num", str(size)]
    cmd += ["--out", str(out), "--config", str(config), "--no-progress"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{mode} at {size} rows failed:\n{proc.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    teacher = stats["teacher"]
    return {
        "wall": wall,
        "startup": float(teacher.get("startup_seconds") or 0.0),
        "tokens": float(teacher["completion_tokens"]),
        "tps": float(teacher.get("tokens_per_second") or 0.0),
        "kept": float(stats["funnel"]["kept"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--modes", nargs="+", default=["compiled", "eager"], choices=["compiled", "eager"])
    parser.add_argument("--extrapolate", type=int, default=1000, help="row count the fitted lines are read at")
    args = parser.parse_args()
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="seedforge-startup-") as tmp:
        for size in sorted(args.sizes):
            for mode in args.modes:
                r = results[mode, size] = run(mode, size, Path(tmp))
                print(
                    f"{mode:<8} N={size:>5}  wall {r['wall']:7.1f} s  engine start {r['startup']:6.1f} s  "
                    f"{r['tokens']:8.0f} tokens out  {r['tps']:7.1f} tokens/s  kept {r['kept']:.0f}",
                    flush=True,
                )
    fits = {}
    for mode in args.modes:
        measured = [results[mode, size] for size in sorted(args.sizes) if (mode, size) in results]
        if len(measured) >= 2:
            # Engine start varies from run to run (compile time most), so the line is fitted to the
            # time after it and the mean start is added back: start + a + b * rows.
            start = sum(r["startup"] for r in measured) / len(measured)
            points = [
                (size, results[mode, size]["wall"] - results[mode, size]["startup"]) for size in sorted(args.sizes)
            ]
            n = len(points)
            mean_x = sum(x for x, _ in points) / n
            mean_y = sum(y for _, y in points) / n
            slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
            fits[mode] = (start + mean_y - slope * mean_x, slope)
            print(
                f"{mode:<8} fit: wall = {fits[mode][0]:.1f} s + {slope:.2f} s/row (mean start {start:.0f} s); "
                f"{args.extrapolate} rows ~ {fits[mode][0] + slope * args.extrapolate:.0f} s "
                "(extrapolated, not measured)"
            )
    if len(fits) == 2 and fits["compiled"][1] != fits["eager"][1]:
        (a_c, b_c), (a_e, b_e) = fits["compiled"], fits["eager"]
        print(f"the two lines cross at ~{(a_c - a_e) / (b_e - b_c):.0f} rows (compiled wins above if positive)")
    top = max(args.sizes)
    if ("eager", top) in results and ("compiled", top) in results:
        print(f"ratio: {results['eager', top]['wall'] / results['compiled', top]['wall']:.3f}")


if __name__ == "__main__":
    main()
