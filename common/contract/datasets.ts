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
