"""Matching rainy images to their clean ground truth by file name, and finding them in a data-set root.

No torch here: the runtime and `jrgr eval` use it too.

Naming conventions understood by `match_pairs` (tried in this order for each rainy image):
- plain: the same stem in both folders (`0001.png` <-> `0001.jpg`);
- RainCityscape: `<id>_leftImg8bit_rain_alpha_0.01_beta_0.005_dropsize_0.01_pattern_1.png` ->
  `<id>_leftImg8bit.png` (several rainy renderings share one clean image);
- SPA-Data: `<id>_rain.png` <-> `<id>_gt.png` (possibly in the same folder);
- Rain100L/H: `rain-001.png` <-> `norain-001.png` (possibly in the same folder);
- Rain1400/Rain14000 (DDN): `<id>_<k>.jpg` -> `<id>.jpg`, tried last because a trailing number is
  often just part of a plain name.

Data-set roots understood by `resolve_root`: `<root>/{rainy,clean}` (also `rain/norain`, `input/target`,
`input/gt`), the JRGR authors' `<root>/{train,test}/{Os,Bs,Ot}` (Os/Bs paired, Ot unpaired real rain), the
layout `jrgr data synth` writes, and a single SPA/Rain100-style folder holding rainy and clean images.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import list_images

logger = logging.getLogger(__name__)

_RAINCITYSCAPE = re.compile(r"^(?P<key>.+?)_rain_alpha_.*$")
_SPA_RAIN = re.compile(r"^(?P<key>.+)_rain$")
_SPA_CLEAN = re.compile(r"^(?P<key>.+)_gt$")
_RAIN100_RAIN = re.compile(r"^rain-(?P<key>.+)$")
_RAIN100_CLEAN = re.compile(r"^norain-(?P<key>.+)$")
_DDN_RAIN = re.compile(r"^(?P<key>.+)_\d+$")

# Rainy-stem rewrites in priority order; the first whose key names a clean image wins.
_RAINY_KEYS: tuple[re.Pattern[str], ...] = (_RAINCITYSCAPE, _SPA_RAIN, _RAIN100_RAIN, _DDN_RAIN)
_CLEAN_KEYS: tuple[re.Pattern[str], ...] = (_SPA_CLEAN, _RAIN100_CLEAN)

# (rainy, clean) sub-folder names of paired layouts, matched case-sensitively first, then ignoring case.
PAIRED_FOLDER_NAMES: tuple[tuple[str, str], ...] = (
    ("rainy", "clean"),
    ("Os", "Bs"),
    ("rain", "norain"),
    ("input", "target"),
    ("input", "gt"),
)
UNPAIRED_FOLDER_NAMES: tuple[str, ...] = ("Ot",)


def _rainy_candidates(stem: str) -> list[str]:
    keys = [stem]
    for pattern in _RAINY_KEYS:
        match = pattern.match(stem)
        if match:
            keys.append(match["key"])
    return keys


def _clean_index(clean: list[Path]) -> dict[str, Path]:
    # Exact stems win over convention keys, so `a.png` beats `a_gt.png` for the rainy `a_rain.png`.
    index = {p.stem: p for p in clean}
    for path in clean:
        for pattern in _CLEAN_KEYS:
            match = pattern.match(path.stem)
            if match:
                index.setdefault(match["key"], path)
    return index


def is_rainy_name(stem: str) -> bool:
    """True for SPA (`*_rain`) and Rain100 (`rain-*`) rainy names, the ones a mixed folder is split by."""
    return bool(_SPA_RAIN.match(stem) or _RAIN100_RAIN.match(stem))


def is_clean_name(stem: str) -> bool:
    """True for SPA (`*_gt`) and Rain100 (`norain-*`) clean names."""
    return bool(_SPA_CLEAN.match(stem) or _RAIN100_CLEAN.match(stem))


def split_mixed_folder(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """(rainy, clean) images of one folder holding both, told apart by SPA/Rain100 names.

    Other images (e.g. Rain100's `rainregion-*`, `rainstreak-*`) are ignored. Raises JRGRError when the
    folder has no rainy-named or no clean-named image.
    """
    images = list_images(folder)
    rainy = [p for p in images if is_rainy_name(p.stem)]
    clean = [p for p in images if is_clean_name(p.stem)]
    if not rainy or not clean:
        raise JRGRError(
            f"folder '{folder}' is used for both rainy and clean images but holds {len(rainy)} rainy-named "
            f"(*_rain, rain-*) and {len(clean)} clean-named (*_gt, norain-*) images; need both"
        )
    ignored = len(images) - len(rainy) - len(clean)
    if ignored:
        logger.debug("%s: ignoring %d images named neither rainy nor clean", folder, ignored)
    return rainy, clean


def match_pairs(rainy_dir: str | Path, clean_dir: str | Path) -> list[tuple[Path, Path]]:
    """(rainy, clean) paths matched by name, sorted by the rainy name (conventions in the module doc).

    `rainy_dir` may equal `clean_dir` (SPA-Data / Rain100 single folder). Several rainy images may share
    one clean image (RainCityscape, Rain1400). Raises JRGRError when a folder is missing or empty, or
    listing the count and a few names when any rainy image has no clean partner.
    """
    rainy_dir, clean_dir = Path(rainy_dir), Path(clean_dir)
    if rainy_dir.is_dir() and clean_dir.is_dir() and rainy_dir.resolve() == clean_dir.resolve():
        rainy, clean = split_mixed_folder(rainy_dir)
    else:
        rainy, clean = list_images(rainy_dir), list_images(clean_dir)
    index = _clean_index(clean)
    pairs, unmatched = [], []
    for path in rainy:
        partner = next((index[k] for k in _rainy_candidates(path.stem) if k in index), None)
        if partner is None:
            unmatched.append(path.name)
        else:
            pairs.append((path, partner))
    if unmatched:
        raise JRGRError(
            f"{len(unmatched)} rainy image(s) (of {len(rainy)}) in '{rainy_dir}' have no clean partner in "
            f"'{clean_dir}' (matched by stem, RainCityscape, SPA *_rain/*_gt, Rain100 rain-/norain- or "
            f"Rain1400 <id>_<k> names), e.g. {unmatched[:5]}"
        )
    return pairs


@dataclass(frozen=True)
class RainData:
    """What a data-set root holds for one split.

    pairs: (rainy, clean) image paths (synthetic paired domain: `o_s`, `b_s`).
    unpaired: real rainy images without ground truth (`o_r`), empty when the root has none.
    layout: which layout was recognised, for logs and error messages.
    """

    root: Path
    layout: str
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    unpaired: list[Path] = field(default_factory=list)


def _find_child(folder: Path, name: str) -> Path | None:
    exact = folder / name
    if exact.is_dir():
        return exact
    lowered = name.lower()
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() == lowered:
            return child
    return None


def _paired_subfolders(folder: Path) -> tuple[Path, Path] | None:
    for rainy_name, clean_name in PAIRED_FOLDER_NAMES:
        rainy, clean = _find_child(folder, rainy_name), _find_child(folder, clean_name)
        if rainy is not None and clean is not None:
            return rainy, clean
    return None


def _unpaired_subfolder(folder: Path) -> Path | None:
    for name in UNPAIRED_FOLDER_NAMES:
        found = _find_child(folder, name)
        if found is not None:
            return found
    return None


def _resolve_plain(folder: Path, layout: str) -> RainData | None:
    """A folder with paired sub-folders and/or an unpaired `Ot` sub-folder (the authors' split folder)."""
    paired = _paired_subfolders(folder)
    unpaired_dir = _unpaired_subfolder(folder)
    if paired is None and unpaired_dir is None:
        return None
    pairs = match_pairs(*paired) if paired else []
    unpaired = list_images(unpaired_dir) if unpaired_dir else []
    return RainData(root=folder, layout=layout, pairs=pairs, unpaired=unpaired)


def _resolve_synth(root: Path, split: str) -> RainData | None:
    """The layout `jrgr data synth` writes (recognised by its manifest.json)."""
    if not (root / "manifest.json").is_file():
        return None
    if split == "train":
        synthetic, real = root / "train" / "synthetic", root / "train" / "real" / "rainy"
        pairs = match_pairs(synthetic / "rainy", synthetic / "clean")
        unpaired = list_images(real) if real.is_dir() else []
        return RainData(root=root, layout="jrgr-synth", pairs=pairs, unpaired=unpaired)
    # test/val hold ground truth for the realistic (real-domain proxy) rain: that is what JRGR is judged on.
    folder = root / split / "realistic"
    if not folder.is_dir():
        return None
    return RainData(root=root, layout="jrgr-synth", pairs=match_pairs(folder / "rainy", folder / "clean"))


def resolve_root(root: str | Path, split: str = "train") -> RainData:
    """Find the (rainy, clean) pairs and unpaired real rain of `split` under a data-set root.

    Layouts tried in order (see the module doc): `jrgr data synth` output; `<root>/<split>/{Os,Bs,Ot}`
    (or any paired folder names under `<root>/<split>`); `<root>` itself holding paired/`Ot` folders;
    a single SPA/Rain100-style folder. Raises JRGRError when `root` is not a folder or nothing is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise JRGRError(f"data-set root '{root}' does not exist or is not a folder")
    resolvers: list[Callable[[], RainData | None]] = [
        lambda: _resolve_synth(root, split),
        lambda: _resolve_plain(root / split, f"<root>/{split}/{{rainy,clean}}") if (root / split).is_dir() else None,
        lambda: _resolve_plain(root, "<root>/{rainy,clean}"),
    ]
    for resolver in resolvers:
        found = resolver()
        if found is not None:
            logger.debug(
                "%s (%s): %s layout, %d pairs, %d unpaired",
                root,
                split,
                found.layout,
                len(found.pairs),
                len(found.unpaired),
            )
            return found
    images = [p for p in root.iterdir() if p.is_file()]
    if images:
        return RainData(root=root, layout="single folder (*_rain/*_gt)", pairs=match_pairs(root, root))
    names = ", ".join(f"{r}/{c}" for r, c in PAIRED_FOLDER_NAMES)
    raise JRGRError(
        f"no rain data set found in '{root}' for split '{split}': expected sub-folders {names} (optionally "
        f"under '{split}/'), an 'Ot' folder of real rain, a jrgr data synth manifest.json, "
        f"or *_rain/*_gt images"
    )
