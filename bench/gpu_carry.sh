#!/usr/bin/env bash
# What bench/gpu.sh needs on a GPU machine that brings its own Python (3.12 with PyTorch, numpy, OpenCV,
# scikit-image, safetensors) and reaches no package index: run here, then send the two folders with the run.
#     bash bench/gpu_carry.sh [FOOTAGE]      # default ../shared/footage
# .whl/: wheels of the packages engine/ and bench/ import that such an image lacks (--no-deps: their own needs
# are in the image or in this list), for CPython 3.12 on x86-64 Linux. .footage/: the footage, with davis/tennis's
# PNG frames as JPEG (quality 95) so that the whole fits the 64 MiB the device tool sends; tennis is base corpus
# only in bench/base.py, so no score reads it. Both folders are ignored by git.
set -euo pipefail
FOOTAGE=${1:-../shared/footage}
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
PACKAGES=(av==18.1.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated_types typing_inspection Fileseq==3.4.0
    scenedetect==0.6.7.1 openexr)
rm -rf .whl .footage
for package in "${PACKAGES[@]}"; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "$package"
done
mkdir -p .footage/davis
cp -r "$FOOTAGE"/camera "$FOOTAGE"/cg .footage/
for folder in "$FOOTAGE"/davis/*; do
    name=$(basename "$folder")
    [ "$name" = tennis ] || cp -r "$folder" .footage/davis/
done
"$PY" - "$FOOTAGE/davis/tennis" .footage/davis/tennis <<'PY'
import sys
from pathlib import Path

import cv2

source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
for png in sorted(source.glob("*.png")):
    image = cv2.imread(str(png))
    if image is None:
        sys.exit(f"{png}: not a readable image")
    cv2.imwrite(str(target / f"{png.stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
PY
chmod -R u+w .footage
du -sh .whl .footage
