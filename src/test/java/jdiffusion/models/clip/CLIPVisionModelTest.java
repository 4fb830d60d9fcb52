package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CLIPVisionModelWithProjection against transformers 4.47 (clip_image_features, on clip_image_processor's pixels). */
class CLIPVisionModelTest {
    @Test
    void imageTowerMatchesTransformers() {
        try (Golden g = Golden.open("clip_image_features"); Golden pixels = Golden.open("clip_image_processor")) {
            var clip = CLIPVisionModelWithProjection.load(Golden.root().resolve(g.json.get("model").asText()), ScalarType.Float, Tensors.CPU);
            double rtol = g.json.path("suggested_tolerance").path("rtol").asDouble(1e-4);
            double atol = g.json.path("suggested_tolerance").path("atol").asDouble(1e-5);
            try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
                var out = clip.forward(pixels.tensor("pixel_values"));
                for (int i = 0; i < out.hiddenStates().size(); i++) {
                    Golden.assertClose("hidden_states_" + i, out.hiddenStates().get(i), g.tensor("hidden_states_" + i), rtol, atol);
                }
                Golden.assertClose("last_hidden_state", out.lastHiddenState(), g.tensor("last_hidden_state"), rtol, atol);
                Golden.assertClose("pooler_output", out.poolerOutput(), g.tensor("pooler_output"), rtol, atol);
                Golden.assertClose("image_embeds", out.imageEmbeds(), g.tensor("image_embeds"), rtol, atol);
            } finally {
                clip.close();
            }
        }
    }

    @Test
    void aFolderWithoutAnImageSideIsAOneLineError(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"clip\", \"text_config\": {\"hidden_size\": 8}}");
        var e = assertThrows(JDiffusionException.class, () -> CLIPVisionConfig.fromJson(dir.resolve("config.json")));
        assertTrue(e.getMessage().contains("has no vision_config"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"clip_text_model\", \"hidden_size\": 8}");
        e = assertThrows(JDiffusionException.class, () -> CLIPVisionConfig.fromJson(dir.resolve("config.json")));
        assertTrue(e.getMessage().contains("not a CLIP model with an image side"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }
}
