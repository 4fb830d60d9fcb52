package jdiffusion;

/**
 * The tolerances of the numerical tests that compare a whole model's output with a reference,
 * from the arithmetic of the dtype rather than from what one machine's kernels happened to give
 * (oneDNN picks other kernels on CPUs with and without AMX, and both must pass).
 *
 * <p>Op-level checks derive theirs per op (see {@code ConvolutionGradientTest} and
 * {@code diagnostics.SelfCheck}): 8 sqrt(K) eps32 for a float32 sum of K products.
 */
public final class Tolerances {
    /** float32 machine epsilon, 2^-23. */
    public static final double EPS32 = Math.ulp(1.0f);
    /** bfloat16 machine epsilon, 2^-7 (8 significant bits); one rounding is off by at most half of it. */
    public static final double EPS_BF16 = Math.pow(2, -7);

    /**
     * A float32 network against a float32 reference that ran other kernels (diffusers on torch
     * 1.13), relative to the reference's largest element: 840 eps32 (1e-4). Each layer's sums of
     * K <= 10^4 products differ by about sqrt(K) eps32 = 100 eps32 between two summation orders,
     * and the tiny models are up to ~10 such layers deep between normalisations.
     */
    public static final double FP32_NETWORK = 1e-4;

    /**
     * A bfloat16 network against a float32 reference, relative to its largest element: 4 eps_bf16
     * (0.031). Rounding the weights alone to bf16 (computing in float32) moves the tiny models'
     * outputs by 0.6-1 eps_bf16 relative; the activations' roundings add as much again, and the
     * normalisations keep them from compounding. 4 eps_bf16 leaves room for any kernel's summation
     * order (checked with oneDNN's AMX, AVX-512-BF16 and AVX2 kernels); a defective kernel is off by
     * tens of percent or NaN.
     */
    public static final double BF16_NETWORK = 4 * EPS_BF16;

    private Tolerances() {}
}
