/** The shapes `tandem distill` takes and gives (src/distill/distill.ts runs it, in four units). */
import type { Store } from "../core/store.js";
import type { AuditConfig } from "../strategies/certified-config.js";
import type { CertifyResult } from "../strategies/certify.js";
import type { LlmConfig } from "../strategies/config.js";

/** A label the teacher already gave (from logs, or `tandem serve export-labels`). */
export interface TeacherLabel {
  text: string;
  label: string;
  /** What the answer cost when it was paid (counts as spent before this run, not against --budget). */
  costUsd?: number;
  /**
   * In a uniform random sample of the traffic (`tandem serve export-labels`' sample column: the audit
   * sample). When any label says, only those with true may go to calibration — the others (the texts a
   * cascade routed, chosen by the encoder's doubt) are a biased sample and only train.
   */
  sample?: boolean;
  /** Where it came from, for error messages. */
  file?: string;
  line?: number;
}

export interface DistillEvaluation {
  file: string;
  texts: string[];
  gold: string[];
  /** The teacher's answers on these texts when known (else the live teacher is asked, within the budget). */
  teacher?: string[];
}

/** What distill is doing: for progress with an ETA. */
export type DistillPhase = "embedding" | "labelling" | "training" | "certifying" | "writing";

export type DistillEvent =
  | { kind: "phase"; phase: DistillPhase; detail: string }
  | { kind: "encode"; done: number; total: number }
  | { kind: "encoded"; rows: number; cached: boolean; seconds: number }
  | { kind: "round-start"; round: number; rounds: number; calibration: number; training: number; chosen: "stratified" | "least-sure" }
  | { kind: "teacher"; round: number; done: number; total: number }
  | { kind: "round"; record: RoundRecord }
  /** Fine-tuning steps: `done` of `total` optimizer steps (all epochs), from the PyTorch engine. */
  | { kind: "train"; done: number; total: number; epoch: number; loss?: number }
  | { kind: "note"; message: string };

/**
 * The student heads. Softmax regression on the pooled vectors is the default of a head student: with a
 * few hundred noisy teacher labels it agreed more with the teacher than the research MLP did.
 */
export type StudentHead = "softmax" | "mlp";

/**
 * "random": a length-stratified random sample, as round 1; "margin": the texts the current student is least
 * sure of. On GPT-4o-mini's real answers margin-chosen rounds taught about a point more agreement but left the
 * LLM 1–5 points more texts at the certificate (docs/distill.md).
 */
export type RoundSelection = "random" | "margin";

export interface DistillOptions {
  /** The unlabeled texts (the traffic the student will serve). */
  texts: readonly string[];
  /** The student's classes, in output order. */
  labels: readonly string[];
  out: string;
  /** An LLM strategy (the config schema); its named members, when it came from a file, ride along. */
  teacher?: LlmConfig;
  /**
   * The LLM the written cascade sends the texts the student is unsure of (default: the teacher). Needed when
   * the labels come from a file only: without it, and without a teacher, distill refuses (a student alone
   * carries no certificate).
   */
  cascadeLlm?: LlmConfig;
  /** The audit the written cascade is served with (default DEFAULT_AUDIT; false: none). */
  audit?: AuditConfig | false;
  teacherLabels?: readonly TeacherLabel[];
  /** Dollars the teacher may cost in all (answers already cached count at their price). */
  budgetUsd?: number;
  /** Rounds with the live teacher (default 3). */
  rounds?: number;
  /** Texts the teacher labels per round (default 500). */
  perRound?: number;
  /** How rounds after the first choose the texts to train on (default "random"). */
  selection?: RoundSelection;
  /** Share of each round (and of logged labels) that goes to the calibration sample (default 0.3). */
  calibrationShare?: number;
  /**
   * head: a head on the backbone's embeddings (seconds); full: the backbone fine-tuned on the PyTorch
   * engine (minutes). Default: full where the engine is installed and there are enough training labels
   * (FULL_STUDENT_MIN_LABELS), else head.
   */
  student?: "head" | "full";
  /** The head of a head student (and of the rounds' students): softmax regression (default) or a one-layer MLP. */
  head?: StudentHead;
  /** A model folder or a hub id; default: starter for sentiment labels, the general MiniLM otherwise. */
  backbone?: string;
  /** Agreement with the teacher the cascade is certified for (default 0.95), at `confidence` (default 0.95). */
  targetAgreement?: number;
  confidence?: number;
  /** The τ grid of the certificate: quantiles of the student's scores on texts outside calibration (default), or steps of 0.01. */
  grid?: "quantiles" | "steps";
  seed?: number;
  /** State database: LLM cache and run store (default .tandem/tandem.db or TANDEM_DB). */
  store?: Store | string;
  pricing?: string;
  /** Cached embeddings (default .tandem/encodings); trainable checkpoints derived from ONNX-only backbones go beside them. */
  encodingsDir?: string;
  maxLength?: number;
  /** Engine settings of a full student (epochs, lr, …). */
  engine?: Record<string, unknown>;
  evaluation?: DistillEvaluation;
  /** Names for the record: the input file and the run's name. */
  inputFile?: string;
  name?: string;
  onEvent?: (event: DistillEvent) => void;
  /** Stops asking the teacher: answers in flight are cached, the run ends as at the budget. */
  stop?: AbortSignal;
}

export interface RoundRecord {
  /** 0: the logged labels. */
  round: number;
  asked: number;
  answered: number;
  /** Teacher answers without a label (unparseable), and calls that failed. */
  unparseable: number;
  failed: number;
  /** Dollars paid in this run for this round, and the price of its answers that came from the cache. */
  paidUsd: number;
  cachedUsd: number;
  trainingLabels: number;
  calibrationLabels: number;
  /** The round's student against the teacher on the calibration labels so far, and on the final calibration sample. */
  agreement: number | null;
  finalAgreement?: number | null;
  seconds: number;
}

export interface SideFigures {
  accuracy: number;
  macroF1: number;
}

export interface DistillEvaluationResult {
  file: string;
  rows: number;
  teacher: SideFigures | null;
  student: SideFigures;
  cascade: SideFigures | null;
  cascadeTeacherShare: number;
  /** Paired tests against the teacher (McNemar exact, paired bootstrap of macro F1). */
  studentVsTeacher: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number } | null;
  cascadeVsTeacher: { difference: number; ci: [number, number]; pBootstrap: number; pMcnemar: number } | null;
}

export interface DistillResult {
  out: string;
  model: string;
  config: string;
  report: string;
  labelsFile: string;
  suspectsFile: string;
  rounds: RoundRecord[];
  certification: CertifyResult;
  /** Share of the input texts the teacher answers at the certified τ (no labels needed to know it). */
  teacherShare: number;
  costs: {
    /** Dollars of every teacher answer used (cached answers at their price, logged ones as recorded). */
    labelsUsd: number;
    paidThisRunUsd: number;
    loggedUsd: number;
    /** The teacher's mean price per text: from priced answers, else the cascade LLM's list price (null when neither is known). */
    perTextUsd: number | null;
    /** Where perTextUsd comes from. */
    priceBasis: string | null;
    teacherPer1000: number | null;
    cascadePer1000: number | null;
    savedPer1000: number | null;
  };
  stopped?: "budget" | "interrupted";
  failed: number;
  perLabel: Array<{ label: string; rows: number; agreement: number; studentAgreement: number }>;
  suspects: number;
  student: { kind: "head" | "full"; backbone: string; quantization: string; trainingLabels: number; calibrationLabels: number; grid: "quantiles" | "steps"; gridSize: number; studentAgreement: number | null };
  evaluation?: DistillEvaluationResult;
  runId: string;
  /** Seconds in each phase, and in all. */
  phases: Partial<Record<DistillPhase, number>>;
  seconds: number;
}

export type Part = "training" | "calibration";

/** A pool text's teacher label and where it went. */
export interface Labelled {
  label: string;
  part: Part;
  round: number;
  costUsd: number;
  source: "log" | "teacher";
  paid: boolean;
}
