"""Temporal stabilisation of derained video (`jrgr derain --temporal`): a causal, motion-adaptive recursive filter.

Per-frame deraining leaves a residue (streak remnants, a veil that the net removes a little differently every
frame) that changes from frame to frame: flicker. The background does not. So the output keeps a running
estimate S of the luma and pulls each new derained frame towards it where nothing moved:

    Y_t    luma of the per-frame derained frame (0..255);  y = Y_t at 1/`work_scale` resolution (area average)
    still camera:   d = S_{t-1} - Y_t at full resolution (the residue is fine detail)
    moving camera:  d = S'_{t-1} - y, S' the estimate at 1/`work_scale` resolution warped onto frame t (bicubic)
    m      = 3x3 max of the block means of |d| over `analysis_scale`-px blocks, at 1/`work_scale` resolution (the
             area average of a full-resolution d: the same as averaging S and Y first); level = median(m)
    keep   = strength * (1 - ramp(m; lo, 2 lo)),   lo  = max(motion_levels, motion_per_level * level)
    Delta  = keep * clip(d, -tau, tau),            tau = max(clamp_levels, clamp_per_level * level)
             (keep upsampled bilinearly to d's resolution; a moving camera's Delta upsampled bilinearly to full)
    output = per-frame frame + Delta on every colour channel;   S_t = Y_t + Delta

- Causal: frame t's output depends on frames <= t only, so live latency grows by the filter's compute time, not by
  a frame. Only luma is filtered (rain residue is nearly colourless; the chroma of each frame is kept as is).
- Motion: where the block mismatch m is high against the frame's typical mismatch `level` (rain residue and
  alignment error set that level), a person, a car or a parallax edge moved: `keep` falls to 0 and the frame is
  passed through. The clip bounds what the filter can ever change: |output - per-frame| <= strength * tau.
- Moving camera: `CameraMotion` tracks Shi-Tomasi corners with pyramidal Lucas-Kanade at 1/`track_scale`
  resolution and fits a similarity transform (RANSAC rejects corners on movers and mistracked ones). Below
  `still_px` of displacement the camera counts as still and nothing is resampled; otherwise the estimate is
  warped and corrected at 1/`work_scale` resolution only: the finest detail of a resampled estimate is
  interpolation blur, not worth carrying over, and a quarter of the pixels costs a quarter of the time.
- A camera still for `still_track_every` tracked frames is then tracked on every `still_track_every`-th frame only,
  and at once on a frame whose typical mismatch `level` exceeds `motion_check_ratio` x that of the last still frame
  the tracker saw: a camera that starts to move shifts every edge of the frame, which raises the median block
  mismatch, not just a few blocks' (a walker does that). Tracking was most of a fixed camera's cost.
- Likewise a moving camera is tracked on every `moving_track_every`-th frame; in between, its last measured motion
  stands in (a camera's motion changes little from one frame to the next: a dash camera drives on, a pan goes on),
  and a frame whose typical mismatch exceeds `motion_check_ratio` x that of the last tracked frame (the camera
  turned, stopped or shook) is tracked at once. While the camera moves, the estimate is also kept at the work
  resolution (y + Delta) for the next frame's warp, instead of averaging the full-resolution one down again. On the
  benchmark's moving camera the two cost 0.01 dB PSNR-Y and save about a quarter of the stabiliser's time per
  frame (`benchmarks/temporal.py --cost-baseline`).
- Cost: a 1280x720 frame is read at full resolution only by the still camera's handful of element-wise passes (d,
  its clip, keep, S) and two area averages; the gate, the tracker and a moving camera's warp run on 640x360
  (`benchmarks/temporal.py` measures it; BENCHMARKS.md, "Temporal stability").
- Resets (the output is the per-frame frame, the estimate starts again): at the start of a stream, after a
  reconnect of a live source (`restart=True`), on a frame-size change, and on a scene cut (level > `cut_levels`).

numpy + OpenCV only, like the rest of the runtime.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError

logger = logging.getLogger(__name__)

# BT.601 luma weights in B, G, R order (OpenCV's frames); a luma change added to all three channels changes the
# luma by exactly that much (the weights sum to 1) and leaves the colour differences alone.
LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)


@dataclass(frozen=True)
class TemporalSettings:
    """The stabiliser's knobs (Y levels are 0..255). Defaults were chosen on the benchmark clips
    (benchmarks/temporal.py); `motion_per_level` again on clips of another seed (`--seed 11`) when the default
    model's per-frame flicker rose (BENCHMARKS.md, "Temporal stability")."""

    strength: float = 0.85  # share of the running estimate kept where nothing moves (recursive filter weight)
    clamp_levels: float = 8.0  # least bound on the per-pixel correction, before `strength`
    clamp_per_level: float = 3.0  # ... or this many times the frame's typical mismatch, if larger
    motion_levels: float = 8.0  # least block mismatch at which a block starts to count as moving
    # ... or this many times the typical mismatch, if larger (fully moving at 2x). A net that flickers more raises
    # the typical mismatch, and with it the threshold: at 2.25 a walker of moderate contrast behind v5's output was
    # taken for still and ghosted (moving-region PSNR-Y -0.46 dB); 1.5 keeps the goals on v5's FP32 and INT8 files
    # (v6's flickers more still: no setting keeps every goal for v6's files and v1's, BENCHMARKS.md "After v6")
    motion_per_level: float = 1.5
    cut_levels: float = 25.0  # typical mismatch above which the frame is a new scene (reset)
    analysis_scale: int = 4  # block size (px) of the motion analysis
    track_scale: int = 2  # camera motion is tracked at 1/track_scale resolution (never below 320 px wide)
    still_px: float = 0.5  # camera displacement (px, largest over the frame corners) below which it is still
    work_scale: int = 2  # the gate, and a moving camera's whole correction, work at 1/work_scale resolution
    still_track_every: int = 4  # a camera still for this many tracked frames is then tracked on every N-th frame,
    motion_check_ratio: float = 1.5  # ... and on any frame whose typical mismatch exceeds this x the last still one
    moving_track_every: int = 3  # a moving camera is tracked on every N-th frame, its last motion standing in between
    # (and tracked at once on a frame whose typical mismatch exceeds motion_check_ratio x that of the last tracked one)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise JRGRError(f"temporal strength must be in [0, 1), got {self.strength}")
        for name in ("clamp_levels", "motion_levels", "cut_levels", "still_px"):
            if not getattr(self, name) > 0:
                raise JRGRError(f"temporal setting {name} must be positive, got {getattr(self, name)}")
        if not self.motion_check_ratio >= 1.0:
            raise JRGRError(f"temporal setting motion_check_ratio must be >= 1, got {self.motion_check_ratio}")
        for name in ("analysis_scale", "track_scale", "work_scale", "still_track_every", "moving_track_every"):
            if int(getattr(self, name)) < 1:
                raise JRGRError(f"temporal setting {name} must be >= 1, got {getattr(self, name)}")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below `low`, 1 above `high`, linear between (float32)."""
    out = (values - np.float32(low)) * np.float32(1.0 / (high - low))
    return np.clip(out, 0.0, 1.0, out=out)


def block_means(image: np.ndarray, block: int) -> np.ndarray:
    """Means over `block` x `block` pixel blocks (the last partial ones dropped): repeated 2x2 averaging when `block`
    is a power of two (OpenCV's fast path, the same numbers), one area resize otherwise."""
    height, width = image.shape[:2]
    size = (max(width // block, 1), max(height // block, 1))
    if block & (block - 1) == 0 and width % block == 0 and height % block == 0:
        while block > 1:
            image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
            block //= 2
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def rescale_affine(matrix: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """A 2x3 transform between pixel coordinates of an image, as the same transform in the coordinates of that
    image scaled by (scale_x, scale_y) (pixel centres: x = s x' + (s - 1) / 2, as area and linear resizing place
    them). 1/s goes the other way."""
    up = np.array([[scale_x, 0.0, (scale_x - 1.0) / 2.0], [0.0, scale_y, (scale_y - 1.0) / 2.0], [0.0, 0.0, 1.0]])
    return (up @ np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]]) @ np.linalg.inv(up))[:2]


def luma_of_bgr(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR (uint8 or float, 0..255) -> (H, W) float32 BT.601 luma, 0..255."""
    return cv2.transform(np.asarray(frame, dtype=np.float32), LUMA_BGR[None, :])


class CameraMotion:
    """Frame-to-frame camera motion of a luma sequence: a similarity transform or None (still).

    `update(luma)` returns the 2x3 float32 matrix that maps a pixel of the current frame to the same scene point in
    the previous one (for `cv2.warpAffine(..., WARP_INVERSE_MAP)`), or None when the camera did not move by
    `still_px` anywhere, when this is the first frame, or when tracking failed (too few reliable corners).
    """

    MIN_TRACK_WIDTH_PX = 320  # below this, corners are too few and too coarse for a sub-pixel fit

    def __init__(self, track_scale: int = 2, still_px: float = 0.5, max_corners: int = 200, min_tracks: int = 80,
                 min_inliers: int = 20) -> None:
        self.track_scale = int(track_scale)
        self.still_px = float(still_px)
        self.max_corners = max_corners
        self.min_tracks = min_tracks  # fewer corners left in view than this: detect new ones
        self.min_inliers = min_inliers
        self._previous: np.ndarray | None = None
        self._points: np.ndarray | None = None
        # 9x9 windows over 4 pyramid levels, at most 10 iterations: ~1 ms for 200 corners at 640x360; 11x11
        # windows cost half as much again for the same scores on the benchmark's clips
        self._lk = {"winSize": (9, 9), "maxLevel": 3,
                    "criteria": (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03)}

    def reset(self) -> None:
        self._previous = None
        self._points = None

    def _scale(self, width: int) -> int:
        return max(1, min(self.track_scale, width // self.MIN_TRACK_WIDTH_PX))

    def _small(self, luma: np.ndarray, offset: float, small: np.ndarray | None, unit_levels: float) -> np.ndarray:
        height, width = luma.shape
        scale = self._scale(width)
        small_hw = (max(height // scale, 1), max(width // scale, 1))
        if scale == 1:
            small = luma
        elif small is None or small.shape != small_hw:
            small = cv2.resize(luma, small_hw[::-1], interpolation=cv2.INTER_AREA)
        # to 0..255 levels, rounded and saturated to uint8 in one pass
        return cv2.addWeighted(small, float(unit_levels), small, 0.0, float(offset), dtype=cv2.CV_8U)

    def advance(self, luma: np.ndarray, matrix: np.ndarray, offset: float = 0.0, small: np.ndarray | None = None,
                unit_levels: float = 1.0) -> None:
        """Take `luma` as the current frame without tracking, `matrix` (as `update` returns it) standing in for its
        motion: the corners are moved by it, so that the next `update` tracks them from this frame."""
        current = self._small(luma, offset, small, unit_levels)
        previous, self._previous = self._previous, current
        if self._points is None or previous is None or previous.shape != current.shape:
            self._points = None
            return
        scale = self._scale(luma.shape[1])
        # matrix maps a pixel of this frame to the previous one: its inverse carries the corners forwards
        forward = cv2.invertAffineTransform(rescale_affine(matrix, 1.0 / scale, 1.0 / scale).astype(np.float32))
        self._points = cv2.transform(self._points, forward)

    def update(self, luma: np.ndarray, offset: float = 0.0, small: np.ndarray | None = None,
               unit_levels: float = 1.0) -> np.ndarray | None:
        """luma: (H, W) float32 with `luma * unit_levels + offset` on the 0..255 scale. small: the same luma
        already area-averaged to a lower resolution (the stabiliser's work resolution): used when that is the
        tracking resolution, so the full frame is read once."""
        current = self._small(luma, offset, small, unit_levels)
        previous, self._previous = self._previous, current
        if previous is None or previous.shape != current.shape:
            self._points = None
            return None
        if self._points is None or len(self._points) < self.min_tracks:
            self._points = cv2.goodFeaturesToTrack(previous, self.max_corners, 0.01, 10, blockSize=7)
            if self._points is None:
                return None
        # RANSAC below rejects mistracked corners: a forward-backward check found no more on the benchmark clips,
        # at twice the cost
        tracked, found, _ = cv2.calcOpticalFlowPyrLK(previous, current, self._points, None, **self._lk)
        reliable = found.ravel() == 1
        if reliable.sum() < 8:
            self._points = None
            return None
        small_matrix, inliers = cv2.estimateAffinePartial2D(
            tracked[reliable], self._points[reliable], method=cv2.RANSAC, ransacReprojThreshold=1.0, refineIters=10)
        if small_matrix is None or int(inliers.sum()) < self.min_inliers:
            self._points = None  # too little agreement to tell camera motion from noise: count it as still
            return None
        self._points = tracked[reliable][inliers.ravel() == 1].reshape(-1, 1, 2)
        height, width = luma.shape
        scale = self._scale(width)
        matrix = rescale_affine(small_matrix, scale, scale)
        corners = np.array([[0, width, 0, width], [0, 0, height, height], [1, 1, 1, 1]], dtype=np.float64)
        if np.abs(matrix @ corners - corners[:2]).max() < self.still_px:
            return None
        return matrix.astype(np.float32)


class TemporalStabiliser:
    """The causal luma filter of the module docstring. Feed the frames of one stream in order.

    `correction(luma, restart)` -> the (H, W) float32 luma change to add to every colour channel of the per-frame
    frame (0..255 units, or `unit_levels` levels each; valid until the next call, the caller may change it), or None
    when the frame passes unchanged (first frame, reset, scene cut). Full-resolution work goes into buffers kept
    between frames (fresh arrays would cost their page faults on every frame).
    `__call__(frame_bgr, restart)` does the same on a uint8 BGR frame and returns the stabilised frame.
    `resets` counts the resets by reason ("start", "restart", "size", "cut"); `camera_moved_frames` the frames
    whose previous estimate was warped; `tracked_frames` those the camera tracker ran on.
    """

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self.motion = CameraMotion(self.settings.track_scale, self.settings.still_px)
        self.resets: Counter[str] = Counter()
        self.camera_moved_frames = 0
        self.frames = 0
        self.last_level: float | None = None  # the last frame's typical mismatch (Y levels), None after a reset
        self.tracked_frames = 0  # frames the camera tracker ran on (a still camera is checked, not tracked)
        self._estimate: np.ndarray | None = None
        self._estimate_small: np.ndarray | None = None  # S at the work resolution, kept while the camera moves
        self._camera: np.ndarray | None = None  # the last frame's camera motion (None: still)
        self._moving_untracked = 0  # moving frames since the tracker last ran
        self._moving_level = 0.0  # the typical mismatch of the last moving frame the tracker ran on
        self._buffers: dict[str, np.ndarray] = {}
        self._still_frames = 0  # consecutive frames the camera was still (since the last motion or reset)
        self._still_level = 0.0  # the typical mismatch of the last still frame the tracker ran on
        self._untracked = 0  # frames since the tracker last ran

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._buffers[name] = np.empty(shape, np.float32)
        return buffer

    def reset(self) -> None:
        """Forget the running estimate (the next frame starts a new one)."""
        self._estimate = None
        self._estimate_small = self._camera = None
        self.motion.reset()

    def _restart(self, luma: np.ndarray, offset: float, unit_levels: float, reason: str) -> None:
        self.resets[reason] += 1
        self.last_level = None
        self._still_frames = 0
        if reason == "cut":
            logger.info("temporal filter: scene cut at frame %d, restarting", self.frames)
        self.motion.reset()
        self._estimate_small = self._camera = None
        self.motion.update(luma, offset, small=self._small(luma, "luma_small"), unit_levels=unit_levels)
        self._estimate = self._buffer("estimate", luma.shape)
        np.copyto(self._estimate, luma)  # updated in place later; the caller's array stays the caller's

    def _small(self, image: np.ndarray, name: str) -> np.ndarray:
        """`image` at the work resolution (1/`work_scale`, area average), into the buffer `name`."""
        height, width = image.shape
        scale = self.settings.work_scale
        small_hw = (max(height // scale, 1), max(width // scale, 1))
        if scale == 1:
            return image
        return cv2.resize(image, small_hw[::-1], dst=self._buffer(name, small_hw), interpolation=cv2.INTER_AREA)

    def _mismatch(self, difference_small: np.ndarray, unit_levels: float) -> tuple[np.ndarray, float]:
        """The block mismatch map m of a work-resolution difference and the frame's typical mismatch (its median,
        Y levels)."""
        absolute = np.abs(difference_small, out=self._buffer("absolute_small", difference_small.shape))
        block = max(1, round(self.settings.analysis_scale / self.settings.work_scale))
        mismatch = cv2.dilate(block_means(absolute, block), np.ones((3, 3), np.uint8))
        # the median of every other block of a dilated map: as good, 4x cheaper; np.partition, not np.median (its
        # checks cost several times the partition)
        sample = mismatch[::2, ::2].ravel()
        return mismatch, float(np.partition(sample, sample.size // 2)[sample.size // 2]) * unit_levels

    def _gate(self, difference: np.ndarray, mismatch: np.ndarray, level: float, unit_levels: float) -> bool:
        """Turn P - Y into the correction, in place: keep * clip(d, -tau, tau), with `keep` (`strength` where nothing
        moved, 0 where something did, per `analysis_scale` block) from the mismatch map and the frame's typical
        mismatch `level`. False on a scene cut (`difference` is then left as it was)."""
        s = self.settings
        self.last_level = level
        if level > s.cut_levels:
            return False
        low = max(s.motion_levels, s.motion_per_level * level) / unit_levels
        keep_blocks = ramp(mismatch, low, 2.0 * low)
        keep_blocks *= np.float32(-s.strength)
        keep_blocks += np.float32(s.strength)  # strength * (1 - moving)
        keep = cv2.resize(keep_blocks, difference.shape[::-1], dst=self._buffer(f"keep_{difference.shape}",
                          difference.shape), interpolation=cv2.INTER_LINEAR)
        bound = max(s.clamp_levels, s.clamp_per_level * level) / unit_levels
        np.clip(difference, -bound, bound, out=difference)
        np.multiply(difference, keep, out=difference)
        return True

    def correction(self, luma: np.ndarray, restart: bool = False, offset: float = 0.0,
                   unit_levels: float = 1.0) -> np.ndarray | None:
        """The luma correction for the next frame (float32, in the units of `luma`), or None.

        luma: (H, W) float32, `luma * unit_levels + offset` on the 0..255 scale (only the camera tracker needs
        absolute levels; the filter works on differences, and the settings' levels are divided by `unit_levels`:
        127.5 lets the caller pass the luma of the net's [-1, 1] output as it is and add the correction to it with
        no conversion pass). restart: after a reconnect (or at the start of a new stream).
        """
        luma = np.asarray(luma, dtype=np.float32)
        if luma.ndim != 2:
            raise JRGRError(f"temporal filter: expected an (H, W) luma image, got shape {luma.shape}")
        self.frames += 1
        unit_levels = float(unit_levels)
        s = self.settings
        estimate = self._estimate
        if restart or estimate is None or estimate.shape != luma.shape:
            reason = "restart" if restart else ("start" if estimate is None else "size")
            self._restart(luma, offset, unit_levels, reason)
            return None
        delta = self._buffer("delta", luma.shape)
        camera = luma_small = moving = None
        if self._camera is not None and self._moving_untracked < s.moving_track_every - 1:
            # A camera that moved on the last frame is tracked on every `moving_track_every`-th frame only; in
            # between its last motion stands in (a camera's motion changes little from one frame to the next), unless
            # the frame's typical mismatch rises above that of the last tracked frame: then it is tracked at once.
            luma_small = self._small(luma, "luma_small")
            moving = self._warped_difference(luma_small, self._camera, luma.shape, unit_levels)
            if moving[2] <= s.motion_check_ratio * self._moving_level:
                camera = self._camera
                self._moving_untracked += 1
                self.motion.advance(luma, camera, offset, small=luma_small, unit_levels=unit_levels)
            else:
                moving = None
        still: tuple[np.ndarray, float] | None = None  # the still camera's mismatch map and level, once computed
        check_only = False  # a still camera checked for motion instead of tracked
        if camera is None:
            # A camera that has stayed still is tracked on every `still_track_every`-th frame only (tracking is a
            # third of a still frame's cost); in between, a frame whose typical mismatch jumps is tracked at once: a
            # camera that starts to move shifts every edge, and that raises the mismatch of the whole frame, not of
            # one block.
            check_only = self._still_frames >= s.still_track_every and self._untracked < s.still_track_every - 1
            if check_only:
                np.subtract(estimate, luma, out=delta)
                still = self._mismatch(self._small(delta, "difference_small"), unit_levels)
                check_only = still[1] <= s.motion_check_ratio * self._still_level
            if check_only:
                self._untracked += 1
            else:
                self._untracked = 0
                self.tracked_frames += 1
                luma_small = self._small(luma, "luma_small") if luma_small is None else luma_small
                camera = self.motion.update(luma, offset, small=luma_small, unit_levels=unit_levels)
                if camera is not None:
                    moving = self._warped_difference(luma_small, camera, luma.shape, unit_levels)
                    self._moving_untracked, self._moving_level = 0, moving[2]
        self._camera = camera
        if moving is None:
            # still camera: d = S - Y at full resolution (the residue is fine detail), the gate from its area
            # average (the average of a difference is the difference of the averages)
            if still is None:
                np.subtract(estimate, luma, out=delta)
                still = self._mismatch(self._small(delta, "difference_small"), unit_levels)
            filtered = self._gate(delta, *still, unit_levels)
            self._still_frames += 1
            if not check_only:
                self._still_level = still[1]
        else:
            # moving camera: the correction at the work resolution, upsampled
            self.camera_moved_frames += 1
            self._still_frames = 0
            assert luma_small is not None
            difference_small = moving[0]
            filtered = self._gate(difference_small, *moving[1:], unit_levels)
            if filtered:
                cv2.resize(difference_small, luma.shape[::-1], dst=delta, interpolation=cv2.INTER_LINEAR)
                # S_t at the work resolution for a next moving frame, without an area average of the full-resolution
                # S_t (y_t + Delta: the same but for the bilinear upsampling's blur of Delta)
                self._estimate_small = np.add(luma_small, difference_small,
                                              out=self._buffer("estimate_small_kept", luma_small.shape))
        if moving is None or not filtered:
            self._estimate_small = None
        if not filtered:
            self._restart(luma, offset, unit_levels, "cut")
            return None
        self._estimate = np.add(luma, delta, out=estimate)  # S_t = Y_t + Delta (the old estimate is not needed)
        return delta

    def _warped_difference(self, luma_small: np.ndarray, camera: np.ndarray, full_hw: tuple[int, int],
                           unit_levels: float) -> tuple[np.ndarray, np.ndarray, float]:
        """A moving camera's S'_{t-1} - y at the work resolution (the estimate warped onto this frame by `camera`),
        with its mismatch map and typical mismatch. The finest detail of a resampled estimate is interpolation
        blur: not carried over."""
        assert self._estimate is not None
        small_hw = luma_small.shape
        scale_x, scale_y = small_hw[1] / full_hw[1], small_hw[0] / full_hw[0]
        # a camera that moved on the last frame too left its estimate at this resolution (y + Delta there)
        estimate_small = self._estimate_small if self._estimate_small is not None else self._small(
            self._estimate, "estimate_small")
        # bicubic: bilinear blurs the half-resolution estimate enough to show in the difference (-0.1 dB on the
        # benchmark's moving camera)
        warped = cv2.warpAffine(estimate_small, rescale_affine(camera, scale_x, scale_y), small_hw[::-1],
                                dst=self._buffer("warped_small", small_hw),
                                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        difference_small = np.subtract(warped, luma_small, out=warped)
        return (difference_small, *self._mismatch(difference_small, unit_levels))

    def __call__(self, frame: np.ndarray, restart: bool = False) -> np.ndarray:
        """Stabilise one (H, W, 3) uint8 BGR frame (the per-frame derained frame) -> uint8 BGR."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise JRGRError(f"temporal filter: expected an HxWx3 uint8 BGR frame, got {frame.dtype} {frame.shape}")
        delta = self.correction(luma_of_bgr(frame), restart)
        if delta is None:
            return frame
        out = frame.astype(np.float32)
        out += delta[..., None]
        np.clip(out, 0.0, 255.0, out=out)
        return np.rint(out).astype(np.uint8)

    def counters(self) -> dict[str, object]:
        """JSON-able: frames seen, resets by reason, frames with camera motion, frames the camera tracker ran on."""
        return {"frames": self.frames, "resets": dict(self.resets), "camera_moved_frames": self.camera_moved_frames,
                "tracked_frames": self.tracked_frames}


def make_stabiliser(temporal: bool | TemporalSettings | TemporalStabiliser | None) -> TemporalStabiliser | None:
    """What `Deraining(temporal=...)` accepts: False/None (off), True (default settings), settings, or a
    stabiliser."""
    if temporal is None or temporal is False:
        return None
    if temporal is True:
        return TemporalStabiliser()
    if isinstance(temporal, TemporalSettings):
        return TemporalStabiliser(temporal)
    if isinstance(temporal, TemporalStabiliser):
        return temporal
    raise JRGRError(f"temporal must be True/False, a TemporalSettings or a TemporalStabiliser, got {temporal!r}")


__all__ = [
    "LUMA_BGR",
    "CameraMotion",
    "TemporalSettings",
    "TemporalStabiliser",
    "luma_of_bgr",
    "make_stabiliser",
    "ramp",
    "rescale_affine",
]
