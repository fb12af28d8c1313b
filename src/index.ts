/**
 * tandem as a library: every capability of the CLI as typed functions. The one-call entry is
 * `createClassifier`; strategies are built by `createStrategy` from the one config schema.
 */

// Classifying
export { createClassifier, type Classifier, type ClassificationResult } from "./classifier.js";
export { createStrategy, createStrategies, parseStrategyConfig, parseStrategyFile, loadStrategyFile, type StrategyContext, type StrategySet, type StrategyFile } from "./strategies/factory.js";
export {
  StrategyConfigSchema,
  LexiconConfigSchema,
  EncoderConfigSchema,
  LlmConfigSchema,
  CascadeConfigSchema,
  EnsembleConfigSchema,
  CascadeCertificateSchema,
  STRATEGY_TYPES,
  strategyFileText,
  type StrategyConfig,
  type StrategyConfigInput,
  type StrategyType,
  type LexiconConfig,
  type EncoderConfig,
  type LlmConfig,
  type CascadeConfig,
  type EnsembleConfig,
  type MemberRef,
  type CascadeCertificateRecord,
} from "./strategies/config.js";
export { checkStrategySet, shorthandConfig } from "./strategies/members.js";
export type { Strategy, Prediction, PredictionStatus, ClassifyOptions } from "./strategies/strategy.js";
export { cascadeCurve, chooseTau, cascadePredictions, combineCascade, routesToLlm, topProbability, DEFAULT_TAUS, type CascadePoint, type CascadeInput, type CascadeChoice } from "./strategies/cascade.js";
export {
  certifyCascade,
  splitForCalibration,
  selectRows,
  cascadeFigures,
  cascadeSuspects,
  targetCounts,
  calibrationHash,
  CERTIFY_TAUS,
  CERTIFY_METHOD,
  type CertifyOptions,
  type CertifyResult,
  type CertifyRows,
  type CertifyTarget,
  type CertifyMetric,
  type CertifyScope,
  type CascadeCertificate,
  type CascadeFigures,
  type CertificationTest,
  type CertifiedPoint,
  type CalibrationSplit,
  type Suspect,
} from "./strategies/certify.js";
export { certificateRecord, certifiedCascadeConfig, DEFAULT_AUDIT, type AuditConfig } from "./strategies/certified-config.js";
export { distill, summaryJson as distillSummary, type DistillOptions, type DistillResult, type DistillEvent, type DistillEvaluation, type DistillEvaluationResult, type RoundRecord, type RoundSelection, type TeacherLabel, type StudentHead } from "./distill/distill.js";
export { lengthStrata, calibrationOrder, stratifiedByLength, margins, leastSure } from "./distill/select.js";
export { ensemblePredictions } from "./strategies/ensemble.js";
export { lexiconPrediction, LEXICON_LABELS } from "./strategies/lexicon.js";
export { promptBuilder, type LlmStrategy, type LlmEstimate, type PromptBuilder, type PromptConfig } from "./strategies/llm.js";
export { replicaPlan, type EncoderStrategy } from "./strategies/encoder.js";

// Data
export { loadDataset, type Dataset, type Example, type LoadOptions } from "./data/dataset.js";
export { readTable, streamRecords, detectFormat, type Table, type TableRecord, type TableFormat } from "./data/readers.js";
export { TableWriter } from "./data/writers.js";
export { resolveScheme, matchLabel, BUILTIN_SCHEMES, type LabelScheme } from "./data/labels.js";
export { stratifiedSplit, stratifiedSample } from "./data/split.js";
export { readSstFile, parseTree, sstExamples, type SstExample } from "./data/sst.js";
export { mergeDatasets } from "./data/merge.js";

// Metrics and statistics (scikit-learn-identical reports; McNemar; paired bootstrap)
export { evaluate, macroF1, sliceMacroF1, type Evaluation, type EvaluateInput, type EvaluationReport } from "./metrics/evaluate.js";
export { classificationReport, confusionMatrix, type ClassificationReport, type ZeroDivision } from "./metrics/report.js";
export { mcnemar, mcnemarFromTable, type McNemarResult } from "./stats/mcnemar.js";
export { clopperPearsonLower, clopperPearsonUpper, binomialTestGreater, binomialUpperTail } from "./stats/binomial.js";
export { pairedBootstrapMacroF1, bootstrapStability, type BootstrapResult, type BootstrapStability } from "./stats/bootstrap.js";
export { compareClassifiers, type Comparison, type ComparisonInput } from "./stats/compare.js";
export { mixtureConfidenceSequence, logMixtureRatio, priorNear, newDriftTest, observeDrift, driftBet, driftAlarm, type MixturePrior, type DriftTestState, type DriftTestOptions } from "./stats/sequential.js";

// Encoders
export { EncoderModel, type SessionOptions } from "./encoders/model.js";
export { runEncoder, classifyWithEncoder, type InferenceOptions, type InferenceResult } from "./encoders/inference.js";
export { resolveModelDir, STARTER_MODEL } from "./encoders/hub.js";
export { benchEncoder, type BenchRow } from "./encoders/bench.js";
export { trainHead, predictHead, type HeadTrainingSettings, type HeadTrainingResult } from "./training/train-head.js";
export { trainFull, type FullTrainingOptions } from "./training/full.js";
export { createSession, int8ProductSaturates, portableGraph, widensInt8Weights, int8KernelChoice, type Int8KernelChoice } from "./encoders/int8-kernel.js";
export { quantizeModel, compareQuantized, calibrateActivations, calibrateActivationRanges, type ActivationRanges, type QuantizedModel, type QuantizationCheck } from "./encoders/quantize-model.js";
export { quantizeOnnx, exposeMatMulInputs, DEFAULT_SMOOTHING_ALPHA, type QuantizeOptions, type QuantizeSummary } from "./encoders/quantize.js";
export { widenInt8Weights, rowwiseActivations } from "./encoders/int8-rewrites.js";
export { createThreadedSession, type RunnableSession } from "./encoders/session-thread.js";
export { packGraph, planPackedRows, packedFeeds, poolPackedRows, PackingUnsupported, DEFAULT_ROW_TOKENS, type PackedGraphs, type PackedSegment } from "./encoders/packing.js";
export { interpolateTensors, soupCheckpoints } from "./training/soup.js";
export { pushModel, type PushOptions, type PushResult } from "./encoders/push.js";
export { searchHeadModel } from "./training/head-model.js";

// LLMs
export { createChatModel, parseModelSpec, describeModel, providerProblem, openAiClientFor, fineTunerFor, PROVIDER_NAMES, type ModelSpec } from "./llm/providers/registry.js";
export type { FineTuner, TunerJob, TunerEvent, TunerStatus, TunerHyperparameters, CreateRequest } from "./llm/tuning/tuner.js";
export { startJob, refreshJob, cancelJob, listJobs, uploadTrainingFiles, type JobRow } from "./finetune/jobs.js";
export { runLlm, type LlmRun, type LlmRunOptions, type LlmItemResult } from "./llm/runner.js";
export { ResponseCache } from "./llm/cache.js";
export { loadPriceTable, lookupPrice, costOf, formatUsd, DEFAULT_PRICES, PRICES_AS_OF, type ModelPrice, type PriceTable } from "./llm/pricing.js";
export { parseAnswer, labelJsonSchema } from "./llm/parse.js";
export { PROGRAMS, PROGRAM_NAMES, type ProgramName } from "./llm/prompts/programs.js";
export type { ChatModel, ChatMessage, ChatRequest, ChatResponse, ModelInfo } from "./llm/types.js";

// Experiments and the run store
export { runExperiment, loadRun, recordRun, type RecordedRun, type ExperimentRun, type StrategyOutcome, type RunnerHooks } from "./experiments/runner.js";
export { loadExperiment, parseExperiment, ExperimentSchema, type ExperimentConfig } from "./experiments/config.js";
export { RunStore, type RunRecord, type StrategyRecord } from "./experiments/store.js";
export { compareRun, type RunComparison, type ComparisonRow } from "./experiments/compare.js";
export { renderHtml, formatComparisonMarkdown, formatComparisonText } from "./experiments/report.js";
export { listRunSummaries, runDetail, filterRows, viewRows, runTexts, renderedPrompt, cascadeView, cascadeConfig, compareRunPair, type RunSummary, type RunDetail, type RowFilter, type ViewRow, type CascadeView, type RunPairRow } from "./experiments/view.js";

// State and errors
export { openStore, closeStores, type Store } from "./core/store.js";
export { EXIT_CODES, UserError, type ErrorKind, type Location, type Outcome } from "./core/errors.js";
// The gateway's pure parts and its task lifecycle (the server itself: startGateway from "tandem/server").
export { readRequest, readAnswer, readStreamedAnswer, studentResponse, studentStream, wireError, type Wire, type WireRequest, type PromptMessage, type UpstreamAnswer, type StudentAnswer } from "./gateway/wire.js";
export { matchTask, findTask, labelOfAnswer, writeLabel, proposeTasks, type RecordedPrompt, type TaskProposal } from "./gateway/templates.js";
export { GatewayTaskSchema, GatewayFileSchema, loadGatewayFile, parseGatewayFile, type GatewayTask, type GatewayFile } from "./gateway/config.js";
export { SseReader, parseSse, type SseEvent } from "./gateway/sse.js";
export { TaskRuntime, changeStage, type TaskView, type StudentPrediction } from "./gateway/runtime.js";
export { GatewayStore, type Stage, type TaskState, type TaskCounters, type StudentRecord } from "./gateway/store.js";
export { parseUpstreams, type Upstream } from "./gateway/upstream.js";
