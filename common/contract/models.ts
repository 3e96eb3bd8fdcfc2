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

// ---- import, inspect, pull, delete (the model import issue) ----

/** What `models:inspect` (and `hukuk model inspect --json`) reports about a folder. */
export const ModelSummarySchema = z.object({
  dir: z.string(),
  name: z.string(),
  architecture: z.string(),
  modelType: z.string(),
  format: z.enum(['safetensors', 'safetensors-sharded', 'pytorch-bin', 'pytorch-bin-sharded']),
  weightFiles: z.array(z.string()),
  dtype: z.string(),
  paramCount: z.number(),
  tensorCount: z.number(),
  vocabSize: z.number(),
  dModel: z.number(),
  dKv: z.number(),
  dFf: z.number(),
  numHeads: z.number(),
  numLayers: z.number(),
  numDecoderLayers: z.number(),
  feedForwardProj: z.string(),
  tieWordEmbeddings: z.boolean(),
  relativeAttentionNumBuckets: z.number(),
  relativeAttentionMaxDistance: z.number(),
  diskBytes: z.number(),
  tokenizer: z.object({ spieceModel: z.boolean(), tokenizerJson: z.boolean() }),
  warnings: z.array(z.string()),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const ModelsInspectRequest = z.object({ path: z.string().min(1) }).strict();

export const ModelsImportRequest = z
  .object({
    path: z.string().min(1),
    /** copy (default): the app keeps its own copy; reference: use the folder where it is. */
    mode: z.enum(['copy', 'reference']).default('copy'),
    name: z.string().max(200).optional(),
  })
  .strict();

export const ModelsImportResponse = z.object({ model: ModelSchema, warnings: z.array(z.string()) });

/** A Hugging Face repository id: owner/name. */
export const RepoIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/, 'owner/name');

export const ModelsPullRequest = z
  .object({
    repo: RepoIdSchema,
    revision: z.string().min(1).max(200).optional(),
    name: z.string().max(200).optional(),
    /** For gated/private repositories; used for this pull only, never stored or logged. */
    token: z.string().max(500).optional(),
  })
  .strict();

/** Stops a running pull; what was downloaded stays and the next pull resumes from it. */
export const ModelsCancelPullRequest = z.object({ repo: RepoIdSchema }).strict();
export const ModelsCancelPullResponse = z.object({ cancelled: z.boolean() });

/** Whether a Hub token is kept, and whether this front end can keep one (the app: OS keychain). */
export const HubTokenStatusSchema = z.object({
  stored: z.boolean(),
  /** keychain: stored by the app; environment: HF_TOKEN of the process; null: none */
  source: z.enum(['keychain', 'environment']).nullable(),
  canStore: z.boolean(),
});
export type HubTokenStatus = z.infer<typeof HubTokenStatusSchema>;
/** null forgets the stored token. The token is never sent back to the UI. */
export const ModelsSetHubTokenRequest = z.object({ token: z.string().min(1).max(500).nullable() }).strict();

export const ModelsDeleteRequest = z.object({ id: z.number().int() }).strict();
export const ModelsDeleteResponse = z.object({
  /** false when the files were the user's own folder (reference) and were left alone */
  deletedFiles: z.boolean(),
  storedPath: z.string(),
});

/** Progress of an import or a pull, pushed as `models:progress` (batched). */
export const ModelProgressSchema = z.object({
  /** The folder path or repo id being imported. */
  source: z.string(),
  phase: z.enum(['listing', 'downloading', 'hashing', 'copying', 'converting', 'verifying', 'done']),
  file: z.string().optional(),
  bytesDone: z.number(),
  bytesTotal: z.number().nullable(),
});
export type ModelProgress = z.infer<typeof ModelProgressSchema>;
export const ModelsProgressEvent = z.array(ModelProgressSchema);
