"""Temporal stabilisation of derained video (`jrgr derain --temporal`): a causal, motion-adaptive recursive filter.

Per-frame deraining leaves a residue (streak remnants, a veil that the net removes a little differently every
frame) that changes from frame to frame: flicker. The background does not. So the output keeps a running
estimate S of the luma and pulls each new derained frame towards it where nothing moved:

    Y_t    luma of the per-frame derained frame (0..255)
    P      = S_{t-1}, warped onto frame t when the camera moved (a similarity transform from tracked features)
    m      = 3x3 max of the block means of |P - Y_t| over `analysis_scale`-px blocks; level = median(m)
    d      = P - Y_t                           (where the camera moved: Gaussian-smoothed, sigma `detail_sigma_px`)
    keep   = strength * (1 - ramp(m; lo, 2 lo)),   lo  = max(motion_levels, motion_per_level * level)
    Delta  = keep * clip(d, -tau, tau),            tau = max(clamp_levels, clamp_per_level * level)
    output = per-frame frame + Delta on every colour channel;   S_t = Y_t + Delta

- Causal: frame t's output depends on frames <= t only, so live latency grows by the filter's compute time, not by
  a frame. Only luma is filtered (rain residue is nearly colourless; the chroma of each frame is kept as is).
- Motion: where the block mismatch m is high against the frame's typical mismatch `level` (rain residue and
  alignment error set that level), a person, a car or a parallax edge moved: `keep` falls to 0 and the frame is
  passed through. The clip bounds what the filter can ever change: |output - per-frame| <= strength * tau.
- Moving camera: `CameraMotion` tracks Shi-Tomasi corners with pyramidal Lucas-Kanade at 1/`track_scale`
  resolution and fits a similarity transform (RANSAC rejects corners on movers and mistracked ones). Below
  `still_px` of displacement the camera counts as still and nothing is resampled; otherwise S is warped
  (bilinear) and only corrections at scales above ~`detail_sigma_px` are carried over (the finest detail of a
  resampled estimate is interpolation blur).
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
    (benchmarks/temporal.py)."""

    strength: float = 0.85  # share of the running estimate kept where nothing moves (recursive filter weight)
    clamp_levels: float = 8.0  # least bound on the per-pixel correction, before `strength`
    clamp_per_level: float = 3.0  # ... or this many times the frame's typical mismatch, if larger
    motion_levels: float = 8.0  # least block mismatch at which a block starts to count as moving
    motion_per_level: float = 3.0  # ... or this many times the typical mismatch, if larger (fully moving at 2x)
    cut_levels: float = 25.0  # typical mismatch above which the frame is a new scene (reset)
    analysis_scale: int = 4  # block size (px) of the motion analysis
    track_scale: int = 2  # camera motion is tracked at 1/track_scale resolution (never below 320 px wide)
    still_px: float = 0.5  # camera displacement (px, largest over the frame corners) below which it is still
    detail_sigma_px: float = 1.0  # moving camera: corrections finer than this (px) are not carried over

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise JRGRError(f"temporal strength must be in [0, 1), got {self.strength}")
        for name in ("clamp_levels", "motion_levels", "cut_levels", "still_px"):
            if not getattr(self, name) > 0:
                raise JRGRError(f"temporal setting {name} must be positive, got {getattr(self, name)}")
        for name in ("analysis_scale", "track_scale"):
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
        # 11x11 windows over 4 pyramid levels, at most 10 iterations: ~1 ms for 200 corners at 640x360, within
        # ~0.2 px of the true camera motion on the benchmark's forward-moving clip
        self._lk = {"winSize": (11, 11), "maxLevel": 3,
                    "criteria": (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 0.03)}

    def reset(self) -> None:
        self._previous = None
        self._points = None

    def _scale(self, width: int) -> int:
        return max(1, min(self.track_scale, width // self.MIN_TRACK_WIDTH_PX))

    def _small(self, luma: np.ndarray, offset: float) -> np.ndarray:
        height, width = luma.shape
        scale = self._scale(width)
        small = luma if scale == 1 else cv2.resize(
            luma, (max(width // scale, 1), max(height // scale, 1)), interpolation=cv2.INTER_AREA)
        return np.clip(small + np.float32(offset), 0.0, 255.0).astype(np.uint8)

    def update(self, luma: np.ndarray, offset: float = 0.0) -> np.ndarray | None:
        """luma: (H, W) float32 with `luma + offset` on the 0..255 scale."""
        current = self._small(luma, offset)
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
        matrix = self._to_full_resolution(small_matrix, self._scale(width))
        corners = np.array([[0, width, 0, width], [0, 0, height, height], [1, 1, 1, 1]], dtype=np.float64)
        if np.abs(matrix @ corners - corners[:2]).max() < self.still_px:
            return None
        return matrix.astype(np.float32)

    @staticmethod
    def _to_full_resolution(small_matrix: np.ndarray, scale: float) -> np.ndarray:
        """The tracked-resolution transform in full-resolution pixel coordinates (pixel centres: x = s x' + (s-1)/2)."""
        scale = float(scale)
        offset = (scale - 1.0) / 2.0
        up = np.array([[scale, 0.0, offset], [0.0, scale, offset], [0.0, 0.0, 1.0]])
        down = np.linalg.inv(up)
        return (up @ np.vstack([small_matrix, [0.0, 0.0, 1.0]]) @ down)[:2]


class TemporalStabiliser:
    """The causal luma filter of the module docstring. Feed the frames of one stream in order.

    `correction(luma, restart)` -> the (H, W) float32 luma change to add to every colour channel of the per-frame
    frame (0..255 units; valid until the next call), or None when the frame passes unchanged (first frame, reset,
    scene cut). Full-resolution work goes into buffers kept between frames (fresh arrays would cost their page
    faults on every frame).
    `__call__(frame_bgr, restart)` does the same on a uint8 BGR frame and returns the stabilised frame.
    `resets` counts the resets by reason ("start", "restart", "size", "cut"); `camera_moved_frames` the frames
    whose previous estimate was warped.
    """

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self.motion = CameraMotion(self.settings.track_scale, self.settings.still_px)
        self.resets: Counter[str] = Counter()
        self.camera_moved_frames = 0
        self.frames = 0
        self.last_level: float | None = None  # the last frame's typical mismatch (Y levels), None after a reset
        self._estimate: np.ndarray | None = None
        self._buffers: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._buffers[name] = np.empty(shape, np.float32)
        return buffer

    def reset(self) -> None:
        """Forget the running estimate (the next frame starts a new one)."""
        self._estimate = None
        self.motion.reset()

    def _restart(self, luma: np.ndarray, offset: float, reason: str) -> None:
        self.resets[reason] += 1
        self.last_level = None
        if reason == "cut":
            logger.info("temporal filter: scene cut at frame %d, restarting", self.frames)
        self.motion.reset()
        self.motion.update(luma, offset)
        self._estimate = self._buffer("estimate", luma.shape)
        np.copyto(self._estimate, luma)  # updated in place later; the caller's array stays the caller's

    def correction(self, luma: np.ndarray, restart: bool = False, offset: float = 0.0) -> np.ndarray | None:
        """The luma correction for the next frame (float32 levels, a new array the caller may change), or None.

        luma: (H, W) float32 in levels, up to a constant: `luma + offset` is on the 0..255 scale (only the camera
        tracker needs absolute levels; the filter works on differences). restart: after a reconnect (or at the
        start of a new stream).
        """
        luma = np.asarray(luma, dtype=np.float32)
        if luma.ndim != 2:
            raise JRGRError(f"temporal filter: expected an (H, W) luma image, got shape {luma.shape}")
        self.frames += 1
        estimate = self._estimate
        if restart or estimate is None or estimate.shape != luma.shape:
            reason = "restart" if restart else ("start" if estimate is None else "size")
            self._restart(luma, offset, reason)
            return None
        s = self.settings
        height, width = luma.shape
        camera = self.motion.update(luma, offset)
        if camera is not None:
            self.camera_moved_frames += 1
            warped = self._buffer("warped", luma.shape)
            cv2.warpAffine(estimate, camera, (width, height), dst=warped,
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            self._buffers["warped"], self._buffers["estimate"] = estimate, warped  # swap: no copy
            estimate = warped
        # OpenCV's element-wise operations into kept buffers: threaded, and no temporaries (each full-resolution
        # pass counts here)
        absolute = cv2.absdiff(estimate, luma, dst=self._buffer("absolute", luma.shape))
        mismatch = cv2.dilate(block_means(absolute, s.analysis_scale), np.ones((3, 3), np.uint8))
        level = float(np.median(mismatch[::2, ::2]))  # every other block of a dilated map: as good, 4x cheaper
        self.last_level = level
        if level > s.cut_levels:
            self._restart(luma, offset, "cut")
            return None
        difference = cv2.subtract(estimate, luma, dst=self._buffer("difference", luma.shape))
        if camera is not None:
            radius = max(1, round(2 * s.detail_sigma_px))
            difference = cv2.GaussianBlur(difference, (2 * radius + 1, 2 * radius + 1), s.detail_sigma_px,
                                          dst=absolute)  # |difference| is no longer needed
        low = max(s.motion_levels, s.motion_per_level * level)
        keep_blocks = ramp(mismatch, low, 2.0 * low)
        keep_blocks *= np.float32(-s.strength)
        keep_blocks += np.float32(s.strength)  # strength * (1 - moving)
        keep = cv2.resize(keep_blocks, (width, height), dst=self._buffer("keep", luma.shape),
                          interpolation=cv2.INTER_LINEAR)
        bound = max(s.clamp_levels, s.clamp_per_level * level)
        np.clip(difference, -bound, bound, out=difference)
        cv2.multiply(difference, keep, dst=difference)
        self._estimate = cv2.add(luma, difference, dst=estimate)  # the old estimate is not needed any more
        return difference

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
        """JSON-able: frames seen, resets by reason, frames with camera motion."""
        return {"frames": self.frames, "resets": dict(self.resets), "camera_moved_frames": self.camera_moved_frames}


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
]
