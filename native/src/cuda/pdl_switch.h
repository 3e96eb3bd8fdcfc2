// The programmatic-dependent-launch switch (see cuda/pdl.cuh), in a header of its own so that
// host-only C++ (t5_cuda.cpp, compiled by g++) can set it. One variable per process: an inline
// variable is merged across translation units.
#pragma once

namespace hukuk::cuda::pdl {

inline bool g_enabled = false;
inline bool enabled() { return g_enabled; }
inline void set_enabled(bool on) { g_enabled = on; }

}  // namespace hukuk::cuda::pdl
