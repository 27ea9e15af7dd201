"""Which verification method should be the default? Measured on dev data, never on test files.

One pool of candidates per domain is generated with verification off (a few times the quota),
then every method judges the same pool through the same engine and journal. For each method
the first `--quota` kept texts per label (generation order, as the pipeline would keep them)
plus the seeds train the same cheap student (MiniLM embeddings + logistic regression), scored
on the domain's dev file (a train-split sample) with a 95% bootstrap interval. "none" keeps every
candidate; "seeds" trains on the seeds alone.

    python bench/verification_methods.py bench/domains/sentiment --dev bench/data/sentiment/dev.jsonl

Last line: `ratio: X` = dev accuracy of the best method / dev accuracy of "none".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("vote", "calibrated", "likelihood", "confident_learning")


def bootstrap(correct: np.ndarray, seed: int = 0, n: int = 1000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), (n, len(correct)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def student_accuracy(train: list[tuple[str, str]], dev: list[tuple[str, str]], embed: Any) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    x = embed([t for t, _ in train])
    model = LogisticRegression(max_iter=3000, C=10.0, class_weight="balanced").fit(x, [y for _, y in train])
    predicted = model.predict(embed([t for t, _ in dev]))
    truth = np.array([y for _, y in dev])
    correct = (predicted == truth).astype(float)
    lo, hi = bootstrap(correct)
    return {
        "accuracy": round(float(correct.mean()), 4),
        "ci": [round(lo, 4), round(hi, 4)],
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("domain")
    parser.add_argument("--dev", required=True, help="labeled dev file (train-split sample), never a test file")
    parser.add_argument("--pool-per-label", type=int, default=200)
    parser.add_argument("--quota", type=int, default=100)
    parser.add_argument("--dev-rows", type=int, default=1000)
    parser.add_argument("--out", default=None)
    parser.add_argument("--margins", type=float, nargs="*", default=[0.0, 0.05, 0.1])
    args = parser.parse_args()
    if "test" in Path(args.dev).name:
        sys.exit("refusing to choose a default on a test file")

    from conf.domains import load_domain
    from filters.embeddings import embed as encode
    from generator.gateway import Gateway
    from generator.seeds.labeled import read_labeled
    from generator.teachers.models import embedded_encoder_dir
    from generator.teachers.registry import make_teacher
    from generator.verify import Candidate, VerifyContext, make_verifier, pick_shots
    from generator.verify.base import argmax_judgement
    from pipeline.labeled import generate_labeled
    from rundir.journal import Journal

    encoder = str(embedded_encoder_dir())

    def embed(texts: Any) -> np.ndarray:
        return encode(encoder, list(texts))

    name = Path(args.domain).name
    out = Path(args.out or f"runs/verification-{name}")
    loaded = load_domain(
        args.domain,
        {
            "targets": {"per_label": args.pool_per_label, "max_shortfall": 1.0},
            "verification": {"enabled": False},
        },
    )
    domain = loaded.domain
    teacher = make_teacher(domain.teacher, domain.executor)
    try:
        started = time.perf_counter()
        generate_labeled(loaded, out / "pool", teacher=teacher)
        pool_seconds = time.perf_counter() - started
        rows = [json.loads(x) for x in (out / "pool" / "train.jsonl").read_text().splitlines()]
        candidates = [Candidate(r["text"], r["label"], r["id"]) for r in rows]
        journal = Journal(out / "scores-journal.jsonl")
        gateway = Gateway(teacher, base_seed=domain.generation.seed, journal=journal)
        shots = pick_shots(loaded.seeds, domain.verification.shots_per_label, domain.generation.seed)
        judged: dict[str, list[Any]] = {}
        seconds: dict[str, float] = {}
        variants = [(m, m, {}) for m in METHODS] + [("calibrated(batch)", "calibrated", {"prior": "batch"})]
        for label, method, extra in variants:
            settings = domain.verification.model_copy(update={"method": method, **extra})
            ctx = VerifyContext(
                gateway, domain.model_copy(update={"verification": settings}), loaded.seeds, shots, embed
            )
            started = time.perf_counter()
            judged[label] = make_verifier(method, ctx).judge(candidates, 0)
            seconds[label] = round(time.perf_counter() - started, 1)
        journal.close()
    finally:
        teacher.close()

    labels = domain.label_names
    keeps: dict[str, list[bool]] = {"none": [True] * len(candidates)}
    for method in judged:
        keeps[method] = [j.keep for j in judged[method]]
    for margin in args.margins:
        if margin:
            keeps[f"likelihood@{margin}"] = [
                j.probs is not None and j.detail.get("margin", -1) >= margin for j in judged["likelihood"]
            ]
    members = ("calibrated", "likelihood", "confident_learning")
    combos = {
        "ensemble": members,
        "ensemble(cal+lik)": ("calibrated", "likelihood"),
        "ensemble(batch)": ("calibrated(batch)", "likelihood", "confident_learning"),
        "ensemble(lik+cl)": ("likelihood", "confident_learning"),
    }
    for combo_name, combo in combos.items():
        decided = []
        for i, c in enumerate(candidates):
            probs = [judged[m][i].probs for m in combo if judged[m][i].probs is not None]
            if not probs:
                decided.append(False)
                continue
            mean = {y: sum(p[y] for p in probs) / len(probs) for y in labels}
            decided.append(argmax_judgement(mean, c.intended, labels).keep)
        keeps[combo_name] = decided

    dev_rows = [(t, y) for _, t, y in read_labeled(args.dev, labels)]
    rng = np.random.default_rng(0)
    dev = [dev_rows[i] for i in rng.permutation(len(dev_rows))[: args.dev_rows]]
    seeds = [(t, y) for y, texts in loaded.seeds.items() for t in texts]
    results = {"seeds": {**student_accuracy(seeds, dev, embed), "kept": {}}}
    for method, keep in keeps.items():
        taken: dict[str, list[str]] = {y: [] for y in labels}
        for c, ok in zip(candidates, keep, strict=True):
            if ok and len(taken[c.intended]) < args.quota:
                taken[c.intended].append(c.text)
        train = seeds + [(t, y) for y, texts in taken.items() for t in texts]
        results[method] = {
            **student_accuracy(train, dev, embed),
            "kept": {y: len(v) for y, v in taken.items()},
            "accepted": round(sum(keep) / len(keep), 3),
        }
    print(f"pool: {len(candidates)} candidates in {pool_seconds:.0f} s; method seconds: {seconds}")
    print(f"{'method':<22} {'acc':>6} {'95% CI':>15} {'macroF1':>8} {'accepted':>9}  kept per label")
    for method, r in results.items():
        print(
            f"{method:<22} {r['accuracy']:>6.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] {r['macro_f1']:>8.3f} "
            f"{r.get('accepted', '-')!s:>9}  {r['kept']}"
        )
    (out / "results.json").write_text(json.dumps({"seconds": seconds, "results": results}, indent=2))
    best = max((m for m in results if m not in ("seeds", "none")), key=lambda m: results[m]["accuracy"])
    print(f"best method: {best}")
    print(f"ratio: {results[best]['accuracy'] / results['none']['accuracy']:.3f}")


if __name__ == "__main__":
    main()
