"""`jrgr derain --temporal`, `Deraining(temporal=...)` and `jrgr eval` on clips, with the real ONNX Runtime backend and
the shipped default model on a tiny rainy clip; a reconnect of a live source restarts the stabiliser."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from runtime_fixtures import write_video

from jrgr_deploy.app.cli import main
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.rain import RainSequence
from jrgr_deploy.runtime import CallbackSink, Deraining, FrameSource, SourceReadError
from jrgr_deploy.temporal_metrics import score_sequence

WIDTH, HEIGHT, FRAMES = 128, 96, 16


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A fixed camera on a photograph under temporal model-B rain: (rainy BGR frames, clean BGR frames)."""
    clean = np.ascontiguousarray(cv2.resize(skimage.data.coffee(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
                                 [..., ::-1])
    rain = RainSequence("realistic", "medium", seed=3, height=HEIGHT, width=WIDTH, fps=24, channel_order="bgr")
    return [rain.render(clean, i).rainy for i in range(FRAMES)], [clean] * FRAMES


@pytest.fixture(scope="module")
def clip_files(clip, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clip")
    rainy, clean = clip
    (folder / "clean").mkdir()
    for index, frame in enumerate(clean):  # named as `jrgr derain --output FOLDER` names frames
        cv2.imwrite(str(folder / "clean" / f"{index:06d}.png"), frame)
    return {"video": write_video(folder / "rainy.avi", rainy, fps=24), "clean": folder / "clean"}


def rgb(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [f[..., ::-1] for f in frames]


def test_python_api_stabilises_a_stream_and_restarts_per_stream(clip) -> None:
    rainy, clean = clip
    with Deraining() as per_frame_model:
        per_frame = [out for _, out in per_frame_model.stream(rainy)]
    with Deraining(temporal=True) as model:
        assert model.run_info()["temporal"]["strength"] == pytest.approx(0.85)
        stabilised = [out for _, out in model.stream(rainy)]
        again = [out for _, out in model.stream(rainy)]  # a second stream starts afresh
        assert model.temporal.resets == {"restart": 2}
        model.reset()
        direct = [model(frame) for frame in rainy]  # synchronous calls are successive frames too
    assert np.array_equal(stabilised[0], per_frame[0])  # the first frame has nothing to filter with
    assert all(np.array_equal(a, b) for a, b in zip(stabilised, again, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(stabilised, direct, strict=True))
    scores, reference = score_sequence(rgb(stabilised), rgb(clean)), score_sequence(rgb(per_frame), rgb(clean))
    assert scores.flicker_y < 0.7 * reference.flicker_y, (scores, reference)
    assert scores.psnr_y >= reference.psnr_y


def test_cli_temporal_on_a_file_with_and_without_infer_size(clip_files, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ([], ["--infer-size", "64x48"]):
        out, stats_path = tmp_path / f"out{len(extra)}", tmp_path / f"stats{len(extra)}.json"
        code = main(["derain", str(clip_files["video"]), "--temporal", "-o", str(out), "--stats", str(stats_path),
                     "--no-progress", *extra])
        assert code == 0
        assert len(list(out.glob("*.png"))) == FRAMES
        stats = json.loads(stats_path.read_text())
        assert stats["stages_ms"]["temporal"]["count"] == FRAMES
        assert stats["run"]["temporal"]["strength"] == pytest.approx(0.85)
        assert "temporal" in capsys.readouterr().err  # the latency table has the stage
    plain = tmp_path / "plain.json"
    assert main(["derain", str(clip_files["video"]), "-o", "null", "--stats", str(plain), "--no-progress"]) == 0
    assert "temporal" not in json.loads(plain.read_text())["stages_ms"]


def test_eval_scores_clips_from_folders_and_videos(clip_files, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    derained = tmp_path / "derained"
    assert main(["derain", str(clip_files["video"]), "--temporal", "-o", str(derained), "--no-progress"]) == 0
    report_path = tmp_path / "eval.json"
    assert main(["eval", "--rainy", str(derained), "--clean", str(clip_files["clean"]), "--temporal",
                 "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["frames"] == FRAMES and report["flicker_y"] > 0 and report["moving_psnr_y"] is None  # static
    assert "flicker-Y" in capsys.readouterr().out
    # a video against a folder: frame order; the rainy input has more flicker than its stabilised deraining
    assert main(["eval", "--rainy", str(clip_files["video"]), "--clean", str(clip_files["clean"]),
                 "--json", str(tmp_path / "rainy.json")]) == 0
    assert json.loads((tmp_path / "rainy.json").read_text())["flicker_y"] > report["flicker_y"]


def test_eval_clip_errors_are_clear(clip_files, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short"
    short.mkdir()
    for path in sorted(clip_files["clean"].glob("*.png"))[:5]:
        (short / path.name).write_bytes(path.read_bytes())
    assert main(["eval", "--rainy", str(clip_files["video"]), "--clean", str(short)]) == 2
    assert "more frames" in capsys.readouterr().err
    assert main(["eval", "--rainy", str(clip_files["video"]), "--clean", str(clip_files["clean"]),
                 "--weights", "default"]) == 2
    assert "derain it first" in capsys.readouterr().err
    assert main(["eval", "--rainy", str(tmp_path / "missing.mp4"), "--clean", str(short)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(JRGRError, match="temporal must be"):
        Deraining(temporal="on")


class FlakyCamera(FrameSource):
    """A live camera over the clip's frames whose connection drops once, at frame `fail_at`."""

    def __init__(self, frames: list[np.ndarray], fail_at: int) -> None:
        super().__init__()
        self.name, self.live, self.fps = "flaky test camera", True, 50.0
        self.frames, self.fail_at, self.next_index = frames, fail_at, 0

    def _read(self) -> np.ndarray | None:
        if self.next_index >= len(self.frames):
            return None
        if self.next_index == self.fail_at:
            self.fail_at = -1
            raise SourceReadError("flaky test camera: connection lost")
        time.sleep(0.02)
        frame = self.frames[self.next_index]
        self.next_index += 1
        return frame


def test_a_reconnect_restarts_the_stabiliser(clip) -> None:
    rainy, _ = clip
    outputs: list[np.ndarray] = []
    with Deraining(temporal=True) as model:
        report = model.run(FlakyCamera(rainy, fail_at=8), output=CallbackSink(lambda i, f: outputs.append(f)),
                           reconnect_backoff_s=(0.01, 0.05))
        resets = dict(model.temporal.resets)
    assert report.stats["reconnects"] == 1
    assert resets == {"restart": 2}  # the stream's start and the reconnect
    assert report.stats["stages_ms"]["temporal"]["count"] == report.stats["frames_out"] == len(outputs)


@pytest.mark.parametrize("infer_hw", [None, (48, 64)])
def test_postprocess_adds_the_stabilisers_correction_as_the_stabiliser_computes_it(clip, infer_hw) -> None:
    """Both ways a FrameProcessor adds the correction (full resolution: in the net's units while converting its
    output; --infer-size: on the upsampled derained frame, rounded in the same pass) give the derained frame plus
    what a stabiliser of its own computes on that frame's luma, in levels."""
    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.deraining import default_weights
    from jrgr_deploy.runtime.processing import FrameProcessor, blend, layer_to_frame, to_uint8, unpad
    from jrgr_deploy.runtime.temporal import LUMA_BGR, TemporalStabiliser

    rainy, _ = clip
    with open_backend(default_weights()) as backend:
        processor = FrameProcessor(backend, infer_hw=infer_hw, temporal=TemporalStabiliser())
        reference = TemporalStabiliser()
        corrected = 0
        for index, frame in enumerate(rainy[:6]):
            prepared = processor.preprocess(frame, index)
            prepared.restart = index == 0
            output = backend(prepared.batch)
            got = processor.postprocess(prepared, output)
            restored = unpad(output, prepared.net_hw)
            if infer_hw is None:
                derained = (restored[0][::-1].transpose(1, 2, 0) + np.float32(1.0)) * np.float32(127.5)
            else:
                derained = blend(frame, layer_to_frame(unpad(prepared.batch, prepared.net_hw)[0] - restored[0],
                                                       frame.shape[:2]), sign=-1.0)
            delta = reference.correction(cv2.transform(np.ascontiguousarray(derained), LUMA_BGR[None, :]),
                                         restart=index == 0)
            if delta is not None:
                corrected += 1
                derained = derained + delta[..., None]
            expected = to_uint8(np.ascontiguousarray(derained))
            difference = np.abs(got.astype(np.int16) - expected)
            if infer_hw is None:  # the same filter in other units: a rounding apart at most, rarely
                assert difference.max() <= 1 and (difference > 0).mean() < 0.002
            else:  # the same arithmetic, fused
                assert difference.max() == 0
        assert corrected == 5
