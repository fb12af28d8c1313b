"""Writes test/fixtures/sklearn-metrics.json: randomised cases and scikit-learn's answers for them.

Run once (needs scikit-learn): python3 scripts/make-sklearn-fixture.py. The test suite reads the
committed file and needs no Python. Cases cover zero_division 0 / 1 / nan, label subsets, labels
beyond the Basic Multilingual Plane, F-beta and the one-label binary block.
"""
import json
import math
import random

import sklearn
from sklearn.metrics import classification_report, fbeta_score, precision_recall_fscore_support

POOLS = [
    ["negative", "neutral", "positive"],
    ["a", "b", "c", "d"],
    ["\U0001F600", "\uFF21", "z", "\u00e9t\u00e9"],  # astral (😀), fullwidth A, ASCII, accented
    ["1", "2", "3", "4", "5"],
    ["yes", "no"],
]


def clean(value):
    """JSON has no NaN: write null."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return clean(value.item())
    return value


def main():
    rng = random.Random(20261125)
    cases = []
    for index in range(120):
        pool = rng.choice(POOLS)
        n = rng.choice([1, 2, 5, 12, 40, 200])
        # Some classes rare or absent, predictions sometimes outside the gold classes.
        weights = [rng.random() ** 2 for _ in pool]
        gold = rng.choices(pool, weights=weights, k=n)
        pred = [g if rng.random() < rng.choice([0.2, 0.5, 0.8]) else rng.choice(pool) for g in gold]
        zero_division = rng.choice([0, 1, "nan"])
        zd = float("nan") if zero_division == "nan" else zero_division
        labels = None
        if rng.random() < 0.3:
            present = sorted(set(gold) | set(pred))
            labels = sorted(rng.sample(present, max(1, len(present) - 1))) if len(present) > 1 else present
        beta = rng.choice([0.5, 2.0])
        positive = rng.choice(labels if labels else sorted(set(gold) | set(pred)))
        report = classification_report(gold, pred, labels=labels, output_dict=True, zero_division=zd)
        fbeta_macro = fbeta_score(gold, pred, beta=beta, labels=labels, average="macro", zero_division=zd)
        fbeta_weighted = fbeta_score(gold, pred, beta=beta, labels=labels, average="weighted", zero_division=zd)
        p, r, f, s = precision_recall_fscore_support(gold, pred, labels=[positive], average=None, zero_division=zd)
        cases.append({
            "gold": gold,
            "pred": pred,
            "labels": labels,
            "zero_division": zero_division,
            "beta": beta,
            "positive": positive,
            "report": clean(report),
            "fbeta": {"macro avg": clean(float(fbeta_macro)), "weighted avg": clean(float(fbeta_weighted))},
            "binary": {"precision": clean(float(p[0])), "recall": clean(float(r[0])), "f1-score": clean(float(f[0]))},
        })
    with open("test/fixtures/sklearn-metrics.json", "w", encoding="utf-8") as out:
        json.dump({"sklearn": sklearn.__version__, "cases": cases}, out, ensure_ascii=False, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
