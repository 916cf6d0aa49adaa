"""Viewing scene-referred frames through OpenColorIO: an EXR's linear light or a camera's log made into the
display picture a supervisor reviews.

`DisplayView(ViewSpec(config, source, display, view))` loads an OCIO config (a file, or a built-in one such as
`ocio://studio-config-latest`), checks the names in it (a wrong one is one line listing the choices) and
builds the display/view transform from the source's colour space. `shown(rgb)` gives the display-referred
picture, 0..1.

OCIO's own CPU processor does the work, in horizontal strips on a thread per usable core (it releases the
GIL): the ACES 2.0 view of the built-in config takes 0.73 s a 1080p picture in one call, 0.38 s in strips on
two cores (bench/review_view.py, docs/benchmarks.md). A 65-point 3D LUT sampled from the processor behind a
log2 shaper took 0.10 s, but missed by up to 34 code values in 8 bits on camera frames (p99.9 up to 8), on
bright saturated colours where the view compresses the gamut: a review picture that is not the show's
picture, so the exact processor it is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.cores import usable_cores
from engine.media.info import ColourTags

F32 = npt.NDArray[np.float32]

# The built-in config used when neither the show nor $OCIO names one (shipped inside OpenColorIO: offline).
DEFAULT_CONFIG = "ocio://studio-config-latest"
STRIP_ROWS = 64  # rows of a frame one thread transforms at a time


BT709_TAGS = ColourTags(1, 1, 1)
# The H.273 tags (primaries, transfer, matrix) of a display's picture, by the interop id OpenColorIO 2.5 configs
# give its colour space (the built-in studio config's sRGB display is srgb_rec709_display): a picture made for
# an sRGB display tagged BT.709 is shown with the wrong tone curve by players that honour the tag.
DISPLAY_TAGS = {
    "srgb_rec709_display": ColourTags(1, 13, 1),
    "g24_rec709_display": BT709_TAGS,  # Rec.1886: BT.709 by convention
    "g22_rec709_display": ColourTags(1, 4, 1),
    "srgb_p3d65_display": ColourTags(12, 13, 1),  # Display P3
    "pq_rec2020_display": ColourTags(9, 16, 9),
    "hlg_rec2020_display": ColourTags(9, 18, 9),
}


# The wide gamuts a review movie may be tagged with (H.273 primaries: BT.2020, Display P3), by their red, green
# and blue x, y; D65 white, as BT.709's.
_WIDE_PRIMARIES = {
    9: ((0.708, 0.292), (0.17, 0.797), (0.131, 0.046)),
    12: ((0.68, 0.32), (0.265, 0.69), (0.15, 0.06)),
}
_REC709_PRIMARIES = ((0.64, 0.33), (0.3, 0.6), (0.15, 0.06))
# H.273 transfers of SDR pictures: BT.709 (1), gamma 2.2 (4), BT.601 (6), sRGB (13), BT.2020 10/12-bit (14, 15)
_SDR_TRANSFERS = frozenset({1, 4, 6, 13, 14, 15})
_D65 = (0.3127, 0.329)


def _to_xyz(primaries: tuple[tuple[float, float], ...]) -> npt.NDArray[np.float64]:
    """The RGB -> XYZ matrix of these primaries with a D65 white."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    white = np.array([_D65[0] / _D65[1], 1.0, (1 - _D65[0] - _D65[1]) / _D65[1]])
    return columns * np.linalg.solve(columns, white)  # type: ignore[no-any-return]


def _decode(values: npt.NDArray[np.float64], transfer: int) -> npt.NDArray[np.float64]:
    """Code values 0..1 to light, by the H.273 transfer: sRGB (13), gamma 2.2 (4), else BT.709's curve."""
    if transfer == 13:
        return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    if transfer == 4:
        return values**2.2
    return np.where(values < 0.081, values / 4.5, ((values + 0.099) / 1.099) ** (1 / 0.45))


def _encode(light: npt.NDArray[np.float64], transfer: int) -> npt.NDArray[np.float64]:
    if transfer == 13:
        return np.where(light <= 0.0031308, light * 12.92, 1.055 * light ** (1 / 2.4) - 0.055)
    if transfer == 4:
        return light ** (1 / 2.2)
    return np.where(light < 0.018, 4.5 * light, 1.099 * light**0.45 - 0.099)


def in_rec709_primaries(rgb: npt.NDArray[np.uint8], tags: ColourTags | None) -> npt.NDArray[np.uint8]:
    """An 8-bit picture of a movie tagged `tags` in BT.709 primaries, its transfer kept: a picture file with no
    colour profile (a Version's JPEG thumbnail) is shown as sRGB, so a BT.2020 or Display P3 movie's frame saved
    as it is looks paler than the movie a browser shows, colour-managed, beside it. Other primaries, and HDR
    transfers (PQ, HLG): as it is."""
    if tags is None or tags.primaries not in _WIDE_PRIMARIES or tags.transfer not in _SDR_TRANSFERS:
        return rgb  # PQ and HLG code values are no light this conversion knows: as it is, as before
    matrix = np.linalg.solve(_to_xyz(_REC709_PRIMARIES), _to_xyz(_WIDE_PRIMARIES[tags.primaries]))
    light = _decode(rgb.astype(np.float64) / 255.0, tags.transfer) @ matrix.T
    shown = _encode(np.clip(light, 0.0, 1.0), tags.transfer)
    return np.round(shown * 255.0).astype(np.uint8)  # type: ignore[no-any-return]


# The gamuts an EXR's `chromaticities` (OpenEXR's own tag of its primaries and white: red, green, blue and white
# x, y) commonly name, by the interop id OpenColorIO 2.5 configs give their scene-linear colour space.
GAMUT_INTEROP = {
    (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767): "lin_ap0_scene",  # ACES2065-1
    (0.713, 0.293, 0.165, 0.83, 0.128, 0.044, 0.32168, 0.33767): "lin_ap1_scene",  # ACEScg
    (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329): "lin_rec709_scene",
    (0.708, 0.292, 0.17, 0.797, 0.131, 0.046, 0.3127, 0.329): "lin_rec2020_scene",
    (0.68, 0.32, 0.265, 0.69, 0.15, 0.06, 0.3127, 0.329): "lin_p3d65_scene",
}


def tagged_space(config_name: str, chromaticities: Iterable[float]) -> str | None:
    """The colour space of `config_name` whose interop id is the gamut `chromaticities` name (an EXR's, eight
    numbers), or None: a gamut not listed, or a config without such a space (or unreadable: DisplayView says so)."""
    import PyOpenColorIO as ocio

    values = tuple(float(v) for v in chromaticities)
    interop = next(
        (
            i
            for g, i in GAMUT_INTEROP.items()
            if len(values) == 8 and max(map(abs, np.subtract(g, values))) < 2e-3
        ),
        None,
    )
    if interop is None:
        return None
    try:
        config = _config(config_name)
    except (ocio.Exception, ocio.ExceptionMissingFile):
        return None
    found = (cs.getName() for cs in config.getColorSpaces() if getattr(cs, "getInteropID", str)() == interop)
    return next(found, None)


@functools.lru_cache(maxsize=4)
def _config(name: str) -> Any:
    import PyOpenColorIO as ocio

    return ocio.Config.CreateFromFile(name)


class ColorError(ValueError):
    """An OCIO config, colour space, display or view that cannot be used (one line naming it and the choices);
    `unreadable_config`: the config itself could not be read."""

    def __init__(self, message: str, unreadable_config: bool = False) -> None:
        super().__init__(message)
        self.unreadable_config = unreadable_config


@dataclass(frozen=True)
class ViewSpec:
    """What to show a source through: the config, the source's colour space (or a role such as
    scene_linear), and the display and view (None: the config's default display, the display's default view)."""

    config: str
    source: str
    display: str | None = None
    view: str | None = None


class DisplayView:
    """The display picture of a source's frames, through an OCIO display/view transform."""

    def __init__(self, spec: ViewSpec) -> None:
        import PyOpenColorIO as ocio

        try:
            config = ocio.Config.CreateFromFile(spec.config)
        except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
            raise ColorError(
                f"OCIO config {spec.config}: {str(exc).rstrip('. ')}; give a config file or an ocio:// name",
                unreadable_config=True,
            ) from None
        space = config.getColorSpace(spec.source)
        if space is None:
            raise ColorError(
                f"{spec.source!r} is not a colour space or role of the OCIO config {spec.config}: use one of "
                f"{_listed(cs.getName() for cs in config.getColorSpaces())}"
            )
        display = _spelled(spec.display, config.getDisplays()) or config.getDefaultDisplay()
        if display not in config.getDisplays():
            raise ColorError(
                f"{spec.display or display!r} is not a display of the OCIO config {spec.config}: use one of "
                f"{_listed(config.getDisplays())}"
            )
        view = _spelled(spec.view, config.getViews(display)) or config.getDefaultView(display)
        if view not in config.getViews(display):
            raise ColorError(
                f"{spec.view or view!r} is not a view of the display {display!r}: use one of "
                f"{_listed(config.getViews(display))}"
            )
        transform = ocio.DisplayViewTransform(src=space.getName(), display=display, view=view)
        self.processor = config.getProcessor(transform).getDefaultCPUProcessor()
        self.name = f"{space.getName()} -> {display} / {view}"
        shown_in = config.getDisplayViewColorSpaceName(display, view)
        encoded = config.getColorSpace(display if shown_in == "<USE_DISPLAY_NAME>" else shown_in)
        interop = getattr(encoded, "getInteropID", lambda: "")() if encoded is not None else ""
        # what a movie of the picture is tagged: as the display encodes it, else (a display the config does not
        # describe by an interop id) BT.709
        self.tags = DISPLAY_TAGS.get(interop or "", BT709_TAGS)

    def shown(self, rgb: npt.NDArray[np.floating]) -> F32:
        """The HxWx3 display-referred picture (float32 0..1) of an HxWx3 float frame of the source; an HxWx4
        frame's alpha stays beside it as it was (a view changes colour, not coverage)."""
        if rgb.ndim == 3 and rgb.shape[2] == 4:
            return np.dstack([self.shown(rgb[..., :3]), np.clip(rgb[..., 3], 0.0, 1.0)]).astype(np.float32)
        out = np.array(rgb, dtype=np.float32, order="C")  # a copy: the source frame is left as it was
        strips = [out[row : row + STRIP_ROWS] for row in range(0, out.shape[0], STRIP_ROWS)]
        list(_pool(os.getpid()).map(self.processor.applyRGB, strips))
        return np.clip(out, 0.0, 1.0, out=out)


@functools.lru_cache(maxsize=1)
def _pool(pid: int) -> ThreadPoolExecutor:
    """The strips' threads of this process (keyed by pid: a forked child has none of its parent's threads)."""
    return ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="ocio")


# A forked child forgets its parent's pool without touching it: the pool's queue and threads are the parent's.
os.register_at_fork(after_in_child=_pool.cache_clear)


def _spelled(name: str | None, names: Iterable[str]) -> str | None:
    """`name` as the config spells it: itself, or the one name that differs from it in case alone (OCIO finds
    colour spaces so, and a display or view typed in lower case was refused); None when not given."""
    if not name:
        return None
    known = list(names)
    if name in known:
        return name
    folded = [n for n in known if n.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else name


def _listed(names: Iterable[str]) -> str:
    values = [str(n) for n in names]
    shown = ", ".join(repr(v) for v in values[:12])
    return shown + (f" and {len(values) - 12} more" if len(values) > 12 else "")
