/**
 * A served strategy's traffic: texts answered, how many its LLM answered, and the LLM's share over the last
 * hour (minute buckets). Pure: the caller gives the time.
 */
export interface TrafficFigures {
  texts: number;
  llmShare: number;
  llmShareLastHour: number;
}

export class TrafficTally {
  private readonly minutes: Array<{ minute: number; requests: number; llm: number }> = [];
  private texts = 0;
  private llm = 0;

  /** One answered text at `nowMs`. */
  count(llmAnswered: boolean, nowMs: number): void {
    const minute = Math.floor(nowMs / 60_000);
    let bucket = this.minutes.at(-1);
    if (!bucket || bucket.minute !== minute) {
      bucket = { minute, requests: 0, llm: 0 };
      this.minutes.push(bucket);
      while (this.minutes.length > 60) this.minutes.shift();
    }
    bucket.requests++;
    this.texts++;
    if (llmAnswered) {
      bucket.llm++;
      this.llm++;
    }
  }

  /** The LLM's share of the texts of the last 60 minutes (0 without any). */
  llmShareLastHour(nowMs: number): number {
    const cutoff = Math.floor(nowMs / 60_000) - 60;
    const recent = this.minutes.filter((m) => m.minute > cutoff);
    const requests = recent.reduce((s, m) => s + m.requests, 0);
    return requests ? recent.reduce((s, m) => s + m.llm, 0) / requests : 0;
  }

  figures(nowMs: number): TrafficFigures {
    return { texts: this.texts, llmShare: this.texts ? this.llm / this.texts : 0, llmShareLastHour: this.llmShareLastHour(nowMs) };
  }
}
