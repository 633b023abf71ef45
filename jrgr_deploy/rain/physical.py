"""Model B, the "real" domain proxy: physically based rain (Garg & Nayar 2004/2006 photometry), numpy + OpenCV.

Drops: radii from the Marshall-Palmer distribution N(a) = 2 N0 exp(-Lambda a), Lambda = 8200 h^-0.21 m^-1
(h: rain rate in mm/h; N0 = 8000 m^-3 mm^-1), truncated to 0.1-3.5 mm; terminal velocity v = 200 sqrt(a) m/s;
uniformly distributed in the camera frustum between 0.3 m and 30 m. A drop of radius a at depth Z images to a
streak of length f_px v T / Z and width 2 a f_px / Z; each pixel it crosses sees it for tau = sqrt(a)/50 s of
the exposure T, so (Garg & Nayar) the pixel is the convex blend

    I = (1 - tau/T) I_bg + (tau/T) E_drop,

where E_drop, the drop's radiance, is a wide-field average of the environment (the drop refracts ~165 degrees
of it: about half sky, half the blurred surroundings) times its transmission (0.9): streaks brighten dark
surfaces and darken a bright sky. The blend is done in linear light (gamma-2 approximation of sRGB).
Drops off the focus plane are defocused (blur circle D f_px |1/z_focus - 1/Z|); drops too small or too far
to resolve add as an even veil; the scene is attenuated by fog exp(-beta d) plus the rain's own extinction
beyond the rendered drops. Drops behind the scene surface (depth map) are hidden.

Calibration (the one non-physical knob, `streak_gain`, 10-15): individually resolved streaks are scaled up
before blending. With the exact tau/T (a few %) spread by drop width and defocus, single streaks stay under
1 % and real rain photographs show them far more clearly (specular/internal reflections of the sky, sensor
bloom, tone curves); the unresolved veil keeps its physical value.

Fast path: the frame is rotated so rain falls straight down ("rain frame"); each drop becomes a +/- pair of
deltas at its streak's two ends; per depth bin one Gaussian (drop width + defocus) blurs the deltas, and one
cumulative sum down the columns per resolution turns them into streaks of per-drop length. Strongly
defocused bins are rendered at reduced resolution.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from jrgr_deploy.rain.depth import ground_plane_depth

MP_N0_PER_M4 = 8.0e6  # Marshall-Palmer intercept N0 = 8000 m^-3 mm^-1 (per unit drop diameter)
RADIUS_MIN_M = 0.1e-3
RADIUS_MAX_M = 3.5e-3
Z_NEAR_M = 0.3
Z_FAR_M = 30.0
N_DEPTH_BINS = 7
_GOLDEN = 0.6180339887
_VEIL_SPREAD = 0.04  # vertical spread of the unresolved veil, as a fraction of the image height
_MAX_DROPS_PER_PIXEL = 0.03  # beyond this count per bin, the remaining drops are added as their mean (veil)
_MAX_COVERAGE = 0.9
_LINEAR_LUT = (np.arange(256, dtype=np.float32) / 255.0) ** 2


@dataclass(frozen=True)
class RealisticPreset:
    """Rain rate and camera; ranges (lo, hi) are drawn uniformly per seed."""

    rain_rate_mm_h: float
    exposure_s: tuple[float, float]
    focal_frac: tuple[float, float]  # f_px / image width
    focus_m: tuple[float, float]
    aperture_m: tuple[float, float]  # entrance-pupil diameter D
    max_wind_deg: float
    fog_beta_per_m: tuple[float, float]
    sky_gain: tuple[float, float]  # radiance of the sky a drop refracts, relative to the frame's mean luminance
    streak_gain: tuple[float, float]  # calibration of resolved streaks (see module docstring)


REALISTIC_PRESETS: dict[str, RealisticPreset] = {
    "light": RealisticPreset(5.0, (1 / 60, 1 / 30), (0.9, 1.2), (2.5, 8.0), (0.004, 0.008), 6.0,
                             (0.0005, 0.001), (2.0, 3.0), (10.0, 15.0)),
    "medium": RealisticPreset(25.0, (1 / 60, 1 / 30), (0.9, 1.2), (2.5, 8.0), (0.004, 0.008), 10.0,
                              (0.001, 0.002), (2.0, 3.0), (10.0, 15.0)),
    "heavy": RealisticPreset(75.0, (1 / 60, 1 / 30), (0.9, 1.2), (2.5, 8.0), (0.004, 0.008), 15.0,
                             (0.002, 0.004), (2.0, 3.0), (10.0, 15.0)),
}


def marshall_palmer_lambda(rain_rate_mm_h: float) -> float:
    """Marshall-Palmer slope in drop *radius*, m^-1: Lambda = 8200 h^-0.21."""
    return 8200.0 * float(rain_rate_mm_h) ** -0.21


def drop_density_per_m3(rain_rate_mm_h: float) -> float:
    """Number of drops per m^3 with radius in [0.1, 3.5] mm: integral of 2 N0 exp(-Lambda a) da."""
    lam = marshall_palmer_lambda(rain_rate_mm_h)
    return 2.0 * MP_N0_PER_M4 / lam * (math.exp(-lam * RADIUS_MIN_M) - math.exp(-lam * RADIUS_MAX_M))


def rain_extinction_per_m(rain_rate_mm_h: float) -> float:
    """Extinction coefficient of the drops (efficiency 2 x geometric cross-section pi a^2), m^-1."""
    lam = marshall_palmer_lambda(rain_rate_mm_h)
    a = np.linspace(RADIUS_MIN_M, RADIUS_MAX_M, 512)
    integrand = 2.0 * math.pi * a**2 * 2.0 * MP_N0_PER_M4 * np.exp(-lam * a)
    return float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(a)))


def sample_radii_m(rng: np.random.Generator, n: int, rain_rate_mm_h: float) -> np.ndarray:
    """n radii in metres from the truncated Marshall-Palmer distribution (inverse CDF)."""
    lam = marshall_palmer_lambda(rain_rate_mm_h)
    u = rng.random(n)
    span = 1.0 - math.exp(-lam * (RADIUS_MAX_M - RADIUS_MIN_M))
    return RADIUS_MIN_M - np.log1p(-u * span) / lam


def terminal_velocity_m_s(radius_m: np.ndarray | float) -> np.ndarray | float:
    """Terminal velocity v = 200 sqrt(a) m/s (a in metres)."""
    return 200.0 * np.sqrt(radius_m)


def streak_geometry(
    radius_m: np.ndarray | float, depth_m: np.ndarray | float, focal_px: float, exposure_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(length_px, width_px, exposure_fraction) of the streak of a drop: f v T / Z, 2 a f / Z, min(1, tau/T)."""
    a = np.asarray(radius_m, dtype=np.float64)
    z = np.asarray(depth_m, dtype=np.float64)
    length = focal_px * terminal_velocity_m_s(a) * exposure_s / z
    width = 2.0 * a * focal_px / z
    fraction = np.minimum(1.0, np.sqrt(a) / 50.0 / exposure_s)
    return length, width, fraction


def _rain_frame(height: int, width: int, angle_deg: float) -> tuple[int, int, float, float]:
    """Size (h, w) and origin (u0, v0) of the rotated canvas in which rain falls straight down."""
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    xs = np.array([0.0, width, 0.0, width])
    ys = np.array([0.0, 0.0, height, height])
    u = xs * c - ys * s
    v = xs * s + ys * c
    u0, v0 = float(u.min()) - 2.0, float(v.min()) - 2.0
    return int(math.ceil(v.max() - v0)) + 2, int(math.ceil(u.max() - u0)) + 2, u0, v0


@dataclass
class _DepthBin:
    z_m: float  # representative depth (defocus)
    z_edges_m: tuple[float, float]
    scale: int  # render at 1/scale resolution
    sigma_px: float  # full-resolution blur: drop width and defocus
    period_px: float
    lead_px: float
    u: np.ndarray
    v: np.ndarray
    speed_px_s: np.ndarray
    length_px: np.ndarray
    line_density: np.ndarray  # tau/T * width: mass per pixel of streak length
    z_drop_m: np.ndarray
    veil: float  # mean coverage of the drops not drawn individually (all of the bin's slab in front)


class RealisticRain:
    """Model B for an H x W frame: camera, wind and the drop population drawn once from `seed`.

    `render(background, time_s)` places every drop at its position at time t (each falls at its own speed, drops
    leaving at the bottom re-enter at the top elsewhere), so a sequence of times gives consistent video rain.
    """

    def __init__(self, preset: str, seed: int, height: int, width: int) -> None:
        p = REALISTIC_PRESETS[preset]
        rng = np.random.default_rng([int(seed), 0xB])
        self.preset = preset
        self.height, self.width = int(height), int(width)
        self.rain_rate_mm_h = float(p.rain_rate_mm_h * rng.uniform(0.8, 1.25))
        self.exposure_s = float(rng.uniform(*p.exposure_s))
        self.focal_px = float(rng.uniform(*p.focal_frac) * width)
        self.focus_m = float(rng.uniform(*p.focus_m))
        self.aperture_m = float(rng.uniform(*p.aperture_m))
        self.wind_deg = float(rng.uniform(-p.max_wind_deg, p.max_wind_deg))
        self.fog_beta_per_m = float(rng.uniform(*p.fog_beta_per_m))
        self.sky_gain = float(rng.uniform(*p.sky_gain))
        self.streak_gain = float(rng.uniform(*p.streak_gain))
        self.lambda_per_m = marshall_palmer_lambda(self.rain_rate_mm_h)
        self.density_per_m3 = drop_density_per_m3(self.rain_rate_mm_h)
        self.rain_beta_per_m = rain_extinction_per_m(self.rain_rate_mm_h)
        self.canvas_h, self.canvas_w, self.u0, self.v0 = _rain_frame(self.height, self.width, self.wind_deg)
        th = math.radians(self.wind_deg)
        c, s = math.cos(th), math.sin(th)
        # image (x, y) -> rain frame (u, v) = R (x, y) - (u0, v0): used with WARP_INVERSE_MAP in both directions
        self._canvas_from_image = np.float32([[c, -s, -self.u0], [s, c, -self.v0]])
        self._image_from_canvas = np.float32(
            [[c, s, self.u0 * c + self.v0 * s], [-s, c, -self.u0 * s + self.v0 * c]])
        self.bins = self._draw_drops(rng)

    def _draw_drops(self, rng: np.random.Generator) -> list[_DepthBin]:
        edges = np.geomspace(Z_NEAR_M, Z_FAR_M, N_DEPTH_BINS + 1)
        f = self.focal_px
        bins = []
        for z0, z1 in zip(edges[:-1], edges[1:], strict=True):
            z_rep = math.sqrt(z0 * z1)
            lead = f * terminal_velocity_m_s(RADIUS_MAX_M) * self.exposure_s / z0 + 2.0
            period = self.canvas_h + lead
            # frustum slice: canvas_w x period pixels cover (canvas_w period / f^2) Z^2 m^2 at depth Z
            volume = self.canvas_w * period / f**2 * (z1**3 - z0**3) / 3.0
            n_true = int(rng.poisson(self.density_per_m3 * volume))
            n_cap = int(_MAX_DROPS_PER_PIXEL * self.canvas_w * period) + 16
            n = min(n_true, n_cap)
            a = sample_radii_m(rng, n, self.rain_rate_mm_h)
            z = np.cbrt(z0**3 + rng.random(n) * (z1**3 - z0**3))  # uniform in volume
            length, width, fraction = streak_geometry(a, z, f, self.exposure_s)
            line_density = fraction * width
            veil = 0.0
            if n_true > n and n > 0:
                veil = (n_true - n) * float(np.mean(line_density * length)) / (self.canvas_w * period)
            w_rep = float(np.sum(width * line_density) / max(float(np.sum(line_density)), 1e-12)) if n else 0.0
            defocus_px = self.aperture_m * f * abs(1.0 / self.focus_m - 1.0 / z_rep)
            sigma = math.sqrt((defocus_px / 2.4) ** 2 + (w_rep / 2.35) ** 2 + 0.5**2)
            scale = int(min(8, max(1, sigma // 1.5)))
            bins.append(_DepthBin(
                z_m=z_rep, z_edges_m=(float(z0), float(z1)), scale=scale, sigma_px=sigma, period_px=period,
                lead_px=lead,
                u=rng.uniform(0.0, self.canvas_w, n), v=rng.uniform(0.0, period, n),
                speed_px_s=f * terminal_velocity_m_s(a) / z, length_px=length, line_density=line_density,
                z_drop_m=z, veil=veil,
            ))
        return bins

    def params(self) -> dict[str, Any]:
        """The drawn parameters (JSON-serialisable)."""
        return {
            "rain_rate_mm_h": self.rain_rate_mm_h, "lambda_per_m": self.lambda_per_m,
            "density_per_m3": self.density_per_m3, "exposure_s": self.exposure_s, "focal_px": self.focal_px,
            "focus_m": self.focus_m, "aperture_m": self.aperture_m, "wind_deg": self.wind_deg,
            "fog_beta_per_m": self.fog_beta_per_m, "rain_beta_per_m": self.rain_beta_per_m,
            "sky_gain": self.sky_gain, "streak_gain": self.streak_gain, "z_near_m": Z_NEAR_M, "z_far_m": Z_FAR_M,
            "bins": [{"z_m": b.z_m, "n_drops": len(b.u), "scale": b.scale, "sigma_px": b.sigma_px,
                      "veil": b.veil} for b in self.bins],
            "preset_ranges": asdict(REALISTIC_PRESETS[self.preset]),
        }

    def _drop_positions(self, b: _DepthBin, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Canvas (u, v_start) of each drop's streak at time t: falling at its own speed, re-entering at the top
        (shifted sideways by a golden-ratio step, so the pattern never visibly repeats)."""
        head = b.v + b.speed_px_s * time_s
        wraps = np.floor(head / b.period_px)
        v = head - wraps * b.period_px - b.lead_px
        u = np.mod(b.u + wraps * _GOLDEN * self.canvas_w, self.canvas_w)
        return u, v

    def _visible(self, b: _DepthBin, u: np.ndarray, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """1 for drops in front of the scene surface at their streak's middle, else 0."""
        uu = u + self.u0
        vv = v + 0.5 * b.length_px + self.v0
        th = math.radians(self.wind_deg)
        x = np.clip(uu * math.cos(th) + vv * math.sin(th), 0, self.width - 1).astype(np.int64)
        y = np.clip(-uu * math.sin(th) + vv * math.cos(th), 0, self.height - 1).astype(np.int64)
        return (depth[y, x] > b.z_drop_m).astype(np.float64)

    def _bin_deltas(self, b: _DepthBin, time_s: float, depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """+rho at each visible streak's start and -rho at its end (bilinear), blurred by the bin's width/defocus,
        on a (h, w) canvas at 1/b.scale resolution. A cumulative sum down the columns turns them into streaks."""
        h, w = shape
        s = float(b.scale)
        u, v = self._drop_positions(b, time_s)
        rho = self.streak_gain * b.line_density * self._visible(b, u, v, depth) / s
        u, v = u / s, v / s
        idx_parts, wt_parts = [], []
        for vv, ww in ((v, rho), (v + b.length_px / s, -rho)):
            iu = np.floor(u)
            iv = np.floor(vv)
            fu = u - iu
            fv = vv - iv
            iu = iu.astype(np.int64)
            iv = iv.astype(np.int64)
            for du, dv, wgt in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv),
                                (1, 1, fu * fv)):
                col = iu + du
                row = np.maximum(iv + dv, 0)  # a streak that began above the canvas starts at row 0
                ok = (col < w) & (row < h)
                idx_parts.append((row * w + col)[ok])
                wt_parts.append((ww * wgt)[ok])
        deltas = np.bincount(np.concatenate(idx_parts), weights=np.concatenate(wt_parts), minlength=h * w)
        # blur and cumulative sum are both linear and shift-invariant: blurring the deltas lets all bins of one
        # scale share a single cumulative sum
        return cv2.GaussianBlur(deltas.reshape(h, w).astype(np.float32), (0, 0), b.sigma_px / s)

    def coverage(self, time_s: float, depth: np.ndarray) -> np.ndarray:
        """(H, W) float32 summed exposure fraction sum_i tau_i/T of all drops in front of the scene, in [0, 0.9].

        depth: (H, W) float32 scene depth in metres (drops behind the surface are hidden)."""
        ch, cw = self.canvas_h, self.canvas_w
        per_scale: dict[int, np.ndarray] = {}
        for b in self.bins:
            if not len(b.u):
                continue
            shape = (-(-ch // b.scale), -(-cw // b.scale))
            deltas = self._bin_deltas(b, time_s, depth, shape)
            if b.scale in per_scale:
                per_scale[b.scale] += deltas
            else:
                per_scale[b.scale] = deltas
        total = np.zeros((ch, cw), np.float32)
        for scale, deltas in per_scale.items():
            streaks = np.cumsum(deltas, axis=0)
            total += streaks if scale == 1 else cv2.resize(streaks, (cw, ch), interpolation=cv2.INTER_LINEAR)
        cov = cv2.warpAffine(total, self._canvas_from_image, (self.width, self.height),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        # the unresolved drops: each bin's veil times the fraction of its slab (uniform in volume) in front
        depth3 = depth.astype(np.float32) ** 3
        veil = np.zeros_like(cov)
        for b in self.bins:
            if b.veil > 0.0:
                z0, z1 = b.z_edges_m
                veil += np.float32(b.veil) * np.clip((depth3 - z0**3) / (z1**3 - z0**3), 0.0, 1.0)
        # where the ground-plane proxy crosses a bin's slab within a few rows, the slab fraction steps from 0 to 1
        # and draws a hard horizontal line across the image; the veil of unresolved drops is diffuse light, so it
        # is spread over ~4% of the height, which removes the line and keeps its mean
        cov += cv2.GaussianBlur(veil, (0, 0), sigmaX=1e-3 * self.width + 0.5, sigmaY=_VEIL_SPREAD * self.height + 0.5,
                                borderType=cv2.BORDER_REPLICATE)
        return np.clip(cov, 0.0, _MAX_COVERAGE, out=cov)

    def render(self, clean: np.ndarray, time_s: float = 0.0, depth: np.ndarray | None = None,
               luma: np.ndarray | None = None) -> np.ndarray:
        """clean: (H, W, 3) uint8 -> rainy (H, W, 3) float32 on [0, 1].

        depth: (H, W) metres (default: ground-plane proxy with this camera's focal length);
        luma: (3,) luminance weights in the image's channel order (default RGB BT.601).
        """
        if depth is None:
            depth = ground_plane_depth(self.height, self.width, focal_px=self.focal_px)
        if luma is None:
            luma = np.array([0.299, 0.587, 0.114], np.float32)
        h, w = self.height, self.width
        # the blend is additive in radiance, so it is done in linear light (gamma-2 approximation of sRGB: a table
        # lookup in, a square root out); this is what makes faint streaks visible on dark surfaces
        linear = cv2.LUT(clean, _LINEAR_LUT)
        # a drop refracts ~165 degrees of the environment: about half is sky (the frame's brightest region, or the
        # unseen sky above the camera, `sky_gain` x the frame's mean luminance), half the surroundings around and
        # below it (a wide blur). x0.9: transmission after Fresnel losses. All smooth: done at low resolution.
        small_w = 32
        small_h = max(2, round(small_w * h / w))
        small = cv2.resize(linear, (small_w, small_h), interpolation=cv2.INTER_AREA)
        env = cv2.GaussianBlur(small, (0, 0), 0.3 * small_w, borderType=cv2.BORDER_REPLICATE)
        env_y = env @ luma
        env_max = float(env_y.max())
        sky = min(1.0, max(env_max, self.sky_gain * float((small @ luma).mean())))
        tint_local = 0.75 + 0.25 * env / np.maximum(env_y, 1e-4)[..., None]
        e_small = (0.9 * (0.5 * sky + 0.5 * env_y))[..., None] * tint_local
        e_drop = cv2.resize(e_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        # fog + the extinction of the drops beyond the rendered ones, towards an airlight a little below the sky
        trans = np.exp(-self.fog_beta_per_m * depth - self.rain_beta_per_m * np.maximum(depth - Z_FAR_M, 0.0))
        trans = trans.astype(np.float32)[..., None]
        tint = 0.8 + 0.2 * env.mean(axis=(0, 1)) / max(float(env_y.mean()), 1e-4)
        airlight = (0.85 * env_max * tint).astype(np.float32)
        out = linear
        out -= airlight
        out *= trans
        out += airlight  # fogged: trans * linear + (1 - trans) * airlight
        cov = self.coverage(time_s, depth)[..., None]
        e_drop -= out
        e_drop *= cov
        out += e_drop  # (1 - cov) * fogged + cov * E_drop
        np.clip(out, 0.0, 1.0, out=out)
        return np.sqrt(out, out=out)
