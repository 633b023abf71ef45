"""The layering of docs/ARCHITECTURE.md ("Layers"), checked on the source: who may import whom.

    app        jrgr_deploy.app: the CLI and the demo          may import everything below
    export     jrgr_deploy.export                             core, runtime (its backends verify the files)
    training   jrgr_deploy.training                           core
    runtime    jrgr_deploy.runtime                            core; at module level nothing that loads torch
    core       jrgr_deploy itself (config, nn, rain, IO, ...) nothing above it

Imports are read from the syntax tree (module level and inside functions; `if TYPE_CHECKING:` blocks are not
imports at run time). `__main__.py` files are launchers (`python -m jrgr_deploy`, `python -m
jrgr_deploy.training`): they may start the app.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> (layer, the dotted package it is installed as)
FOLDERS = {
    "jrgr_deploy": ("core", "jrgr_deploy"),
    "runtime": ("runtime", "jrgr_deploy.runtime"),
    "training": ("training", "jrgr_deploy.training"),
    "export": ("export", "jrgr_deploy.export"),
    "app": ("app", "jrgr_deploy.app"),
}
MAY_IMPORT = {
    "core": {"core"},
    "runtime": {"core", "runtime"},
    "training": {"core", "training"},
    "export": {"core", "runtime", "export"},
    "app": {"core", "runtime", "training", "export", "app"},
}
LAYER_OF_PACKAGE = {package: layer for layer, package in FOLDERS.values()}


@dataclass(frozen=True)
class Import:
    module: str  # dotted name of the importing module
    target: str  # dotted name imported
    line: int
    module_level: bool


def _module_name(path: Path) -> str:
    folder = path.relative_to(ROOT).parts[0]
    package = FOLDERS[folder][1]
    parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, module_level)
                continue
            if isinstance(child, ast.Import):
                found.extend(Import(module, alias.name, child.lineno, module_level) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append(Import(module, target, child.lineno, module_level))
            inner = module_level and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), True)
    return found


def _sources() -> list[Path]:
    files = []
    for folder in FOLDERS:
        files += [p for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]
    return files


def _layer(dotted: str) -> str | None:
    """The layer of a jrgr_deploy module (None for third-party modules)."""
    if dotted != "jrgr_deploy" and not dotted.startswith("jrgr_deploy."):
        return None
    parts = dotted.split(".")
    return LAYER_OF_PACKAGE.get(".".join(parts[:2]), "core")


ALL_IMPORTS = [imp for path in _sources() for imp in _imports(path)]


def test_the_reader_sees_the_packages() -> None:
    modules = {imp.module for imp in ALL_IMPORTS}
    assert {"jrgr_deploy.app.cli", "jrgr_deploy.runtime.pipeline", "jrgr_deploy.training.trainer",
            "jrgr_deploy.export.exporter", "jrgr_deploy.video_files"} <= modules
    assert any(imp.target == "jrgr_deploy.runtime.backends.onnxruntime_backend" and not imp.module_level
               for imp in ALL_IMPORTS)  # a lazy import inside a function is seen too


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_what_lies_below_it(layer: str) -> None:
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if _layer(imp.module) == layer
        and not imp.module.endswith("__main__")
        and _layer(imp.target) is not None
        and _layer(imp.target) not in MAY_IMPORT[layer]
    ]
    assert not wrong, "\n".join(wrong)


def _torch_at_import() -> set[str]:
    """The package's modules whose import loads torch (directly or through another module-level import)."""
    graph: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if imp.module_level:
            graph.setdefault(imp.module, set()).add(imp.target)
    loads: set[str] = set()
    changed = True
    while changed:
        changed = False
        for module, targets in graph.items():
            if module in loads:
                continue
            if any(t == "torch" or t.startswith("torch.") or t in loads for t in targets):
                loads.add(module)
                changed = True
    return loads


def test_runtime_loads_no_torch_training_export_or_nn_at_import() -> None:
    heavy = _torch_at_import()
    assert {"jrgr_deploy.nn.build", "jrgr_deploy.checkpoint", "jrgr_deploy.datasets"} <= heavy  # the check bites
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target} at module level"
        for imp in ALL_IMPORTS
        if _layer(imp.module) == "runtime" and imp.module_level
        and (imp.target in heavy or imp.target.split(".")[0] == "torch" or imp.target.startswith("jrgr_deploy.nn"))
    ]
    assert not wrong, "\n".join(wrong)
    assert not {m for m in heavy if _layer(m) == "runtime" or m.startswith("jrgr_deploy.app")}


def test_core_and_cli_import_no_optional_package_at_module_level() -> None:
    """`import jrgr_deploy` and building the `jrgr` parser need only the base install (numpy, OpenCV, tqdm)."""
    optional = {"onnxruntime", "tensorrt", "cuda", "onnx", "onnxslim", "modelopt", "yaml", "skimage", "matplotlib"}
    cheap = ("jrgr_deploy", "jrgr_deploy.names", "jrgr_deploy.errors", "jrgr_deploy.frames", "jrgr_deploy.artifact",
             "jrgr_deploy.image_files", "jrgr_deploy.video_files", "jrgr_deploy.default_model")
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.module_level and imp.target.split(".")[0] in optional
        and (imp.module in cheap or _layer(imp.module) in ("runtime", "app"))
    ]
    assert not wrong, "\n".join(wrong)
