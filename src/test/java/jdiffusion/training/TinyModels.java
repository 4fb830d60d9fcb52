package jdiffusion.training;

import java.util.List;
import jdiffusion.models.clip.CLIPTextConfig;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.tools.shapes.TinyVocabulary;

/** Very small configs for fast training tests (the shipped recipe's are in TinyShapesRecipe). */
final class TinyModels {
    private TinyModels() {}

    static UNet2DConditionConfig unet() {
        return new UNet2DConditionConfig(8, 4, 4, false, true, 0,
                List.of(UNet2DConditionConfig.CROSS_ATTN_DOWN, UNet2DConditionConfig.DOWN),
                UNet2DConditionConfig.MID_CROSS_ATTN,
                List.of(UNet2DConditionConfig.UP, UNet2DConditionConfig.CROSS_ATTN_UP),
                List.of(16, 32), List.of(1, 1), 1, 1.0, 0.0, "silu", 8, 1e-5,
                List.of(32, 32), List.of(1, 1), List.of(2, 2), false, false, 1.0, 3, 3, null);
    }

    static CLIPTextConfig text() {
        TinyVocabulary vocab = TinyVocabulary.build();
        return new CLIPTextConfig(vocab.size(), 32, 64, 32, 1, 2, 77, CLIPTextConfig.HiddenAct.GELU, 1e-5,
                0.0, 0.02, 1.0, vocab.eosId(), vocab.bosId(), vocab.eosId());
    }
}
