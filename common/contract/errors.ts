// Errors cross every process boundary as plain values: a stable code for programs,
// a message for a person, and details for the log. Never a thrown Error object.
import { z } from 'zod';

export const ErrorCodeSchema = z.enum([
  'invalid_payload', // the request did not match the channel's schema
  'forbidden', // wrong sender frame, bad token, bad origin
  'not_found',
  'conflict',
  'unsupported', // e.g. a model folder of another architecture
  'corrupt_file', // truncated safetensors, bad header, hostile pickle
  'parse_error', // malformed CSV/JSON with line numbers in the message
  'io_error', // disk full, permission denied
  'db_newer_than_app',
  'worker_crashed',
  'out_of_memory',
  'cancelled',
  'timeout', // the engine did not answer (or start) in time; the worker may still be fine
  'engine_error',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const AppErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.string().optional(),
});
export type AppErrorValue = z.infer<typeof AppErrorSchema>;

/** Thrown inside services; turned into an AppErrorValue at the boundary. */
export class AppError extends Error {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly details?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
  toValue(): AppErrorValue {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: AppErrorValue };

export function toErrorValue(e: unknown): AppErrorValue {
  if (e instanceof AppError) return e.toValue();
  const err = e as { code?: unknown; message?: unknown; stack?: unknown };
  // Node's fs errors: map the common disk failures to something a person can act on.
  if (err && typeof err.code === 'string') {
    if (err.code === 'ENOSPC') return { code: 'io_error', message: 'The disk is full.', details: String(err.message) };
    if (err.code === 'EACCES' || err.code === 'EPERM')
      return { code: 'io_error', message: 'Permission denied.', details: String(err.message) };
    if (err.code === 'ENOENT') return { code: 'not_found', message: String(err.message) };
  }
  return {
    code: 'internal',
    message: err && typeof err.message === 'string' ? err.message : String(e),
    details: err && typeof err.stack === 'string' ? err.stack : undefined,
  };
}
