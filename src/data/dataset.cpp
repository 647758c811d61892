#include "data/dataset.h"

#include <fmt/format.h>

namespace qretrain::data {

torch::Tensor Split::inputs(const torch::Tensor& idx) const {
  if (!context.defined()) return x.index_select(0, idx);
  // Gather the window rows of every example at once, then lay each window
  // out flat: [B, W] row ids -> [B*W, D] -> [B, W*D].
  auto rows = context.index_select(0, idx);
  return x.index_select(0, rows.reshape({-1})).view({idx.size(0), -1});
}

torch::Tensor Split::inputs(std::int64_t begin, std::int64_t end) const {
  if (!context.defined()) return x.slice(0, begin, end);
  return x.index_select(0, context.slice(0, begin, end).reshape({-1})).view({end - begin, -1});
}

void write_pending_cache(Dataset& d) {
  if (!d.pending_cache_write) return;
  // Moved out first: the decoded tensors it holds are freed when it returns.
  const std::function<void()> write = std::move(d.pending_cache_write);
  d.pending_cache_write = nullptr;
  write();
}

std::string Dataset::format_metric(double value) const {
  return task == Task::LanguageModel ? fmt::format("{:.3f} bpc", value) : fmt::format("{:.2f}%", value);
}

}  // namespace qretrain::data
