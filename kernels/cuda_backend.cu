// See cuda_backend.cuh.
#include <cstring>

#include "cuda_backend.cuh"
#include "mlpbench/errors.hpp"

namespace mlpbench::cuda {

CudaBackend::CudaBackend(std::string kernel, bool graph, Precision precision)
    : precision_(precision), kernel_(std::move(kernel)), graph_(graph) {}

void CudaBackend::prepare(const Model& model, int max_batch) {
  validate_model(model);
  if (max_batch < 1) throw InputError("prepare: max_batch must be >= 1");
  graphs_.clear();
  planned_.clear();
  max_batch_ = max_batch;
  max_width_ = model.max_width();
  const std::size_t params = model.parameter_count();
  weights_ = DeviceBuffer<float>(params);
  layers_.clear();
  std::size_t offset = 0;
  for (const Layer& l : model.layers) {
    float* w = weights_.get() + offset;
    float* b = w + l.weight.size();
    CUDA_CHECK(cudaMemcpy(w, l.weight.data(), l.weight.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(b, l.bias.data(), l.bias.size() * sizeof(float), cudaMemcpyHostToDevice));
    layers_.push_back({w, b, l.in, l.out});
    offset += l.weight.size() + l.bias.size();
  }
  const std::size_t in = static_cast<std::size_t>(max_batch) * model.input_width();
  const std::size_t out = static_cast<std::size_t>(max_batch) * model.output_width();
  const std::size_t act = static_cast<std::size_t>(max_batch) * max_width_;
  d_in_ = DeviceBuffer<float>(in);
  d_out_ = DeviceBuffer<float>(out);
  for (auto& a : act_) a = DeviceBuffer<float>(model.layers.size() > 1 ? act : 0);
  h_in_ = PinnedBuffer<float>(in);
  h_out_ = PinnedBuffer<float>(out);
  prepare_layers();
  CUDA_CHECK(cudaDeviceSynchronize());
}

const float* CudaBackend::layer_input(int li) const { return li == 0 ? d_in_.get() : act_[(li - 1) % 2].get(); }

float* CudaBackend::layer_output(int li) const {
  return li == static_cast<int>(layers_.size()) - 1 ? d_out_.get() : act_[li % 2].get();
}

void CudaBackend::check_batch(int batch) const {
  if (layers_.empty()) throw RuntimeError(name() + ": forward before prepare");
  if (batch < 1 || batch > max_batch_) {
    throw InputError(name() + ": batch " + std::to_string(batch) + " outside [1, " + std::to_string(max_batch_) + "]");
  }
}

void CudaBackend::enqueue_h2d(int batch, cudaStream_t s) {
  const std::size_t bytes = static_cast<std::size_t>(batch) * layers_.front().in * sizeof(float);
  CUDA_CHECK(cudaMemcpyAsync(d_in_.get(), h_in_.get(), bytes, cudaMemcpyHostToDevice, s));
}

void CudaBackend::enqueue_d2h(int batch, cudaStream_t s) {
  const std::size_t bytes = static_cast<std::size_t>(batch) * layers_.back().out * sizeof(float);
  CUDA_CHECK(cudaMemcpyAsync(h_out_.get(), d_out_.get(), bytes, cudaMemcpyDeviceToHost, s));
}

void CudaBackend::plan(int batch) {
  check_batch(batch);
  if (planned_[batch]) return;
  plan_layers(batch);
  if (graph_) {
    // Capture H2D, every layer and D2H into one graph; end the capture on every path.
    cudaStream_t s = stream_.get();
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t raw = nullptr;
    try {
      enqueue_h2d(batch, s);
      enqueue_layers(batch, s);
      enqueue_d2h(batch, s);
    } catch (...) {
      cudaStreamEndCapture(s, &raw);
      if (raw) cudaGraphDestroy(raw);
      cudaGetLastError();
      throw;
    }
    CUDA_CHECK(cudaStreamEndCapture(s, &raw));
    Graph graph(raw);
    cudaGraphExec_t exec = nullptr;
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph.get(), 0));
    graphs_[batch] = GraphExec(exec);
    CUDA_CHECK(cudaGraphUpload(exec, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
  }
  planned_[batch] = true;
}

void CudaBackend::forward(const float* x, float* y, int batch) {
  check_batch(batch);
  if (!planned_[batch]) plan(batch);
  cudaStream_t s = stream_.get();
  std::memcpy(h_in_.get(), x, static_cast<std::size_t>(batch) * layers_.front().in * sizeof(float));
  if (graph_) {
    CUDA_CHECK(cudaGraphLaunch(graphs_.at(batch).get(), s));
  } else {
    enqueue_h2d(batch, s);
    enqueue_layers(batch, s);
    enqueue_d2h(batch, s);
  }
  CUDA_CHECK(cudaStreamSynchronize(s));
  std::memcpy(y, h_out_.get(), static_cast<std::size_t>(batch) * layers_.back().out * sizeof(float));
}

TimedRun CudaBackend::phase_timer(Phase phase, const float* x, int batch) {
  check_batch(batch);
  if (!planned_[batch]) plan(batch);
  std::memcpy(h_in_.get(), x, static_cast<std::size_t>(batch) * layers_.front().in * sizeof(float));
  // Events shared by the returned timer; it lives no longer than this backend.
  auto start = std::make_shared<Event>(), stop = std::make_shared<Event>();
  return [this, phase, batch, start, stop](int passes) {
    cudaStream_t s = stream_.get();
    CUDA_CHECK(cudaEventRecord(start->get(), s));
    for (int i = 0; i < passes; ++i) {
      switch (phase) {
        case Phase::H2D: enqueue_h2d(batch, s); break;
        case Phase::Compute: enqueue_layers(batch, s); break;
        case Phase::D2H: enqueue_d2h(batch, s); break;
      }
    }
    CUDA_CHECK(cudaEventRecord(stop->get(), s));
    CUDA_CHECK(cudaEventSynchronize(stop->get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start->get(), stop->get()));
    return ms * 1e-3;
  };
}

}  // namespace mlpbench::cuda
