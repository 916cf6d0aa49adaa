"""Classical baselines the show model's heads are measured against (restore: lanczos, bicubic, OpenCV
non-local means, Telea; interpolate and colour live beside them)."""
