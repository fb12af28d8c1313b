/** `tandem gateway`: the OpenAI- and Anthropic-compatible endpoint that learns a team's classification prompts; tasks, status, promote, demote. */
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { writeFileAtomic } from "../core/files.js";
import { loadOptional } from "../core/optional.js";
import { defaultStorePath, openStore } from "../core/store.js";
import { loadGatewayFile, parseGatewayFile, withTask } from "../gateway/config.js";
import { changeStage } from "../gateway/runtime.js";
import { GatewayStore } from "../gateway/store.js";
import { proposeTasks } from "../gateway/templates.js";
import { loadApiKeys } from "../server/auth.js";
import { snakeCaseKeys } from "../strategies/config.js";
import { parseFormat, parseInteger, printJson } from "./options.js";

interface GatewayCliOptions {
  upstream?: string[];
  config?: string;
  host: string;
  port: number;
  db?: string;
  dir?: string;
  apiKeysFile?: string;
  pricing?: string;
  logLevel: string;
  seed?: number;
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The state database of a subcommand: its own --db, the parent's, or the default; it must exist. */
function existingStore(command: Command, own?: string): GatewayStore {
  const file = own ?? (command.parent?.opts() as { db?: string } | undefined)?.db ?? defaultStorePath();
  if (!existsSync(file)) throw new UserError("no state database here: give the gateway's --db (it keeps .tandem/tandem.db unless told)", { file });
  return new GatewayStore(openStore(file));
}

export function registerGateway(program: Command): void {
  const gateway = program
    .command("gateway")
    .description("An OpenAI- and Anthropic-compatible endpoint in front of your LLM: change the SDK's base URL, and for each declared classification prompt (a task) it records the LLM's answers, distills a student in the background, serves the certified cascade once promoted (the student answers the texts it keeps; the rest are forwarded), and watches it. Any other request passes through untouched.")
    .option("--upstream <spec>", "the LLM behind it: openai:MODEL, compat:URL#MODEL or anthropic:MODEL (repeat for one of each wire; default: the config's upstream)", collect)
    .option("--config <file>", "gateway file (YAML or JSON): upstream, tasks (prompt template with a {text} slot, labels, how the upstream writes them) and their lifecycle settings")
    .option("--host <host>", "address to listen on (gateway keys are required when it is not loopback)", "127.0.0.1")
    .option("--port <port>", "port (0: any free one)", parseInteger("--port", 0), Number(process.env.TANDEM_GATEWAY_PORT ?? 8088))
    .option("--db <file>", "state database: recorded labels, task stages, kept prompts (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--dir <dir>", "where students are distilled (default: gateway/ beside the state database)")
    .option("--api-keys-file <file>", "gateway keys, one per line (also TANDEM_API_KEYS): clients must send one (Authorization: Bearer or x-api-key) and upstream calls carry the gateway's own provider key; without keys, the client's key is forwarded")
    .option("--pricing <file>", "prices on top of the built-in table (the dollars recorded and saved)")
    .option("--log-level <level>", "JSON log level on stdout: info, warn, error, silent", parseFormat(["trace", "debug", "info", "warn", "error", "silent"] as const), "info")
    .option("--seed <n>", "seed of the audit draws", parseInteger("--seed"))
    .addHelpText("after", `
Example gateway.yaml:
  upstream: openai:gpt-4o-mini
  tasks:
    - name: sentiment
      messages:
        - { role: system, content: "Classify the sentiment of the review. Answer with one word: negative, neutral or positive." }
        - { role: user, content: "{text}" }
      labels: [negative, neutral, positive]
      distill_after: 500        # recorded labels before the first distill
      auto_promote: false       # or serve as soon as the certified local share >= min_share

Point the SDK at it (base URL http://127.0.0.1:8088/v1; Anthropic's SDK: http://127.0.0.1:8088).
Each task goes record → shadow (a student distilled in the background, answering nowhere) →
serve (after \`tandem gateway promote sentiment\`: the student answers the texts it keeps at the certified τ,
with header x-tandem-answered-by: student) → watched; a drift alarm sends it back to record.
\`tandem gateway tasks\` proposes templates found in the traffic that matched no task. The page at / shows it all.`)
    .action(async (options: GatewayCliOptions) => {
      const file = options.config ? loadGatewayFile(options.config) : undefined;
      const upstreams = options.upstream ?? (file?.upstream === undefined ? [] : [file.upstream].flat());
      if (upstreams.length === 0) throw new UserError("give the LLM behind the gateway: --upstream openai:MODEL (or compat:URL#MODEL, anthropic:MODEL), or upstream: in --config");
      const apiKeys = loadApiKeys(options.apiKeysFile);
      const loopback = ["127.0.0.1", "localhost", "::1"].includes(options.host);
      if (!loopback && apiKeys.length === 0) throw new UserError(`--host ${options.host} is reachable from other machines: give gateway keys (--api-keys-file or TANDEM_API_KEYS), or listen on 127.0.0.1`);
      openStore(options.db);
      const { startGateway } = await loadOptional("server", () => import("../gateway/app.js"));
      const server = await startGateway({
        upstreams, tasks: file?.tasks ?? [], keepUnmatched: file?.keepUnmatched, host: options.host, port: options.port, apiKeys, store: options.db, dir: options.dir,
        pricing: options.pricing, logger: options.logLevel === "silent" ? false : { level: options.logLevel }, seed: options.seed,
      });
      const tasks = server.tasks();
      process.stderr.write(`tandem gateway: listening on ${server.url} (OpenAI base URL ${server.url}/v1${upstreams.some((u) => u.startsWith("anthropic:")) ? `, Anthropic base URL ${server.url}` : ""}) in front of ${upstreams.join(", ")}; ${tasks.length ? `tasks: ${tasks.map((t) => `${t.name} (${t.stage})`).join(", ")}` : "no tasks declared: every request passes through (tandem gateway tasks proposes some from the traffic)"}; page ${server.url}/\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`tandem gateway: ${signal}: finishing the requests in flight…\n`);
          void server.close().then(() => {
            process.stderr.write("tandem gateway: stopped\n");
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });

  gateway
    .command("tasks")
    .description("Propose tasks from the recorded requests that matched none: requests identical but for one slot, with their count, label set (from the upstream's answers) and examples. --accept ID adds one to the gateway file.")
    .option("--db <file>", "the gateway's state database (default .tandem/tandem.db, or TANDEM_DB)")
    .option("--min-count <n>", "requests a template must match", parseInteger("--min-count", 2), 3)
    .option("--accept <id>", "add the proposal with this id to --config")
    .option("--name <name>", "the accepted task's name (default task-ID)")
    .option("--config <file>", "the gateway file --accept adds to (created when missing)")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((options: { db?: string; minCount: number; accept?: string; name?: string; config?: string; format: "text" | "json" }, command: Command) => {
      const store = existingStore(command, options.db);
      // `gateway`'s own --config takes the flag when it comes after the subcommand's name too.
      options.config ??= (command.parent?.opts() as { config?: string } | undefined)?.config;
      const proposals = proposeTasks(store.unmatched(), { minCount: options.minCount });
      if (options.accept) {
        const proposal = proposals.find((p) => p.id === options.accept);
        if (!proposal) throw new UserError(`--accept ${options.accept}: no such proposal (${proposals.length ? `ids: ${proposals.map((p) => p.id).join(", ")}` : "none found"})`);
        if (!options.config) throw new UserError("--accept needs --config FILE: the gateway file to add the task to");
        const existing = existsSync(options.config) ? readFileSync(options.config, "utf8") : undefined;
        const task = { ...proposal.task, name: options.name ?? proposal.task.name };
        const text = withTask(existing, task);
        parseGatewayFile(text, options.config);
        writeFileAtomic(options.config, text);
        process.stderr.write(`tandem gateway tasks: added task "${task.name}" (${proposal.count} recorded requests, labels ${task.labels.join(", ")}) to ${options.config}; check the labels, then restart the gateway with --config ${options.config}\n`);
        if (options.format === "json") printJson(snakeCaseKeys({ accepted: { ...proposal, task } }, []));
        return;
      }
      if (options.format === "json") {
        printJson({ proposals: proposals.map((p) => snakeCaseKeys(p, [])) });
        return;
      }
      if (proposals.length === 0) {
        process.stdout.write(`No templates yet: fewer than ${options.minCount} recorded requests share a prompt up to one slot (the gateway keeps the prompts of requests that match no task).\n`);
        return;
      }
      for (const p of proposals) {
        process.stdout.write(`\n${p.id}  ${p.count} requests  ${p.wire}  model ${p.model}\n`);
        for (const m of p.task.messages) process.stdout.write(`  ${m.role}: ${JSON.stringify(m.content)}\n`);
        process.stdout.write(`  labels: ${p.task.labels.join(", ")}${p.task.answer !== "word" && p.task.answer ? ` (JSON field "${p.task.answer.json}")` : ""}${p.note ? `  — ${p.note}` : ""}\n`);
        process.stdout.write(`  e.g. ${p.examples.map((e) => JSON.stringify(e.length > 60 ? e.slice(0, 57) + "…" : e)).join(", ")}\n`);
      }
      process.stdout.write(`\nAccept one: tandem gateway tasks --accept ID --name NAME --config gateway.yaml\n`);
    });

  gateway
    .command("status")
    .description("Each task's stage, labels, student and counters, from the state database (what GET /v1/gateway/tasks shows live).")
    .option("--db <file>", "the gateway's state database (default .tandem/tandem.db, or TANDEM_DB)")
    .option("-f, --format <format>", "text or json", parseFormat(["text", "json"] as const), "text")
    .action((options: { db?: string; format: "text" | "json" }, command: Command) => {
      const tasks = existingStore(command, options.db).tasks();
      if (options.format === "json") {
        printJson({ tasks: tasks.map((t) => snakeCaseKeys(t, [])) });
        return;
      }
      if (tasks.length === 0) process.stdout.write("No tasks yet: a task appears once a gateway with it declared has started.\n");
      for (const t of tasks) {
        const s = t.student;
        const c = t.counters;
        process.stdout.write(`${t.name}: ${t.stage} since ${t.since}; ${c.requests} requests, ${c.local} answered locally; student: ${s ? `${s.certified ? `certified at τ ${s.tau.toFixed(3)}, projected local share ${(s.localShare * 100).toFixed(1)}%` : "not certified"} (${s.labels} labels)` : "none"}; distill ${t.distill.state}${t.distill.error ? ` (${t.distill.error})` : ""}\n`);
      }
    });

  for (const [action, to, description] of [
    ["promote", "serve", "Serve a task's certified cascade: the student answers the texts it keeps at τ, the rest is forwarded; the audit watches the certified agreement."],
    ["demote", "shadow", "Forward every request of a task again (its student keeps answering in the background)."],
  ] as const) {
    gateway
      .command(`${action} <task>`)
      .description(description + " A running gateway picks the change up within a second.")
      .option("--db <file>", "the gateway's state database (default .tandem/tandem.db, or TANDEM_DB)")
      .action((name: string, options: { db?: string }, command: Command) => {
        const store = existingStore(command, options.db);
        let state;
        try {
          state = changeStage(store, name, to, `${action}d from the command line`);
        } catch (error) {
          throw new UserError((error as Error).message);
        }
        process.stderr.write(`tandem gateway ${action}: task ${name} is at ${state.stage}${state.student && to === "serve" ? ` (τ ${state.student.tau.toFixed(3)}, projected local share ${(state.student.localShare * 100).toFixed(1)}%)` : ""}\n`);
      });
  }
}
