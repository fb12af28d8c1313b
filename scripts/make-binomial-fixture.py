"""Writes test/fixtures/scipy-binomial.json: exact binomial bounds and tests from scipy for random cases.

Run once (needs scipy): python3 scripts/make-binomial-fixture.py. The test suite reads the committed
file and needs no Python. Each case: k successes of n, a confidence level and a null p0; scipy's
one-sided Clopper-Pearson bounds (binomtest(...).proportion_ci(method="exact") with alternative
"greater" for the lower bound, "less" for the upper) and the exact one-sided p-value
binomtest(k, n, p0, alternative="greater").pvalue.
"""
import json
import random

import scipy
from scipy.stats import binomtest


def main():
    rng = random.Random(20261205)
    cases = []
    sizes = [1, 2, 3, 5, 10, 30, 59, 100, 250, 1000, 3265, 10000, 100000]
    for index in range(300):
        n = rng.choice(sizes)
        kind = index % 6
        if kind == 0:
            k = n
        elif kind == 1:
            k = 0
        elif kind == 2:
            k = max(0, n - rng.randint(1, 3)) if n > 1 else n
        else:
            k = rng.randint(0, n)
        confidence = rng.choice([0.8, 0.9, 0.95, 0.99, 0.999])
        p0 = rng.choice([0.5, 0.8, 0.9, 0.95, 0.97, 0.99, round(rng.random(), 4)])
        greater = binomtest(k, n, p0, alternative="greater")
        less = binomtest(k, n, p0, alternative="less")
        cases.append({
            "k": k,
            "n": n,
            "confidence": confidence,
            "p0": p0,
            "lower": greater.proportion_ci(confidence_level=confidence, method="exact").low,
            "upper": less.proportion_ci(confidence_level=confidence, method="exact").high,
            "p_greater": greater.pvalue,
        })
    with open("test/fixtures/scipy-binomial.json", "w", encoding="utf-8") as out:
        json.dump({"scipy": scipy.__version__, "cases": cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
