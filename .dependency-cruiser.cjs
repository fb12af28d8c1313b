// The layering of src/ (docs/architecture.md, "Layers"): a folder imports only from folders below it.
// `npm run lint` runs this check; an upward import or a cycle fails it.
//
//   cli                         — the command line: parses, calls the library, formats
//   demo                        — the offline loop demo (distill, serve and the audit together)
//   gateway                     — the LLM gateway (routes, tasks' lifecycles)
//   server                      — the HTTP service
//   distill                     — distillation, the offline loop demo
//   experiments, jobs, finetune — runs, reports, job queues, provider fine-tuning
//   strategies                  — the classifier core: one Strategy interface, the factory
//   training                    — head and full training engines
//   encoders, llm               — ONNX encoders; the LLM engine and providers (siblings)
//   data                        — readers, writers, splits
//   metrics, stats              — pure computation
//   core, types                 — errors, config files, the state store, redaction
const layers = [
  ["core", "types"],
  ["metrics"],
  ["stats"],
  ["data"],
  ["encoders", "llm"],
  ["training"],
  ["strategies"],
  ["experiments", "jobs", "finetune"],
  ["distill"],
  ["server"],
  ["gateway"],
  ["demo"],
  ["cli"],
];

const above = (index) => layers.slice(index + 1).flat();
const forbidden = layers.flatMap((folders, index) =>
  above(index).length === 0
    ? []
    : folders.map((folder) => ({
        name: `${folder}-imports-upward`,
        comment: `src/${folder} is below ${above(index).join(", ")}: it may not import from them`,
        severity: "error",
        from: { path: `^src/${folder}/` },
        to: { path: `^src/(${above(index).join("|")})/` },
      })),
);
// Siblings in a layer stay independent of each other.
for (const folders of layers) {
  for (const folder of folders) {
    const siblings = folders.filter((f) => f !== folder);
    if (siblings.length === 0) continue;
    forbidden.push({ name: `${folder}-imports-sibling`, comment: `src/${folder} and ${siblings.join(", ")} are siblings`, severity: "error", from: { path: `^src/${folder}/` }, to: { path: `^src/(${siblings.join("|")})/` } });
  }
}
// Cycles through type-only imports cost nothing at run time (a module and the types of its parts).
forbidden.push({ name: "no-cycles", comment: "a cycle between modules", severity: "error", from: { path: "^src/" }, to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } } });

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js"] },
  },
};
