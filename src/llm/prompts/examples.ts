/**
 * Choosing demonstrations for prompts: the k most similar labelled examples (cosine similarity of
 * embeddings when vectors are given, else lexical BM25), k class-balanced examples, or k fixed ones.
 * Pure: vectors are passed in.
 */
import { Random } from "../../core/random.js";

export interface LabelledExample {
  text: string;
  label: string;
}

const tokenize = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];

/** Okapi BM25 over a fixed pool (k1 = 1.2, b = 0.75), with an inverted index so a query touches only documents sharing a term. */
export class Bm25Index {
  private readonly postings = new Map<string, Array<[number, number]>>();
  private readonly lengths: number[];
  private readonly idf = new Map<string, number>();
  private readonly averageLength: number;

  constructor(texts: readonly string[], private readonly k1 = 1.2, private readonly b = 0.75) {
    this.lengths = [];
    texts.forEach((text, doc) => {
      const tokens = tokenize(text);
      this.lengths.push(tokens.length);
      const counts = new Map<string, number>();
      for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
      for (const [token, tf] of counts) {
        let list = this.postings.get(token);
        if (!list) this.postings.set(token, (list = []));
        list.push([doc, tf]);
      }
    });
    this.averageLength = this.lengths.reduce((a, b) => a + b, 0) / Math.max(1, texts.length);
    const n = texts.length;
    for (const [token, list] of this.postings) this.idf.set(token, Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5)));
  }

  scores(query: string): Float64Array {
    const scores = new Float64Array(this.lengths.length);
    for (const term of new Set(tokenize(query))) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = this.idf.get(term) as number;
      for (const [doc, tf] of list) {
        const norm = this.k1 * (1 - this.b + (this.b * (this.lengths[doc] as number)) / (this.averageLength || 1));
        scores[doc] += idf * ((tf * (this.k1 + 1)) / (tf + norm));
      }
    }
    return scores;
  }
}

/** The k highest scores (ties to the lower index), by one scan: k is small, pools are not. */
function topK(scores: ArrayLike<number>, k: number, exclude?: (i: number) => boolean): number[] {
  const best: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i] as number;
    if (best.length === k && score <= (scores[best[k - 1] as number] as number)) continue;
    if (exclude?.(i)) continue;
    let at = best.length;
    while (at > 0 && (scores[best[at - 1] as number] as number) < score) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/** Indices of the k pool items nearest to each query: by cosine of vectors, or BM25 without vectors. */
export function nearestExamples(
  pool: readonly LabelledExample[],
  queries: readonly string[],
  k: number,
  vectors?: { pool: Float32Array; queries: Float32Array; dim: number },
): number[][] {
  // A query identical to a pool text is its own answer: never show it as a demonstration.
  const sameText = (query: string) => (i: number) => (pool[i] as LabelledExample).text === query;
  if (vectors) {
    const { dim } = vectors;
    const norms = (data: Float32Array, rows: number) =>
      Float64Array.from({ length: rows }, (_, r) => Math.sqrt(data.subarray(r * dim, (r + 1) * dim).reduce((s, v) => s + v * v, 0)) || 1);
    const poolNorms = norms(vectors.pool, pool.length);
    return queries.map((query, q) => {
      const qv = vectors.queries.subarray(q * dim, (q + 1) * dim);
      const qn = Math.sqrt(qv.reduce((s, v) => s + v * v, 0)) || 1;
      const scores = Float64Array.from({ length: pool.length }, (_, i) => {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += (qv[d] as number) * (vectors.pool[i * dim + d] as number);
        return dot / (qn * (poolNorms[i] as number));
      });
      return topK(scores, k, sameText(query));
    });
  }
  const index = new Bm25Index(pool.map((example) => example.text));
  return queries.map((query) => topK(index.scores(query), k, sameText(query)));
}

/** k examples taken round-robin over the labels (seeded), e.g. k = 6 with 3 labels → 2 each. */
export function balancedExamples(pool: readonly LabelledExample[], labels: readonly string[], k: number, seed: number): number[] {
  const random = new Random(seed);
  const byLabel = labels.map((label) => random.shuffle(pool.map((e, i) => (e.label === label ? i : -1)).filter((i) => i >= 0)));
  const chosen: number[] = [];
  for (let round = 0; chosen.length < k; round++) {
    let added = false;
    for (const members of byLabel) {
      if (chosen.length >= k) break;
      const next = members[round];
      if (next !== undefined) {
        chosen.push(next);
        added = true;
      }
    }
    if (!added) break;
  }
  return chosen;
}

/** k fixed examples (seeded), the same for every item. */
export function fixedExamples(pool: readonly LabelledExample[], k: number, seed: number): number[] {
  return new Random(seed).shuffle(pool.map((_, i) => i)).slice(0, k);
}
