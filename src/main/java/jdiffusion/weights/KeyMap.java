package jdiffusion.weights;

import java.util.function.UnaryOperator;

/**
 * The one place where foreign checkpoint key names become module names. Each map is a pure
 * function from a key in the file to the name of the module's tensor (or null to drop the key).
 *
 * <p>Single-file checkpoints in the original LDM layout (AUTOMATIC1111, ComfyUI) need more than
 * renames (1x1 convolutions read as Linear weights, OpenCLIP's fused q/k/v split in three): their
 * tables are {@link LdmKeyMap}, and the reshapes and splits {@link TensorTransform}.
 */
public final class KeyMap {
    private KeyMap() {}

    public static UnaryOperator<String> identity() {
        return UnaryOperator.identity();
    }

    /**
     * Older diffusers VAE checkpoints on the Hub (e.g. real SD 1.x folders) name the mid-block
     * attention {@code query/key/value/proj_attn}; diffusers renames them on load
     * (models/modeling_utils.py {@code _convert_deprecated_attention_blocks}). So do we.
     */
    public static UnaryOperator<String> diffusersLegacyAttention() {
        return key -> {
            if (!key.contains(".attentions.")) return key;
            return key.replace(".query.", ".to_q.")
                    .replace(".key.", ".to_k.")
                    .replace(".value.", ".to_v.")
                    .replace(".proj_attn.", ".to_out.0.");
        };
    }

    /**
     * transformers CLIP text encoders: the names already match, but checkpoints saved before
     * transformers 4.31 also hold {@code text_model.embeddings.position_ids}, a buffer that is
     * non-persistent now (the constant 0..76) and that no module here registers. Dropped.
     */
    public static UnaryOperator<String> clipText() {
        return key -> key.equals("text_model.embeddings.position_ids") ? null : key;
    }
}
