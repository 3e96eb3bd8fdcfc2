// Writes the tiny Parquet fixtures the dataset tests read (tests/fixtures/datasets/*.parquet).
// hyparquet-writer is not a project dependency (the app only reads Parquet): install it
// somewhere else and point NODE_PATH there, e.g.
//   mkdir /tmp/pqw && cd /tmp/pqw && npm install --no-save hyparquet-writer@0.17.0
//   NODE_PATH=/tmp/pqw/node_modules node tools/make_dataset_fixtures.mjs
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'tests/fixtures/datasets');
mkdirSync(out, { recursive: true });
const require = createRequire(path.join(process.env.NODE_PATH ?? root, 'x.js'));
const { parquetWriteFile } = await import(pathToFileURL(require.resolve('hyparquet-writer')).href);

// A QA table with Turkish text, an empty answer (must be reported) and a duplicate question.
parquetWriteFile({
  filename: path.join(out, 'qa.parquet'),
  columnData: [
    { name: 'question', data: ['Kira artışı ne kadar olabilir?', 'İhtarname nedir?', 'Boş cevap?', 'İhtarname nedir?'], type: 'STRING' },
    { name: 'answer', data: ['TÜFE oranını geçemez.', 'Noter aracılığıyla yapılan bildirimdir.', '', 'Resmî bildirim.'], type: 'STRING' },
    { name: 'id', data: [1, 2, 3, 4], type: 'INT32' },
  ],
});
// The Hugging Face layout: data/train-00000-of-00001.parquet and data/test-00000-of-00001.parquet.
mkdirSync(path.join(out, 'hf-folder/data'), { recursive: true });
for (const [split, n] of [['train', 6], ['test', 2]]) {
  parquetWriteFile({
    filename: path.join(out, `hf-folder/data/${split}-00000-of-00001.parquet`),
    columnData: [
      { name: 'Soru', data: Array.from({ length: n }, (_, i) => `${split} sorusu ${i}?`), type: 'STRING' },
      { name: 'Cevap', data: Array.from({ length: n }, (_, i) => `${split} cevabı ${i}.`), type: 'STRING' },
    ],
  });
}
console.log('wrote', out);
