"""Matching rainy images to their clean ground truth by file name (no torch).

Extended by the data-set readers with the naming conventions of public data sets.
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import list_images


def match_pairs(rainy_dir: str | Path, clean_dir: str | Path) -> list[tuple[Path, Path]]:
    """(rainy, clean) paths matched by file stem, sorted by the rainy name.

    Raises JRGRError listing a few unmatched names when any rainy image has no clean partner.
    """
    rainy = list_images(rainy_dir)
    clean_by_stem = {p.stem: p for p in list_images(clean_dir)}
    pairs, unmatched = [], []
    for path in rainy:
        partner = clean_by_stem.get(path.stem)
        if partner is None:
            unmatched.append(path.name)
        else:
            pairs.append((path, partner))
    if unmatched:
        raise JRGRError(
            f"{len(unmatched)} rainy image(s) in '{rainy_dir}' have no clean partner in '{clean_dir}' "
            f"(matched by file stem), e.g. {unmatched[:5]}"
        )
    return pairs
