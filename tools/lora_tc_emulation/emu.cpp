// Host emulation of ops/lora_tc's tensor-core kernels against the CPU reference (ops/lora.cpp):
// the kernels themselves (native/src/ops/lora_tc_kernels.cuh, the file lora_tc.cu compiles) run
// with every CUDA thread a std::thread and mma.sync emulated from the PTX fragment layouts
// (prelude.h), so their fragment bookkeeping, dropout masks, split-M sums and hi/lo splits are
// checked on machines without a GPU. Written with the kernels (2026-11-28), which passed the same
// cases on an H200 afterwards. Run by tests/native/lora_tc_emulation.test.ts:
//   g++ -O2 -std=c++17 -pthread -Inative/src -Itools/lora_tc_emulation tools/lora_tc_emulation/emu.cpp \
//       native/src/ops/lora.cpp -o emu && ./emu quick
#include "prelude.h"
#include "ops/lora.h"
#include "ops/group_tickets.h"
using hukuk::ops::cuda::kGroupTicketBanks;
#include <cstdio>
#include <string>
namespace emu {
#include "ops/lora_tc_kernels.cuh"
}
using namespace emu;

static float rnd(uint64_t& s) { s = s * 6364136223846793005ull + 1442695040888963407ull; return float((s >> 40) & 0xffffff) / 16777216.f - 0.5f; }
static std::vector<float> rv(size_t n, uint64_t seed) { std::vector<float> v(n); for (auto& f : v) f = rnd(seed); return v; }
static std::vector<float> rbf(std::vector<float> v) { for (auto& f : v) f = bf16_to_f32(f32_to_bf16(f)); return v; }
static std::vector<__nv_bfloat16> tobf(const std::vector<float>& v) { std::vector<__nv_bfloat16> b(v.size()); for (size_t i = 0; i < v.size(); ++i) b[i].x = f32_to_bf16(v[i]); return b; }
static double rel(const float* a, const float* b, size_t n) { double d = 0, m = 0; for (size_t i = 0; i < n; ++i) { d = std::max(d, (double)std::fabs(a[i] - b[i])); m = std::max(m, (double)std::fabs(b[i])); } return m > 0 ? d / m : d; }
static int fails = 0;
static void report(const char* what, double e, double tol = 1e-5) { printf("%-60s %.3g %s\n", what, e, e <= tol ? "ok" : "FAIL"); if (!(e <= tol)) ++fails; }

// `emu quick` (the test suite's run): rows 1, 37 and 300; `emu`: also 1000 (several row splits
// more, about 3x the time)
int main(int argc, char** argv) {
  const uint64_t seed_v = 1234567, site = 31;
  const uint64_t* seed = &seed_v;
  const bool quick = argc > 1 && std::string(argv[1]) == "quick";
  const std::vector<int> Ms = quick ? std::vector<int>{1, 37, 300} : std::vector<int>{1, 37, 300, 1000};
  for (int M : Ms) for (int in : {64, 128}) for (float p : {0.f, 0.3f}) {
    const int r = 16; char name[200];
    auto x = rbf(rv(size_t(M) * in, 1 + M + in)), A = rv(size_t(r) * in, 2 + M), dh = rv(size_t(M) * r, 3 + M);
    auto xb = tobf(x);
    // down
    { std::vector<float> h(size_t(M) * r, -7.f), ref(size_t(M) * r);
      const int tiles = (M + 15) / 16;
      DropParams dp = drop_params(p, seed, site);
      launch(dim3(std::min(tiles, 264)), dim3((in / 64) * 32), [&] { down_kernel(xb.data(), A.data(), h.data(), M, in, dp); });
      ops::lora_down(x.data(), A.data(), ref.data(), M, in, r, p, seed_v, site);
      snprintf(name, sizeof name, "down M=%d in=%d p=%g", M, in, p); report(name, rel(h.data(), ref.data(), h.size()));
      // lora_down_group: n members in one launch, member i with its own A and dropout (site + 7919 i,
      // p halved for i == 1): every h_i bit for bit down_kernel's, and = the CPU reference
      for (int n : {1, 2, 3}) {
        if ((n != 3 && M != 37) || (M == 300 && (in != 128 || p == 0.f))) continue;  // the suite's time
        auto As = rv(size_t(n) * r * in, 50 + M);
        std::vector<float> hg(size_t(n) * M * r, -7.f), h1(size_t(n) * M * r, -7.f), hr(size_t(n) * M * r);
        DownGroupParams P = {};
        for (int i = 0; i < n; ++i) {
          P.A[i] = As.data() + size_t(i) * r * in; P.h[i] = hg.data() + size_t(i) * M * r;
          P.dp[i] = drop_params(i == 1 ? p * 0.5f : p, seed, site + 7919u * i);
        }
        launch(dim3(std::min(tiles, 264)), dim3((in / 64) * 32), [&] {
          if (n == 1) down_group_kernel<1>(xb.data(), P, M, in);
          else if (n == 2) down_group_kernel<2>(xb.data(), P, M, in);
          else down_group_kernel<3>(xb.data(), P, M, in); });
        for (int i = 0; i < n; ++i) {
          float* hi = h1.data() + size_t(i) * M * r;
          const DropParams dpi = P.dp[i];
          launch(dim3(std::min(tiles, 264)), dim3((in / 64) * 32), [&] { down_kernel(xb.data(), P.A[i], hi, M, in, dpi); });
          ops::lora_down(x.data(), P.A[i], hr.data() + size_t(i) * M * r, M, in, r, i == 1 ? p * 0.5f : p, seed_v, site + 7919u * i);
        }
        snprintf(name, sizeof name, "down_group n=%d M=%d in=%d p=%g (= CPU)", n, M, in, p); report(name, rel(hg.data(), hr.data(), hg.size()));
        snprintf(name, sizeof name, "down_group n=%d M=%d in=%d p=%g (bits = down_kernel's)", n, M, in, p);
        report(name, std::memcmp(hg.data(), h1.data(), hg.size() * sizeof(float)) == 0 ? 0 : 1, 0);
      } }
    // backward
    for (bool acc : {false, true}) {
      auto gA = rv(size_t(r) * in, 9), dx = rv(size_t(M) * in, 10);
      auto gAr = gA, dxr = dx;
      const RowSplit rs = row_split(M);
      std::vector<float> ws(size_t(rs.S) * r * in);
      DropParams dp = drop_params(p, seed, site);
      launch(dim3(in / 64, rs.S), dim3(32), [&] { backward_kernel<true>(dh.data(), xb.data(), A.data(), gA.data(), dx.data(), ws.data(), M, in, rs.rows, dp, acc, acc); });
      if (rs.S > 1) { const int64_t count = int64_t(r) * in;
        launch(dim3(unsigned((count + 255) / 256), 1), dim3(256), [&] { reduce_kernel(ws.data(), gA.data(), count, rs.S, dp.scale, acc, 0); }); }
      ops::lora_backward(dh.data(), x.data(), A.data(), gAr.data(), dxr.data(), M, in, r, p, seed_v, site, acc, acc);
      snprintf(name, sizeof name, "backward gA M=%d in=%d p=%g acc=%d S=%d", M, in, p, acc, rs.S); report(name, rel(gA.data(), gAr.data(), gA.size()));
      snprintf(name, sizeof name, "backward dx M=%d in=%d p=%g acc=%d", M, in, p, acc); report(name, rel(dx.data(), dxr.data(), dx.size()));
    }
    // lora_backward_group: n members sharing x and dx (member i's site: site + 7919 i), the split
    // partials reduced in-kernel by the last block of each column block
    // (512 threads a block: a few cases only, so the suite stays fast; M = 300 has 5 splits)
    for (int n : {1, 3}) for (bool acc : {false, true}) for (bool with_dx : {true, false}) {
      if (in != 128) continue;
      const bool main_case = n == 3 && acc && with_dx;  // every M and p
      const bool m300 = M == 300 && p > 0 && ((n == 1 && !acc && with_dx) || (n == 3 && acc && !with_dx));
      const bool m37 = M == 37 && n == 3 && !acc && with_dx;
      if (!main_case && !m300 && !m37) continue;
      std::vector<float> dhs = rv(size_t(n) * M * r, 40 + M), As = rv(size_t(n) * r * in, 41 + M);
      auto gA = rv(size_t(n) * r * in, 42), dx = rv(size_t(M) * in, 43);
      auto gAr = gA, dxr = dx;
      const RowSplit rs = group_row_split(M, in);
      std::vector<float> ws(size_t(n) * rs.S * r * in);
      GroupParams G = {};
      G.tickets = g_tc_group_tickets;  // bank 0
      for (int i = 0; i < n; ++i) {
        G.dh[i] = dhs.data() + size_t(i) * M * r; G.A[i] = As.data() + size_t(i) * r * in; G.gA[i] = gA.data() + size_t(i) * r * in;
        G.dp[i] = drop_params(i == 1 ? p * 0.5f : p, seed, site + 7919u * i);
      }
      float* dxp = with_dx ? dx.data() : nullptr;
      launch(dim3(in / 64, rs.S), dim3(kGrpThreads), [&] {
        if (n == 1) with_dx ? group_backward_kernel<1, true>(G, xb.data(), dxp, ws.data(), M, in, rs.rows, acc, acc)
                            : group_backward_kernel<1, false>(G, xb.data(), dxp, ws.data(), M, in, rs.rows, acc, acc);
        else with_dx ? group_backward_kernel<3, true>(G, xb.data(), dxp, ws.data(), M, in, rs.rows, acc, acc)
                     : group_backward_kernel<3, false>(G, xb.data(), dxp, ws.data(), M, in, rs.rows, acc, acc); });
      for (int i = 0; i < n; ++i)
        ops::lora_backward(G.dh[i], x.data(), G.A[i], gAr.data() + size_t(i) * r * in, with_dx ? dxr.data() : nullptr, M, in, r,
                           i == 1 ? p * 0.5f : p, seed_v, site + 7919u * i, acc, acc || i > 0);
      snprintf(name, sizeof name, "group n=%d gA M=%d in=%d p=%g acc=%d dx=%d S=%d", n, M, in, p, acc, with_dx, rs.S);
      report(name, rel(gA.data(), gAr.data(), gA.size()));
      if (with_dx) { snprintf(name, sizeof name, "group n=%d dx M=%d in=%d p=%g acc=%d", n, M, in, p, acc); report(name, rel(dx.data(), dxr.data(), dx.size())); }
      else { snprintf(name, sizeof name, "group n=%d dx untouched M=%d", n, M); report(name, rel(dx.data(), dxr.data(), dx.size()), 0); }
      bool tickets_zero = true; for (unsigned tk : g_tc_group_tickets) tickets_zero = tickets_zero && tk == 0;
      snprintf(name, sizeof name, "group n=%d tickets reset M=%d", n, M); report(name, tickets_zero ? 0 : 1, 0);
    }
    if (p > 0) continue;
    // up side: out = in, n = 2
    const int out = in, n = 2;
    const int64_t sh = int64_t(M) * r, sB = int64_t(out) * r, sy = int64_t(M) * out;
    auto h = rv(n * sh, 20 + M), B = rv(n * sB, 21 + M), y0 = rbf(rv(n * sy, 22 + M)), dy = rbf(rv(n * sy, 23 + M));
    { auto yb = tobf(y0); auto yr = y0; const float scale = 2.f;
      const int C = out / 64, tiles = (M + 15) / 16;
      launch(dim3((C + 3) / 4, (tiles + kUpTiles - 1) / kUpTiles, n), dim3(128), [&] { up_add_kernel(h.data(), B.data(), yb.data(), M, out, scale, sh, sB, sy); });
      ops::lora_up_add(h.data(), B.data(), yr.data(), M, out, r, scale, n, sh, sB, sy);
      int bad = 0; double m = 0; for (float v : yr) m = std::max(m, (double)std::fabs(v));
      for (size_t i = 0; i < yr.size(); ++i) { float v = bf16_to_f32(yb[i].x); if (std::fabs(v - yr[i]) > std::fabs(yr[i]) * std::ldexp(1.f, -8) + 1e-5 * m) { ++bad; if (bad < 4) printf("  y[%zu] tc %.8g cpu %.8g diff %.3g halfulp %.3g\n", i, v, yr[i], v - yr[i], std::fabs(yr[i]) * std::ldexp(1.f, -8)); } }
      snprintf(name, sizeof name, "up_add M=%d out=%d n=%d (bad elements)", M, out, n); report(name, bad, 0); }
    for (bool acc : {false, true}) {
      auto gB = rv(n * sB, 30), gBr = gB; std::vector<float> dhh(n * sh, -7.f), dhr(n * sh);
      const float scale = 2.f; const RowSplit rs = up_row_split(M, n);
      std::vector<float> ws(size_t(rs.S) * n * out * r);
      auto dyb = tobf(dy);
      launch(dim3(rs.S, n), dim3((out / 64) * 32), [&] { up_backward_kernel(dyb.data(), h.data(), B.data(), dhh.data(), gB.data(), ws.data(), M, out, rs.rows, scale, acc, sy, sh, sB, sh); });
      if (rs.S > 1) { const int64_t count = int64_t(out) * r;
        launch(dim3(unsigned((count + 255) / 256), n), dim3(256), [&] { reduce_kernel(ws.data(), gB.data(), count, rs.S, scale, acc, sB); }); }
      ops::lora_up_backward(dy.data(), h.data(), B.data(), dhr.data(), gBr.data(), M, out, r, scale, acc, n, sy, sh, sB, sh);
      snprintf(name, sizeof name, "up_backward gB M=%d out=%d acc=%d S=%d", M, out, acc, rs.S); report(name, rel(gB.data(), gBr.data(), gB.size()));
      snprintf(name, sizeof name, "up_backward dh M=%d out=%d acc=%d", M, out, acc); report(name, rel(dhh.data(), dhr.data(), dhh.size()));
    }
  }
  printf("%s (%d failures)\n", fails ? "FAILED" : "all ok", fails);
  return fails ? 1 : 0;
}
