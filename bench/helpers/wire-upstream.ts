// The gateway benchmark's upstream, in a process of its own: the test fixture speaking both wires,
// answering a classification prompt as GPT-4o-mini answered it (the real zero-shot answers in
// ../shared/data/llm-answers, for development only), so the student learns a real LLM's labels.
// Prints "listening on URL" when ready.
import { join } from "node:path";
import { cellText, readTable } from "../../src/data/readers.js";
import { startWireUpstream } from "../../test/fixtures/wire-upstream.js";

const rows = (await readTable(join(import.meta.dirname, "../../../shared/data/llm-answers/gpt-4o-mini-zero-shot.csv"))).records;
const answers = new Map(rows.map((r) => [cellText(r.values.text), cellText(r.values.llm_label)]));
const upstream = await startWireUpstream((text) => answers.get(text.replace(/^Review: /, "")));
process.stdout.write(`listening on ${upstream.url}\n`);
process.on("SIGTERM", () => void upstream.close().then(() => process.exit(0)));
