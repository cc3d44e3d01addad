// A side-by-side with oneDNN, a bench-only peer (the mlpbench program and library never link it):
// BM_forward/eigen/<batch>, BM_forward/eigen-omp-packed/<batch> and BM_forward/onednn/<batch> on the same
// model (784-512-512-10, or MLPBENCH_LAYERS, seed 1), the same inputs, f32, timed by the same core.
// onednn: one inner_product_forward (forward_inference) per layer, ReLU as an eltwise post-op on all but
// the last; weights in the layout oneDNN prefers (format_tag::any), reordered once at setup (its equivalent
// of our packing); primitives created once per batch size on a CPU engine + stream; input and output in our
// row-major host buffers, used in place. Checked against the double-precision reference before timing.
// Threads: MLPBENCH_THREADS (default: every core this process may run on) for all three; oneDNN's OpenMP
// runtime takes omp_set_num_threads, and its threads are pinned like eigen-omp-packed's (not when
// OMP_PROC_BIND or OMP_PLACES is set).
// Usage: mlpbench_bench_onednn [--benchmark_repetitions=5] [--benchmark_filter=onednn]   (scripts/compare-onednn.sh)
#include <omp.h>

#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "bench_common.hpp"
#include "mlpbench/threads.hpp"

namespace {

using namespace mlpbench;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;

int bench_threads() {
  const char* env = std::getenv("MLPBENCH_THREADS");
  return env ? static_cast<int>(parse_int(env, "MLPBENCH_THREADS", 1, 4096)) : available_cores();
}

// The model as oneDNN primitives for one batch size; x [batch, in] and y [batch, out] are used in place.
class OneDnnMlp {
 public:
  OneDnnMlp(const Model& model, int batch, float* x, float* y) : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    dnnl::memory src({{batch, model.input_width()}, kF32, Tag::nc}, engine_, x);
    for (std::size_t i = 0; i < model.layers.size(); ++i) {
      const Layer& l = model.layers[i];
      const bool last = i + 1 == model.layers.size();
      dnnl::post_ops ops;
      if (!last) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      const dnnl::memory::desc dst_md({batch, l.out}, kF32, Tag::nc);
      const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src.get_desc(),
                                                   dnnl::memory::desc({l.out, l.in}, kF32, Tag::any),
                                                   dnnl::memory::desc({l.out}, kF32, Tag::x), dst_md);
      const dnnl::inner_product_forward::primitive_desc pd(desc, attr, engine_);
      const dnnl::memory dst = last ? dnnl::memory(dst_md, engine_, y) : dnnl::memory(dst_md, engine_);
      steps_.push_back({dnnl::inner_product_forward(pd),
                        {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_WEIGHTS, weights(l, pd.weights_desc())},
                         {DNNL_ARG_BIAS, bias(l, pd.bias_desc())},
                         {DNNL_ARG_DST, dst}}});
      src = dst;
    }
  }

  void forward() {
    for (Step& s : steps_) s.primitive.execute(stream_, s.args);
    stream_.wait();
  }

 private:
  struct Step {
    dnnl::inner_product_forward primitive;
    std::unordered_map<int, dnnl::memory> args;
  };

  // The layer's [out, in] row-major weights ("oi") reordered once into the layout the primitive chose.
  dnnl::memory weights(const Layer& l, const dnnl::memory::desc& chosen) {
    dnnl::memory plain({{l.out, l.in}, kF32, Tag::oi}, engine_, const_cast<float*>(l.weight.data()));
    dnnl::memory packed(chosen, engine_);
    dnnl::reorder(plain, packed).execute(stream_, plain, packed);
    stream_.wait();
    return packed;
  }

  dnnl::memory bias(const Layer& l, const dnnl::memory::desc& md) {
    dnnl::memory b(md, engine_);
    std::memcpy(b.get_data_handle(), l.bias.data(), sizeof(float) * l.bias.size());
    return b;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Step> steps_;
};

void BM_onednn(benchmark::State& state, const Model* model, int threads) {
  const int batch = static_cast<int>(state.range(0));
  std::vector<float> x = make_seeded_input(batch, model->input_width(), 1);
  std::vector<float> y(static_cast<std::size_t>(batch) * model->output_width());
  std::unique_ptr<OneDnnMlp> mlp;
  bool pinned = false;
  try {
    omp_set_num_threads(threads);
    pinned = pin_omp_threads(threads);
    mlp = std::make_unique<OneDnnMlp>(*model, batch, x.data(), y.data());
    mlp->forward();
    const std::vector<double> expected = reference_forward(*model, x.data(), batch);
    if (!bench::passed(state, check_close(y.data(), expected.data(), y.size(), kToleranceF32))) return;
  } catch (const std::exception& e) {
    return bench::fail(state, std::string("onednn: ") + e.what());
  }
  bench::time_forward(state, [&] { mlp->forward(); }, *model, batch, "threads=" + std::to_string(threads) + (pinned ? ",pinned" : ""));
}

}  // namespace

int main(int argc, char** argv) {
  return bench::bench_main(argc, argv, "mlpbench_bench_onednn", [](const Model& model) {
    const int threads = bench_threads();
    static std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(make_cpu_backend(threads));
    backends.push_back(make_cpu_packed_backend(threads));
    const dnnl::version_t* v = dnnl::version();
    benchmark::AddCustomContext("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
    for (auto& b : backends) bench::register_forward(b->name(), bench::BM_forward, b.get(), &model);
    bench::register_forward("onednn", BM_onednn, &model, threads);
  });
}
