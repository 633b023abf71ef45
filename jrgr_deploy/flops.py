"""Arithmetic cost of an ONNX graph at a given input shape (no torch, no onnxruntime).

Counts the multiply-accumulates of the layers that dominate these networks — Conv, ConvTranspose,
MatMul and Gemm — and reports FLOPs as 2 x MACs. Element-wise ops, normalisation and activations
are left out (they are memory-bound and a few percent of the arithmetic); `other_nodes` says how
many nodes were not counted. Used by the latency benchmark for its achieved-GFLOP/s column.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from jrgr_deploy.errors import JRGRError

_COUNTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


@dataclass(frozen=True)
class GraphCost:
    """FLOPs (2 x MACs) of the counted layers for one input shape."""

    input_shape: tuple[int, ...]
    flops: int
    flops_by_op: dict[str, int] = field(default_factory=dict)
    other_nodes: int = 0

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


def _dims(value_info) -> list[int] | None:
    shape = value_info.type.tensor_type.shape
    dims = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    return None if any(d is None for d in dims) else dims


def count_flops(model_or_path, input_shape: tuple[int, ...]) -> GraphCost:
    """FLOPs of a single-input ONNX model (a path or an `onnx.ModelProto`) at `input_shape` (e.g. NCHW).

    Shapes are propagated with ONNX shape inference after fixing the input's dimensions, so dynamic
    batch/height/width models are measured at exactly the given size. Raises JRGRError when a counted
    layer's shapes cannot be inferred.
    """
    import onnx

    model = onnx.load(str(model_or_path)) if isinstance(model_or_path, (str, Path)) else model_or_path
    model = onnx.ModelProto.FromString(model.SerializeToString())  # never mutate the caller's graph
    initializer_names = {init.name for init in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializer_names]
    if len(graph_inputs) != 1:
        raise JRGRError(f"expected a model with one input, got {[i.name for i in graph_inputs]}")
    dims = graph_inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise JRGRError(f"input '{graph_inputs[0].name}' has rank {len(dims)}, got shape {input_shape}")
    for dim, size in zip(dims, input_shape, strict=True):
        dim.Clear()
        dim.dim_value = int(size)
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)

    shapes: dict[str, list[int] | None] = {}
    for info in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        shapes[info.name] = _dims(info)
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)

    by_op: Counter[str] = Counter()
    other = 0
    for node in inferred.graph.node:
        if node.op_type not in _COUNTED_OPS:
            other += 1
            continue
        operand_shapes = [shapes.get(name) for name in node.input[:2]]
        out_shape = shapes.get(node.output[0])
        if out_shape is None or any(s is None for s in operand_shapes):
            raise JRGRError(f"could not infer the shapes of {node.op_type} node '{node.name}'")
        x_shape, w_shape = operand_shapes
        if node.op_type == "Conv":
            # out: N x Cout x spatial; w: Cout x Cin/groups x kernel
            macs = math.prod(out_shape) * math.prod(w_shape[1:])
        elif node.op_type == "ConvTranspose":
            # every input pixel scatters a Cout/groups x kernel patch: in x (w without its Cin axis)
            macs = math.prod(x_shape) * math.prod(w_shape[1:])
        else:  # MatMul / Gemm: output elements x the reduced dimension
            reduced = x_shape[-1]
            if node.op_type == "Gemm":
                trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
                reduced = x_shape[0] if trans_a else x_shape[-1]
            macs = math.prod(out_shape) * reduced
        by_op[node.op_type] += 2 * macs
    return GraphCost(tuple(int(s) for s in input_shape), sum(by_op.values()), dict(by_op), other)
