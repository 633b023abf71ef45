"""Networks: U-Net and ResNet generators, PatchGAN discriminator."""
