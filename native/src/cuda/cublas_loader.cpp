// See cublas_loader.h. Only dlopen/dlsym here; no cuBLAS header or library at build time.
#include "cuda/cublas_loader.h"

#include <map>
#include <mutex>

#if defined(HUKUK_CUDA)
#include <dlfcn.h>

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
    for (const std::string& dir : search_dirs()) {
      for (const char* ver : {"13", "12", "11"}) {
        std::string prefix = dir.empty() ? "" : dir + "/";
        // cuBLASLt first, globally, so libcublas finds it by soname in the same folder.
        std::string lt = prefix + "libcublasLt.so." + ver;
        dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
        std::string path = prefix + "libcublas.so." + ver;
        lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib) {
          loaded.info.path = path;
          break;
        }
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
    loaded.blas = new Cublas(api);  // lives for the process, like the library
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
std::mutex g_owned_mu;
std::map<cudaStream_t, void*> g_owned;  // own_handle(): stream -> its handle
}  // namespace

void Cublas::own_handle(cudaStream_t stream) const {
  std::lock_guard<std::mutex> lk(g_owned_mu);
  if (g_owned.count(stream)) return;
  void* h = nullptr;
  int st = api_.create(&h);
  if (st != 0) HUKUK_FAIL("ENGINE_CUDA", "cublasCreate: " + status_text(api_, st));
  st = api_.set_stream(h, stream);
  if (st != 0) {
    api_.destroy(h);
    HUKUK_FAIL("ENGINE_CUDA", "cublasSetStream: " + status_text(api_, st));
  }
  g_owned[stream] = h;
}

void Cublas::release_handle(cudaStream_t stream) const {
  std::lock_guard<std::mutex> lk(g_owned_mu);
  auto it = g_owned.find(stream);
  if (it == g_owned.end()) return;
  api_.destroy(it->second);
  g_owned.erase(it);
}

void* Cublas::handle(cudaStream_t stream) const {
  {
    std::lock_guard<std::mutex> lk(g_owned_mu);
    auto it = g_owned.find(stream);
    if (it != g_owned.end()) return it->second;  // bound to its stream when made
  }
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
  void* h = handle(stream);
  const int opb = B.transposed ? kCublasOpT : kCublasOpN, ldb = static_cast<int>(B.transposed ? K : N);
  const int opa = A.transposed ? kCublasOpT : kCublasOpN, lda = static_cast<int>(A.transposed ? M : K);
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
