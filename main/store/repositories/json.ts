// JSON columns: written with JSON.stringify, read back tolerant of a damaged value (a bad
// cell must not make a whole list unreadable; the UI shows the rest of the row).
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? {});
}

export function fromJson(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { unreadable: text };
  }
}

export const now = (): number => Date.now();
