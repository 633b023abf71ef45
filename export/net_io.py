"""Tensor names and meaning of each exportable generator's graph (the contract users code against).

Every exported graph maps one NCHW float32 RGB tensor to another of the same shape; batch, H and W may be
dynamic, H and W must be multiples of the net's `size_multiple` (2**depth for a U-Net, recorded in the
sidecar). What flows in and out:

- ``f_r`` / ``f_s`` (rain removal, paper's F): ``rainy`` O in [-1, 1] -> ``clean`` B_hat (nominally [-1, 1]).
- ``g_r`` (rain generation, paper's G_r): ``rain_layer`` R = O - B of the synthetic domain, values in [-2, 2]
  -> ``real_rain_layer``, the same rain rendered in the real domain's style. To add real-style rain to a
  clean image B without torch (what ``jrgr rainify`` does): R_s = O_s - B_s from any synthetic rain model,
  then O_r_tilde = B + g_r(R_s) (S2R module, paper §3; plain addition, clip to [-1, 1] for display).
- ``g_s``: ``rain_layer`` (real-domain rain) -> ``synthetic_rain_layer`` (R2S module).
"""

from __future__ import annotations

from dataclasses import dataclass

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import GENERATORS


@dataclass(frozen=True)
class NetIO:
    """Graph input/output names of one net, what its input is, and where its input frames come from.

    takes_rain_layer: the input is a rain layer R = O - B (G nets), derived from rainy frames by
    `layer_source_net` (R_hat = O - F(O), the disentanglement of paper §3).
    calibration_domain: "real" or "synthetic": which rainy frames of a data-set root feed this net.
    """

    input_name: str
    output_name: str
    takes_rain_layer: bool
    calibration_domain: str
    layer_source_net: str | None = None
    input_range: tuple[float, float] = (-1.0, 1.0)


NET_IO: dict[str, NetIO] = {
    "f_r": NetIO("rainy", "clean", takes_rain_layer=False, calibration_domain="real"),
    "f_s": NetIO("rainy", "clean", takes_rain_layer=False, calibration_domain="synthetic"),
    # G_r's input in the S2R module is R_hat_s = O_s - F_s(O_s); G_s's in R2S is R_hat_r = O_r - F_r(O_r).
    "g_r": NetIO("rain_layer", "real_rain_layer", takes_rain_layer=True, calibration_domain="synthetic",
                 layer_source_net="f_s", input_range=(-2.0, 2.0)),
    "g_s": NetIO("rain_layer", "synthetic_rain_layer", takes_rain_layer=True, calibration_domain="real",
                 layer_source_net="f_r", input_range=(-2.0, 2.0)),
}


def net_io(name: str) -> NetIO:
    """The graph contract of net `name`; a clear error for anything but f_r, f_s, g_r, g_s."""
    if name not in NET_IO:
        raise JRGRError(f"net '{name}' cannot be exported: expected one of {', '.join(GENERATORS)}")
    return NET_IO[name]
