// Dropout on CPU in one pass: a counter-based 64-bit mix (splitmix64's finaliser over seed + word index) gives
// four 16-bit draws per word; element i is kept when its draw is >= `threshold` (probability
// 1 - threshold / 65536). The draws depend only on (seed, i), so the result does not depend on the number of
// threads. Written for mmdet_detrx (see ../../models/layers/fast_dropout.py for the Python side).
#include "ops.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Words per block: the 16-bit draws of a block are computed first (a loop the compiler vectorises), then its
// 4 * kBlock elements are masked in a second vectorisable loop.
constexpr int64_t kBlock = 64;

template <typename scalar_t, bool kRelu, bool kKeep>
inline void drop_elements(const scalar_t *__restrict__ x, scalar_t *__restrict__ out, bool *__restrict__ keep,
                          const uint16_t *__restrict__ draws, int64_t count,
                          uint32_t threshold, scalar_t scale) {
  for (int64_t i = 0; i < count; ++i) {
    const bool kept = draws[i] >= threshold;
    scalar_t v = x[i];
    if (kRelu) v = v > scalar_t(0) ? v : scalar_t(0);
    out[i] = v * (kept ? scale : scalar_t(0));
    if (kKeep) keep[i] = kept;
  }
}

// o = g * s where keep, else g * 0 (as PyTorch's dropout backward, grad * mask * scale). The pointers are
// parameters (not captured by reference) and the mask is read as 0 / 1 bytes times s, not as a branch, so the
// compiler vectorises the loop.
template <typename scalar_t>
inline void masked_scale(const scalar_t *__restrict__ g, const bool *__restrict__ keep, scalar_t *__restrict__ o,
                         int64_t count, scalar_t s) {
  const uint8_t *k = reinterpret_cast<const uint8_t *>(keep);
  for (int64_t i = 0; i < count; ++i) o[i] = g[i] * (s * static_cast<scalar_t>(k[i]));
}

template <typename scalar_t, bool kRelu, bool kKeep>
void dropout_kernel(const scalar_t *x, scalar_t *out, bool *keep, int64_t n, uint32_t threshold, scalar_t scale,
                    uint64_t seed) {
  const int64_t words = (n + 3) / 4;
  const int64_t blocks = (words + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, 16, [&](int64_t begin, int64_t end) {
    uint16_t draws[4 * kBlock];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t j0 = blk * kBlock;
      for (int64_t t = 0; t < kBlock; ++t) {
        const uint64_t r = mix64(seed + static_cast<uint64_t>(j0 + t + 1) * kGolden);
        for (int k = 0; k < 4; ++k) draws[4 * t + k] = static_cast<uint16_t>(r >> (16 * k));
      }
      const int64_t i0 = 4 * j0;
      const int64_t count = std::min<int64_t>(4 * kBlock, n - i0);
      drop_elements<scalar_t, kRelu, kKeep>(x + i0, out + i0, kKeep ? keep + i0 : nullptr, draws, count, threshold,
                                           scale);
    }
  });
}

}  // namespace

std::vector<at::Tensor> dropout_forward(const at::Tensor &x_in, int64_t threshold, double scale, int64_t seed,
                                        bool relu) {
  TORCH_CHECK(x_in.device().is_cpu(), "dropout_forward: x must be on the CPU");
  TORCH_CHECK(threshold >= 0 && threshold <= 65535, "dropout_forward: threshold must be in [0, 65535], got ",
              threshold);
  const auto x = x_in.contiguous();
  auto out = at::empty_like(x);
  at::Tensor keep = relu ? at::Tensor() : at::empty(x.sizes(), x.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "dropout_forward", [&] {
    const scalar_t *xp = x.data_ptr<scalar_t>();
    scalar_t *op = out.data_ptr<scalar_t>();
    const auto t = static_cast<uint32_t>(threshold);
    const auto s = static_cast<scalar_t>(scale);
    const auto sd = static_cast<uint64_t>(seed);
    if (relu) {
      dropout_kernel<scalar_t, true, false>(xp, op, nullptr, x.numel(), t, s, sd);
    } else {
      dropout_kernel<scalar_t, false, true>(xp, op, keep.data_ptr<bool>(), x.numel(), t, s, sd);
    }
  });
  if (relu) return {out};
  return {out, keep};
}

at::Tensor dropout_backward(const at::Tensor &grad_in, const at::Tensor &keep_in, double scale) {
  TORCH_CHECK(grad_in.numel() == keep_in.numel(), "dropout_backward: grad and keep mask sizes differ: ",
              grad_in.sizes(), " vs ", keep_in.sizes());
  const auto grad = grad_in.contiguous();
  const auto keep = keep_in.contiguous();
  auto out = at::empty_like(grad);
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "dropout_backward", [&] {
    const scalar_t *g = grad.data_ptr<scalar_t>();
    const bool *k = keep.data_ptr<bool>();
    scalar_t *o = out.data_ptr<scalar_t>();
    const scalar_t s = static_cast<scalar_t>(scale);
    at::parallel_for(0, grad.numel(), 16384, [&](int64_t begin, int64_t end) {
      masked_scale(g + begin, k + begin, o + begin, end - begin, s);
    });
  });
  return out.view(grad_in.sizes());
}
