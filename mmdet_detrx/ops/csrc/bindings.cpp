// Python bindings of the mmdet_detrx CPU kernels: one extension module, built by ../_extension.py.
#include "ops.h"

#include <ATen/Parallel.h>

#include <atomic>

namespace {

// How many threads at::parallel_for uses in this extension: 1 when it was built without OpenMP (ATen's OpenMP
// backend is a header, so the kernels would then run serially whatever torch.set_num_threads says).
int64_t parallel_threads() {
  std::atomic<int64_t> threads{0};
  at::parallel_for(0, 1 << 16, 1, [&](int64_t, int64_t) {
    const int64_t mine = at::get_thread_num() + 1;
    int64_t seen = threads.load();
    while (mine > seen && !threads.compare_exchange_weak(seen, mine)) {
    }
  });
  return threads.load();
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ms_deform_attn_forward", &ms_deform_attn_forward, "multi-scale deformable attention, CPU forward");
  m.def("ms_deform_attn_backward", &ms_deform_attn_backward, "multi-scale deformable attention, CPU backward");
  m.def("dropout_forward", &dropout_forward, "dropout (optionally after ReLU) with a 16-bit keep draw per element");
  m.def("dropout_backward", &dropout_backward, "gradient of dropout_forward without ReLU");
  m.def("parallel_threads", &parallel_threads, "threads at::parallel_for runs on in these kernels");
}
