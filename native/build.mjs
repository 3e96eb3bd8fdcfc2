#!/usr/bin/env node
// Builds the engine addon native/build/hukuk_engine.node (a Node-API module, so the same
// file loads in Node and in Electron: no rebuild per Electron ABI).
//   - every native/src/**/*.cpp with the system C++ compiler (the CPU path; always)
//   - every native/src/**/*.cu with nvcc when it is on PATH (or $CUDA_HOME/bin), linked
//     with a static cudart so users need only the NVIDIA driver; -DHUKUK_CUDA=1 turns the
//     CUDA path on (for .cpp files too, which then see the toolkit's headers). Without nvcc
//     the addon is CPU-only and the build still succeeds. cuBLAS is never linked: it is
//     opened at run time (native/src/cuda/cublas_loader.cpp).
// Incremental: each object has a dependency file (-MMD); an object is rebuilt when its source
// or any header it includes is newer. CPU-only and CUDA builds keep separate object folders,
// so switching with HUKUK_NO_CUDA=1 does not recompile everything.
// Several engineers share one checkout: a lock folder (build/.lock) serializes builds.
// Env: HUKUK_NO_CUDA=1 forces CPU-only; HUKUK_CUDA_ARCHS="75;80;86;89;90" picks targets
//      (machine code for each, PTX for the last); HUKUK_DEBUG=1 builds -O0 -g;
//      HUKUK_JOBS=N compile jobs (default: cores); HUKUK_MODULES=core,nf4,... compiles only
//      addon.cpp and those top-level folders of native/src (a dev aid, e.g. on the GPU machine
//      when another module's work in progress does not compile).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = join(here, 'build');
mkdirSync(out, { recursive: true });

// ---- one build at a time in this checkout ----
const lockDir = join(out, '.lock');
async function takeLock() {
  for (let waited = 0; ; waited += 500) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      return;
    } catch {
      let holder = 0;
      try { holder = Number(readFileSync(join(lockDir, 'pid'), 'utf8')); } catch { /* being written */ }
      let alive = false;
      try { if (holder) { process.kill(holder, 0); alive = true; } } catch { /* gone */ }
      if (holder && !alive) { rmSync(lockDir, { recursive: true, force: true }); continue; }
      if (waited % 10_000 === 0) console.log(`native: waiting for another build (pid ${holder || '?'})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
const releaseLock = () => rmSync(lockDir, { recursive: true, force: true });
await takeLock();
process.on('exit', releaseLock);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { releaseLock(); process.exit(130); });

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}
const onlyModules = process.env.HUKUK_MODULES ? process.env.HUKUK_MODULES.split(',').filter(Boolean) : null;
const files = (existsSync(src) ? walk(src) : []).filter((f) => {
  if (!onlyModules) return true;
  const rel = relative(src, f).split(/[\\/]/);
  return rel.length === 1 || onlyModules.includes(rel[0]);
});
const cpp = files.filter((f) => f.endsWith('.cpp'));
const cu = files.filter((f) => f.endsWith('.cu'));

function findNvcc() {
  if (process.env.HUKUK_NO_CUDA === '1') return null;
  const cands = [process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin', 'nvcc'), 'nvcc', '/usr/local/cuda/bin/nvcc'];
  for (const c of cands.filter(Boolean)) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}
const nvcc = findNvcc();
const cudaOn = Boolean(nvcc);

// The toolkit's root, asked of nvcc itself (it may be a wrapper script, e.g. /usr/local/bin/nvcc).
function cudaRoot() {
  if (process.env.CUDA_HOME && existsSync(join(process.env.CUDA_HOME, 'include', 'cuda_runtime.h'))) return process.env.CUDA_HOME;
  const dry = spawnSync(nvcc, ['--dryrun', '-c', '-x', 'cu', '/dev/null', '-o', '/dev/null'], { encoding: 'utf8' });
  const m = /TOP=(\S+)/.exec(`${dry.stdout}\n${dry.stderr}`);
  const top = m ? m[1].replace(/^"|"$/g, '') : '/usr/local/cuda';
  return top;
}
const cudaHome = cudaOn ? cudaRoot() : null;
const cudaIncludes = cudaOn
  ? [join(cudaHome, 'include'), join(cudaHome, 'targets', 'x86_64-linux', 'include')].filter((d) => existsSync(join(d, 'cuda_runtime_api.h')))
  : [];

const napiInclude = join(here, '..', 'node_modules', 'node-api-headers', 'include');
const debug = process.env.HUKUK_DEBUG === '1';
const archs = (process.env.HUKUK_CUDA_ARCHS ?? '75;80;86;89;90').split(';').filter(Boolean);
const common = [
  `-I${napiInclude}`,
  `-I${src}`, `-I${join(here, '..', 'node_modules', 'node-addon-api')}`,
  '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  ...(cudaOn ? ['-DHUKUK_CUDA=1'] : []),
];
const cxxFlags = [
  '-std=c++17', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wno-unused-function',
  ...(debug ? ['-O0', '-g'] : ['-O3', '-g1']),
  '-fopenmp', '-ffp-contract=off',
  ...common,
  ...cudaIncludes.map((d) => `-isystem${d}`),
];
const nvccFlags = [
  '-std=c++17', '-Xcompiler', '-fPIC', '-Xcompiler', '-fvisibility=hidden', debug ? '-O0' : '-O3', '-lineinfo',
  '--expt-relaxed-constexpr', '-Xcudafe', '--diag_suppress=177',
  ...archs.map((a) => `-gencode=arch=compute_${a},code=sm_${a}`),
  `-gencode=arch=compute_${archs[archs.length - 1]},code=compute_${archs[archs.length - 1]}`,
  ...common,
];

// CPU-only and CUDA objects (and each arch list) live apart; a flags change rebuilds.
const configKey = createHash('sha1').update(JSON.stringify([cxxFlags, cudaOn && nvccFlags])).digest('hex').slice(0, 10);
const objDir = join(out, `obj-${cudaOn ? 'cuda' : 'cpu'}-${configKey}`);
mkdirSync(objDir, { recursive: true });

// Up to date when the object exists and is newer than the source and every header in its
// dependency file (written by the compiler on the previous build).
function stale(source, obj) {
  if (!existsSync(obj)) return true;
  const t = statSync(obj).mtimeMs;
  const dep = `${obj}.d`;
  if (!existsSync(dep)) return true;
  const deps = readFileSync(dep, 'utf8').replace(/\\\n/g, ' ').split(/:\s/).slice(1).join(' ').split(/\s+/).filter(Boolean);
  for (const d of [source, ...deps]) {
    if (!existsSync(d) || statSync(d).mtimeMs > t) return true;
  }
  return false;
}

const jobs = [];
const objects = [];
const objName = (f, suffix) => join(objDir, relative(src, f).replace(/[\\/]/g, '__') + suffix);
for (const f of cpp) {
  const o = objName(f, '.o');
  objects.push(o);
  if (stale(f, o)) jobs.push({ cmd: 'g++', args: [...cxxFlags, '-MMD', '-MF', `${o}.d`, '-c', f, '-o', o], name: relative(here, f) });
}
if (cudaOn) {
  for (const f of cu) {
    const o = objName(f, '.cu.o');
    objects.push(o);
    if (stale(f, o)) jobs.push({ cmd: nvcc, args: [...nvccFlags, '-MD', '-MF', `${o}.d`, '-c', f, '-o', o], name: relative(here, f) });
  }
}

async function runAll() {
  let i = 0;
  let failed = null;
  const worker = async () => {
    while (i < jobs.length && !failed) {
      const job = jobs[i++];
      process.stdout.write(`native: ${job.cmd === 'g++' ? 'c++ ' : 'nvcc'} ${job.name}\n`);
      await new Promise((res) => {
        const p = spawn(job.cmd, job.args, { stdio: 'inherit' });
        p.on('exit', (code) => { if (code !== 0) failed = job.name; res(); });
      });
    }
  };
  const n = Number(process.env.HUKUK_JOBS) || Math.max(1, cpus().length);
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) { console.error(`native: compiling ${failed} failed`); process.exit(1); }
}
await runAll();

const target = join(out, 'hukuk_engine.node');
if (objects.length === 0) {
  console.log('native: no sources yet');
  process.exit(0);
}
// Relink when an object changed or the last link was of another configuration.
const stampFile = join(out, 'link.stamp');
const linkStamp = JSON.stringify({ objDir, objects });
const linkedWith = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '';
const newestObj = Math.max(...objects.map((o) => statSync(o).mtimeMs));
if (jobs.length === 0 && existsSync(target) && linkedWith === linkStamp && statSync(target).mtimeMs >= newestObj) {
  console.log(`native: ${relative(process.cwd(), target)} is up to date (${cudaOn ? 'CPU + CUDA' : 'CPU only'})`);
  process.exit(0);
}
const linkArgs = ['-shared', '-fopenmp', '-o', `${target}.tmp`, ...objects];
if (cudaOn) {
  const libDirs = [join(cudaHome, 'lib64'), join(cudaHome, 'targets', 'x86_64-linux', 'lib')].filter(existsSync);
  // cudart static: the user needs the driver only. cuBLAS is opened at run time (dlopen) when present.
  linkArgs.push(...libDirs.map((d) => `-L${d}`), '-lcudart_static', '-ldl', '-lpthread', '-lrt');
} else {
  linkArgs.push('-ldl');
}
execFileSync('g++', linkArgs, { stdio: 'inherit' });
// Rename into place so a process that has the old file loaded is not disturbed.
execFileSync('mv', ['-f', `${target}.tmp`, target]);
writeFileSync(stampFile, linkStamp);
console.log(`native: built ${relative(process.cwd(), target)} (${cudaOn ? 'CPU + CUDA' : 'CPU only'})`);
