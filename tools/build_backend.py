"""The project's build backend: setuptools' own, less one notice of its editable installs.

pyproject.toml installs the folders app/, training/, export/ and runtime/ as jrgr_deploy.app, .training, .export
and .runtime (`package-dir`; the layout of docs/ARCHITECTURE.md, "Layers"). For any such mapping, setuptools'
editable install (`pip install -e .`, what `make install` runs) emits the notice `InformationOnly("Editable
installation.")`: folders of the working directory named like the package may take precedence on import. pip
prints every warning of a backend, so each install ended in that notice. Here it does not apply — the editable
finder maps the sub-packages, and the suite runs from the repository root through it — so `build_editable`
leaves that one notice out. Every other warning (package data, metadata, deprecations, any other notice) still
reaches pip, and tests/test_edge_install.py fails the build on any of them.
"""

from __future__ import annotations

import warnings

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every other hook is setuptools' own
from setuptools.warnings import InformationOnly


def build_editable(
    wheel_directory: str, config_settings: dict | None = None, metadata_directory: str | None = None
) -> str:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Editable installation\.", category=InformationOnly)
        return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
