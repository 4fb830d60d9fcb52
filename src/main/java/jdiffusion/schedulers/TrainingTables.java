package jdiffusion.schedulers;

/**
 * The float32 tables every diffusers scheduler builds in its constructor: betas and alphas_cumprod
 * (plus the training sigmas for the sigma-based ones). Never mutated after construction.
 */
record TrainingTables(float[] betas, float[] alphasCumprod) {

    /**
     * @param zeroSnrEpsilon the sigma-based schedulers (Euler, Euler a, DPM, UniPC) set the last
     *     alphas_cumprod to 2^-24 with rescale_betas_zero_snr, so that sigma_max stays finite
     */
    static TrainingTables of(SchedulerConfig config, boolean zeroSnrEpsilon) {
        float[] betas = SchedulerMath.betas(config);
        float[] ac = SchedulerMath.alphasCumprod(betas);
        if (zeroSnrEpsilon && config.rescaleBetasZeroSnr()) ac[ac.length - 1] = 0x1p-24f;
        return new TrainingTables(betas, ac);
    }

    float[] trainingSigmas() {
        return SchedulerMath.trainingSigmas(alphasCumprod);
    }
}
