package jdiffusion.weights;

/**
 * A model's weights as its loader read them, opened again on demand: the same files under the same
 * names (the {@link StateDict}'s keys are the model's parameter names, converted on copy as the
 * loader converts them). A reversible LoRA merge restores the weights it changed from here instead
 * of keeping copies of them in memory (LCM-LoRA on SD 1.5: 278 weights, 1.7 GB in bf16).
 *
 * <pre>{@code
 * WeightSource unet = UNet2DConditionModel.weightSource(folder.resolve("unet"), null);
 * try (StateDict w = unet.open()) {
 *     liveWeight.copy_(w.view("conv_in.weight"));
 * }
 * }</pre>
 */
@FunctionalInterface
public interface WeightSource {
    /** Opens the weights (mapped, not read); the caller closes them. */
    StateDict open();
}
