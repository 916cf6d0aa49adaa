"""Training the show model: clips -> held-out split -> heads trained within a budget -> a model version."""

from engine.train.dataset import DatasetError, TrainClip, load_clip, split_holdout
from engine.train.loop import Stage, StageHook, TrainResult, train
from engine.train.settings import TrainSettings

__all__ = [
    "DatasetError",
    "Stage",
    "StageHook",
    "TrainClip",
    "TrainResult",
    "TrainSettings",
    "load_clip",
    "split_holdout",
    "train",
]
