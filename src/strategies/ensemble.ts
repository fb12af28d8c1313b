/** Ensembles: a majority vote of several strategies, or the average of their probability vectors. */
import { closeOnce, memberPredictions, reorderProbabilities, type Prediction, type Strategy } from "./strategy.js";

/**
 * Per item: "majority" — the most frequent label (ties go to the label with the higher mean
 * probability, then to the label listed first); "average" — the argmax of the mean probability
 * vector (a member without probabilities counts as one-hot on its label). Members' probabilities must be
 * in `labels` order. Items where no member gave a label or probabilities get none. Pure.
 */
export function ensemblePredictions(members: ReadonlyArray<readonly Prediction[]>, labels: readonly string[], method: "majority" | "average", answeredBy = "ensemble"): Prediction[] {
  const n = members[0]?.length ?? 0;
  const k = labels.length;
  return Array.from({ length: n }, (_, i) => {
    const mean = new Array<number>(k).fill(0);
    const votes = new Array<number>(k).fill(0);
    let informed = 0;
    for (const member of members) {
      const p = member[i] as Prediction;
      const c = p.status === "ok" ? labels.indexOf(p.label) : -1;
      if (c >= 0) votes[c] = (votes[c] as number) + 1;
      const vector = p.status === "ok" && p.probabilities ? p.probabilities : labels.map((_, j) => (j === c ? 1 : 0));
      if (c >= 0 || (p.status === "ok" && p.probabilities)) informed++;
      vector.forEach((v, j) => (mean[j] = (mean[j] as number) + (Number.isNaN(v) ? 0 : v) / members.length));
    }
    let best = 0;
    for (let c = 1; c < k; c++) {
      const better = method === "average"
        ? (mean[c] as number) > (mean[best] as number)
        : (votes[c] as number) > (votes[best] as number) || ((votes[c] as number) === (votes[best] as number) && (mean[c] as number) > (mean[best] as number));
      if (better) best = c;
    }
    const anyVote = votes.some((v) => v > 0);
    const none = method === "majority" ? !anyVote : informed === 0;
    const costUsd = members.reduce((s, m) => s + (m[i] as Prediction).costUsd, 0);
    const tokens = (key: "inputTokens" | "outputTokens") => members.reduce((s, m) => s + ((m[i] as Prediction)[key] ?? 0), 0);
    return {
      label: none ? "" : (labels[best] as string),
      probabilities: mean,
      answeredBy,
      status: none ? "error" : "ok",
      error: none ? "no member gave an answer" : undefined,
      inputTokens: tokens("inputTokens"),
      outputTokens: tokens("outputTokens"),
      costUsd,
    };
  });
}

export function ensembleStrategy(members: readonly Strategy[], method: "majority" | "average", name = "ensemble"): Strategy {
  const labels = members[0]!.labels;
  return {
    name,
    type: "ensemble",
    labels,
    members,
    async classify(texts, options = {}) {
      const answers: Prediction[][] = [];
      for (const [m, member] of members.entries()) {
        const predictions = await memberPredictions(member, texts, options);
        answers.push(predictions.map((p) => ({ ...p, probabilities: reorderProbabilities(p.probabilities, member.labels, labels) })));
        options.onProgress?.(Math.floor((texts.length * (m + 1)) / members.length));
      }
      return ensemblePredictions(answers, labels, method, name);
    },
    close: closeOnce(async () => {
      for (const member of members) await member.close();
    }),
  };
}
