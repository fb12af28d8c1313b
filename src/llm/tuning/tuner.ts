/**
 * The fine-tuning vendor interface: what every vendor's API is reduced to, so that a sweep, `follow`,
 * cost and scoring are written once. One file per vendor under ./vendors implements it through the
 * vendor's official SDK; the provider registry says which vendor a model string names.
 */
import { errorMessage, redact } from "../../core/redact.js";

/** One vocabulary for every vendor (OpenAI's). */
export type TunerStatus = "validating_files" | "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface TunerHyperparameters {
  n_epochs?: number | "auto";
  batch_size?: number | "auto";
  /** OpenAI's multiplier; vendors with an absolute learning rate scale their documented default by it. */
  learning_rate_multiplier?: number | "auto";
}

export interface TunerJob {
  id: string;
  status: TunerStatus;
  fineTunedModel: string | null;
  trainedTokens: number | null;
  error: string | null;
  /** The hyper-parameters as sent to the vendor (its own names). */
  sent: Record<string, unknown>;
}

export interface TunerEvent {
  /** Stable across calls, so a resumed `follow` stores each event once. */
  id: string;
  createdAt: number;
  level?: string;
  message: string;
  step?: number;
  totalSteps?: number;
  trainLoss?: number;
  validLoss?: number;
}

export interface CreateRequest {
  baseModel: string;
  trainingFile: string;
  validationFile?: string;
  hyperparameters: TunerHyperparameters;
  seed?: number;
  suffix?: string;
}

export interface FineTuner {
  /** The provider name of the model strings it serves (openai, compat, mistral, together). */
  readonly vendor: string;
  /** Uploads a JSONL file for fine-tuning; returns the vendor's file id. */
  upload(path: string): Promise<string>;
  create(request: CreateRequest): Promise<TunerJob>;
  retrieve(id: string): Promise<TunerJob>;
  /** The job's events oldest first; `lastSeen` (an event id already stored) lets a vendor stop paging early. */
  events(id: string, lastSeen?: string | null): Promise<TunerEvent[]>;
  cancel(id: string): Promise<TunerJob>;
}

/** A vendor SDK's error as one line: the HTTP status where there is one, the message, secrets redacted. */
export function providerMessage(error: unknown): string {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  const message = errorMessage(error);
  return redact(typeof status === "number" && !message.startsWith(String(status)) ? `${status} ${message}` : message);
}
