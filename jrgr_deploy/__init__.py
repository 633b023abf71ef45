"""jrgr-deploy: JRGR (Ye et al., CVPR 2021) training, export and real-time streaming deraining.

Importing this package is cheap: torch, onnxruntime, TensorRT and friends are imported only by the
modules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
