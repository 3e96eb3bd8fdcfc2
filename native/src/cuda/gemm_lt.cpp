// See gemm_lt.h. cuBLASLt through the loader's CublasLtApi (dlopen); no cuBLAS header here.
#include "cuda/gemm_lt.h"

#if defined(HUKUK_CUDA)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "cuda/cublas_loader.h"

namespace hukuk::cuda {

namespace {

// The key: every GEMM argument that can change cuBLASLt's choice or make an algorithm invalid.
// Alignment: cuBLASLt's heuristic assumes 256-byte aligned operands unless told less
// (MIN_ALIGNMENT_*), and an algorithm picked for aligned pointers may not run on less aligned
// ones, so each operand's alignment (of its pointer and, batched, of its stride) is part of it.
enum KeyField {
  kDev, kOpA, kOpB, kM, kN, kK, kTypeA, kTypeB, kTypeC, kLda, kLdb, kLdc, kStrideA, kStrideB, kStrideC, kBatch,
  kBetaNonzero, kAlignA, kAlignB, kAlignC, kKeyFields
};
struct Key {
  long long f[kKeyFields];
  bool operator==(const Key& o) const { return std::memcmp(f, o.f, sizeof f) == 0; }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ull;
    for (long long v : k.f) h = (h ^ uint64_t(v)) * 1099511628211ull;
    return size_t(h ^ (h >> 29));
  }
};

int elem_bytes(int type) { return type == kCudaR32F ? 4 : 2; }

// Largest power of two (at most 256) dividing the address and, batched, the stride in bytes.
long long alignment(const void* p, long long stride, int type, int batch) {
  uint64_t a = reinterpret_cast<uintptr_t>(p);
  if (batch > 1 && stride) a |= uint64_t(stride) * uint64_t(elem_bytes(type));
  long long al = 256;
  while (al > 1 && (a & uint64_t(al - 1))) al >>= 1;
  return al;
}

Key make_key(const ColGemm& g, int dev) {
  const bool batched = g.batch > 1;
  Key k{};
  k.f[kDev] = dev;
  k.f[kOpA] = g.op_a;
  k.f[kOpB] = g.op_b;
  k.f[kM] = g.m;
  k.f[kN] = g.n;
  k.f[kK] = g.k;
  k.f[kTypeA] = g.a_type;
  k.f[kTypeB] = g.b_type;
  k.f[kTypeC] = g.c_type;
  k.f[kLda] = g.lda;
  k.f[kLdb] = g.ldb;
  k.f[kLdc] = g.ldc;
  k.f[kStrideA] = batched ? g.stride_a : 0;
  k.f[kStrideB] = batched ? g.stride_b : 0;
  k.f[kStrideC] = batched ? g.stride_c : 0;
  k.f[kBatch] = g.batch;
  k.f[kBetaNonzero] = g.beta != 0.f;
  k.f[kAlignA] = alignment(g.a, g.stride_a, g.a_type, g.batch);
  k.f[kAlignB] = alignment(g.b, g.stride_b, g.b_type, g.batch);
  k.f[kAlignC] = alignment(g.c, g.stride_c, g.c_type, g.batch);
  return k;
}

struct Entry {
  Key key;
  void *desc = nullptr, *la = nullptr, *lb = nullptr, *lc = nullptr;  // cuBLASLt descriptors (kept)
  CublasLtAlgo algo{};             // heuristic #0 until tuned, then the fastest
  size_t algo_ws = 0;              // its workspace need
  CublasLtAlgo algo_nows{};        // heuristic #0 with no workspace (a capture before any exists)
  bool have_nows = false, nows_none = false;
  enum State { kUntuned, kPending, kTuned } state = kUntuned;
  bool use_ex = false;  // GemmEx: it won the timing, or cuBLASLt has no algorithm for the key
  long long calls = 0;
  double default_us = -1, best_us = -1;  // the timing (µs per GEMM): GemmEx default, the winner
};

struct DevState {
  void* lt = nullptr;                 // cublasLtHandle_t
  void* ws = nullptr;                 // workspace of the streams without their own handle
  cudaStream_t tune_stream = nullptr;
  cudaEvent_t ev0 = nullptr, ev1 = nullptr;
};

struct ThreadState {
  std::unordered_map<Key, Entry*, KeyHash> cache;  // entries live for the process (descriptors too)
  std::vector<Entry*> pending;
  bool recapture = false;  // a capture ran without a workspace
  std::vector<DevState> devs;
  GemmLtStats stats;
  int force = -1;
};

// Per host thread, made on first use and never freed (its descriptors belong to cuBLASLt, which
// lives for the process; a thread_local destructor could run after the library is gone).
ThreadState& state() {
  thread_local ThreadState* t = new ThreadState;
  return *t;
}

bool env_is_1(const char* name) {
  const char* v = std::getenv(name);
  return v && v[0] == '1' && v[1] == '\0';
}

std::string lt_status(int st) { return "cuBLASLt status " + std::to_string(st); }

DevState& dev_state(ThreadState& t, int dev, const CublasLtApi& lt) {
  if (t.devs.size() <= size_t(dev)) t.devs.resize(size_t(dev) + 1);
  DevState& d = t.devs[size_t(dev)];
  if (!d.lt) {
    const int st = lt.create(&d.lt);
    if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasLtCreate: " + lt_status(st));
  }
  return d;
}

// Up to `want` heuristic algorithms for e's problem with at most `ws_bytes` of workspace.
int heuristics(const CublasLtApi& lt, void* h, const Entry& e, size_t ws_bytes, int want, CublasLtHeuristic* out) {
  void* pref = nullptr;
  if (lt.pref_create(&pref) != 0) return 0;
  const uint64_t ws = ws_bytes;
  lt.pref_set(pref, kLtPrefMaxWorkspaceBytes, &ws, sizeof ws);
  const uint32_t al_a = uint32_t(e.key.f[kAlignA]), al_b = uint32_t(e.key.f[kAlignB]), al_c = uint32_t(e.key.f[kAlignC]);
  lt.pref_set(pref, kLtPrefMinAlignA, &al_a, sizeof al_a);
  lt.pref_set(pref, kLtPrefMinAlignB, &al_b, sizeof al_b);
  lt.pref_set(pref, kLtPrefMinAlignC, &al_c, sizeof al_c);
  lt.pref_set(pref, kLtPrefMinAlignD, &al_c, sizeof al_c);
  int got = 0;
  const int st = lt.heuristic(h, e.desc, e.la, e.lb, e.lc, e.lc, pref, want, out, &got);
  lt.pref_destroy(pref);
  if (st != 0) return 0;
  int n = 0;  // keep those whose state is success, in order
  for (int i = 0; i < got; ++i)
    if (out[i].state == 0) out[n++] = out[i];
  return n;
}

// Descriptors and heuristic #0 for a new key; a key cuBLASLt cannot describe goes to GemmEx.
Entry* make_entry(const CublasLtApi& lt, void* h, const Key& k) {
  Entry* e = new Entry;
  e->key = k;
  const int op_a = int(k.f[kOpA]), op_b = int(k.f[kOpB]);
  const uint64_t m = uint64_t(k.f[kM]), n = uint64_t(k.f[kN]), kk = uint64_t(k.f[kK]);
  bool ok = lt.desc_create(&e->desc, kCublasCompute32F, kCudaR32F) == 0;
  const int32_t ta = op_a, tb = op_b;
  ok = ok && lt.desc_set(e->desc, kLtDescTransA, &ta, sizeof ta) == 0 &&
       lt.desc_set(e->desc, kLtDescTransB, &tb, sizeof tb) == 0;
  // column-major layouts as stored: op(A) is m x k, so A is m x k (N) or k x m (T); likewise B
  ok = ok && lt.layout_create(&e->la, int(k.f[kTypeA]), op_a == kCublasOpN ? m : kk, op_a == kCublasOpN ? kk : m,
                              k.f[kLda]) == 0;
  ok = ok && lt.layout_create(&e->lb, int(k.f[kTypeB]), op_b == kCublasOpN ? kk : n, op_b == kCublasOpN ? n : kk,
                              k.f[kLdb]) == 0;
  ok = ok && lt.layout_create(&e->lc, int(k.f[kTypeC]), m, n, k.f[kLdc]) == 0;
  const int32_t batch = int32_t(k.f[kBatch]);
  if (ok && batch > 1) {
    const int64_t sa = k.f[kStrideA], sb = k.f[kStrideB], sc = k.f[kStrideC];
    ok = lt.layout_set(e->la, kLtLayoutBatchCount, &batch, sizeof batch) == 0 &&
         lt.layout_set(e->la, kLtLayoutStridedBatchOffset, &sa, sizeof sa) == 0 &&
         lt.layout_set(e->lb, kLtLayoutBatchCount, &batch, sizeof batch) == 0 &&
         lt.layout_set(e->lb, kLtLayoutStridedBatchOffset, &sb, sizeof sb) == 0 &&
         lt.layout_set(e->lc, kLtLayoutBatchCount, &batch, sizeof batch) == 0 &&
         lt.layout_set(e->lc, kLtLayoutStridedBatchOffset, &sc, sizeof sc) == 0;
  }
  CublasLtHeuristic first[1];
  if (ok && heuristics(lt, h, *e, kGemmLtWorkspaceBytes, 1, first) == 1) {
    e->algo = first[0].algo;
    e->algo_ws = first[0].workspace_size;
  } else {
    e->use_ex = true;
    e->state = Entry::kTuned;
  }
  return e;
}

// Elements a column-major operand of rows x cols (ld) spans, over the batch.
size_t extent(long long rows, long long cols, long long ld, long long stride, long long batch) {
  return size_t((cols - 1) * ld + rows + (batch > 1 ? (batch - 1) * stride : 0));
}

// Pseudo-random bf16 values in [-1, 1) (read as fp32 where C is fp32: finite, of the same size).
void fill_scratch(void* p, size_t bytes) {
  static std::vector<uint16_t> chunk = [] {
    std::vector<uint16_t> c(size_t(1) << 20);
    uint32_t s = 12345;
    for (uint16_t& v : c) {
      s = s * 1664525u + 1013904223u;
      const float f = float(s >> 8) / float(1 << 24) * 2.f - 1.f;
      uint32_t b;
      std::memcpy(&b, &f, 4);
      v = uint16_t(b >> 16);
    }
    return c;
  }();
  const size_t cb = chunk.size() * 2;
  for (size_t off = 0; off < bytes; off += cb)
    HUKUK_CUDA_CHECK(cudaMemcpy(static_cast<char*>(p) + off, chunk.data(), std::min(cb, bytes - off), cudaMemcpyHostToDevice));
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Times GemmEx's default and cuBLASLt's top kLtCandidates for e on scratch operands (never the
// caller's C: a beta = 1 GEMM accumulates into gradients) and keeps the fastest. Outside capture.
void tune(ThreadState& t, Entry& e, const Cublas& blas) {
  const double t0 = now_ms();
  const CublasLtApi& lt = *blas.lt();
  const Key& k = e.key;
  int prev_dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&prev_dev));
  if (prev_dev != int(k.f[kDev])) HUKUK_CUDA_CHECK(cudaSetDevice(int(k.f[kDev])));
  DevState& d = dev_state(t, int(k.f[kDev]), lt);
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());  // nothing else running while we time
  if (!d.ws) HUKUK_CUDA_CHECK(cudaMalloc(&d.ws, kGemmLtWorkspaceBytes));
  if (!d.tune_stream) HUKUK_CUDA_CHECK(cudaStreamCreateWithFlags(&d.tune_stream, cudaStreamNonBlocking));
  if (!d.ev0) HUKUK_CUDA_CHECK(cudaEventCreate(&d.ev0));
  if (!d.ev1) HUKUK_CUDA_CHECK(cudaEventCreate(&d.ev1));
  e.state = Entry::kTuned;
  t.stats.tuned++;
  const bool log = env_is_1("HUKUK_GEMM_TUNE_LOG");
  CublasLtHeuristic cand[kLtCandidates];
  const int n = heuristics(lt, d.lt, e, kGemmLtWorkspaceBytes, kLtCandidates, cand);
  if (n == 0) {
    e.use_ex = true;
    if (log) std::fprintf(stderr, "gemm-lt: m=%lld n=%lld k=%lld: no cuBLASLt algorithm, GemmEx\n", k.f[kM], k.f[kN], k.f[kK]);
    if (prev_dev != int(k.f[kDev])) cudaSetDevice(prev_dev);
    return;
  }
  const int op_a = int(k.f[kOpA]), op_b = int(k.f[kOpB]);
  const long long m = k.f[kM], nn = k.f[kN], kk = k.f[kK], batch = k.f[kBatch];
  const size_t a_bytes = extent(op_a == kCublasOpN ? m : kk, op_a == kCublasOpN ? kk : m, k.f[kLda], k.f[kStrideA], batch) *
                         size_t(elem_bytes(int(k.f[kTypeA])));
  const size_t b_bytes = extent(op_b == kCublasOpN ? kk : nn, op_b == kCublasOpN ? nn : kk, k.f[kLdb], k.f[kStrideB], batch) *
                         size_t(elem_bytes(int(k.f[kTypeB])));
  const size_t c_bytes = extent(m, nn, k.f[kLdc], k.f[kStrideC], batch) * size_t(elem_bytes(int(k.f[kTypeC])));
  auto up = [](size_t b) { return (b + 511) / 256 * 256; };  // + room to offset to the key's alignment
  char* scratch = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&scratch), up(a_bytes) + up(b_bytes) + up(c_bytes)) != cudaSuccess) {
    cudaGetLastError();  // no room to time: keep heuristic #0
    if (log) std::fprintf(stderr, "gemm-lt: m=%lld n=%lld k=%lld: no memory for the timing scratch, heuristic #0\n", m, nn, kk);
    if (prev_dev != int(k.f[kDev])) cudaSetDevice(prev_dev);
    return;
  }
  fill_scratch(scratch, up(a_bytes) + up(b_bytes) + up(c_bytes));
  // the operands at exactly the key's alignment (an algorithm's speed can depend on it)
  auto at = [](char* base, long long al) { return base + (al < 256 ? al : 0); };
  const void* A = at(scratch, k.f[kAlignA]);
  const void* B = at(scratch + up(a_bytes), k.f[kAlignB]);
  void* C = at(scratch + up(a_bytes) + up(b_bytes), k.f[kAlignC]);
  const float alpha = 1.f, beta = k.f[kBetaNonzero] ? 1.f : 0.f;
  cudaStream_t s = d.tune_stream;
  void* hx = blas.handle(s);
  auto run_ex = [&] {
    return blas.api().gemm_strided_batched_ex(hx, op_a, op_b, int(m), int(nn), int(kk), &alpha, A, int(k.f[kTypeA]),
                                              int(k.f[kLda]), k.f[kStrideA], B, int(k.f[kTypeB]), int(k.f[kLdb]),
                                              k.f[kStrideB], &beta, C, int(k.f[kTypeC]), int(k.f[kLdc]), k.f[kStrideC],
                                              int(batch), kCublasCompute32F, kCublasGemmDefault);
  };
  auto run_lt = [&](int i) {
    return lt.matmul(d.lt, e.desc, &alpha, A, e.la, B, e.lb, &beta, C, e.lc, C, e.lc, &cand[i].algo, d.ws,
                     kGemmLtWorkspaceBytes, s);
  };
  // A timed block is `reps` calls captured into a CUDA graph and replayed (once to warm up, then
  // once per pass): the step replays its GEMMs from a graph, and launching them one by one from
  // the host would time the launch rate, not the kernels, for the small ones (~5 µs). nullptr: a
  // call failed (that candidate is left out).
  std::vector<cudaGraphExec_t> blocks;
  auto make_block = [&](auto&& fn, int reps) -> cudaGraphExec_t {
    cudaGraph_t g = nullptr;
    cudaGraphExec_t x = nullptr;
    HUKUK_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    bool bad = false;
    for (int r = 0; r < reps && !bad; ++r) bad = fn() != 0;
    const cudaError_t ee = cudaStreamEndCapture(s, &g);
    if (bad || ee != cudaSuccess || !g || cudaGraphInstantiate(&x, g, 0) != cudaSuccess) x = nullptr;
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    if (x && (cudaGraphLaunch(x, s) != cudaSuccess || cudaStreamSynchronize(s) != cudaSuccess)) {  // warm-up
      cudaGetLastError();
      cudaGraphExecDestroy(x);
      x = nullptr;
    }
    if (x) blocks.push_back(x);
    return x;
  };
  auto time_us = [&](cudaGraphExec_t x, int reps) {
    HUKUK_CUDA_CHECK(cudaEventRecord(d.ev0, s));
    HUKUK_CUDA_CHECK(cudaGraphLaunch(x, s));
    HUKUK_CUDA_CHECK(cudaEventRecord(d.ev1, s));
    HUKUK_CUDA_CHECK(cudaEventSynchronize(d.ev1));
    float ms = 0;
    HUKUK_CUDA_CHECK(cudaEventElapsedTime(&ms, d.ev0, d.ev1));
    return double(ms) * 1e3 / reps;
  };
  // the block size from GemmEx's (or heuristic #0's) time: ~0.3 ms a block, 2..50 calls
  cudaGraphExec_t probe = make_block(run_ex, 3);
  const bool ex_ok = probe != nullptr;
  if (!probe) probe = make_block([&] { return run_lt(0); }, 3);
  const double est = probe ? time_us(probe, 3) : 10.0;
  const int reps = std::clamp(int(300.0 / std::max(est, 0.5)), 2, 50);
  cudaGraphExec_t ex_block = ex_ok ? make_block(run_ex, reps) : nullptr;
  std::vector<cudaGraphExec_t> lt_block(size_t(n), nullptr);
  for (int i = 0; i < n; ++i) lt_block[size_t(i)] = make_block([&] { return run_lt(i); }, reps);
  std::vector<bool> ok(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i) ok[size_t(i)] = lt_block[size_t(i)] != nullptr;
  double ex_us = 1e30;
  std::vector<double> us(size_t(n), 1e30);
  for (int pass = 0; pass < 2; ++pass) {  // two passes, the second in reverse order; the min of each
    if (ex_block) ex_us = std::min(ex_us, time_us(ex_block, reps));
    for (int j = 0; j < n; ++j) {
      const int i = pass == 0 ? j : n - 1 - j;
      if (ok[size_t(i)]) us[size_t(i)] = std::min(us[size_t(i)], time_us(lt_block[size_t(i)], reps));
    }
  }
  for (cudaGraphExec_t x : blocks) cudaGraphExecDestroy(x);
  HUKUK_CUDA_CHECK(cudaFree(scratch));
  int best = -1;
  for (int i = 0; i < n; ++i)
    if (ok[size_t(i)] && (best < 0 || us[size_t(i)] < us[size_t(best)])) best = i;
  if (best < 0 || (ex_block && ex_us <= us[size_t(best)])) {
    e.use_ex = true;
  } else {
    e.algo = cand[best].algo;
    e.algo_ws = cand[best].workspace_size;
  }
  e.default_us = ex_block ? ex_us : -1;
  e.best_us = e.use_ex ? ex_us : us[size_t(best)];
  const double ms = now_ms() - t0;
  t.stats.tune_ms += ms;
  if (log)
    std::fprintf(stderr,
                 "gemm-lt: m=%lld n=%lld k=%lld op=%c%c batch=%lld beta=%d c=%s lda=%lld ldb=%lld ldc=%lld: GemmEx default "
                 "%.2f us, heuristic #0 %.2f us, best %.2f us (#%d of %d, ws %zu KiB) -> %s [%.1f ms]\n",
                 m, nn, kk, op_a == kCublasOpN ? 'N' : 'T', op_b == kCublasOpN ? 'N' : 'T', batch, int(beta),
                 k.f[kTypeC] == kCudaR32F ? "f32" : "bf16", k.f[kLda], k.f[kLdb], k.f[kLdc], e.default_us,
                 ok[0] ? us[0] : -1.0, e.best_us, best, n, e.use_ex ? size_t(0) : e.algo_ws >> 10,
                 e.use_ex ? "GemmEx" : "cuBLASLt", ms);
  if (prev_dev != int(k.f[kDev])) cudaSetDevice(prev_dev);
}

}  // namespace

bool gemm_lt_on() {
  const ThreadState& t = state();
  const bool on = t.force >= 0 ? t.force == 1 : env_is_1("HUKUK_GEMM_LT");
  return on && cublas_info().lt_available;
}

void gemm_lt_force(int mode) { state().force = mode; }

bool gemm_lt(cudaStream_t stream, const ColGemm& g) {
  if (g.a_type != kCudaR16BF || g.b_type != kCudaR16BF || g.m <= 0 || g.n <= 0 || g.k <= 0 || g.batch <= 0) return false;
  if (!gemm_lt_on()) return false;
  const Cublas& blas = cublas();
  const CublasLtApi& lt = *blas.lt();
  ThreadState& t = state();
  int dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  DevState& d = dev_state(t, dev, lt);
  const Key key = make_key(g, dev);
  auto it = t.cache.find(key);
  if (it == t.cache.end()) {
    it = t.cache.emplace(key, make_entry(lt, d.lt, key)).first;
    t.stats.keys++;
  }
  Entry& e = *it->second;
  e.calls++;
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  HUKUK_CUDA_CHECK(cudaStreamIsCapturing(stream, &cs));
  const bool capturing = cs != cudaStreamCaptureStatusNone;
  if (capturing) t.stats.capture_calls++;
  if (e.state == Entry::kUntuned) {
    if (capturing) {
      e.state = Entry::kPending;  // heuristic #0 in this capture; timed by gemm_tune_run
      t.pending.push_back(&e);
    } else {
      tune(t, e, blas);
    }
  }
  if (e.use_ex) {
    t.stats.ex_calls++;
    return false;
  }
  // the stream's workspace: its own (a stream with its own handle) or this thread's
  void* ws = nullptr;
  if (blas.owned_workspace(stream, &ws)) {
    if (!ws && !capturing) {
      HUKUK_CUDA_CHECK(cudaMalloc(&ws, kGemmLtWorkspaceBytes));
      blas.set_owned_workspace(stream, ws);
    }
  } else {
    if (!d.ws && !capturing) HUKUK_CUDA_CHECK(cudaMalloc(&d.ws, kGemmLtWorkspaceBytes));
    ws = d.ws;
  }
  const CublasLtAlgo* algo = &e.algo;
  size_t ws_bytes = kGemmLtWorkspaceBytes;
  if (!ws) {  // captured before any workspace was made: no-workspace #0 now, a re-capture later
    t.recapture = true;
    if (!e.have_nows) {
      CublasLtHeuristic r[1];
      e.have_nows = true;
      e.nows_none = heuristics(lt, d.lt, e, 0, 1, r) != 1;
      if (!e.nows_none) e.algo_nows = r[0].algo;
    }
    if (e.nows_none) return false;
    algo = &e.algo_nows;
    ws_bytes = 0;
  }
  const int st = lt.matmul(d.lt, e.desc, &g.alpha, g.a, e.la, g.b, e.lb, &g.beta, g.c, e.lc, g.c, e.lc, algo, ws,
                           ws_bytes, stream);
  if (st != 0)
    HUKUK_FAIL("ENGINE_CUDA", "cublasLtMatmul: " + lt_status(st) + " (m=" + std::to_string(g.m) + " n=" +
                                  std::to_string(g.n) + " k=" + std::to_string(g.k) + " batch=" + std::to_string(g.batch) + ")");
  t.stats.lt_calls++;
  return true;
}

bool gemm_tune_pending() {
  const ThreadState& t = state();
  return !t.pending.empty() || t.recapture;
}

void gemm_tune_run() {
  ThreadState& t = state();
  if (t.pending.empty() && !t.recapture) return;
  const Cublas& blas = cublas();
  const double t0 = now_ms();
  int dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  DevState& d = dev_state(t, dev, *blas.lt());
  HUKUK_CUDA_CHECK(cudaDeviceSynchronize());
  if (!d.ws) HUKUK_CUDA_CHECK(cudaMalloc(&d.ws, kGemmLtWorkspaceBytes));
  blas.alloc_owned_workspaces(kGemmLtWorkspaceBytes);
  // per step: each pending key's calls were seen in one captured step (new keys of that step)
  double def_us = 0, best_us = 0;
  size_t max_ws = 0, n = 0;
  for (Entry* e : t.pending) {
    if (e->state != Entry::kPending) continue;
    tune(t, *e, blas);
    ++n;
    if (e->default_us > 0) {
      def_us += e->default_us * double(e->calls);
      best_us += e->best_us * double(e->calls);
    }
    if (!e->use_ex) max_ws = std::max(max_ws, e->algo_ws);
  }
  t.pending.clear();
  t.recapture = false;
  if (env_is_1("HUKUK_GEMM_TUNE_LOG"))
    std::fprintf(stderr,
                 "gemm-lt: tuned %zu keys in %.0f ms; their GEMMs in the captured step: GemmEx default %.1f us -> "
                 "tuned %.1f us (timed alone, warm L2); largest workspace of a chosen algorithm %zu KiB\n",
                 n, now_ms() - t0, def_us, best_us, max_ws >> 10);
}

GemmLtStats gemm_lt_stats() {
  const ThreadState& t = state();
  GemmLtStats s = t.stats;
  s.pending = (long long)t.pending.size();
  return s;
}

}  // namespace hukuk::cuda

#endif  // HUKUK_CUDA
