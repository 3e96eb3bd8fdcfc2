// Side-by-side table of bench/gpu/run.sh's results: node bench/gpu/table.mjs OUT_DIR
// (reads ours.jsonl, baseline.jsonl, gpu.txt, date.txt; prints Markdown for bench/RESULTS.md).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const lines = (f) =>
  existsSync(join(dir, f))
    ? readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    : [];
const text = (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : '?');
const ours = lines('ours.jsonl');
const base = lines('baseline.jsonl').filter((r) => r.kind === 'train');
const gen = lines('baseline.jsonl').find((r) => r.kind === 'generate');
const out = [];
out.push(`Card and date: ${text('meta.txt').replace(/\n/g, '; ')}. Ours: QLoRA (NF4 q,k,v,o,wi; bf16 tensor-core compute, fp32 activations); ` +
  `baseline: torch_baseline.py ${base[0]?.mode ?? '?'} (transformers + peft) in the same call.`);
out.push('');
out.push('| shape | ours samples/s | ours ms/step | ours GiB | baseline samples/s | baseline ms/step | baseline GiB | speed ratio | memory ratio | ours x floor |');
out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const o of ours) {
  const b = base.find((r) => `${r.bs}x${r.src}x${r.tgt}` === o.shape);
  if (o.error) {
    out.push(`| ${o.shape} | error: ${o.error.replace(/\|/g, '/')} | | | ${b?.samples_per_s ?? ''} | ${b?.ms_per_step ?? ''} | ${b?.peak_gib ?? ''} | | | |`);
    continue;
  }
  const ratio = b?.samples_per_s ? (o.samples_per_s / b.samples_per_s).toFixed(2) + 'x' : '?';
  const mem = b?.peak_gib ? (o.peak_gib / b.peak_gib).toFixed(2) : '?';
  out.push(`| ${o.shape} | ${o.samples_per_s} | ${o.ms_per_step} | ${o.peak_gib} | ${b?.samples_per_s ?? '?'} | ${b?.ms_per_step ?? '?'} | ${b?.peak_gib ?? '?'} | ${ratio} | ${mem} | ${o.x_floor} (floor ${o.floor_ms} ms) |`);
}
for (const v of lines('variants.jsonl'))
  out.push(`| ${v.shape} (${v.tag}) | ${v.samples_per_s ?? 'error'} | ${v.ms_per_step ?? ''} | ${v.peak_gib ?? ''} | | | | | | ${v.x_floor ?? ''} |`);
out.push('');
out.push(`Generation: ours not on the GPU yet (a CUDA model decodes on the CPU graph); baseline ${gen?.ms_per_token ?? '?'} ms/token.`);
console.log(out.join('\n'));
