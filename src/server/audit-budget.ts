/**
 * The audit's gates: a daily dollar budget (judged by the mean cost of an audit call, the calls queued
 * included) and a rate (calls per minute, a minute's worth at once; a draw is dropped, not delayed, when
 * none is left). The gates look only at the moment, never at the answer, so the sample stays uniform.
 */
import { RateLimiter } from "../llm/limiter.js";

export type Gate = "open" | "over_budget" | "over_rate";

function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export class AuditBudget {
  private day: string;
  private spentToday: number;
  private meanCost = 0;
  private paid = 0;
  private readonly limiter: RateLimiter | undefined;

  constructor(
    private readonly settings: { maxCostPerDay?: number; rpm?: number },
    /** Dollars already spent today (a restart keeps the day's spending). */
    spentToday = 0,
    now = new Date(),
  ) {
    this.day = utcDay(now);
    this.spentToday = spentToday;
    this.limiter = settings.rpm ? new RateLimiter({ rpm: settings.rpm, burstSeconds: 60, startFull: true }) : undefined;
  }

  /** Whether one more audit call may be asked for now, with `queued` calls already waiting. */
  gate(queued: number, now = new Date()): Gate {
    const today = utcDay(now);
    if (today !== this.day) {
      this.day = today;
      this.spentToday = 0;
    }
    if (this.settings.maxCostPerDay !== undefined && this.spentToday + this.meanCost * (queued + 1) > this.settings.maxCostPerDay) return "over_budget";
    if (this.limiter && !this.limiter.ready()) return "over_rate";
    return "open";
  }

  /** An audit call is queued (takes a rate slot). */
  take(): void {
    this.limiter?.take();
  }

  /** An audit call's cost, once answered. */
  spent(costUsd: number): void {
    this.spentToday += costUsd;
    this.paid++;
    this.meanCost += (costUsd - this.meanCost) / this.paid;
  }

  get calls(): number {
    return this.paid;
  }

  get costToday(): number {
    return this.spentToday;
  }
}
