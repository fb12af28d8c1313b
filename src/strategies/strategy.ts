/** The one interface of everything that classifies: texts in; labels, probabilities, cost and latency out. */

export interface Prediction {
  /** The predicted label, or "" when the classifier gave no usable answer (counted as wrong). */
  label: string;
  /** Class probabilities in the strategy's label order, when it has them. */
  probabilities?: number[];
  /** Money spent on this item, in US dollars. */
  costUsd?: number;
  latencyMs?: number;
}

export interface Strategy {
  name: string;
  /** Label order of the probability vectors. */
  labels: readonly string[];
  classify(texts: readonly string[], onProgress?: (done: number) => void): Promise<Prediction[]>;
}
