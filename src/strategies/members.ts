/**
 * Members of composite strategies: shorthands, references by name, and the checks a set of named
 * strategies must pass before anything runs (every reference defined, members of the right kind, no
 * cycles). Pure.
 */
import { PROVIDER_NAMES } from "../llm/providers/registry.js";
import { PROGRAMS } from "../llm/prompts/programs.js";
import type { MemberRef, StrategyConfig } from "./config.js";
import { givesProbabilities, memberRefs } from "./registry.js";

/** `lexicon`, `provider:model` (an llm) or a model folder / hub id / `starter` (an encoder). */
export function shorthandConfig(ref: string): StrategyConfig {
  if (ref === "lexicon") return { type: "lexicon" };
  const colon = ref.indexOf(":");
  if (colon > 0 && (PROVIDER_NAMES as readonly string[]).includes(ref.slice(0, colon))) return { type: "llm", model: ref, program: "zero-shot" };
  return { type: "encoder", model: ref };
}

/** The config a member stands for: inline, a named strategy of the set, or (without a set) a shorthand. */
export function memberConfig(ref: MemberRef, named?: ReadonlyMap<string, StrategyConfig>): StrategyConfig | undefined {
  if (typeof ref !== "string") return ref;
  if (named) return named.get(ref);
  return shorthandConfig(ref);
}

export { givesProbabilities };

/** Whether an LLM answers somewhere in this strategy (what a cascade's expensive side must be). */
export function involvesLlm(config: StrategyConfig, named?: ReadonlyMap<string, StrategyConfig>, seen = new Set<StrategyConfig>()): boolean {
  if (config.type === "llm") return true;
  if (seen.has(config)) return false;
  seen.add(config);
  return memberRefs(config).some(({ ref }) => {
    const target = memberConfig(ref, named);
    return target !== undefined && involvesLlm(target, named, seen);
  });
}

export interface SetIssue {
  /** Path from the list of strategies: [index, field, ...]. */
  path: Array<string | number>;
  message: string;
}

/** Checks one strategy's members (recursively for inline members). */
function checkMembers(config: StrategyConfig, path: Array<string | number>, named: ReadonlyMap<string, StrategyConfig> | undefined, issues: SetIssue[]): void {
  for (const { field, ref } of memberRefs(config)) {
    const at = [...path, ...field];
    const target = memberConfig(ref, named);
    if (!target) {
      issues.push({ path: at, message: `"${String(ref)}" is not a strategy defined in this file (strategies: ${[...(named?.keys() ?? [])].join(", ")})` });
      continue;
    }
    const label = typeof ref === "string" ? `"${ref}" (${target.type})` : `an inline ${target.type}`;
    if (config.type === "cascade" && field[0] === "encoder" && !givesProbabilities(target)) {
      issues.push({ path: at, message: `a cascade's encoder must give class probabilities (an encoder, an average ensemble or a cascade); ${label} does not` });
    }
    if (config.type === "cascade" && field[0] === "llm" && !involvesLlm(target, named)) {
      issues.push({ path: at, message: `a cascade's llm must be an llm strategy (or a composite with one); ${label} is not` });
    }
    if (config.type === "llm" && field[0] === "hints" && PROGRAMS[config.program].usesEncoderProbs && !givesProbabilities(target) && target.type !== "lexicon") {
      issues.push({ path: at, message: `program "${config.program}" shows the hint's probabilities; ${label} does not give them` });
    }
    if (typeof ref !== "string") checkMembers(target, at, named, issues);
  }
}

/** A cascade's audit needs a target: its own, or the certificate's agreement target. */
function checkAudit(config: StrategyConfig, path: Array<string | number>, issues: SetIssue[]): void {
  if (config.type !== "cascade") return;
  if (config.onDegraded === "llm" && !config.audit) issues.push({ path: [...path, "onDegraded"], message: "on_degraded needs an audit: (audit: { share: 0.02 }) to know when the cascade is degraded" });
  if (config.audit && config.audit.target === undefined && config.certificate?.metric !== "agreement") {
    issues.push({ path: [...path, "audit"], message: "audit needs a target: audit.target, or a certificate of agreement (tandem tune cascade --write-config, tandem distill)" });
  }
}

/** Checks the members of one strategy written on its own (string members are shorthands). */
export function checkStrategy(config: StrategyConfig): SetIssue[] {
  const issues: SetIssue[] = [];
  checkMembers(config, [], undefined, issues);
  checkAudit(config, [], issues);
  return issues;
}

/**
 * Checks a list of named strategies: unique names, defined references of the right kind, no cycles.
 * Returns the issues in list order (empty when the set is sound).
 */
export function checkStrategySet(configs: readonly StrategyConfig[]): SetIssue[] {
  const issues: SetIssue[] = [];
  const named = new Map<string, StrategyConfig>();
  configs.forEach((config, i) => {
    if (config.name === undefined) issues.push({ path: [i, "name"], message: '"name" is required' });
    else if (named.has(config.name)) issues.push({ path: [i, "name"], message: `strategy name "${config.name}" is used twice` });
    else named.set(config.name, config);
  });
  configs.forEach((config, i) => {
    checkMembers(config, [i], named, issues);
    checkAudit(config, [i], issues);
  });
  if (issues.length > 0) return issues;
  // Cycles through references by name.
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, trail: string[]): string[] | undefined => {
    if (state.get(name) === "done") return undefined;
    if (state.get(name) === "visiting") return [...trail.slice(trail.indexOf(name)), name];
    state.set(name, "visiting");
    for (const dependency of namedDependencies(named.get(name)!)) {
      const cycle = visit(dependency, [...trail, name]);
      if (cycle) return cycle;
    }
    state.set(name, "done");
    return undefined;
  };
  for (const [i, config] of configs.entries()) {
    const cycle = visit(config.name!, []);
    if (cycle) {
      const first = configs.findIndex((c) => c.name === cycle[0]);
      const field = memberRefs(configs[first]!).find(({ ref }) => ref === cycle[1])?.field ?? [];
      issues.push({ path: [first >= 0 ? first : i, ...field], message: `strategies form a cycle: ${cycle.join(" → ")}` });
      break;
    }
  }
  return issues;
}

/** Names a strategy depends on, inline members included. */
export function namedDependencies(config: StrategyConfig): string[] {
  return memberRefs(config).flatMap(({ ref }) => (typeof ref === "string" ? [ref] : namedDependencies(ref)));
}

/** Names in an order where every strategy comes after the ones it is built on (list order otherwise). */
export function executionOrder(configs: readonly StrategyConfig[]): StrategyConfig[] {
  const byName = new Map(configs.map((c) => [c.name!, c]));
  const ordered: StrategyConfig[] = [];
  const placed = new Set<string>();
  const place = (config: StrategyConfig) => {
    if (placed.has(config.name!)) return;
    placed.add(config.name!);
    for (const dependency of namedDependencies(config)) place(byName.get(dependency)!);
    ordered.push(config);
  };
  configs.forEach(place);
  return ordered;
}
