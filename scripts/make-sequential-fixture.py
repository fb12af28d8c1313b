"""Writes test/fixtures/scipy-sequential.json: the beta-binomial mixture confidence sequence, computed by scipy.

Run once (needs scipy): python3 scripts/make-sequential-fixture.py. The bound is the set
{p : ln M_n(p) < ln(1/alpha)} with ln M_n(p) = betaln(a + S, b + F) - betaln(a, b) - S ln p - F ln(1 - p)
(Howard et al. 2021, the conjugate mixture), whose edges are found with scipy.optimize.brentq on each side
of S/n, using scipy.special.betaln: an implementation independent of tandem's (bisection, @stdlib's betaln).
"""
import json
import math
import random

import scipy
from scipy.optimize import brentq
from scipy.special import betaln


def log_ratio(s, f, p, a, b):
    value = betaln(a + s, b + f) - betaln(a, b)
    if s:
        value -= s * math.log(p)
    if f:
        value -= f * math.log(1 - p)
    return value


def bounds(s, n, alpha, a, b):
    f = n - s
    threshold = math.log(1 / alpha)
    centre = s / n if n else a / (a + b)
    g = lambda p: log_ratio(s, f, p, a, b) - threshold
    eps = 1e-15
    if g(centre) >= 0:
        return centre, centre
    lower = 0.0 if (s == 0 or g(eps) < 0) else brentq(g, eps, centre, xtol=1e-14, rtol=1e-14)
    upper = 1.0 if (f == 0 or g(1 - eps) < 0) else brentq(g, centre, 1 - eps, xtol=1e-14, rtol=1e-14)
    return lower, upper


def main():
    rng = random.Random(20261206)
    cases = []
    sizes = [1, 2, 5, 10, 30, 100, 500, 2000, 10000]
    for index in range(120):
        n = rng.choice(sizes)
        kind = index % 4
        s = n if kind == 0 else (0 if kind == 1 else rng.randint(0, n))
        alpha = rng.choice([0.01, 0.05, 0.1])
        level = rng.choice([0.9, 0.95, 0.97, 0.5])
        weight = rng.choice([10, 2])
        a, b = level * weight, (1 - level) * weight
        lower, upper = bounds(s, n, alpha, a, b)
        cases.append({"successes": s, "trials": n, "alpha": alpha, "a": a, "b": b, "lower": lower, "upper": upper,
                      "log_ratio_at_half": log_ratio(s, n - s, 0.5, a, b)})
    with open("test/fixtures/scipy-sequential.json", "w") as out:
        json.dump({"scipy": scipy.__version__, "cases": cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
