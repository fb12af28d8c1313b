/**
 * Live accuracy by member from feedback: counts per member, a replaced label taken back, and the
 * anytime-valid bounds (the beta-binomial mixture confidence sequence). Pure.
 */
import { mixtureConfidenceSequence } from "../stats/sequential.js";

export interface LiveAccuracy {
  answeredBy: string;
  n: number;
  correct: number;
  accuracy: number;
  lowerBound: number;
  upperBound: number;
}

export class FeedbackTally {
  private readonly byMember = new Map<string, { n: number; correct: number }>();

  /** One feedback; returns the member's accuracy so far. */
  count(answeredBy: string, correct: boolean): number {
    const entry = this.byMember.get(answeredBy) ?? { n: 0, correct: 0 };
    entry.n++;
    if (correct) entry.correct++;
    this.byMember.set(answeredBy, entry);
    return entry.correct / entry.n;
  }

  /** Takes back an earlier feedback (a second label for the same answer replaces the first). */
  takeBack(answeredBy: string, wasCorrect: boolean): void {
    const entry = this.byMember.get(answeredBy);
    if (!entry || entry.n === 0) return;
    entry.n--;
    if (wasCorrect) entry.correct--;
  }

  /** Accuracy by member with bounds at `confidence`. */
  accuracy(confidence: number): LiveAccuracy[] {
    const alpha = 1 - confidence;
    return [...this.byMember.entries()].filter(([, { n }]) => n > 0).map(([answeredBy, { n, correct }]) => {
      const cs = mixtureConfidenceSequence(correct, n, alpha, { a: 0.5, b: 0.5 });
      return { answeredBy, n, correct, accuracy: correct / n, lowerBound: cs.lower, upperBound: cs.upper };
    });
  }
}
