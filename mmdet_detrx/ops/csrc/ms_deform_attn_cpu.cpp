// Multi-scale deformable attention on CPU: forward and backward as loops over the samples, written for
// mmdet_detrx (mmcv 2.1 has no CPU kernel; its PyTorch fallback samples every level with grid_sample).
//
// Same function as mmcv's multi_scale_deformable_attn_pytorch: bilinear sampling with zero padding and
// align_corners=False, i.e. the sample of a level of size (h, w) at the normalised location (lx, ly) is
// read at pixel coordinates x = lx * w - 0.5, y = ly * h - 0.5 from the four neighbouring pixels, each one
// outside the map counting as zero. The gradients are those of that piecewise-bilinear function (the same
// as grid_sample's).
//
// Layout: value (bs, num_value, heads, dims) so that the `dims` channels of one pixel and head are
// contiguous; the forward runs in parallel over (batch, query) and the backward over (batch, head), whose
// value gradients never overlap, so no atomics are needed.
#include "ops.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace {

struct Corner {
  int64_t offset;  // index of the pixel within the level
  bool valid;
};

template <typename scalar_t>
inline void corners_of(scalar_t lx, scalar_t ly, int64_t h, int64_t w, Corner c[4], scalar_t *fx,
                       scalar_t *fy) {
  // the pixel coordinate as grid_sample computes it from the grid 2 * l - 1, rounding step by step (the build
  // turns off FMA contraction): a location on a pixel-centre line then takes the same side as grid_sample,
  // and so the same one-sided derivative
  const scalar_t half = static_cast<scalar_t>(0.5), one = static_cast<scalar_t>(1);
  const scalar_t x = (lx * 2 - one + one) * (static_cast<scalar_t>(w) * half) - half;
  const scalar_t y = (ly * 2 - one + one) * (static_cast<scalar_t>(h) * half) - half;
  const scalar_t x0f = std::floor(x), y0f = std::floor(y);
  *fx = x - x0f;
  *fy = y - y0f;
  const int64_t x0 = static_cast<int64_t>(x0f), y0 = static_cast<int64_t>(y0f);
  // order: (x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)
  for (int k = 0; k < 4; ++k) {
    const int64_t xi = x0 + (k & 1), yi = y0 + (k >> 1);
    c[k].valid = xi >= 0 && xi < w && yi >= 0 && yi < h;
    c[k].offset = c[k].valid ? yi * w + xi : 0;
  }
}

template <typename scalar_t>
void forward_kernel(const scalar_t *value, const int64_t *shapes, const int64_t *starts, const scalar_t *loc,
                    const scalar_t *attn, scalar_t *out, int64_t bs, int64_t num_value, int64_t heads,
                    int64_t dims, int64_t queries, int64_t levels, int64_t points) {
  at::parallel_for(0, bs * queries, 16, [&](int64_t begin, int64_t end) {
    for (int64_t bq = begin; bq < end; ++bq) {
      const int64_t b = bq / queries;
      for (int64_t hd = 0; hd < heads; ++hd) {
        scalar_t *o = out + (bq * heads + hd) * dims;
        for (int64_t d = 0; d < dims; ++d) o[d] = 0;
        const int64_t sample0 = (bq * heads + hd) * levels * points;
        for (int64_t l = 0; l < levels; ++l) {
          const int64_t h = shapes[2 * l], w = shapes[2 * l + 1];
          const scalar_t *v_level = value + ((b * num_value + starts[l]) * heads + hd) * dims;
          for (int64_t p = 0; p < points; ++p) {
            const int64_t s = sample0 + l * points + p;
            Corner c[4];
            scalar_t fx, fy;
            corners_of(loc[2 * s], loc[2 * s + 1], h, w, c, &fx, &fy);
            const scalar_t a = attn[s];
            const scalar_t bil[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            for (int k = 0; k < 4; ++k) {
              if (!c[k].valid) continue;
              const scalar_t wk = a * bil[k];
              const scalar_t *v = v_level + c[k].offset * heads * dims;
              for (int64_t d = 0; d < dims; ++d) o[d] += wk * v[d];
            }
          }
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_kernel(const scalar_t *value, const int64_t *shapes, const int64_t *starts, const scalar_t *loc,
                     const scalar_t *attn, const scalar_t *grad_out, scalar_t *grad_value, scalar_t *grad_loc,
                     scalar_t *grad_attn, int64_t bs, int64_t num_value, int64_t heads, int64_t dims,
                     int64_t queries, int64_t levels, int64_t points) {
  at::parallel_for(0, bs * heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / heads, hd = bh % heads;
      for (int64_t q = 0; q < queries; ++q) {
        const int64_t bqh = (b * queries + q) * heads + hd;
        const scalar_t *g = grad_out + bqh * dims;
        for (int64_t l = 0; l < levels; ++l) {
          const int64_t h = shapes[2 * l], w = shapes[2 * l + 1];
          const int64_t level_row = (b * num_value + starts[l]) * heads + hd;
          const scalar_t *v_level = value + level_row * dims;
          scalar_t *gv_level = grad_value + level_row * dims;
          for (int64_t p = 0; p < points; ++p) {
            const int64_t s = (bqh * levels + l) * points + p;
            Corner c[4];
            scalar_t fx, fy;
            corners_of(loc[2 * s], loc[2 * s + 1], h, w, c, &fx, &fy);
            const scalar_t a = attn[s];
            const scalar_t bil[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            // d bil / d fx and d bil / d fy of the four corners
            const scalar_t dbx[4] = {-(1 - fy), 1 - fy, -fy, fy};
            const scalar_t dby[4] = {-(1 - fx), -fx, 1 - fx, fx};
            scalar_t ga = 0, gx = 0, gy = 0;
            for (int k = 0; k < 4; ++k) {
              if (!c[k].valid) continue;
              const int64_t row = c[k].offset * heads * dims;
              const scalar_t *v = v_level + row;
              scalar_t *gv = gv_level + row;
              const scalar_t wk = a * bil[k];
              scalar_t dot = 0;
              for (int64_t d = 0; d < dims; ++d) {
                dot += g[d] * v[d];
                gv[d] += wk * g[d];
              }
              ga += bil[k] * dot;
              gx += dbx[k] * dot;
              gy += dby[k] * dot;
            }
            grad_attn[s] = ga;
            grad_loc[2 * s] = a * gx * static_cast<scalar_t>(w);
            grad_loc[2 * s + 1] = a * gy * static_cast<scalar_t>(h);
          }
        }
      }
    }
  });
}

void check_inputs(const at::Tensor &value, const at::Tensor &shapes, const at::Tensor &starts, const at::Tensor &loc,
                  const at::Tensor &attn) {
  TORCH_CHECK(value.device().is_cpu(), "ms_deform_attn_cpu: tensors must be on the CPU");
  TORCH_CHECK(value.dim() == 4, "value must be (bs, num_value, heads, dims), got ", value.sizes());
  TORCH_CHECK(loc.dim() == 6 && loc.size(5) == 2,
              "sampling_locations must be (bs, queries, heads, levels, points, 2), got ", loc.sizes());
  TORCH_CHECK(attn.sizes() == loc.sizes().slice(0, 5), "attention_weights must be ", loc.sizes().slice(0, 5),
              ", got ", attn.sizes());
  TORCH_CHECK(loc.size(0) == value.size(0) && loc.size(2) == value.size(2),
              "batch and heads of sampling_locations ", loc.sizes(), " and value ", value.sizes(), " differ");
  TORCH_CHECK(shapes.dim() == 2 && shapes.size(0) == loc.size(3) && shapes.size(1) == 2,
              "spatial_shapes must be (levels, 2) with levels = ", loc.size(3), ", got ", shapes.sizes());
  TORCH_CHECK(starts.dim() == 1 && starts.size(0) == loc.size(3), "level_start_index must have ", loc.size(3),
              " entries, got ", starts.sizes());
  TORCH_CHECK(value.scalar_type() == loc.scalar_type() && value.scalar_type() == attn.scalar_type(),
              "value, sampling_locations and attention_weights must have one dtype");
}

// The checked, contiguous inputs of both passes and their sizes.
struct Inputs {
  at::Tensor value, shapes, starts, loc, attn;
  int64_t bs, num_value, heads, dims, queries, levels, points;
};

Inputs prepare(const at::Tensor &value, const at::Tensor &shapes, const at::Tensor &starts, const at::Tensor &loc,
               const at::Tensor &attn) {
  check_inputs(value, shapes, starts, loc, attn);
  Inputs in{value.contiguous(), shapes.to(at::kLong).contiguous(), starts.to(at::kLong).contiguous(),
            loc.contiguous(), attn.contiguous(), value.size(0), value.size(1), value.size(2), value.size(3),
            loc.size(1), loc.size(3), loc.size(4)};
  return in;
}

}  // namespace

at::Tensor ms_deform_attn_forward(const at::Tensor &value_in, const at::Tensor &shapes_in,
                                  const at::Tensor &starts_in, const at::Tensor &loc_in, const at::Tensor &attn_in) {
  const Inputs in = prepare(value_in, shapes_in, starts_in, loc_in, attn_in);
  auto out = at::empty({in.bs, in.queries, in.heads * in.dims}, in.value.options());
  AT_DISPATCH_FLOATING_TYPES(in.value.scalar_type(), "ms_deform_attn_forward", [&] {
    forward_kernel<scalar_t>(in.value.data_ptr<scalar_t>(), in.shapes.data_ptr<int64_t>(),
                             in.starts.data_ptr<int64_t>(), in.loc.data_ptr<scalar_t>(), in.attn.data_ptr<scalar_t>(),
                             out.data_ptr<scalar_t>(), in.bs, in.num_value, in.heads, in.dims, in.queries, in.levels,
                             in.points);
  });
  return out;
}

std::vector<at::Tensor> ms_deform_attn_backward(const at::Tensor &value_in, const at::Tensor &shapes_in,
                                                const at::Tensor &starts_in, const at::Tensor &loc_in,
                                                const at::Tensor &attn_in, const at::Tensor &grad_out_in) {
  const Inputs in = prepare(value_in, shapes_in, starts_in, loc_in, attn_in);
  const auto grad_out = grad_out_in.to(in.value.scalar_type()).contiguous();
  const int64_t out_numel = in.bs * in.queries * in.heads * in.dims;
  TORCH_CHECK(grad_out.numel() == out_numel, "grad_output must have ", out_numel, " elements, got ", grad_out.sizes());
  auto grad_value = at::zeros_like(in.value);
  auto grad_loc = at::empty_like(in.loc);
  auto grad_attn = at::empty_like(in.attn);
  AT_DISPATCH_FLOATING_TYPES(in.value.scalar_type(), "ms_deform_attn_backward", [&] {
    backward_kernel<scalar_t>(in.value.data_ptr<scalar_t>(), in.shapes.data_ptr<int64_t>(),
                              in.starts.data_ptr<int64_t>(), in.loc.data_ptr<scalar_t>(), in.attn.data_ptr<scalar_t>(),
                              grad_out.data_ptr<scalar_t>(), grad_value.data_ptr<scalar_t>(),
                              grad_loc.data_ptr<scalar_t>(), grad_attn.data_ptr<scalar_t>(), in.bs, in.num_value,
                              in.heads, in.dims, in.queries, in.levels, in.points);
  });
  return {grad_value, grad_loc, grad_attn};
}
