package jdiffusion.pipelines;

import org.bytedeco.pytorch.Tensor;

/**
 * What a pixel-space pipeline returns.
 *
 * @param initialNoise the first generator draw, [B, C, H, W] float32
 * @param images       [B, H, W, C] float32 in [0, 1]: {@code (x / 2 + 0.5).clamp(0, 1)} in NHWC, what diffusers
 *                     returns with {@code output_type='np'}
 * @param guidanceLoss the guidance loss at each step (empty without guidance)
 */
public record PixelResult(Tensor initialNoise, Tensor images, float[] guidanceLoss) {}
