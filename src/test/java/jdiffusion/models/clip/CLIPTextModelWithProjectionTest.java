package jdiffusion.models.clip;

import jdiffusion.Golden;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.junit.jupiter.api.Test;

/** CLIPModel.get_text_features against transformers 4.47 (clip_text_features). */
class CLIPTextModelWithProjectionTest {
    @Test
    void textFeaturesMatchTransformers() {
        try (Golden g = Golden.open("clip_text_features");
             var text = CLIPTextModelWithProjection.load(Golden.root().resolve(g.json.get("model").asText()));
             var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            var ids = g.tensor("input_ids");
            var out = text.textModel().forward(ids);
            Golden.assertClose("last_hidden_state", out.lastHiddenState(), g.tensor("last_hidden_state"), 1e-4, 1e-5);
            Golden.assertClose("pooler_output", out.pooledOutput(), g.tensor("pooler_output"), 1e-4, 1e-5);
            Golden.assertClose("text_embeds", text.textEmbeds(ids), g.tensor("text_embeds"), 1e-4, 1e-5);
        }
    }
}
