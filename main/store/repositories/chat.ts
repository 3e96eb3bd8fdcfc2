// Chat sessions with a base model (+ adapter) and their messages.
import type { Db } from '../db';
import { AppError } from '../../../common/contract/errors';
import { fromJson, now, toJson } from './json';

export interface ChatSession {
  id: number;
  title: string;
  modelId: number | null;
  adapterId: number | null;
  settings: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface ChatMessage {
  id: number;
  sessionId: number;
  role: 'system' | 'user' | 'assistant';
  content: string;
  stats: Record<string, unknown>;
  createdAt: number;
}

interface SessionRow {
  id: number;
  title: string;
  model_id: number | null;
  adapter_id: number | null;
  settings_json: string;
  created_at: number;
  updated_at: number;
}

const toSession = (r: SessionRow): ChatSession => ({
  id: r.id,
  title: r.title,
  modelId: r.model_id,
  adapterId: r.adapter_id,
  settings: fromJson(r.settings_json),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function createChatSession(
  db: Db,
  s: { title: string; modelId?: number | null; adapterId?: number | null; settings?: Record<string, unknown> },
): ChatSession {
  const t = now();
  const info = db
    .prepare(
      'INSERT INTO chat_sessions (title, model_id, adapter_id, settings_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    )
    .run(s.title, s.modelId ?? null, s.adapterId ?? null, toJson(s.settings), t, t);
  return getChatSession(db, Number(info.lastInsertRowid));
}

export function getChatSession(db: Db, id: number): ChatSession {
  const row = db.prepare('SELECT * FROM chat_sessions WHERE id = ?').get(id) as SessionRow | undefined;
  if (!row) throw new AppError('not_found', `Chat ${id} does not exist.`);
  return toSession(row);
}

export function listChatSessions(db: Db): ChatSession[] {
  return (db.prepare('SELECT * FROM chat_sessions ORDER BY updated_at DESC, id DESC').all() as SessionRow[]).map(
    toSession,
  );
}

export function addChatMessage(
  db: Db,
  m: { sessionId: number; role: ChatMessage['role']; content: string; stats?: Record<string, unknown> },
): ChatMessage {
  const t = now();
  const id = db.transaction(() => {
    const info = db
      .prepare('INSERT INTO chat_messages (session_id, role, content, stats_json, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(m.sessionId, m.role, m.content, toJson(m.stats), t);
    db.prepare('UPDATE chat_sessions SET updated_at = ? WHERE id = ?').run(t, m.sessionId);
    return Number(info.lastInsertRowid);
  })();
  return { id, sessionId: m.sessionId, role: m.role, content: m.content, stats: m.stats ?? {}, createdAt: t };
}

export function listChatMessages(db: Db, sessionId: number): ChatMessage[] {
  const rows = db.prepare('SELECT * FROM chat_messages WHERE session_id = ? ORDER BY id').all(sessionId) as {
    id: number;
    session_id: number;
    role: ChatMessage['role'];
    content: string;
    stats_json: string;
    created_at: number;
  }[];
  return rows.map((r) => ({
    id: r.id,
    sessionId: r.session_id,
    role: r.role,
    content: r.content,
    stats: fromJson(r.stats_json),
    createdAt: r.created_at,
  }));
}

export function deleteChatSession(db: Db, id: number): void {
  db.prepare('DELETE FROM chat_sessions WHERE id = ?').run(id);
}

/** Sets an assistant message's final text and stats (it is stored empty while it streams). */
export function updateChatMessage(db: Db, id: number, m: { content: string; stats?: Record<string, unknown> }): void {
  const t = now();
  db.transaction(() => {
    db.prepare('UPDATE chat_messages SET content = ?, stats_json = ? WHERE id = ?').run(m.content, toJson(m.stats), id);
    db.prepare('UPDATE chat_sessions SET updated_at = ? WHERE id = (SELECT session_id FROM chat_messages WHERE id = ?)').run(t, id);
  })();
}

export function getChatMessage(db: Db, id: number): ChatMessage | undefined {
  const r = db.prepare('SELECT * FROM chat_messages WHERE id = ?').get(id) as
    | { id: number; session_id: number; role: ChatMessage['role']; content: string; stats_json: string; created_at: number }
    | undefined;
  return r && { id: r.id, sessionId: r.session_id, role: r.role, content: r.content, stats: fromJson(r.stats_json), createdAt: r.created_at };
}
