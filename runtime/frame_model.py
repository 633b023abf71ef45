"""A net on frames, for embedding and for the commands: one synchronous call, a stream, a whole run.

`FrameModel` holds a backend and the processor that turns camera frames into the net's input and its output
back into frames; `stream`/`run` drive the threaded `StreamPipeline`. `Deraining` (F_r, `jrgr derain`) and
`Rainifying` (G_r, `jrgr rainify`) are its two kinds, so both commands run on the same pipeline with the same
options. `run_many`/`stream_many` run several cameras through the one backend (`runtime/multi.py`), optionally
with the operator view (`runtime/server.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import INFER_AUTO
from jrgr_deploy.names import BATCH_WINDOW_MS, INFER_WORKERS
from jrgr_deploy.output_files import check_not_input
from jrgr_deploy.runtime.backends import Backend, open_backend
from jrgr_deploy.runtime.cameras import CameraSpec, camera_outputs, camera_specs
from jrgr_deploy.runtime.multi import MultiReport, MultiStream
from jrgr_deploy.runtime.pipeline import StreamPipeline, StreamReport
from jrgr_deploy.runtime.processing import NetProcessor
from jrgr_deploy.runtime.sinks import FrameSink, WindowSink, open_sink
from jrgr_deploy.runtime.sources import FrameSource, open_source

SourceLike = str | int | Path | FrameSource | Iterable[np.ndarray]
OutputLike = str | Path | FrameSink | Sequence[FrameSink] | None
# name -> source, or a list of sources / "NAME=SOURCE" texts / CameraSpecs (runtime/cameras.py)
CamerasLike = Mapping[str, SourceLike] | Sequence[SourceLike | CameraSpec]


class FrameModel(Closing):
    """A net behind a backend plus frame processing; `stream`/`run` drive the threaded pipeline.

    weights: .onnx / .plan / .engine / .safetensors (None: the packaged default of `net`). backend: one of
    `jrgr_deploy.names.BACKENDS` (None: by suffix; "torch" without weights: the packaged checkpoint).
    infer_hw: (height, width) to run the net at, the rain layer being resampled to the frame's size; "auto" (the
    default, as for `jrgr derain`): the scale the net was trained on (its sidecar's `train_frame_hw`); None:
    the frame's size.
    side_by_side: outputs are [input | output]. threads: CPU threads of the backend. backend_instance: an
    already open backend (embedding, tests) instead of weights.
    """

    command = "frames"  # names the progress bar and the window
    net = "f_r"  # the net of a checkpoint, for the torch backend

    def __init__(
        self,
        weights: str | Path | None = None,
        backend: str | None = None,
        infer_hw: tuple[int, int] | str | None = INFER_AUTO,
        side_by_side: bool = False,
        threads: int | None = None,
        backend_instance: Backend | None = None,
    ) -> None:
        if backend_instance is not None:
            self.backend = backend_instance
            self.weights = Path(getattr(backend_instance, "path", "<backend>"))
        else:
            if weights is None:
                from jrgr_deploy.default_model import default_checkpoint

                weights = default_checkpoint() if backend == "torch" else self.default_weights()
            self.weights = Path(weights)
            self.backend = open_backend(self.weights, backend, net=self.net, threads=threads)
        try:
            self._check_artefact_net()
            self.processor = self._processor(infer_hw, side_by_side)
        except BaseException:
            self.backend.close()
            raise
        self.last_report: StreamReport | MultiReport | None = None

    def _check_artefact_net(self) -> None:
        """An exported file runs only as the net its sidecar names: `jrgr export` writes F_r and G_r side by
        side with the same input and output, so G_r given to `jrgr derain` would run and add rain, silently."""
        artefact_net = getattr(getattr(self.backend, "info", None), "net", None)
        if artefact_net is not None and artefact_net != self.net:
            raise JRGRError(
                f"'{self.weights}' holds {artefact_net} (its sidecar's net), but jrgr {self.command} runs "
                f"{self.net}: pass {self.net}'s file (e.g. {self.net}.onnx from the same `jrgr export`)")

    @staticmethod
    def default_weights() -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def _processor(self, infer_hw: tuple[int, int] | str | None, side_by_side: bool) -> NetProcessor:
        raise NotImplementedError  # pragma: no cover - abstract

    def stream_processor(self) -> NetProcessor:
        """A processor of its own on this model's backend, with the same settings: one per camera of a
        multi-camera run, so per-stream state (a rain sequence, its frame rate) never mixes cameras."""
        return self._processor(self.processor.requested_infer_hw, self.processor.side_by_side)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 BGR frame -> (H, W, 3) uint8 BGR (synchronous, no threads)."""
        return self.processor(frame)

    def run_info(self, processor: NetProcessor | None = None) -> dict[str, Any]:
        """What the statistics' `run` block says about this model; read when a run ends, so `infer_hw` is the
        size the net ran at (resolved from "auto" by the frames). processor: a camera's own (default: the
        model's)."""
        processor = self.processor if processor is None else processor
        infer_hw = processor.infer_hw
        return {
            "command": self.command,
            "backend": self.backend.name,
            "device": self.backend.device,
            "weights": str(self.weights),
            "precision": self.backend.input_contract.precision,
            "infer_size": processor.infer_size,
            "infer_hw": list(infer_hw) if infer_hw else None,
            "side_by_side": processor.side_by_side,
        }

    def pipeline(
        self,
        source: SourceLike,
        sinks: Sequence[FrameSink] = (),
        live: bool = False,
        progress: bool = False,
        strict: bool = False,
        **options: Any,
    ) -> StreamPipeline:
        """A ready-to-run StreamPipeline from this model to `sinks` (`strict`: an unreadable image of a folder
        ends the stream instead of being skipped). Refuses sinks that would write onto the source or the
        weights."""
        source = open_source(source, live=live, strict=strict)
        inputs = self.input_paths(source)
        for sink in sinks:
            if sink.output_path is not None:
                check_not_input(sink.output_path, inputs, "output", keeps_names=sink.keeps_names)
        return StreamPipeline(
            source,
            self.processor,
            sinks,
            progress=progress,
            progress_label=self.command,
            run_info=self.run_info,
            **options,
        )

    def stream(self, source: SourceLike, live: bool = False, **options: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (input frame, output frame), both uint8 BGR, as they come out of the pipeline.

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

    def input_paths(self, source: FrameSource) -> tuple[Path, ...]:
        """What a run of `source` reads: its files/folders and this model's weights (no output may replace them)."""
        return (*source.input_paths, self.weights)

    def run(
        self,
        source: SourceLike,
        output: OutputLike = None,
        live: bool = False,
        show: bool = False,
        progress: bool = False,
        strict: bool = False,
        **options: Any,
    ) -> StreamReport:
        """Process `source` into `output` (video file, image folder, 'null', sink(s)); returns the report. An
        output that is the input (or inside an input folder) is refused before anything is written."""
        source = open_source(source, live=live, strict=strict)
        sinks = self.make_sinks(output, show, title=f"jrgr {self.command}", inputs=self.input_paths(source))
        pipeline = self.pipeline(source, sinks, live=live, progress=progress, **options)
        try:
            return pipeline.run()
        finally:
            self.last_report = pipeline.report

    def multi_stream(
        self,
        cameras: CamerasLike,
        output: str | Path | None = None,
        *,
        camera_file: str | Path | None = None,
        live: bool = False,
        show: bool = False,
        progress: bool = False,
        taps: Mapping[str, FrameSink] | None = None,
        max_batch: int | None = None,
        batch_window_ms: float = BATCH_WINDOW_MS,
        infer_workers: int | str = INFER_WORKERS,
        strict: bool = False,
        **options: Any,
    ) -> MultiStream:
        """A ready-to-run MultiStream: every camera of `cameras` (and of `camera_file`, YAML/JSON) through this
        model's backend. output: one camera: as `run`; several: a folder (DIR/NAME.mp4), a template with
        `{name}`, or 'null' (`runtime.cameras.camera_outputs`). taps: camera name -> an extra sink (the
        operator view's). max_batch, batch_window_ms, infer_workers: `MultiStream`'s (0 ms: never wait to batch; 1
        worker: one batched call at a time; "auto": one per core where the backend takes concurrent calls). strict: as
        `pipeline`. No camera's output may replace any camera's input or the weights (refused before anything is
        written). options: of each camera's StreamPipeline (queue_size, reconnect_timeout_s, ...)."""
        specs = camera_specs(cameras, camera_file)
        if show and len(specs) > 1:
            raise JRGRError(f"--show shows one camera, not {len(specs)}: use --serve HOST:PORT for the operator view")
        outputs = camera_outputs(specs, output)
        sources = {
            spec.name: open_source(spec.source, live=live if spec.live is None else spec.live, strict=strict)
            for spec in specs
        }
        inputs = tuple(path for source in sources.values() for path in self.input_paths(source))
        title = f"jrgr {self.command}"
        pipelines = {}
        for spec in specs:
            # a bad output, or one onto an input, fails here, before any camera starts
            sinks = self.make_sinks(outputs[spec.name], show, title, inputs=inputs)
            if taps and spec.name in taps:
                sinks.append(taps[spec.name])
            processor = self.stream_processor()
            pipelines[spec.name] = StreamPipeline(
                sources[spec.name], processor, sinks, **options,
                # read when the camera's run ends: the size its own processor resolved from "auto"
                run_info=lambda processor=processor, name=spec.name: {**self.run_info(processor), "camera": name},
            )  # fmt: skip
        return MultiStream(pipelines, self.backend, max_batch=max_batch, batch_window_ms=batch_window_ms,
                           infer_workers=infer_workers, progress=progress, progress_label=self.command,
                           run_info=self.run_info())  # fmt: skip

    def run_many(
        self,
        cameras: CamerasLike,
        output: str | Path | None = None,
        *,
        serve: str | None = None,
        token: str | None = None,
        started: Callable[[MultiStream], object] | None = None,
        **options: Any,
    ) -> MultiReport:
        """Run several cameras through this model's one backend, batching their frames; returns the report
        (per camera and total). serve: 'HOST:PORT' of the operator view (page, /api/stats, /metrics,
        /stream/NAME.mjpg) while it runs; token: its access token (needed off loopback). started: called with the
        MultiStream before it runs (a signal handler's `request_stop` target). The other options are
        `multi_stream`'s."""
        if serve is None:
            multi = self.multi_stream(cameras, output, **options)
            if started is not None:
                started(multi)
            report = multi.run()
        else:
            from jrgr_deploy.runtime.server import FrameTap, OperatorServer, check_bind, parse_bind

            host, port = parse_bind(serve)
            check_bind(host, token)
            specs = camera_specs(cameras, options.pop("camera_file", None))
            taps = {spec.name: FrameTap(spec.name) for spec in specs}
            multi = self.multi_stream(specs, output, taps=taps, **options)
            if started is not None:
                started(multi)
            with OperatorServer(host, port, multi.status, taps, token) as server:
                server.start()
                report = multi.run()
        self.last_report = report
        return report

    def stream_many(
        self, cameras: CamerasLike, live: bool = False, **options: Any
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield (camera name, input frame, output frame) from several cameras through the one backend, as they
        come out; the report is in `last_report` afterwards."""
        multi = self.multi_stream(cameras, live=live, **options)
        results = multi.results()
        try:
            yield from results
        finally:
            results.close()  # stops every camera now, also when the caller breaks early
            self.last_report = multi.report

    @staticmethod
    def make_sinks(
        output: OutputLike, show: bool, title: str = "jrgr", inputs: Sequence[Path] = ()
    ) -> list[FrameSink]:
        """Sinks from an output argument (and a window when `show`); a bad output — or one that would replace
        one of `inputs` — fails here, early, before anything is written."""
        sinks: list[FrameSink] = []
        if isinstance(output, str | Path):
            sinks.append(open_sink(output, inputs=inputs))
        if show:
            sinks.insert(0, WindowSink(title))
        if isinstance(output, FrameSink):
            sinks.append(output)
        elif output is not None and not isinstance(output, str | Path):
            sinks.extend(output)
        return sinks

    def close(self) -> None:
        self.backend.close()


__all__ = ["CamerasLike", "FrameModel", "OutputLike", "SourceLike"]
