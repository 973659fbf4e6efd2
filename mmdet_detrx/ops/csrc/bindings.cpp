// Python bindings of the mmdet_detrx CPU kernels: one extension module, built by ../_extension.py.
#include "ops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ms_deform_attn_forward", &ms_deform_attn_forward, "multi-scale deformable attention, CPU forward");
  m.def("ms_deform_attn_backward", &ms_deform_attn_backward, "multi-scale deformable attention, CPU backward");
  m.def("dropout_forward", &dropout_forward, "dropout (optionally after ReLU) with a 16-bit keep draw per element");
  m.def("dropout_backward", &dropout_backward, "gradient of dropout_forward without ReLU");
}
