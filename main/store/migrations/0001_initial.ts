// The first schema. Times are milliseconds since the epoch (INTEGER); JSON columns hold
// objects the contract's schemas describe; `copied` says whether the app owns the files at
// stored_path (delete removes only what the app copied).
export const up = /* sql */ `
CREATE TABLE models (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  name               TEXT    NOT NULL,
  source_path        TEXT,
  stored_path        TEXT    NOT NULL,
  architecture       TEXT,
  model_type         TEXT,
  config_json        TEXT    NOT NULL DEFAULT '{}',
  param_count        INTEGER,
  vocab_size         INTEGER,
  num_layers         INTEGER,
  num_decoder_layers INTEGER,
  d_model            INTEGER,
  dtype              TEXT,
  disk_bytes         INTEGER,
  content_hash       TEXT,
  copied             INTEGER NOT NULL DEFAULT 0 CHECK (copied IN (0, 1)),
  imported_at        INTEGER NOT NULL
);

CREATE TABLE datasets (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  name                TEXT    NOT NULL,
  format              TEXT    NOT NULL,
  source_path         TEXT,
  stored_path         TEXT    NOT NULL,
  content_hash        TEXT,
  row_count           INTEGER NOT NULL DEFAULT 0,
  train_rows          INTEGER,
  validation_rows     INTEGER,
  test_rows           INTEGER,
  skipped_rows        INTEGER NOT NULL DEFAULT 0,
  column_mapping_json TEXT    NOT NULL DEFAULT '{}',
  template_json       TEXT    NOT NULL DEFAULT '{}',
  stats_json          TEXT    NOT NULL DEFAULT '{}',
  copied              INTEGER NOT NULL DEFAULT 0 CHECK (copied IN (0, 1)),
  imported_at         INTEGER NOT NULL
);

CREATE TABLE runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT    NOT NULL,
  model_id    INTEGER REFERENCES models(id) ON DELETE SET NULL,
  dataset_id  INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
  config_json TEXT    NOT NULL DEFAULT '{}',
  device      TEXT,
  status      TEXT    NOT NULL DEFAULT 'queued'
              CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  dir         TEXT,
  created_at  INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER,
  error       TEXT
);
CREATE INDEX runs_status ON runs(status);

-- One row per (run, split, name, step): a resumed run that logs a step again replaces it.
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step   INTEGER NOT NULL,
  split  TEXT    NOT NULL,
  name   TEXT    NOT NULL,
  value  REAL    NOT NULL,
  at     INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, name, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step         INTEGER NOT NULL,
  path         TEXT    NOT NULL,
  metrics_json TEXT    NOT NULL DEFAULT '{}',
  created_at   INTEGER NOT NULL,
  UNIQUE (run_id, step)
);

CREATE TABLE adapters (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT    NOT NULL,
  run_id        INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  checkpoint_id INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,
  base_model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
  path          TEXT    NOT NULL,
  config_json   TEXT    NOT NULL DEFAULT '{}',
  source        TEXT    NOT NULL DEFAULT 'trained' CHECK (source IN ('trained', 'imported')),
  copied        INTEGER NOT NULL DEFAULT 1 CHECK (copied IN (0, 1)),
  created_at    INTEGER NOT NULL
);

CREATE TABLE evaluations (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id       INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  adapter_id   INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
  model_id     INTEGER REFERENCES models(id) ON DELETE SET NULL,
  dataset_id   INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
  split        TEXT    NOT NULL DEFAULT 'test',
  status       TEXT    NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  config_json  TEXT    NOT NULL DEFAULT '{}',
  metrics_json TEXT    NOT NULL DEFAULT '{}',
  samples_path TEXT,
  error        TEXT,
  created_at   INTEGER NOT NULL,
  finished_at  INTEGER
);

CREATE TABLE chat_sessions (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  title         TEXT    NOT NULL,
  model_id      INTEGER REFERENCES models(id) ON DELETE SET NULL,
  adapter_id    INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
  settings_json TEXT    NOT NULL DEFAULT '{}',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

CREATE TABLE chat_messages (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id INTEGER NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
  role       TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  content    TEXT    NOT NULL,
  stats_json TEXT    NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);
CREATE INDEX chat_messages_session ON chat_messages(session_id, id);
`;
