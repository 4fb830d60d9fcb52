package jdiffusion.tools.bench;

import java.util.List;

/**
 * Issue 9's reference measurements on the same kind of machine (2 cores, AVX-512 bf16; Euler,
 * CFG 7.5, 2 threads; medians of 3), in seconds and GB, for the ratios the report prints.
 *
 * @param unetStep256 one CFG step at 256x256
 * @param peakRss512  peak resident memory of a 512x512 run, GB
 */
record ReferencePoints(String name, double unetStep256, double vaeDecode256, double unetStep512,
                       double vaeDecode512, double peakRss512) {
    static final List<ReferencePoints> ALL = List.of(
            new ReferencePoints("diffusers fp32", 4.31, 3.15, 17.4, 14.6, 7.0),
            new ReferencePoints("diffusers bf16 autocast", 1.41, 2.12, 7.64, 10.0, 7.6),
            new ReferencePoints("stable-diffusion.cpp f32", 6.74, 14.0, 42.6, 58.7, 4.5),
            new ReferencePoints("stable-diffusion.cpp q8_0", 6.85, 14.7, 41.5, 60.7, 3.5));

    /** Targets: UNet step >= 75% of the bf16 ceiling, VAE decode >= 60%, peak memory at 512 <= 4 GB. */
    static final double UNET_TARGET_FRACTION = 0.75;
    static final double VAE_TARGET_FRACTION = 0.60;
    static final double PEAK_RSS_512_TARGET_GB = 4.0;

    /** NaN for sizes the issue has no figures for. */
    double unetStep(int size) {
        return size == 256 ? unetStep256 : size == 512 ? unetStep512 : Double.NaN;
    }

    double vaeDecode(int size) {
        return size == 256 ? vaeDecode256 : size == 512 ? vaeDecode512 : Double.NaN;
    }
}
