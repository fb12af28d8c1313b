// Randomised cases against scikit-learn's own answers (test/fixtures/sklearn-metrics.json, written by
// scripts/make-sklearn-fixture.py): zero_division 0 / 1 / nan, label subsets, astral-plane labels,
// F-beta and the one-label binary block (specificity and accuracy too, with empty denominators).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { evaluate } from "../src/metrics/evaluate.js";
import type { ZeroDivision } from "../src/metrics/report.js";
import { ROOT } from "./helpers.js";

interface Case {
  gold: string[];
  pred: string[];
  labels: string[] | null;
  zero_division: 0 | 1 | "nan";
  beta: number;
  positive: string;
  report: Record<string, number | null | Record<string, number | null>>;
  fbeta: Record<string, number | null>;
  binary: Record<string, number | null>;
}

const fixture = JSON.parse(readFileSync(join(ROOT, "test/fixtures/sklearn-metrics.json"), "utf8")) as { sklearn: string; cases: Case[] };

function same(actual: unknown, expected: number | null, where: string): void {
  if (expected === null) assert.ok(actual === null || Number.isNaN(actual), `${where}: expected nan, got ${String(actual)}`);
  else assert.ok(typeof actual === "number" && Math.abs(actual - expected) < 1e-12, `${where}: expected ${expected}, got ${String(actual)}`);
}

test(`${fixture.cases.length} randomised cases equal scikit-learn ${fixture.sklearn}: report, F-beta and binary block`, () => {
  fixture.cases.forEach((c, index) => {
    const result = evaluate({ gold: c.gold, pred: c.pred, labels: c.labels ?? undefined, zeroDivision: c.zero_division as ZeroDivision, betas: [c.beta], positiveLabel: c.positive });
    const report = result.overall as unknown as Record<string, unknown>;
    const at = (key: string) => `case ${index} (${c.labels ? "labels " + c.labels.join("|") : "all labels"}, zero_division ${c.zero_division}) ${key}`;
    for (const [key, value] of Object.entries(c.report)) {
      if (typeof value === "object" && value !== null) {
        const row = report[key] as Record<string, unknown> | undefined;
        assert.ok(row, at(`${key} missing`));
        for (const [metric, expected] of Object.entries(value)) same(row[metric], expected, at(`${key}.${metric}`));
      } else same(report[key], value, at(key));
    }
    const fbeta = result.overall.fbeta![0]!;
    same(fbeta["macro avg"], c.fbeta["macro avg"]!, at(`F${c.beta} macro`));
    same(fbeta["weighted avg"], c.fbeta["weighted avg"]!, at(`F${c.beta} weighted`));
    for (const metric of ["precision", "recall", "f1-score", "specificity", "accuracy"] as const) same(result.overall.binary![metric], c.binary[metric]!, at(`binary ${c.positive} ${metric}`));
  });
});
