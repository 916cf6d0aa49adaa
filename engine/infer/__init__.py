"""Inference: tiled application of a head's net to frames of any size, streaming."""

from engine.infer.run import apply_head
from engine.infer.tiling import TileSpec, image_to_tensor, run_tiled, tensor_to_image

__all__ = ["TileSpec", "apply_head", "image_to_tensor", "run_tiled", "tensor_to_image"]
