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

// Element i with its 16-bit draw: kept (scaled, after ReLU if kRelu) or zero; the mask is written if kKeep.
template <typename scalar_t, bool kRelu, bool kKeep>
inline void drop_element(const scalar_t *x, scalar_t *out, bool *keep, int64_t i, uint64_t draw, uint32_t threshold,
                         scalar_t scale) {
  const bool kept = (draw & 0xffffu) >= threshold;
  scalar_t v = x[i];
  if (kRelu) v = v > 0 ? v : scalar_t(0);
  out[i] = v * (kept ? scale : scalar_t(0));
  if (kKeep) keep[i] = kept;
}

template <typename scalar_t, bool kRelu, bool kKeep>
void dropout_kernel(const scalar_t *x, scalar_t *out, bool *keep, int64_t n, uint32_t threshold, scalar_t scale,
                    uint64_t seed) {
  const int64_t words = (n + 3) / 4;
  at::parallel_for(0, words, 4096, [&](int64_t begin, int64_t end) {
    const int64_t full_end = std::min<int64_t>(end, n / 4);  // words whose four elements all exist
    for (int64_t j = begin; j < full_end; ++j) {  // fixed trip count, so that the compiler can vectorise it
      const uint64_t r = mix64(seed + static_cast<uint64_t>(j + 1) * kGolden);
      for (int k = 0; k < 4; ++k)
        drop_element<scalar_t, kRelu, kKeep>(x, out, keep, 4 * j + k, r >> (16 * k), threshold, scale);
    }
    for (int64_t j = std::max(begin, full_end); j < end; ++j) {  // the last, partial word
      const uint64_t r = mix64(seed + static_cast<uint64_t>(j + 1) * kGolden);
      for (int64_t i = 4 * j; i < n; ++i)
        drop_element<scalar_t, kRelu, kKeep>(x, out, keep, i, r >> (16 * (i - 4 * j)), threshold, scale);
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
      for (int64_t i = begin; i < end; ++i) o[i] = k[i] ? g[i] * s : scalar_t(0);
    });
  });
  return out.view(grad_in.sizes());
}
