// Declarations of the mmdet_detrx CPU kernels (bound to Python in bindings.cpp).
#pragma once
#include <torch/extension.h>

#include <vector>

at::Tensor ms_deform_attn_forward(const at::Tensor &value, const at::Tensor &spatial_shapes,
                                  const at::Tensor &level_start_index, const at::Tensor &sampling_locations,
                                  const at::Tensor &attention_weights);
std::vector<at::Tensor> ms_deform_attn_backward(const at::Tensor &value, const at::Tensor &spatial_shapes,
                                                const at::Tensor &level_start_index,
                                                const at::Tensor &sampling_locations,
                                                const at::Tensor &attention_weights, const at::Tensor &grad_output);
std::vector<at::Tensor> dropout_forward(const at::Tensor &x, int64_t threshold, double scale, int64_t seed,
                                        bool relu);
at::Tensor dropout_backward(const at::Tensor &grad, const at::Tensor &keep, double scale);
