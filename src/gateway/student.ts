/**
 * The student a gateway task shadows or serves: loaded as `tandem serve` loads encoders
 * (SERVED_ENCODER_DEFAULTS), answering in the task's label order, and, when replaced (a new student, an
 * alarm), closed only after its last prediction in flight.
 */
import { join } from "node:path";
import { batchingStrategy, SERVED_ENCODER_DEFAULTS, type BatchingStrategy } from "../server/batcher.js";
import { createStrategy } from "../strategies/factory.js";
import type { StudentRecord } from "./store.js";

export interface StudentPrediction {
  label: string;
  confidence: number;
  /** In the task's label order. */
  probabilities: number[];
}

interface LoadedStudent {
  strategy: BatchingStrategy;
  record: StudentRecord;
  /** Predictions in flight. */
  inUse: number;
  retired: boolean;
}

async function retire(student: LoadedStudent | undefined): Promise<void> {
  if (!student) return;
  student.retired = true;
  if (student.inUse === 0) await student.strategy.close();
}

export class StudentSlot {
  private current?: LoadedStudent;

  constructor(
    private readonly taskName: string,
    private readonly labels: readonly string[],
  ) {}

  /** The loaded student's record (undefined: none loaded). */
  get record(): StudentRecord | undefined {
    return this.current?.record;
  }

  /** Loads a student in place of the current one (which is retired). Throws when it does not load; the current one then stays. */
  async load(record: StudentRecord): Promise<void> {
    const inner = await createStrategy({ type: "encoder", name: `${this.taskName}-student`, model: join(record.dir, "model"), ...SERVED_ENCODER_DEFAULTS });
    const previous = this.current;
    this.current = { strategy: batchingStrategy(inner, { maxBatch: 64, maxWaitMs: 0 }), record, inUse: 0, retired: false };
    await retire(previous);
  }

  /** The student's answer (undefined without a student or an answer). */
  async predict(text: string): Promise<StudentPrediction | undefined> {
    const student = this.current;
    if (!student) return undefined;
    student.inUse++;
    let prediction;
    try {
      [prediction] = await student.strategy.classify([text]);
    } finally {
      student.inUse--;
      if (student.retired && student.inUse === 0) await student.strategy.close();
    }
    if (!prediction || prediction.status !== "ok" || !prediction.probabilities) return undefined;
    const order = student.strategy.labels;
    const probabilities = this.labels.map((label) => prediction.probabilities![order.indexOf(label)] ?? 0);
    return { label: prediction.label, confidence: Math.max(...prediction.probabilities), probabilities };
  }

  /** No student any more (the current one is retired). */
  async clear(): Promise<void> {
    const previous = this.current;
    this.current = undefined;
    await retire(previous);
  }
}
