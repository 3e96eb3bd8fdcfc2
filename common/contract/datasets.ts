// Imported datasets as the UI sees them (the import issue fills these rows).
import { z } from 'zod';

export const DatasetSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  /** 'json' | 'jsonl' | 'csv' | 'parquet' | 'hf-folder' */
  format: z.string(),
  sourcePath: z.string().nullable(),
  storedPath: z.string(),
  contentHash: z.string().nullable(),
  rowCount: z.number(),
  trainRows: z.number().nullable(),
  validationRows: z.number().nullable(),
  testRows: z.number().nullable(),
  skippedRows: z.number(),
  /** e.g. { question: 'Soru', answer: 'Cevap' } */
  columnMapping: z.record(z.string(), z.unknown()),
  /** e.g. { input: 'Soru: {question}', target: '{answer}' } */
  template: z.record(z.string(), z.unknown()),
  stats: z.record(z.string(), z.unknown()),
  copied: z.boolean(),
  importedAt: z.number(),
});
export type Dataset = z.infer<typeof DatasetSchema>;

export const DatasetsListRequest = z.object({}).strict();

// ---- import, inspect, preview, statistics, delete (the dataset import issue) ----

export const RowOriginSchema = z.object({ file: z.string(), line: z.number().optional(), row: z.number().optional() });
export const SkippedRowSchema = RowOriginSchema.extend({ reason: z.string() });
export const ColumnMappingSchema = z.object({ question: z.string(), answer: z.string() });
export const DuplicateGroupSchema = z.object({ text: z.string(), origins: z.array(RowOriginSchema) });

const LengthStatsSchema = z.object({
  count: z.number(),
  p50: z.number(),
  p95: z.number(),
  p99: z.number(),
  max: z.number(),
  mean: z.number(),
  truncatedAt: z.record(z.string(), z.number()),
  suggestedMaxLength: z.number(),
  histogram: z.object({ binWidth: z.number(), counts: z.array(z.number()) }),
});

const SplitCounts = z.object({ train: z.number().optional(), validation: z.number().optional(), test: z.number().optional() });

/** What `datasets:inspect` (and `hukuk dataset inspect --json`) reports. */
export const DatasetSummarySchema = z.object({
  path: z.string(),
  format: z.string(),
  files: z.array(z.string()),
  columns: z.array(z.string()),
  mapping: ColumnMappingSchema,
  template: z.object({ input: z.string(), target: z.string(), name: z.string().optional() }),
  rows: SplitCounts,
  splitSource: z.object({
    train: z.enum(['file', 'seeded']).optional(),
    validation: z.enum(['file', 'seeded']).optional(),
    test: z.enum(['file', 'seeded']).optional(),
  }),
  skippedCount: z.number(),
  skipped: z.array(SkippedRowSchema),
  duplicates: z.object({
    sameQuestion: z.number(),
    sameAnswer: z.number(),
    sameQuestionGroups: z.array(DuplicateGroupSchema),
    sameAnswerGroups: z.array(DuplicateGroupSchema),
  }),
  preview: z.array(z.object({ question: z.string(), answer: z.string(), origin: RowOriginSchema })),
  notes: z.array(z.string()),
  tokenizer: z.object({ file: z.string(), kind: z.string(), hash: z.string() }).optional(),
  stats: z
    .object({
      rows: SplitCounts,
      input: LengthStatsSchema,
      target: LengthStatsSchema,
      maxInputLength: z.number(),
      maxTargetLength: z.number(),
      overLongCount: z.number(),
      overLong: z.array(RowOriginSchema.extend({ inputTokens: z.number(), targetTokens: z.number() })),
    })
    .optional(),
});
export type DatasetSummaryValue = z.infer<typeof DatasetSummarySchema>;

export const TemplateChoiceSchema = z.union([
  z.enum(['default', 'teknofest']),
  z.object({ input: z.string().min(1).max(2000), target: z.string().min(1).max(2000) }).strict(),
]);

/** Options shared by inspect, import and stats: how to read, map, split and measure. */
const PrepareOptions = {
  questionColumn: z.string().min(1).max(200).optional(),
  answerColumn: z.string().min(1).max(200).optional(),
  template: TemplateChoiceSchema.optional(),
  /** Measure token lengths with this imported model's tokenizer… */
  modelId: z.number().int().optional(),
  /** …or with a tokenizer at this path (folder, spiece.model, tokenizer.json). */
  tokenizerPath: z.string().min(1).optional(),
  /** Held-out share when the data has no test/validation file (default 0.1; 0 = none). */
  splitRatio: z.number().min(0).max(0.9).optional(),
  seed: z.number().int().optional(),
  testFile: z.string().min(1).optional(),
  validationFile: z.string().min(1).optional(),
  maxInputLength: z.number().int().positive().optional(),
  maxTargetLength: z.number().int().positive().optional(),
};

export const DatasetsInspectRequest = z.object({ path: z.string().min(1), ...PrepareOptions }).strict();

export const DatasetsImportRequest = z
  .object({ path: z.string().min(1), name: z.string().max(200).optional(), ...PrepareOptions })
  .strict();
export const DatasetsImportResponse = z.object({ dataset: DatasetSchema, summary: DatasetSummarySchema });

export const DatasetsIdRequest = z.object({ id: z.number().int() }).strict();

export const DatasetsPreviewRequest = z.object({ id: z.number().int(), limit: z.number().int().min(1).max(500).optional() }).strict();
export const DatasetsPreviewResponse = z.object({
  columns: z.array(z.string()),
  mapping: ColumnMappingSchema,
  /** The raw rows (all columns), first `limit`. */
  rows: z.array(z.record(z.string(), z.unknown())),
  origins: z.array(RowOriginSchema),
});

/** Re-map, change the template, or measure with another model: recomputes and stores the statistics. */
export const DatasetsStatsRequest = z
  .object({
    id: z.number().int(),
    questionColumn: PrepareOptions.questionColumn,
    answerColumn: PrepareOptions.answerColumn,
    template: PrepareOptions.template,
    modelId: PrepareOptions.modelId,
    tokenizerPath: PrepareOptions.tokenizerPath,
    maxInputLength: PrepareOptions.maxInputLength,
    maxTargetLength: PrepareOptions.maxTargetLength,
  })
  .strict();

export const DatasetsDeleteResponse = z.object({ deleted: z.boolean(), removedFiles: z.boolean() });
