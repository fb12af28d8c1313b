/**
 * A certified cascade as a strategy file writes it: the certificate's record, and the audit it is served
 * with by default (with the comment that says what the audit watches, costs and collects). Pure.
 */
import type { CascadeCertificateRecord, CascadeConfig, MemberRef } from "./config.js";
import { rowsToCertify, type CascadeCertificate } from "./certify.js";

/** The certificate as a cascade strategy file records it (`certificate:`); `createdAt` is the caller's clock. */
export function certificateRecord(certificate: CascadeCertificate, createdAt?: string): CascadeCertificateRecord {
  const heldOut = certificate.heldOut;
  return {
    metric: certificate.target.metric,
    on: certificate.target.on,
    target: certificate.target.level,
    confidence: certificate.confidence,
    lowerBound: certificate.lowerBound,
    certified: certificate.certified,
    calibrationRows: certificate.calibrationRows,
    calibrationHash: certificate.calibrationHash,
    method: certificate.method,
    heldOut: heldOut
      ? { rows: heldOut.rows, agreement: heldOut.agreement, accuracy: heldOut.accuracy, macro_f1: heldOut.macroF1, llm_share: heldOut.llmShare, cost_per_thousand: heldOut.costPerThousand }
      : undefined,
    createdAt,
  };
}

/** What a certified cascade is written with: its audit. */
export type AuditConfig = NonNullable<CascadeConfig["audit"]>;

/**
 * The audit a written cascade gets by default. 20% of the answers, drawn uniformly: at 10,000 texts a day
 * that is 2,000 uniform rows a day, what re-certifying a τ needs when the cascade agrees 96–97% with a 95%
 * target (361 rows at 97%, 1,348 at 96%); a drawn answer the LLM gave costs nothing, so the extra LLM calls
 * are 20% of the encoder's share. Capped at $2 a day and 60 calls a minute.
 */
export const DEFAULT_AUDIT: AuditConfig = { share: 0.2, maxCostPerDay: 2, rpm: 60 };

/** The comment written above a cascade's `audit:` section: what it watches, what it costs, what it collects. */
export function auditComment(certificate: CascadeCertificate, audit: AuditConfig, llmCostPerText?: number | null): string[] {
  const figures = certificate.heldOut ?? certificate.calibration;
  const keptShare = 1 - figures.llmShare;
  const extra = audit.share * keptShare;
  const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
  const lines = [
    `audit: ${pct(audit.share, 0)} of the answers, drawn uniformly, are checked against the LLM in the background, so that the`,
    `certificate (${certificate.target.metric} ${certificate.target.on === "encoder" ? "of the kept answers" : "of the cascade"} >= ${pct(certificate.target.level, 0)}) is watched on live traffic: an anytime-valid bound, and a drift`,
    `alarm when it stops holding. A drawn answer the LLM gave costs nothing; a drawn answer the encoder kept is asked`,
    `again: ${pct(audit.share, 0)} x ${pct(keptShare)} kept = ${pct(extra)} more LLM calls${llmCostPerText ? ` (about $${(extra * llmCostPerText * 1000).toFixed(4)} per 1,000 texts)` : ""}, at most $${audit.maxCostPerDay ?? "∞"} a day and ${audit.rpm ?? "∞"} a minute.`,
  ];
  const rate = certificate.calibration.agreement;
  const needed = certificate.target.metric === "agreement" ? rowsToCertify(rate, certificate.target.level, certificate.confidence) : null;
  lines.push(`The sample is what the next distill calibrates on (tandem serve export-labels)${needed ? `: re-certifying this τ at its calibration agreement (${pct(rate)}) needs about ${needed} rows, ${Math.ceil(needed / audit.share)} texts of traffic at this share` : ""}.`);
  return lines;
}

/** A cascade strategy at the certified τ, carrying its certificate, audited by default (`audit: false` for none). */
export function certifiedCascadeConfig(encoder: MemberRef, llm: MemberRef, certificate: CascadeCertificate, options: { name?: string; createdAt?: string; audit?: AuditConfig | false } = {}): CascadeConfig {
  const audit = options.audit === false ? undefined : (options.audit ?? DEFAULT_AUDIT);
  return { type: "cascade", name: options.name ?? "cascade", encoder, llm, tau: certificate.tau, certificate: certificateRecord(certificate, options.createdAt), ...(audit ? { audit } : {}) };
}
