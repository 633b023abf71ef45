"""jrgr_deploy.training: the JRGR system and its optimisation (docs/ARCHITECTURE.md, "The method").

- `system`: S2R/R2S modules, both external cycles, generator/discriminator objectives (one forward each).
- `losses`: Eq. 3-8 as named terms; `pool`: history pools; `schedule`: per-net lrs, constant + linear decay.
- `data`: data sources and resumable, distributed batch streams; `distributed`: torchrun set-up.
- `trainer`: stage 1 / stage 2 loops, checkpoints, resume, logging; `evaluate`: whole-image PSNR/SSIM.
- `python -m jrgr_deploy.training` (also under torchrun) = `jrgr train`.
"""
