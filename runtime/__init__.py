"""jrgr_deploy.runtime: torch-free inference on exported artefacts and the streaming deraining loop.

    from jrgr_deploy.runtime import Deraining
    for frame, result in Deraining("f_r.onnx").stream("drive.mp4"):
        ...

Importing this package loads numpy and OpenCV only; onnxruntime / tensorrt / torch are imported by the
backend that needs them, when it is constructed. Never imports torch or jrgr_deploy.training.
"""

from jrgr_deploy.runtime.backends import Backend, InputContract, backend_for_path, open_backend
from jrgr_deploy.runtime.deraining import Deraining, default_weights
from jrgr_deploy.runtime.frame_model import FrameModel
from jrgr_deploy.runtime.pipeline import FrameResult, StreamPipeline, StreamReport
from jrgr_deploy.runtime.processing import FrameProcessor
from jrgr_deploy.runtime.rainify import Rainifying
from jrgr_deploy.runtime.sinks import (
    CallbackSink,
    FrameSink,
    ImageFolderSink,
    NullSink,
    VideoFileSink,
    WindowSink,
    open_sink,
)
from jrgr_deploy.runtime.sources import (
    CameraSource,
    FrameSource,
    ImageFilesSource,
    IterableSource,
    SourceReadError,
    StreamSource,
    VideoFileSource,
    open_source,
)
from jrgr_deploy.runtime.stats import LatencyStats, format_table
from jrgr_deploy.runtime.temporal import TemporalSettings, TemporalStabiliser

__all__ = [
    "Backend",
    "CallbackSink",
    "CameraSource",
    "Deraining",
    "FrameModel",
    "FrameProcessor",
    "FrameResult",
    "FrameSink",
    "FrameSource",
    "ImageFilesSource",
    "ImageFolderSink",
    "InputContract",
    "IterableSource",
    "LatencyStats",
    "NullSink",
    "Rainifying",
    "SourceReadError",
    "StreamPipeline",
    "StreamReport",
    "StreamSource",
    "TemporalSettings",
    "TemporalStabiliser",
    "VideoFileSink",
    "VideoFileSource",
    "WindowSink",
    "backend_for_path",
    "default_weights",
    "format_table",
    "open_backend",
    "open_sink",
    "open_source",
]
