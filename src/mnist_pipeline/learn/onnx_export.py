"""Export a trained Keras model to ONNX, so that prediction needs ONNX Runtime, not TensorFlow.

Keras' own `model.export(format="onnx")` does the conversion (through tf2onnx with the
TensorFlow backend). Its file names tensors after process-wide counters (`Reshape_shape__19`,
the batch dimension `unk__20`, the traced function `__inference___call___84`), so the same
weights would give other bytes after any other export or trace in the process (a sweep, a
test session): DVC would see a new `models/`. Those names are renumbered in order of
appearance, and the graph's input and output get fixed names, so the bytes depend only on the
model and its weights.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx

from mnist_pipeline.data.preprocess import IMAGE_SHAPE

# The ONNX graph's interface (what `predict` and ONNX Runtime feed and read).
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
BATCH_DIM = "batch"
# Fixed rather than tf2onnx's default, so an upgrade of the converter does not change the file;
# ONNX Runtime 1.20+ runs it.
OPSET = 17
_COUNTER = re.compile(r"__(\d+)")


class _Inference(keras.Model):
    """`model` called with `training=False`, which `model.export` does not pass: Keras' random
    augmentation layers default to training mode, and would shift the exported model's inputs
    (and bring random ops that ONNX lacks)."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__(name=model.name)
        self.inner = model

    def call(self, images: Any) -> Any:
        return self.inner(images, training=False)


def export_onnx(model: keras.Model, path: Path) -> None:
    """Write `model`'s inference graph to `path` as ONNX, with the same bytes for the same weights."""
    spec = keras.InputSpec(shape=(None, *IMAGE_SHAPE), dtype="float32", name=INPUT_NAME)
    raw = path.with_name(path.name + ".unnormalised.onnx")
    inference = _Inference(model)
    inference(np.zeros((1, *IMAGE_SHAPE), dtype=np.float32))  # builds it, as export requires
    try:
        with warnings.catch_warnings():  # Keras' NumPy 2 patch of tf2onnx touches `np.object`
            warnings.simplefilter("ignore", FutureWarning)
            inference.export(str(raw), format="onnx", verbose=False, input_signature=[spec], opset_version=OPSET)
        onnx.save_model(canonical(onnx.load_model(raw)), path)
    finally:
        raw.unlink(missing_ok=True)


def canonical(proto: onnx.ModelProto) -> onnx.ModelProto:
    """`proto` with names that do not depend on the exporting process's history."""
    graph = proto.graph
    graph.doc_string = ""
    renamed = {graph.input[0].name: INPUT_NAME, graph.output[0].name: OUTPUT_NAME}
    numbers: dict[str, str] = {}

    def name(old: str) -> str:
        if old in renamed:
            return renamed[old]
        new = _COUNTER.sub(lambda match: "__" + numbers.setdefault(match.group(1), str(len(numbers))), old)
        renamed[old] = new
        return new

    for node in graph.node:
        node.name = name(node.name)
        node.input[:] = [name(tensor) for tensor in node.input]
        node.output[:] = [name(tensor) for tensor in node.output]
    for tensor in graph.initializer:
        tensor.name = name(tensor.name)
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = name(value.name)
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = BATCH_DIM
    return proto
