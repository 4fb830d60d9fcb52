package jdiffusion.schedulers;

import org.bytedeco.pytorch.Tensor;

/**
 * What diffusers' {@code step()} returns: the sample for the next timestep and, where the reference
 * returns one (DDPM, DDIM, LMS, Euler, Euler a, Heun), the predicted denoised sample x0; null otherwise.
 * Both tensors belong to the caller's current PointerScope.
 */
public record StepOutput(Tensor prevSample, Tensor predOriginalSample) {}
