#!/usr/bin/env node
// Builds the engine addon native/build/hukuk_engine.node (a Node-API module, so the same
// file loads in Node and in Electron: no rebuild per Electron ABI).
//   - every native/src/**/*.cpp with the system C++ compiler (the CPU path; always)
//   - every native/src/**/*.cu with nvcc when it is on PATH (or $CUDA_HOME/bin), linked
//     with a static cudart so users need only the NVIDIA driver; -DHUKUK_CUDA turns the
//     CUDA path on. Without nvcc the addon is CPU-only and the build still succeeds.
// Incremental: an object is rebuilt when its source or any header is newer.
// Env: HUKUK_NO_CUDA=1 forces CPU-only; HUKUK_CUDA_ARCHS="75;80;86;89;90" picks targets;
//      HUKUK_DEBUG=1 builds -O0 -g with sanitizers off.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = join(here, 'build');
const objDir = join(out, 'obj');
mkdirSync(objDir, { recursive: true });

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}
const files = existsSync(src) ? walk(src) : [];
const cpp = files.filter((f) => f.endsWith('.cpp'));
const cu = files.filter((f) => f.endsWith('.cu'));
const headers = files.filter((f) => /\.(h|hpp|cuh)$/.test(f));
const newestHeader = Math.max(0, ...headers.map((h) => statSync(h).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);

function findNvcc() {
  if (process.env.HUKUK_NO_CUDA === '1') return null;
  const cands = [process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin', 'nvcc'), 'nvcc', '/usr/local/cuda/bin/nvcc'];
  for (const c of cands.filter(Boolean)) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}
const nvcc = cu.length ? findNvcc() : null;
const cudaOn = Boolean(nvcc);

const napiInclude = dirname(require_resolve('node-api-headers/package.json'));
function require_resolve(p) {
  // node-api-headers ships node_api.h; no download of Node headers is needed.
  return join(here, '..', 'node_modules', p);
}
const debug = process.env.HUKUK_DEBUG === '1';
const common = [
  `-I${join(napiInclude, 'include')}`,
  `-I${src}`, `-I${join(here, '..', 'node_modules', 'node-addon-api')}`,
  '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  ...(cudaOn ? ['-DHUKUK_CUDA=1'] : []),
];
const cxxFlags = [
  '-std=c++17', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wno-unused-function',
  ...(debug ? ['-O0', '-g'] : ['-O3', '-g1']),
  '-fopenmp', '-ffp-contract=off',
  ...common,
];
const archs = (process.env.HUKUK_CUDA_ARCHS ?? '75;80;86;89;90').split(';').filter(Boolean);
const nvccFlags = [
  '-std=c++17', '-Xcompiler', '-fPIC', '-Xcompiler', '-fvisibility=hidden', debug ? '-O0' : '-O3', '-lineinfo',
  '--expt-relaxed-constexpr',
  ...archs.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`),
  `-gencode=arch=compute_${archs[archs.length - 1]},code=compute_${archs[archs.length - 1]}`,
  ...common,
];

const jobs = [];
const objects = [];
for (const f of cpp) {
  const o = join(objDir, relative(src, f).replace(/[\\/]/g, '__') + '.o');
  objects.push(o);
  if (!existsSync(o) || statSync(o).mtimeMs < Math.max(statSync(f).mtimeMs, newestHeader)) jobs.push(['g++', [...cxxFlags, '-c', f, '-o', o]]);
}
if (cudaOn) {
  for (const f of cu) {
    const o = join(objDir, relative(src, f).replace(/[\\/]/g, '__') + '.cu.o');
    objects.push(o);
    if (!existsSync(o) || statSync(o).mtimeMs < Math.max(statSync(f).mtimeMs, newestHeader)) jobs.push([nvcc, [...nvccFlags, '-c', f, '-o', o]]);
  }
}

// Compile in parallel, one job per core.
async function runAll() {
  const { spawn } = await import('node:child_process');
  let i = 0;
  let failed = null;
  const worker = async () => {
    while (i < jobs.length && !failed) {
      const [cmd, args] = jobs[i++];
      const name = relative(here, args[args.indexOf('-c') + 1]);
      process.stdout.write(`native: ${cmd === 'g++' ? 'c++ ' : 'nvcc'} ${name}\n`);
      await new Promise((res) => {
        const p = spawn(cmd, args, { stdio: 'inherit' });
        p.on('exit', (code) => { if (code !== 0) failed = name; res(); });
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cpus().length) }, worker));
  if (failed) { console.error(`native: compiling ${failed} failed`); process.exit(1); }
}
await runAll();

const target = join(out, 'hukuk_engine.node');
if (objects.length === 0) {
  console.log('native: no sources yet');
  process.exit(0);
}
const linkArgs = ['-shared', '-fopenmp', '-o', target, ...objects];
if (cudaOn) {
  const cudaHome = resolve(dirname(execFileSync('bash', ['-c', `readlink -f "$(command -v ${nvcc})"`]).toString().trim()), '..');
  const libDirs = [join(cudaHome, 'lib64'), join(cudaHome, 'targets', 'x86_64-linux', 'lib')].filter(existsSync);
  // cudart static: the user needs the driver only. cuBLAS is opened at run time (dlopen) when present.
  linkArgs.push(...libDirs.map((d) => `-L${d}`), '-lcudart_static', '-ldl', '-lpthread', '-lrt');
}
execFileSync('g++', linkArgs, { stdio: 'inherit' });
console.log(`native: built ${relative(process.cwd(), target)} (${cudaOn ? 'CPU + CUDA' : 'CPU only'})`);
