// THE contract between the UI and main: every request channel with its request and
// response schema, and every pushed event with its payload schema. Main validates every
// request against it; the preload API and the WebSocket client are generated from it.
// Add a domain by writing its schemas in a sibling file and listing its channels here.
import { z } from 'zod';
import { PickPathRequest, PickPathResponse, SystemCapabilitiesSchema, SystemInfoSchema } from './system';
import {
  MetricPointSchema,
  RunIdRequest,
  RunMetricsEvent,
  RunMetricsRequest,
  RunSchema,
  RunStatusEvent,
  RunsListRequest,
  RunsCreateRequest,
  RunsCancelResponse,
  RunsDeleteResponse,
  RunsCompareRequest,
  RunsCompareResponse,
} from './runs';
import {
  ChatCancelRequest,
  ChatCancelResponse,
  ChatCreateSessionRequest,
  ChatDeleteResponse,
  ChatMessageSchema,
  ChatSendRequest,
  ChatSendResponse,
  ChatSessionIdRequest,
  ChatSessionSchema,
  ChatStatusEvent,
  ChatTokensEvent,
} from './chat';
import {
  ModelSchema,
  ModelSummarySchema,
  HubTokenStatusSchema,
  ModelsCancelPullRequest,
  ModelsSetHubTokenRequest,
  ModelsCancelPullResponse,
  ModelsDeleteRequest,
  ModelsDeleteResponse,
  ModelsImportRequest,
  ModelsImportResponse,
  ModelsInspectRequest,
  ModelsProgressEvent,
  ModelsPullRequest,
} from './models';
import {
  DatasetSchema,
  DatasetSummarySchema,
  DatasetsDeleteResponse,
  DatasetsIdRequest,
  DatasetsImportRequest,
  DatasetsImportResponse,
  DatasetsInspectRequest,
  DatasetsPreviewRequest,
  DatasetsPreviewResponse,
  DatasetsStatsRequest,
} from './datasets';

export const Empty = z.object({}).strict();

export const channels = {
  'system:info': { request: Empty, response: SystemInfoSchema },
  'system:capabilities': { request: Empty, response: SystemCapabilitiesSchema },
  'system:pick-path': { request: PickPathRequest, response: PickPathResponse },
  'runs:list': { request: RunsListRequest, response: z.array(RunSchema) },
  'runs:get': { request: RunIdRequest, response: RunSchema },
  'runs:metrics': { request: RunMetricsRequest, response: z.array(MetricPointSchema) },
  'runs:create': { request: RunsCreateRequest, response: RunSchema },
  'runs:cancel': { request: RunIdRequest, response: RunsCancelResponse },
  'runs:delete': { request: RunIdRequest, response: RunsDeleteResponse },
  'runs:compare': { request: RunsCompareRequest, response: RunsCompareResponse },
  'chat:sessions': { request: Empty, response: z.array(ChatSessionSchema) },
  'chat:create-session': { request: ChatCreateSessionRequest, response: ChatSessionSchema },
  'chat:delete-session': { request: ChatSessionIdRequest, response: ChatDeleteResponse },
  'chat:messages': { request: ChatSessionIdRequest, response: z.array(ChatMessageSchema) },
  'chat:send': { request: ChatSendRequest, response: ChatSendResponse },
  'chat:cancel': { request: ChatCancelRequest, response: ChatCancelResponse },
  'models:list': { request: Empty, response: z.array(ModelSchema) },
  'models:inspect': { request: ModelsInspectRequest, response: ModelSummarySchema },
  'models:import': { request: ModelsImportRequest, response: ModelsImportResponse },
  'models:pull': { request: ModelsPullRequest, response: ModelsImportResponse },
  'models:cancel-pull': { request: ModelsCancelPullRequest, response: ModelsCancelPullResponse },
  'models:delete': { request: ModelsDeleteRequest, response: ModelsDeleteResponse },
  'models:hub-token': { request: Empty, response: HubTokenStatusSchema },
  'models:set-hub-token': { request: ModelsSetHubTokenRequest, response: HubTokenStatusSchema },
  'datasets:list': { request: Empty, response: z.array(DatasetSchema) },
  'datasets:inspect': { request: DatasetsInspectRequest, response: DatasetSummarySchema },
  'datasets:import': { request: DatasetsImportRequest, response: DatasetsImportResponse },
  'datasets:get': { request: DatasetsIdRequest, response: DatasetSchema },
  'datasets:preview': { request: DatasetsPreviewRequest, response: DatasetsPreviewResponse },
  'datasets:stats': { request: DatasetsStatsRequest, response: DatasetsImportResponse },
  'datasets:delete': { request: DatasetsIdRequest, response: DatasetsDeleteResponse },
} as const;

export const events = {
  // Pushed in small batches, never one message per value.
  'system:log': z.array(z.object({ level: z.enum(['info', 'warn', 'error']), message: z.string(), at: z.number() })),
  'runs:metrics': RunMetricsEvent,
  'runs:status': RunStatusEvent,
  'chat:tokens': ChatTokensEvent,
  'chat:status': ChatStatusEvent,
  'models:progress': ModelsProgressEvent,
} as const;

export type Channels = typeof channels;
export type ChannelName = keyof Channels;
export type RequestOf<C extends ChannelName> = z.input<Channels[C]['request']>;
export type ResponseOf<C extends ChannelName> = z.output<Channels[C]['response']>;
export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<E extends EventName> = z.output<Events[E]>;
