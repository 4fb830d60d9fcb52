package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import org.junit.jupiter.api.Test;

/**
 * The FLOP counter walks the real SD 1.5 modules (counting only, nothing computed) and finds the
 * issue's figures: 360 / 1606 GFLOP per UNet evaluation at batch 2 (256 / 512 px) and 622 / 2514
 * per VAE decode.
 */
class FlopCountTest {
    @Test
    void sd15UNetAndVaeMatchTheIssueFigures() {
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.stableDiffusion15());
        try {
            FlopCount at256 = FlopCount.unet(unet, 2, 32, 32);
            FlopCount at512 = FlopCount.unet(unet, 2, 64, 64);
            System.out.printf("SD 1.5 UNet, batch 2: %s at 256 (%.1f GFLOP), %s at 512 (%.1f GFLOP)%n",
                    at256, at256.total() / 1e9, at512, at512.total() / 1e9);
            assertEquals(360, at256.total() / 1e9, 1.0);
            assertEquals(1606, at512.total() / 1e9, 1.0);
        } finally {
            unet.close();
        }
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.stableDiffusion());
        try {
            FlopCount at256 = FlopCount.vaeDecode(vae, 1, 32, 32);
            FlopCount at512 = FlopCount.vaeDecode(vae, 1, 64, 64);
            System.out.printf("SD VAE decode: %s at 256 (%.1f GFLOP), %s at 512 (%.1f GFLOP)%n",
                    at256, at256.total() / 1e9, at512, at512.total() / 1e9);
            assertEquals(622, at256.total() / 1e9, 1.0);
            assertEquals(2514, at512.total() / 1e9, 1.0);
        } finally {
            vae.close();
        }
    }
}
