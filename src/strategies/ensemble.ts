/** Ensembles: a majority vote of several strategies, or the average of their probability vectors. Pure. */
import type { Prediction } from "./strategy.js";

/**
 * Per item: "majority" — the most frequent label (ties go to the label with the higher mean
 * probability, then to the label listed first); "average" — the argmax of the mean probability
 * vector (a member without probabilities counts as one-hot on its label).
 */
export function ensemblePredictions(members: Prediction[][], labels: readonly string[], method: "majority" | "average"): Prediction[] {
  const n = members[0]?.length ?? 0;
  const k = labels.length;
  return Array.from({ length: n }, (_, i) => {
    const mean = new Array<number>(k).fill(0);
    const votes = new Array<number>(k).fill(0);
    for (const member of members) {
      const p = member[i] as Prediction;
      const c = labels.indexOf(p.label);
      if (c >= 0) votes[c] = (votes[c] as number) + 1;
      const vector = p.probabilities ?? labels.map((_, j) => (j === c ? 1 : 0));
      vector.forEach((v, j) => (mean[j] = (mean[j] as number) + (Number.isNaN(v) ? 0 : v) / members.length));
    }
    let best = -1;
    for (let c = 0; c < k; c++) {
      if (best < 0) {
        best = c;
        continue;
      }
      const better = method === "average"
        ? (mean[c] as number) > (mean[best] as number)
        : (votes[c] as number) > (votes[best] as number) || ((votes[c] as number) === (votes[best] as number) && (mean[c] as number) > (mean[best] as number));
      if (better) best = c;
    }
    const anyVote = votes.some((v) => v > 0);
    const label = method === "majority" && !anyVote ? "" : (labels[best] as string);
    return { label, probabilities: mean, costUsd: members.reduce((s, m) => s + ((m[i] as Prediction).costUsd ?? 0), 0) };
  });
}
