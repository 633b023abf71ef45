"""The embedding API: derain frames, streams and files with one object.

    from jrgr_deploy.runtime import Deraining

    with Deraining("f_r.onnx") as derain:                 # or a .plan engine, or a .safetensors checkpoint
        clean = derain(frame_bgr)                          # one (H, W, 3) uint8 BGR frame
        for frame, result in derain.stream("rtsp://cam"):  # (input, derained) pairs, live source
            ...
        report = derain.run("drive.mp4", output="drive_derained.mp4")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from jrgr_deploy.runtime.backends import BackendBase, open_backend
from jrgr_deploy.runtime.pipeline import StreamPipeline, StreamReport
from jrgr_deploy.runtime.processing import FrameProcessor
from jrgr_deploy.runtime.sinks import FrameSink, WindowSink, open_sink
from jrgr_deploy.runtime.sources import FrameSource, open_source

SourceLike = str | int | Path | FrameSource | Iterable[np.ndarray]


def default_weights() -> Path:
    """The F_r model shipped in `jrgr_deploy/weights/` (its fastest CPU artefact); a clear error if absent."""
    from jrgr_deploy.default_model import fastest_cpu_onnx

    return fastest_cpu_onnx("f_r")


class Deraining:
    """F_r behind a backend plus frame processing; `stream`/`run` drive the threaded pipeline.

    weights: .onnx / .plan / .engine / .safetensors (None: the packaged default). backend: one of
    `jrgr_deploy.names.BACKENDS` (None: by suffix). infer_size: (width, height) to run the net at, applying the
    upsampled rain layer to the full frame. side_by_side: outputs are [input | derained].
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        backend: str | None = None,
        infer_size: tuple[int, int] | None = None,
        side_by_side: bool = False,
        threads: int | None = None,
        backend_instance: BackendBase | None = None,
    ) -> None:
        if backend_instance is not None:
            self.backend = backend_instance
            self.weights = Path(getattr(backend_instance, "path", "<backend>"))
        else:
            if weights is None:
                from jrgr_deploy.default_model import default_checkpoint

                weights = default_checkpoint() if backend == "torch" else default_weights()
            self.weights = Path(weights)
            self.backend = open_backend(self.weights, backend, net="f_r", threads=threads)
        self.processor = FrameProcessor(self.backend, infer_size=infer_size, side_by_side=side_by_side)
        self.last_report: StreamReport | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Derain one (H, W, 3) uint8 BGR frame -> (H, W, 3) uint8 BGR (synchronous, no threads)."""
        return self.processor(frame)

    def run_info(self) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "device": self.backend.device,
            "weights": str(self.weights),
            "precision": self.backend.input_contract.precision,
            "infer_size": list(self.processor.infer_size) if self.processor.infer_size else None,
            "side_by_side": self.processor.side_by_side,
        }

    def pipeline(
        self,
        source: SourceLike,
        sinks: Sequence[FrameSink] = (),
        live: bool = False,
        progress: bool = False,
        **options: Any,
    ) -> StreamPipeline:
        """A ready-to-run StreamPipeline from this model to `sinks`."""
        return StreamPipeline(
            open_source(source, live=live),
            self.processor,
            sinks,
            progress=progress,
            run_info=self.run_info(),
            **options,
        )

    def stream(self, source: SourceLike, live: bool = False, **options: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (input frame, derained frame), both uint8 BGR, as they come out of the pipeline.

        Files are processed completely and in order; live sources (camera, URL, live=True) yield the
        newest frame the backend could keep up with. Statistics are in `last_report` afterwards.
        """
        pipeline = self.pipeline(source, live=live, **options)
        results = pipeline.results()
        try:
            for result in results:
                yield result.frame, result.output
        finally:
            results.close()  # stops capture and joins its thread now, also when the caller breaks early
            self.last_report = pipeline.report

    def run(
        self,
        source: SourceLike,
        output: str | Path | FrameSink | Sequence[FrameSink] | None = None,
        live: bool = False,
        show: bool = False,
        progress: bool = False,
        **options: Any,
    ) -> StreamReport:
        """Derain `source` into `output` (video file, image folder, 'null', sink(s)); returns the report."""
        sinks = self.make_sinks(output, show)
        pipeline = self.pipeline(source, sinks, live=live, progress=progress, **options)
        try:
            return pipeline.run()
        finally:
            self.last_report = pipeline.report

    @staticmethod
    def make_sinks(
        output: str | Path | FrameSink | Sequence[FrameSink] | None, show: bool
    ) -> list[FrameSink]:
        sinks: list[FrameSink] = []
        if show:
            sinks.append(WindowSink())
        if isinstance(output, FrameSink):
            sinks.append(output)
        elif isinstance(output, str | Path):
            sinks.append(open_sink(output))
        elif output is not None:
            sinks.extend(output)
        return sinks

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Deraining:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["Deraining", "default_weights"]
