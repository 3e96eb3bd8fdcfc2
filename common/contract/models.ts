// Imported base models as the UI sees them (the import issue fills these rows).
import { z } from 'zod';

export const ModelSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  sourcePath: z.string().nullable(),
  storedPath: z.string(),
  architecture: z.string().nullable(),
  modelType: z.string().nullable(),
  config: z.record(z.string(), z.unknown()),
  paramCount: z.number().nullable(),
  vocabSize: z.number().nullable(),
  numLayers: z.number().nullable(),
  numDecoderLayers: z.number().nullable(),
  dModel: z.number().nullable(),
  dtype: z.string().nullable(),
  diskBytes: z.number().nullable(),
  contentHash: z.string().nullable(),
  /** true when the files under storedPath are the app's own copy (delete removes them) */
  copied: z.boolean(),
  importedAt: z.number(),
});
export type Model = z.infer<typeof ModelSchema>;

export const ModelsListRequest = z.object({}).strict();
