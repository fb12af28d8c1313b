/**
 * `tandem demo --loop`: the distill → serve → audit → export → distill loop, offline, on the bundled
 * sample, with a stand-in teacher (src/distill/stand-in.ts: the sample's gold labels with a seeded 15% of
 * them changed, standing in for an LLM's mistakes) behind the OpenAI-compatible protocol. Every step is
 * the library call the CLI's command makes; nothing here is a shortcut the real loop does not take.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadOptional } from "../core/optional.js";
import { openStore } from "../core/store.js";
import { loadDataset } from "../data/dataset.js";
import { writeTable } from "../data/writers.js";
import { distill, type DistillResult } from "../distill/distill.js";
import { startStandInTeacher } from "../distill/stand-in.js";
import type { LlmConfig } from "../strategies/config.js";
import { loadStrategyFile } from "../strategies/factory.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "..", "..", "..");
export const LOOP_SAMPLE = join(ROOT, "data", "samples", "merged-test-2000.csv");
const LABELS = ["negative", "neutral", "positive"];

export interface LoopDemoResult {
  out: string;
  /** What the stand-in is (said wherever its answers are shown). */
  teacher: string;
  first: DistillResult;
  served: {
    texts: number;
    llmShare: number;
    audit: { quantity: string; audited: number; agreement: number | null; lowerBound: number; upperBound: number; degraded: boolean; sampleRows: number; rowsToRecertify: number | null };
  };
  collected: { file: string; rows: number; sample: number };
  second: DistillResult;
  seconds: number;
}

export type LoopDemoStep = "distill" | "serve" | "export" | "distill again";

/** The stand-in's answer for a text: its gold label, or (for a seeded 15% of texts) the next label. */
function standInLabel(text: string, gold: string): string {
  const unit = createHash("sha256").update(text).digest().readUInt32BE(0) / 4294967296;
  return unit < 0.15 ? LABELS[(LABELS.indexOf(gold) + 1) % LABELS.length]! : gold;
}

export async function loopDemo(options: { out: string; onStep?: (step: LoopDemoStep, detail: string) => void }): Promise<LoopDemoResult> {
  const started = performance.now();
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const say = options.onStep ?? (() => {});
  const { startServer } = await loadOptional("server", () => import("../server/app.js"));
  const { exportLabels, EXPORT_COLUMNS, LabelStore } = await import("../server/label-store.js");
  const sample = await loadDataset(LOOP_SAMPLE);
  const examples = sample.examples.filter((e) => e.label);
  // Texts the loop distills on, and the later traffic the served cascade answers (every third text).
  const input = examples.filter((_, i) => i % 3 !== 0);
  const traffic = examples.filter((_, i) => i % 3 === 0);
  const teacher = await startStandInTeacher(new Map(examples.map((e) => [e.text, standInLabel(e.text, e.label!)])));
  const description = "a stand-in teacher, not an LLM: the sample's gold labels with a seeded 15% changed, served on the OpenAI-compatible protocol";
  const teacherConfig: LlmConfig = { type: "llm", model: `compat:${teacher.url}#stand-in`, program: "zero-shot", price: { input: 0.15, output: 0.6 } };
  const db = join(out, "loop.db");
  const encodingsDir = join(out, "encodings");
  try {
    say("distill", `${input.length} texts, asking ${description}`);
    // Head students keep the demo to a minute; distill's default fine-tunes the encoder where PyTorch is installed.
    const first = await distill({ texts: input.map((e) => e.text), labels: LABELS, out: join(out, "student"), teacher: teacherConfig, rounds: 2, perRound: 300, targetAgreement: 0.9, student: "head", store: db, encodingsDir, audit: { share: 0.5, maxCostPerDay: 2, rpm: 600 }, inputFile: LOOP_SAMPLE, name: "loop-demo-distill" });

    say("serve", `${first.config}: ${traffic.length} texts of traffic, one request of 20 at a time`);
    const serveDb = join(out, "serve.db");
    const server = await startServer({ strategies: loadStrategyFile(first.config), port: 0, store: serveDb, logger: false });
    let served: LoopDemoResult["served"];
    try {
      await server.ready;
      for (let i = 0; i < traffic.length; i += 20) {
        const response = await fetch(`${server.url}/v1/classify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: traffic.slice(i, i + 20).map((e) => e.text) }) });
        if (!response.ok) throw new Error(`the served cascade answered HTTP ${response.status}: ${await response.text()}`);
      }
      // The audit's own calls run in the background: wait until they landed.
      type Info = { traffic: { texts: number; llm_share: number }; audit: { quantity: string; audited: number; agreement: number | null; lower_bound: number; upper_bound: number; degraded: boolean; queued: number; sample: { rows: number; rows_to_recertify: number | null } } };
      let info: Info | undefined;
      for (let i = 0; i < 400; i++) {
        const listed = (await (await fetch(`${server.url}/v1/strategies`)).json()) as { strategies: Array<Info & { name: string }> };
        info = listed.strategies.find((s) => s.name === "cascade");
        if (info && info.audit.queued === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const audit = info!.audit;
      served = {
        texts: info!.traffic.texts,
        llmShare: info!.traffic.llm_share,
        audit: { quantity: audit.quantity, audited: audit.audited, agreement: audit.agreement, lowerBound: audit.lower_bound, upperBound: audit.upper_bound, degraded: audit.degraded, sampleRows: audit.sample.rows, rowsToRecertify: audit.sample.rows_to_recertify },
      };
    } finally {
      await server.close();
    }

    say("export", `what the server collected → ${join(out, "collected.csv")}`);
    const exported = exportLabels(new LabelStore(openStore(serveDb)), {});
    const collectedFile = join(out, "collected.csv");
    writeTable(collectedFile, [...EXPORT_COLUMNS], exported.rows);

    say("distill again", "from the collected labels (calibrating on the uniform audit sample only)");
    const second = await distill({
      texts: [...new Set(exported.rows.map((r) => String(r.text)))],
      labels: LABELS,
      out: join(out, "student-2"),
      teacherLabels: exported.rows.map((r, i) => ({ text: String(r.text), label: String(r.label), costUsd: Number(r.cost_usd), sample: r.sample === 1, file: collectedFile, line: i + 2 })),
      cascadeLlm: teacherConfig,
      targetAgreement: 0.9,
      student: "head",
      store: db,
      encodingsDir,
      inputFile: collectedFile,
      name: "loop-demo-distill-again",
    });
    return {
      out,
      teacher: description,
      first,
      served,
      collected: { file: collectedFile, rows: exported.rows.length, sample: exported.rows.filter((r) => r.sample === 1).length },
      second,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await teacher.close();
  }
}
