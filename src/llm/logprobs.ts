/**
 * Class probabilities from token log-probabilities: at the token where the answer's label begins, the
 * top alternatives that start exactly one label ("pos" → positive) lend it their probability; the
 * result is normalised over the labels. Pure.
 */
import type { TokenLogprob } from "./types.js";

const clean = (token: string) => token.replace(/^[\s"'`{:]+/, "").toLowerCase();

/** Probabilities in label order, or undefined when the label's token has no usable alternatives. */
export function labelProbabilities(tokens: readonly TokenLogprob[] | undefined, labelOffset: number, labels: readonly string[]): number[] | undefined {
  if (!tokens || tokens.length === 0 || labelOffset < 0) return undefined;
  let position = 0;
  let at = -1;
  for (let i = 0; i < tokens.length; i++) {
    const end = position + (tokens[i] as TokenLogprob).token.length;
    if (labelOffset < end) {
      at = i;
      break;
    }
    position = end;
  }
  if (at < 0) return undefined;
  const token = tokens[at] as TokenLogprob;
  const alternatives = token.top.length > 0 ? token.top : [{ token: token.token, logprob: token.logprob }];
  const lowered = labels.map((label) => label.toLowerCase());
  const mass = new Array<number>(labels.length).fill(0);
  for (const alternative of alternatives) {
    const text = clean(alternative.token);
    if (text === "") continue;
    const matches = lowered.map((label, i) => (label.startsWith(text) ? i : -1)).filter((i) => i >= 0);
    if (matches.length === 1) mass[matches[0] as number] += Math.exp(alternative.logprob);
  }
  const total = mass.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  return mass.map((m) => m / total);
}
