// ONNX export of a packed model (`qretrain export-model --onnx FILE`): the
// packed network's graph() steps as standard ONNX operators, with the
// quantized weights in the QONNX form that Brevitas writes and FINN reads.
//
// Each quantized weight group becomes an initializer holding w_q (float32,
// exactly float32(Δ) * level, as the training hook computed it) feeding a
// QONNX `Quant` node (domain "qonnx.custom_op.general") with scale Δ,
// zero point 0 and bit width `bits`, signed and narrow (levels -L..L,
// L = 2^(bits-1) - 1). Quant of w_q gives back w_q exactly, so a runtime
// that implements Quant computes the packed model's function, and a
// QONNX-aware tool reads the bit widths off the graph. Float tensors
// (biases, batch-norm scale and shift, and every weight of a float network)
// are plain initializers.
//
// Inputs and outputs: "input" float [N, input_shape...] (N symbolic), or for
// the language model (whose graph starts with onehot) "symbols" int64 [N, T];
// "logits" float [N, classes] or [N, T, vocabulary].
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "deploy/packed.h"

namespace qretrain::deploy {

// The ONNX model (opset 13, plus the QONNX domain at version 1 when it has
// Quant nodes) of `model`.
// A graph step ONNX cannot express with the packed semantics (an LRN of even
// size, a pool with padding, an unknown op) or a tensor of the wrong shape is
// a UserError naming the model.
::onnx::ModelProto onnx_model(const PackedModel& model);

// onnx_model, checked with onnx::checker::check_model, then written whole
// (a temporary file renamed into place).
void write_onnx(const PackedModel& model, const std::string& path);

}  // namespace qretrain::deploy
