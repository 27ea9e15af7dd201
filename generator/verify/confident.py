"""confident_learning: an embedding classifier's out-of-fold view of every label (Northcutt et al.).

Seeds and candidates are embedded and a logistic regression is trained K times, each time
predicting the fold it did not see. `cleanlab` compares those out-of-fold probabilities with the
given labels and names the rows whose label is most likely wrong. No teacher call: the check
learns what each label looks like from the seeds and the teacher's own texts, so it catches the
stray text, not a whole label the teacher cannot tell apart.

The pool grows round by round (seeds, then every text this method kept earlier, then the round's
texts); a resumed run replays the same rounds and so rebuilds the same pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generator.gateway import Call
from generator.verify.base import Candidate, Judgement, VerifyContext


def out_of_fold(vectors: np.ndarray, labels: np.ndarray, n_classes: int, folds: int, seed: int) -> np.ndarray:
    """(n, n_classes) probabilities, each row from a model that never saw it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels, minlength=n_classes)
    splits = int(min(folds, counts[counts > 0].min()))
    if splits < 2:
        raise ValueError("every label needs at least two rows for cross-validation")
    probs = np.zeros((len(labels), n_classes))
    for train, held in StratifiedKFold(splits, shuffle=True, random_state=seed).split(vectors, labels):
        model = LogisticRegression(max_iter=2000, class_weight="balanced").fit(vectors[train], labels[train])
        probs[np.ix_(held, model.classes_)] = model.predict_proba(vectors[held])
    return probs


class ConfidentLearningVerifier:
    name = "confident_learning"

    def __init__(self, ctx: VerifyContext):
        if ctx.embed is None:
            raise ValueError("verification method confident_learning needs a sentence encoder (none was given)")
        self.ctx = ctx
        self.labels = ctx.task.label_names
        self.pool: list[tuple[str, int]] = [
            (text, self.labels.index(label)) for label, texts in ctx.seeds.items() for text in texts
        ]
        self._vectors: dict[str, np.ndarray] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing and self.ctx.embed is not None:
            self._vectors.update(zip(missing, self.ctx.embed(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts])

    def calls_ahead(self, candidates: Sequence[Candidate], round_no: int) -> list[tuple[str, Call]]:
        return []  # the encoder and the seeds decide; the teacher is not asked

    def judge(self, candidates: Sequence[Candidate], round_no: int) -> list[Judgement]:
        from cleanlab.filter import find_label_issues

        if not candidates:
            return []
        rows = [*self.pool, *((c.text, self.labels.index(c.intended)) for c in candidates)]
        given = np.array([label for _, label in rows])
        try:
            probs = out_of_fold(
                self._embed([t for t, _ in rows]),
                given,
                len(self.labels),
                self.ctx.task.verification.folds,
                self.ctx.task.generation.seed + round_no,
            )
        except ValueError as exc:
            # Too few rows to cross-validate: no evidence against any text, so none is rejected.
            return [Judgement(None, True, None, {"skipped": str(exc)}) for _ in candidates]
        issues = find_label_issues(given, probs, filter_by="prune_by_noise_rate")
        out = []
        for k, candidate in enumerate(candidates, start=len(self.pool)):
            row = {label: float(probs[k, j]) for j, label in enumerate(self.labels)}
            detail = {"self_confidence": round(float(probs[k, given[k]]), 6)}
            if issues[k]:
                out.append(Judgement(row, False, "label_issue", detail))
            else:
                out.append(Judgement(row, True, None, detail))
                self.pool.append((candidate.text, int(given[k])))
        return out
