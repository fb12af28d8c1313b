"""Writes test/fixtures/sklearn-metrics.json: randomised cases and scikit-learn's answers for them.

Run once (needs scikit-learn): python3 scripts/make-sklearn-fixture.py. The test suite reads the
committed file and needs no Python. Cases cover zero_division 0 / 1 / nan, label subsets, labels
beyond the Basic Multilingual Plane, F-beta and the one-label binary block (precision, recall, F1, specificity, accuracy), with cases
whose binary denominators are empty.
"""
import json
import math
import random

import sklearn
from sklearn.metrics import accuracy_score, classification_report, fbeta_score, precision_recall_fscore_support, recall_score

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


def binary_block(gold, pred, positive, zd):
    """The one-label binary block: precision, recall, F1 of the label; specificity is the recall of "not
    the label" (recall_score on the negated vectors); accuracy of the two-class decision."""
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=[positive], average=None, zero_division=zd)
    not_gold = [g != positive for g in gold]
    not_pred = [q != positive for q in pred]
    specificity = recall_score(not_gold, not_pred, pos_label=True, zero_division=zd)
    accuracy = accuracy_score(not_gold, not_pred)
    return {
        "precision": clean(float(p[0])),
        "recall": clean(float(r[0])),
        "f1-score": clean(float(f[0])),
        "specificity": clean(float(specificity)),
        "accuracy": clean(float(accuracy)),
    }


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
        cases.append(make_case(rng, gold, pred, zero_division))
    # Empty denominators of the binary block: every gold label the positive one (TN + FP = 0, so
    # specificity is the zero_division value), none of them (TP + FN = 0), or never predicted (TP + FP = 0).
    empty = random.Random(20261205)
    for index in range(60):
        pool = empty.choice(POOLS)
        positive = empty.choice(pool)
        others = [label for label in pool if label != positive]
        n = empty.choice([1, 2, 5, 12, 40])
        kind = index % 3
        if kind == 0:
            gold = [positive] * n
        else:
            gold = [empty.choice(others) for _ in range(n)]
        if kind == 2:
            pred = [empty.choice(others) for _ in range(n)]
        else:
            pred = [g if empty.random() < 0.5 else empty.choice(pool) for g in gold]
        zero_division = [0, 1, "nan"][(index // 3) % 3]
        cases.append(make_case(empty, gold, pred, zero_division, positive))
    with open("test/fixtures/sklearn-metrics.json", "w", encoding="utf-8") as out:
        json.dump({"sklearn": sklearn.__version__, "cases": cases}, out, ensure_ascii=False, indent=1)
        out.write("\n")


def make_case(rng, gold, pred, zero_division, positive=None):
    """One case and scikit-learn's answers; a label subset and the positive label are drawn unless given."""
    zd = float("nan") if zero_division == "nan" else zero_division
    labels = None
    if positive is None and rng.random() < 0.3:
        present = sorted(set(gold) | set(pred))
        labels = sorted(rng.sample(present, max(1, len(present) - 1))) if len(present) > 1 else present
    beta = rng.choice([0.5, 2.0])
    if positive is None:
        positive = rng.choice(labels if labels else sorted(set(gold) | set(pred)))
    report = classification_report(gold, pred, labels=labels, output_dict=True, zero_division=zd)
    fbeta_macro = fbeta_score(gold, pred, beta=beta, labels=labels, average="macro", zero_division=zd)
    fbeta_weighted = fbeta_score(gold, pred, beta=beta, labels=labels, average="weighted", zero_division=zd)
    return {
        "gold": gold,
        "pred": pred,
        "labels": labels,
        "zero_division": zero_division,
        "beta": beta,
        "positive": positive,
        "report": clean(report),
        "fbeta": {"macro avg": clean(float(fbeta_macro)), "weighted avg": clean(float(fbeta_weighted))},
        "binary": binary_block(gold, pred, positive, zd),
    }


if __name__ == "__main__":
    main()
