package jdiffusion.lora;

import java.nio.file.Path;
import java.util.Map;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import org.bytedeco.pytorch.Tensor;

/**
 * Trainable low-rank adapters beside frozen weights (diffusers' train_dreambooth_lora.py with
 * PEFT's LoraConfig): each adapted linear computes {@code W x + b + (alpha / r) B (A x)} with A
 * [r, in] initialised as PEFT does (kaiming-uniform, a = sqrt 5) and B [out, r] zero, so training
 * starts from the base model exactly. Targets: the UNet's attention projections {@code to_q,
 * to_k, to_v, to_out.0} (attn1 and attn2 of every transformer block), and, when a text encoder
 * is given, its {@code q_proj, k_proj, v_proj, out_proj}.
 *
 * <pre>{@code
 * try (LoRATraining lora = LoRATraining.attach(unet, null, 4, 4, seed)) {
 *     Trainer trainer = new Trainer(config, lora.parameters(), checkpoint);
 *     ...
 *     lora.save(outputDir.resolve("pytorch_lora_weights.safetensors"));
 * }
 * }</pre>
 */
public final class LoRATraining implements AutoCloseable {
    private LoRATraining() {}

    /**
     * Adds rank-{@code rank} adapters to {@code unet} (and {@code textEncoder} unless null). The
     * base weights are left as they are (and should be frozen by the caller: requires_grad false);
     * the adapters are float32 leaves on the models' device. Call outside any PointerScope.
     */
    public static LoRATraining attach(UNet2DConditionModel unet, CLIPTextModel textEncoder, int rank, double alpha,
                                      long seed) {
        throw new UnsupportedOperationException("LoRATraining.attach: not written yet");
    }

    /**
     * The trainable tensors by the names they get in the saved file, e.g.
     * {@code unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight}.
     */
    public Map<String, Tensor> parameters() {
        throw new UnsupportedOperationException();
    }

    /**
     * Writes {@code pytorch_lora_weights.safetensors} in the layout diffusers'
     * {@code save_lora_weights} writes and {@code load_lora_weights} reads (atomically).
     */
    public void save(Path file) {
        throw new UnsupportedOperationException();
    }

    /** Removes the adapters: the models compute exactly as before {@link #attach}. */
    @Override
    public void close() {}
}
