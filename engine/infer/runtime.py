"""Fast CPU inference: a head's forward (its net and the classical base around it) exported to ONNX with
any batch and tile size, compiled once per (weights, threads) by an inference runtime and reused for
every tile of every frame.

Backends, by `InferSettings.backend` (environment `RUSHES_INFER_BACKEND`):
- "openvino": OpenVINO (measured fastest on this project's 2-core AVX-512 machines, docs/benchmarks.md);
- "onnxruntime": ONNX Runtime;
- "torch": PyTorch itself (training always stays in PyTorch);
- "auto" (default): openvino, else onnxruntime, else torch with one logged warning naming what to install.
A backend asked for by name that is not installed raises RuntimeMissing (one sentence: what to install,
or how to choose another). Only CPU nets on frames of at least `min_pixels` use a runtime: below that the
export (1-4 s) costs more than it saves, and CUDA nets run in PyTorch with half precision (run.py).

Guarantee: every compiled model first runs a 64-pixel crop of its first tile, and PyTorch does too; when
they differ by more than `TOLERANCE` (1e-3 of full scale, i.e. >= 60 dB PSNR between the two, far inside
the 0.1 dB the heads' scores may move) the runtime is dropped for that net with a warning and PyTorch
runs it.
int8: `quantized_array_fn` compiles a net quantised to int8 (quantize.py: ONNX Runtime's static QDQ
quantiser, then the same backends: OpenVINO by default, ONNX Runtime where it is the one installed) and
keeps it only when the caller's own check against PyTorch accepts it (the upscale head's: within 0.1 dB
on the shot's first frame), trying symmetric activations first (a plain int8 chain in OpenVINO, 1.5-1.7x
the asymmetric net's speed) and asymmetric ones (finer) next; when every scheme is refused, or the quantiser
is missing, it logs one warning and the caller runs the float net. OpenVINO compiles the int8 net once per
input shape (`_StaticOpenVINO`: more of it fused than with any size allowed) and writes its output straight
into the caller's array.
A compiled model is keyed by the parameters' identity and in-place version counters, so a net that trains
on between two calls is exported again rather than run with stale weights, and by a weak reference to the
net, so a new net where a freed one was (same address, same counters: the upscale head's per-shot
fine-tuned copies) is never taken for it.
Device: `device` (environment `RUSHES_INFER_DEVICE`: cpu, cuda or auto) is where fixes load their nets.
Threads: `threads` (environment `RUSHES_INFER_THREADS`) or, by default, for PyTorch and OpenCV the cores
the machine's 1-minute load leaves free (engine.cores.free_cores: at least 1, at most this process's cores): on
oversubscribed cores, fewer OpenMP threads run faster (a preempted thread stalls every other thread at
each layer); the compiled runtimes take every core (runtime_threads: measured faster at any load).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import os
import sys
import tempfile
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from engine.cores import free_cores, usable_cores
from engine.infer.quantize import FLOAT_CONVS, SCHEMES
from engine.infer.signal_stack import kept_signal_stack

log = logging.getLogger(__name__)

BACKENDS = ("auto", "openvino", "onnxruntime", "torch")
TOLERANCE = 1e-3
CACHE_SIZE = 8  # compiled models kept (tile shapes x nets); each holds a copy of a small net's weights
_PACKAGES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}

TensorFn = Callable[[torch.Tensor], torch.Tensor]
ArrayFn = Callable[[np.ndarray], np.ndarray]


class InferenceSettingError(ValueError):
    """An inference setting names something unknown or unavailable (one line: what to set instead)."""


class RuntimeMissing(InferenceSettingError):
    """An inference backend (or device) was asked for by name and is not installed (or present)."""


@dataclass(frozen=True)
class InferSettings:
    backend: str = "auto"
    threads: int | None = None  # None: chosen from the machine's load
    min_pixels: int = 512 * 512  # input pixels per frame below which PyTorch runs (export not worth it)
    device: str = "cpu"  # where fixes run their nets: cpu | cuda | auto (cuda when there is one)


def _from_env() -> InferSettings:
    threads = os.environ.get("RUSHES_INFER_THREADS", "").strip()
    return InferSettings(
        backend=os.environ.get("RUSHES_INFER_BACKEND", "auto").strip().lower() or "auto",
        threads=int(threads) if threads.isdigit() and int(threads) > 0 else None,
        device=os.environ.get("RUSHES_INFER_DEVICE", "cpu").strip().lower() or "cpu",
    )


_settings = _from_env()
_cache: OrderedDict[tuple[Any, ...], ArrayFn | None] = OrderedDict()
_warned: set[str] = set()


def settings() -> InferSettings:
    return _settings


def configure(**changes: Any) -> InferSettings:
    """Change the process-wide inference settings; returns the previous ones."""
    global _settings
    previous = _settings
    new = replace(_settings, **changes)
    if new.backend not in BACKENDS:
        raise InferenceSettingError(
            f"inference backend {new.backend!r} is not known; use one of {', '.join(BACKENDS)}"
        )
    _settings = new
    return previous


@contextlib.contextmanager
def using(**changes: Any) -> Iterator[InferSettings]:
    """`with using(backend="torch"): ...` -- settings for a block, restored after it."""
    previous = configure(**changes)
    try:
        yield _settings
    finally:
        configure(**{k: getattr(previous, k) for k in ("backend", "threads", "min_pixels", "device")})


def inference_device(device: str | None = None) -> str:
    """The device fixes load their nets on: "cpu", "cuda" (an error when there is none) or "auto"."""
    name = (device or _settings.device).lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeMissing(
            "inference device cuda asked for (RUSHES_INFER_DEVICE) but PyTorch sees no CUDA GPU here; "
            "use cpu or auto"
        )
    if name not in ("cpu", "cuda"):
        raise InferenceSettingError(
            f"inference device {name!r} (RUSHES_INFER_DEVICE) is not known; use cpu, cuda or auto"
        )
    return name


def installed(backend: str) -> bool:
    package = _PACKAGES.get(backend)
    return package is None or importlib.util.find_spec(package) is not None


def resolve_backend(backend: str | None = None) -> str:
    """The backend that will run: "auto" picks the fastest installed one (warning once when none is)."""
    name = (backend or _settings.backend).lower()
    if name not in BACKENDS:
        raise InferenceSettingError(
            f"inference backend {name!r} (RUSHES_INFER_BACKEND) is not known; use one of {', '.join(BACKENDS)}"
        )
    if name == "auto":
        for candidate in ("openvino", "onnxruntime"):
            if installed(candidate):
                return candidate
        _warn_once(
            "auto",
            "no inference runtime installed (pip install openvino or onnxruntime): heads run in PyTorch, "
            "about 4x slower on CPU",
        )
        return "torch"
    if not installed(name):
        raise RuntimeMissing(
            f"inference backend {name} is not installed: pip install {_PACKAGES[name]}, "
            "or set RUSHES_INFER_BACKEND=auto (or torch)"
        )
    return name


def choose_threads(cpu_count: int | None = None, load: float | None = None) -> int:
    """Compute threads for inference: the configured number, else the cores the 1-minute load leaves."""
    if _settings.threads:
        return _settings.threads
    busy = os.getloadavg()[0] if load is None else load
    return free_cores(busy, machine=cpu_count, usable=cpu_count)


def runtime_threads() -> int:
    """Threads a compiled runtime (OpenVINO, ONNX Runtime) gets: the configured number, else every core,
    whatever the load. Its pool does not stall on a preempted thread as PyTorch's OpenMP barriers do, and
    the scheduler shares busy cores per thread: at a load of 15-23 on 2 cores, a 1080p denoise frame took
    5.4-12.8 s on 2 threads against 10.4-21.5 s on 1 (OpenCV NL-means, 2 threads: 12.9-15.8 s)."""
    return _settings.threads or usable_cores()


@contextlib.contextmanager
def limited_threads(threads: int | None = None) -> Iterator[int]:
    """PyTorch's and OpenCV's compute threads set to `threads` (default: choose_threads()) for a block,
    restored after it. On two cores loaded by other work, denoising small frames ran 10x faster with one
    thread than with two (tests/engine/test_stream.py's shot: 10.4 s -> 0.94 s at load 17)."""
    import cv2

    n = threads or choose_threads()
    torch_before, cv2_before = torch.get_num_threads(), cv2.getNumThreads()
    if n != torch_before:
        torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)
        cv2.setNumThreads(cv2_before)


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


class _Forward(torch.nn.Module):
    """A head's forward closure as a module, so exporters see the net's weights and the base ops.
    `channels_last`: takes and returns N,H,W,C (the runtime does the layout change inside its graph)."""

    def __init__(self, fn: TensorFn, net: torch.nn.Module, channels_last: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.net = net
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.channels_last:
            return self.fn(x)
        return self.fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def export_onnx(module: torch.nn.Module, example: torch.Tensor, channels_last: bool = False) -> bytes:
    """`module` as ONNX, any batch and tile size (one export serves every tile shape of every frame)."""
    buffer = io.BytesIO()
    axes = {0: "batch", 1: "height", 2: "width"} if channels_last else {0: "batch", 2: "height", 3: "width"}
    with contextlib.redirect_stderr(io.StringIO()), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]  # file objects are accepted
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": axes, "y": axes},
            dynamo=False,
        )
    return buffer.getvalue()


def _openvino() -> Any:
    """OpenVINO, imported without its usage telemetry. `import openvino` imports its model converter (which
    Rushes does not use), and that import sends an event to Google Analytics from a process it forks: a phone
    home from a tool that sends nothing out, and a fork from a threaded process, which deadlocked a `rushes fix`
    at its exit (its output written, the command never returning). OpenVINO treats its telemetry package as
    optional and uses its own no-op stand-in where it cannot be imported; this makes it so."""
    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        # None in sys.modules: importing it raises ImportError
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
    import openvino as ov

    return ov


def _openvino_model(onnx: bytes, threads: int) -> tuple[Any, Any, dict[str, Any]]:
    """OpenVINO's core, the ONNX model read by it, and the compile settings for `threads`."""
    ov = _openvino()

    core = ov.Core()
    with tempfile.TemporaryDirectory(prefix="rushes-ov-") as tmp:
        path = os.path.join(tmp, "net.onnx")
        with open(path, "wb") as f:
            f.write(onnx)
        model = core.read_model(path)
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    return core, model, config


def _compile_openvino(onnx: bytes, threads: int) -> ArrayFn:
    core, model, config = _openvino_model(onnx, threads)
    with kept_signal_stack():  # OpenVINO swaps in a signal stack it may unmap later (signal_stack.py)
        request = core.compile_model(model, "CPU", config).create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        # the output is the caller's own copy (share_outputs=False; the request reuses its buffer); the
        # input is read in place during the call (share_inputs=True: one frame-sized copy fewer)
        return np.asarray(request.infer([np.ascontiguousarray(x)], share_inputs=True, share_outputs=False)[0])

    return run


def _compile_onnxruntime(onnx: bytes, threads: int) -> ArrayFn:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"x": x})[0])

    return run


class _StaticOpenVINO:
    """An OpenVINO net compiled for each input shape it meets (the last `SHAPES_KEPT`, each holding its
    activations' memory as the any-size net does for the largest it has run), each call writing
    its output straight into a new array of the caller's (no copy out of the runtime's buffer). Compiled
    for one size, OpenVINO folds what it leaves apart for any size (the upscale int8 net at 960x540,
    docs/benchmarks.md, sixth pass): the input's N,H,W,C -> N,C,H,W transpose and its reorder (6 ms) go
    into the first convolution's reads, and that convolution takes its bias, LeakyReLU and quantisation
    as post-ops, leaving a f32 -> u8 reorder (7-10 ms) where a separate pass over its 32-channel output
    took 15-17 ms. A compile takes 0.1-0.2 s; a fix's frames and tiles share a shape."""

    SHAPES_KEPT = 3  # the int8 check's frame, then a fix's full batch of tiles and its last, smaller one

    def __init__(self, onnx: bytes, threads: int) -> None:
        self.core, self.model, self.config = _openvino_model(onnx, threads)
        self.requests: OrderedDict[tuple[int, ...], tuple[Any, tuple[int, ...]]] = OrderedDict()

    def _request(self, shape: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
        """The infer request compiled for inputs of `shape`, and its output's shape."""
        if shape not in self.requests:
            model = self.model.clone()
            model.reshape(list(shape))
            with kept_signal_stack():
                compiled = self.core.compile_model(model, "CPU", self.config)
            self.requests[shape] = (compiled.create_infer_request(), tuple(compiled.output(0).shape))
            while len(self.requests) > self.SHAPES_KEPT:
                self.requests.popitem(last=False)
        self.requests.move_to_end(shape)
        return self.requests[shape]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ov = _openvino()
        x = np.ascontiguousarray(x, np.float32)
        request, shape = self._request(tuple(x.shape))
        out = np.empty(shape, np.float32)
        request.set_output_tensor(0, ov.Tensor(out, shared_memory=True))
        request.infer([x], share_inputs=True, share_outputs=True)
        return out


_COMPILERS: dict[str, Callable[[bytes, int], ArrayFn]] = {
    "openvino": _compile_openvino,
    "onnxruntime": _compile_onnxruntime,
}
_INT8_COMPILERS: dict[str, Callable[[bytes, int], ArrayFn]] = {**_COMPILERS, "openvino": _StaticOpenVINO}
CHECK_SIDE = 64  # the check runs on a crop this size: cheap in PyTorch, the same graph


def _key(
    fn: TensorFn, net: torch.nn.Module, channels: int, backend: str, threads: int, channels_last: bool = False
) -> tuple[Any, ...]:
    code = getattr(fn, "__code__", fn)
    cells = tuple(id(c.cell_contents) for c in (getattr(fn, "__closure__", None) or ()))
    weights = tuple((p.data_ptr(), p._version) for p in net.parameters())
    return (weakref.ref(net), code, cells, weights, channels, backend, threads, channels_last)


def compiled_fn(
    fn: TensorFn, net: torch.nn.Module, example: torch.Tensor, backend: str | None = None
) -> TensorFn:
    """`fn` (a closure over `net`, N,C,h,w -> N,C',h',w') for inputs like `example` (any batch and
    size), run by the configured runtime; `fn` itself when the backend is torch or the runtime failed
    the check against PyTorch."""
    name = resolve_backend(backend)
    if name == "torch":
        return fn
    threads = runtime_threads()
    key = _key(fn, net, int(example.shape[1]), name, threads)
    runner = _cached(key, lambda: _compile_checked(fn, net, example, name, threads))
    if runner is None:
        return fn
    return lambda x: torch.from_numpy(runner(np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)))


def compiled_array_fn(
    fn: TensorFn, net: torch.nn.Module, example: np.ndarray, backend: str | None = None
) -> ArrayFn | None:
    """Like compiled_fn, but the compiled model takes and returns N,H,W,C float32 arrays (`example` is
    one, e.g. a crop of the frame): no NCHW copies of the frame on our side, the runtime changes the
    layout inside its own graph. None when the backend is torch or the runtime failed the check."""
    name = resolve_backend(backend)
    if name == "torch":
        return None
    threads = runtime_threads()
    key = _key(fn, net, int(example.shape[-1]), name, threads, channels_last=True)
    return _cached(
        key, lambda: _compile_checked(fn, net, _tensor(example), name, threads, channels_last=True)
    )


Accept = Callable[[ArrayFn], tuple[bool, str]]  # (use it?, one line for the log) for a compiled int8 net


def quantized_array_fn(
    fn: TensorFn,
    net: torch.nn.Module,
    calibration: Sequence[np.ndarray],
    accept: Accept,
    backend: str | None = None,
    schemes: Sequence[str] = SCHEMES,
    float_convs: Sequence[str] = FLOAT_CONVS,
) -> ArrayFn | None:
    """Like compiled_array_fn, with the net quantised to int8 (quantize.py) on `calibration` (N,H,W,C
    float32 batches, e.g. crops of the shot's first frame) in the first of `schemes` (activation grids,
    quantize.SCHEMES: the faster first) that `accept` (the caller's quality check against PyTorch) takes,
    the convolutions named in `float_convs` (quantize.FLOAT_CONVS) left in float;
    None (logged, once per net) when the backend is torch, the quantiser is missing or fails, or the check
    refuses every scheme: the caller runs the float net.
    Cached like the float nets: the first calibration a net gets serves its later calls."""
    name = resolve_backend(backend)
    if name == "torch":
        return None
    threads = runtime_threads()
    key = (*_key(fn, net, int(calibration[0].shape[-1]), name, threads, channels_last=True), "int8", *schemes)
    make = lambda: _compile_int8(fn, net, calibration, accept, name, threads, schemes, float_convs)  # noqa: E731
    return _cached((*key, "float", *float_convs), make)


def _tensor(example: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(example, np.float32))


def _cached(key: tuple[Any, ...], make: Callable[[], ArrayFn | None]) -> ArrayFn | None:
    """The compiled model under `key`, made by `make` on a miss; the least recently used beyond CACHE_SIZE
    are dropped."""
    if key not in _cache:
        _cache[key] = make()
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    _cache.move_to_end(key)
    return _cache[key]


def _compile_int8(
    fn: TensorFn,
    net: torch.nn.Module,
    calibration: Sequence[np.ndarray],
    accept: Accept,
    backend: str,
    threads: int,
    schemes: Sequence[str],
    float_convs: Sequence[str],
) -> ArrayFn | None:
    from engine.infer.quantize import quantize_onnx

    module = _Forward(fn, net, channels_last=True).eval()
    side = CHECK_SIDE - CHECK_SIDE % 8
    x = torch.from_numpy(np.ascontiguousarray(calibration[0][:1, :side, :side], np.float32))
    refusals = []
    try:
        onnx = export_onnx(module, x, True)
        for scheme in schemes:
            runner = _INT8_COMPILERS[backend](quantize_onnx(onnx, calibration, scheme, float_convs), threads)
            ok, detail = accept(runner)
            if ok:
                done = f"{'+'.join(float_convs) or 'no'} conv float, {threads} threads: {detail}"
                log.info("int8 %s (%s) ready, %s", backend, scheme, done)
                return runner
            refusals.append(f"{scheme}: {detail}")
    except Exception as exc:  # a quantiser or exporter that cannot take this net: the float net still runs
        log.warning("int8 %s could not be made for a head's net (%s); running it in float", backend, exc)
        return None
    log.warning("int8 %s refused: %s; running the net in float", backend, "; ".join(refusals))
    return None


def _compile_checked(
    fn: TensorFn,
    net: torch.nn.Module,
    example: torch.Tensor,
    backend: str,
    threads: int,
    channels_last: bool = False,
) -> ArrayFn | None:
    module = _Forward(fn, net, channels_last).eval()
    side = CHECK_SIDE - CHECK_SIDE % 8
    crop = example[:1, :side, :side] if channels_last else example[:1, :, :side, :side]
    x = crop.detach().float().cpu().contiguous()
    try:
        runner = _COMPILERS[backend](export_onnx(module, x, channels_last), threads)
        with torch.no_grad():
            expected = module(x).float().numpy()
        got = runner(x.numpy())
    except Exception as exc:  # an exporter that cannot take this net: PyTorch still can
        _warn_once(f"fail:{backend}", f"{backend} could not run a head's net ({exc}); using PyTorch for it")
        return None
    diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else math.inf
    if diff > TOLERANCE:
        _warn_once(
            f"diff:{backend}",
            f"{backend} output differs from PyTorch by {diff:.2e} (> {TOLERANCE}); using PyTorch for this net",
        )
        return None
    log.info("inference runtime %s ready, %d threads (max diff from PyTorch %.1e)", backend, threads, diff)
    return runner


def clear_cache() -> None:
    _cache.clear()


__all__ = [
    "BACKENDS",
    "TOLERANCE",
    "InferSettings",
    "InferenceSettingError",
    "RuntimeMissing",
    "choose_threads",
    "clear_cache",
    "compiled_array_fn",
    "compiled_fn",
    "configure",
    "inference_device",
    "installed",
    "limited_threads",
    "quantized_array_fn",
    "resolve_backend",
    "runtime_threads",
    "settings",
    "using",
]
