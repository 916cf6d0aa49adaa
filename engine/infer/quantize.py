"""int8 inference: a net's ONNX export quantised statically (ONNX Runtime's QDQ format), run by the same
runtimes as the float export (OpenVINO turns the QDQ pairs into int8 convolutions on AVX-512 VNNI).

`quantize_onnx`: weights int8 per output channel, activations with ranges from the calibration batches
(min/max), convolutions only. Two activation schemes (`SCHEMES`): "symmetric" (int8 about zero, no zero
point) and "asymmetric" (uint8 over [min, max], a zero point). Asymmetric grids are finer (LeakyReLU
outputs span about [-0.1a, a]: a/232 a step against a/127) but OpenVINO's CPU plugin runs the zero point
as a u8 -> f32 conversion and a subtraction between every two int8 convolutions, as long as the
convolutions themselves (docs/benchmarks.md: 214 against 133 ms for the upscale net at 960x540); with
symmetric activations the int8 convolutions chain directly. The convolutions named in `FLOAT_CONVS` stay
float (see there). Needs the `onnxruntime` extra (onnxruntime and onnx);
QuantizeUnavailable (one sentence: what to install) when it is missing.
Quality is not guaranteed here: callers check the int8 net's output against PyTorch's before using it
(runtime.quantized_array_fn) and run the float net when the check fails.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class QuantizeUnavailable(RuntimeError):
    """int8 needs ONNX Runtime's quantiser, which is not installed."""


SCHEMES = ("symmetric", "asymmetric")
CONVS = ("first", "last")  # the convolutions `float_convs` can name: the graph's first and last Conv nodes
FLOAT_CONVS: tuple[str, ...] = ("first", "last")
"""The convolutions left in float by default (docs/benchmarks.md, upscale fifth and sixth passes). The first
reads the input image itself: both in int8 moved the upscale output up to 0.178 from the float net's,
against 0.030. The last alone in int8 (its input and weights on 8-bit grids) made the upscale frame 1.16x
faster but lost more on held-out footage than the per-shot check on a shot's first frame sees: -0.049 dB
mean, -0.243 worst frame against the float net (`tails`; -0.014 and -0.084 with it float), and two of seven
clips refused int8 where one was."""


def quantize_onnx(
    onnx_bytes: bytes,
    calibration: Sequence[np.ndarray],
    scheme: str = "asymmetric",
    float_convs: Sequence[str] = FLOAT_CONVS,
) -> bytes:
    """`onnx_bytes` (one input "x") quantised to int8 with `calibration` (input batches) for activation
    ranges and `scheme` (one of SCHEMES) for their grid; the Conv nodes named in `float_convs` (of CONVS)
    left in float."""
    if scheme not in SCHEMES:
        raise ValueError(f"int8 activation scheme {scheme!r} is not known; use one of {', '.join(SCHEMES)}")
    if unknown := set(float_convs) - set(CONVS):
        raise ValueError(f"convolutions {sorted(unknown)} are not known; name any of {', '.join(CONVS)}")
    symmetric = scheme == "symmetric"
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ImportError:
        raise QuantizeUnavailable(
            "int8 inference needs ONNX Runtime's quantiser: pip install 'rushes[onnxruntime]' "
            "(onnxruntime and onnx)"
        ) from None

    class Batches(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.batches, None)
            return None if x is None else {"x": np.ascontiguousarray(x, np.float32)}

    model = _inline_shared_constants(onnx.load_from_string(onnx_bytes))
    onnx_bytes = model.SerializeToString()
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    keep = sorted({convs[0 if which == "first" else -1] for which in float_convs} if convs else set())
    with tempfile.TemporaryDirectory(prefix="rushes-int8-") as tmp, _quiet():
        source, target = os.path.join(tmp, "f32.onnx"), os.path.join(tmp, "int8.onnx")
        with open(source, "wb") as f:
            f.write(onnx_bytes)
        quantize_static(
            source,
            target,
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": symmetric},
        )
        with open(target, "rb") as out:
            return out.read()


def _inline_shared_constants(model: Any) -> Any:
    """The exporter shares equal tensors (e.g. the zero biases of a fresh net) through Identity nodes; the
    quantiser wants each Conv's bias as its own initializer, so each Identity of an initializer becomes a
    copy of it."""
    from onnx import numpy_helper

    init = {t.name: t for t in model.graph.initializer}
    for node in list(model.graph.node):
        if node.op_type == "Identity" and node.input[0] in init:
            model.graph.initializer.append(
                numpy_helper.from_array(numpy_helper.to_array(init[node.input[0]]), node.output[0])
            )
            model.graph.node.remove(node)
    return model


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantiser's advice (pre-processing, bias initialisers) on the root logger and stderr, hushed."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
