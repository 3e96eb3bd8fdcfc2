// See cublas_loader.h. Only dlopen/dlsym here; no cuBLAS header or library at build time.
#include "cuda/cublas_loader.h"

#if defined(HUKUK_CUDA)
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"

namespace hukuk::cuda {

namespace {

struct Loaded {
  CublasInfo info;
  Cublas* blas = nullptr;
};

std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("HUKUK_CUBLAS_DIR")) dirs.push_back(d);
  dirs.push_back("");  // the dynamic loader's own search (LD_LIBRARY_PATH, ldconfig cache)
  if (const char* h = std::getenv("CUDA_HOME")) dirs.push_back(std::string(h) + "/lib64");
  dirs.push_back("/usr/local/cuda/lib64");
  dirs.push_back("/usr/local/cuda/targets/x86_64-linux/lib");
  return dirs;
}

template <typename F>
void sym(void* lib, const char* name, F& fn, bool required, std::string* missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn && required) *missing += std::string(missing->empty() ? "" : ", ") + name;
}

Loaded& load() {
  static Loaded loaded;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    void* lib = nullptr;
    void* lt_lib = nullptr;
    for (const std::string& dir : search_dirs()) {
      for (const char* ver : {"13", "12", "11"}) {
        std::string prefix = dir.empty() ? "" : dir + "/";
        // cuBLASLt first, globally, so libcublas finds it by soname in the same folder.
        std::string lt = prefix + "libcublasLt.so." + ver;
        void* lt_here = dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
        std::string path = prefix + "libcublas.so." + ver;
        lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib) {
          loaded.info.path = path;
          lt_lib = lt_here;
          break;
        }
        if (lt_here) dlclose(lt_here);
        dlerror();  // clear
        tried += (tried.empty() ? "" : ", ") + path;
      }
      if (lib) break;
    }
    if (!lib) {
      loaded.info.error = "cuBLAS not found (set HUKUK_CUBLAS_DIR to the folder holding libcublas.so.*). Tried: " + tried;
      return;
    }
    CublasApi api;
    std::string missing;
    sym(lib, "cublasCreate_v2", api.create, true, &missing);
    sym(lib, "cublasDestroy_v2", api.destroy, true, &missing);
    sym(lib, "cublasSetStream_v2", api.set_stream, true, &missing);
    sym(lib, "cublasSetWorkspace_v2", api.set_workspace, false, &missing);
    sym(lib, "cublasGemmEx", api.gemm_ex, true, &missing);
    sym(lib, "cublasGemmStridedBatchedEx", api.gemm_strided_batched_ex, true, &missing);
    sym(lib, "cublasGetStatusString", api.status_string, false, &missing);
    sym(lib, "cublasGetVersion_v2", api.get_version, false, &missing);
    if (!missing.empty()) {
      loaded.info.error = loaded.info.path + " lacks " + missing;
      return;
    }
    // cuBLASLt's matmul API (cuda/gemm_lt): optional; without it every GEMM stays on GemmEx.
    CublasLtApi* lt = nullptr;
    if (lt_lib) {
      CublasLtApi l;
      std::string lt_missing;
      sym(lt_lib, "cublasLtCreate", l.create, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulDescCreate", l.desc_create, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulDescDestroy", l.desc_destroy, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulDescSetAttribute", l.desc_set, true, &lt_missing);
      sym(lt_lib, "cublasLtMatrixLayoutCreate", l.layout_create, true, &lt_missing);
      sym(lt_lib, "cublasLtMatrixLayoutDestroy", l.layout_destroy, true, &lt_missing);
      sym(lt_lib, "cublasLtMatrixLayoutSetAttribute", l.layout_set, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulPreferenceCreate", l.pref_create, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulPreferenceDestroy", l.pref_destroy, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulPreferenceSetAttribute", l.pref_set, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmulAlgoGetHeuristic", l.heuristic, true, &lt_missing);
      sym(lt_lib, "cublasLtMatmul", l.matmul, true, &lt_missing);
      if (lt_missing.empty()) {
        lt = new CublasLtApi(l);  // lives for the process
        loaded.info.lt_available = true;
      } else {
        loaded.info.lt_error = "libcublasLt lacks " + lt_missing;
      }
    } else {
      loaded.info.lt_error = "libcublasLt was not opened from " + loaded.info.path + "'s folder";
    }
    loaded.blas = new Cublas(api, lt);  // lives for the process, like the library
    loaded.info.available = true;
  });
  return loaded;
}

std::string status_text(const CublasApi& api, int status) {
  std::string s = "cuBLAS status " + std::to_string(status);
  if (api.status_string) s += std::string(" (") + api.status_string(status) + ")";
  return s;
}

}  // namespace

const CublasInfo& cublas_info() { return load().info; }

const Cublas& cublas() {
  Loaded& l = load();
  if (!l.blas) HUKUK_FAIL("ENGINE_NO_CUBLAS", l.info.error);
  return *l.blas;
}

namespace {
// Streams given their own handle (own_handle). handle() runs on every GEMM, so it reads these
// slots without a lock: a slot is published by storing its stream last (release) and retired by
// clearing its stream first; own_handle / release_handle serialize among themselves with
// g_owned_mu. A reader on another thread racing release_handle of the same stream could still
// get the handle being destroyed: the contract (header) is that a stream's owner releases it on
// the thread that issues its GEMMs, after they are issued.
struct OwnedSlot {
  std::atomic<cudaStream_t> stream{nullptr};
  std::atomic<void*> handle{nullptr};
  std::atomic<void*> lt_workspace{nullptr};  // cuda/gemm_lt's workspace for this stream
};
OwnedSlot g_owned[Cublas::kMaxOwnedStreams];
std::atomic<int> g_owned_count{0};  // slots in use: 0 skips the scan (the common case)
std::mutex g_owned_mu;

OwnedSlot* find_owned(cudaStream_t stream) {
  if (!stream || g_owned_count.load(std::memory_order_acquire) == 0) return nullptr;
  for (OwnedSlot& s : g_owned)
    if (s.stream.load(std::memory_order_acquire) == stream) return &s;
  return nullptr;
}
}  // namespace

void Cublas::own_handle(cudaStream_t stream) const {
  HUKUK_CHECK(stream != nullptr, "ENGINE_INTERNAL", "own_handle: the legacy default stream cannot own a handle");
  std::lock_guard<std::mutex> lk(g_owned_mu);
  if (find_owned(stream)) return;
  OwnedSlot* slot = nullptr;
  for (OwnedSlot& s : g_owned)
    if (!s.stream.load(std::memory_order_relaxed)) {
      slot = &s;
      break;
    }
  HUKUK_CHECK(slot != nullptr, "ENGINE_INTERNAL",
              "own_handle: more than " + std::to_string(kMaxOwnedStreams) + " streams with their own cuBLAS handle");
  void* h = nullptr;
  int st = api_.create(&h);
  if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasCreate: " + status_text(api_, st));
  st = api_.set_stream(h, stream);
  if (st != 0) {
    api_.destroy(h);
    HUKUK_FAIL("ENGINE_CUDA", "cublasSetStream: " + status_text(api_, st));
  }
  // cuBLASLt under HUKUK_GEMM_LT=1: the workspace now (own_handle runs outside capture); else
  // gemm_lt / gemm_tune_run make it when first needed outside a capture.
  void* ws = nullptr;
  if (lt_ && gemm_lt_on() && cudaMalloc(&ws, kGemmLtWorkspaceBytes) != cudaSuccess) {
    cudaGetLastError();
    ws = nullptr;
  }
  slot->handle.store(h, std::memory_order_relaxed);
  slot->lt_workspace.store(ws, std::memory_order_relaxed);
  slot->stream.store(stream, std::memory_order_release);
  g_owned_count.fetch_add(1, std::memory_order_release);
}

void Cublas::release_handle(cudaStream_t stream) const {
  std::lock_guard<std::mutex> lk(g_owned_mu);
  OwnedSlot* slot = find_owned(stream);
  if (!slot) return;
  slot->stream.store(nullptr, std::memory_order_release);
  g_owned_count.fetch_sub(1, std::memory_order_release);
  api_.destroy(slot->handle.exchange(nullptr));
  if (void* ws = slot->lt_workspace.exchange(nullptr)) cudaFree(ws);
}

bool Cublas::owned_workspace(cudaStream_t stream, void** workspace) const {
  OwnedSlot* slot = find_owned(stream);
  *workspace = slot ? slot->lt_workspace.load(std::memory_order_acquire) : nullptr;
  return slot != nullptr;
}

void Cublas::set_owned_workspace(cudaStream_t stream, void* workspace) const {
  std::lock_guard<std::mutex> lk(g_owned_mu);
  OwnedSlot* slot = find_owned(stream);
  HUKUK_CHECK(slot != nullptr, "ENGINE_INTERNAL", "set_owned_workspace: the stream has no handle of its own");
  if (void* old = slot->lt_workspace.exchange(workspace, std::memory_order_acq_rel)) cudaFree(old);
}

void Cublas::alloc_owned_workspaces(size_t bytes) const {
  std::lock_guard<std::mutex> lk(g_owned_mu);
  for (OwnedSlot& s : g_owned) {
    if (!s.stream.load(std::memory_order_acquire) || s.lt_workspace.load(std::memory_order_acquire)) continue;
    void* ws = nullptr;
    HUKUK_CUDA_CHECK(cudaMalloc(&ws, bytes));
    s.lt_workspace.store(ws, std::memory_order_release);
  }
}

void* Cublas::handle(cudaStream_t stream) const {
  if (OwnedSlot* slot = find_owned(stream)) return slot->handle.load(std::memory_order_relaxed);  // bound when made
  // One handle per thread and device: cuBLAS handles are not thread-safe to share.
  thread_local std::vector<void*> handles;
  int dev = 0;
  HUKUK_CUDA_CHECK(cudaGetDevice(&dev));
  if (handles.size() <= static_cast<size_t>(dev)) handles.resize(dev + 1, nullptr);
  if (!handles[dev]) {
    int st = api_.create(&handles[dev]);
    if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasCreate: " + status_text(api_, st));
  }
  int st = api_.set_stream(handles[dev], stream);
  if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasSetStream: " + status_text(api_, st));
  return handles[dev];
}

void Cublas::gemm_rowmajor(cudaStream_t stream, int64_t M, int64_t N, int64_t K, Operand A, Operand B, void* C,
                           int c_type, float alpha, float beta, int batch, long long c_batch_stride) const {
  HUKUK_CHECK(M > 0 && N > 0 && K > 0 && batch > 0 && M < (1ll << 31) && N < (1ll << 31) && K < (1ll << 31),
              "ENGINE_INVALID_ARG", "cuBLAS GEMM: bad sizes");
  // Row-major C[M,N] = op(A) op(B) is column-major C^T[N,M] = op(B)^T op(A)^T. A row-major matrix
  // read as column-major is its transpose, so: first operand B with OP_N when stored [K,N]
  // (ld N) and OP_T when stored [N,K] (ld K); second operand A with OP_N when stored [M,K]
  // (ld K) and OP_T when stored [K,M] (ld M).
  const int opb = B.transposed ? kCublasOpT : kCublasOpN, ldb = static_cast<int>(B.transposed ? K : N);
  const int opa = A.transposed ? kCublasOpT : kCublasOpN, lda = static_cast<int>(A.transposed ? M : K);
  // bf16 operands: cuBLASLt with a tuned algorithm under HUKUK_GEMM_LT=1 (cuda/gemm_lt.h)
  if (gemm_lt(stream, ColGemm{opb, opa, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), B.ptr, B.type, ldb,
                              batch > 1 ? B.batch_stride : 0, A.ptr, A.type, lda, batch > 1 ? A.batch_stride : 0, C,
                              c_type, static_cast<int>(N), batch > 1 ? c_batch_stride : 0, batch, alpha, beta}))
    return;
  void* h = handle(stream);
  int st;
  if (batch == 1) {
    st = api_.gemm_ex(h, opb, opa, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B.ptr, B.type,
                      ldb, A.ptr, A.type, lda, &beta, C, c_type, static_cast<int>(N), kCublasCompute32F,
                      kCublasGemmDefault);
  } else {
    st = api_.gemm_strided_batched_ex(h, opb, opa, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
                                      B.ptr, B.type, ldb, B.batch_stride, A.ptr, A.type, lda, A.batch_stride, &beta, C,
                                      c_type, static_cast<int>(N), c_batch_stride, batch, kCublasCompute32F,
                                      kCublasGemmDefault);
  }
  if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasGemm(Strided)Ex: " + status_text(api_, st));
}

void Cublas::gemm_bf16_rowmajor(cudaStream_t stream, int64_t M, int64_t N, int64_t K, const void* A, const void* B,
                                bool b_transposed, void* C, bool c_bf16, float alpha, float beta) const {
  gemm_rowmajor(stream, M, N, K, {A, kCudaR16BF, false}, {B, kCudaR16BF, b_transposed}, C, c_bf16 ? kCudaR16BF : kCudaR32F,
                alpha, beta);
}

}  // namespace hukuk::cuda

#endif  // HUKUK_CUDA
