package jdiffusion.cli;

import java.nio.file.Path;
import jdiffusion.models.clip.CLIPTextModelWithProjection;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.clip.CLIPVisionModelWithProjection;
import jdiffusion.pipelines.ClipLoss;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** The CLIP side of {@code sample --clip-model}: the guide prompt's text embedding, the loss, and the CLIP score. */
final class ClipGuide implements AutoCloseable {
    private final CLIPVisionModelWithProjection vision;
    private final ClipLoss loss;

    private ClipGuide(CLIPVisionModelWithProjection vision, ClipLoss loss) {
        this.vision = vision;
        this.loss = loss;
    }

    static ClipGuide load(Path clipPath, Path tokenizerFolder, String prompt, int cuts, long seed) {
        Path clipFolder = jdiffusion.io.ModelFolder.locate(clipPath.toString()); // a folder, or a Hub id in the local cache
        CLIPVisionModelWithProjection vision = CLIPVisionModelWithProjection.load(clipFolder, ScalarType.Float, Tensors.CPU);
        CLIPTokenizer tokenizer = CLIPTokenizer.load(tokenizerFolder != null ? tokenizerFolder : clipFolder);
        Tensor features;
        try (var text = CLIPTextModelWithProjection.load(clipFolder); var noGrad = new NoGradGuard()) {
            int[] ids = tokenizer.encodePadded(prompt);
            long[] longs = new long[ids.length];
            for (int i = 0; i < ids.length; i++) longs[i] = ids[i];
            features = text.textEmbeds(Tensors.fromLongs(longs, 1, longs.length)).detach().clone(); // [1, P]
        }
        vision.eval();
        return new ClipGuide(vision, new ClipLoss(vision, features).withCuts(cuts, seed));
    }

    ClipLoss loss() {
        return loss;
    }

    /** Mean cosine similarity between the samples (NHWC in [0, 1]) and the prompt: the CLIP score the issue reports. */
    double score(Tensor imagesNhwc) {
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            Tensor x = imagesNhwc.permute(0, 3, 1, 2).mul(new org.bytedeco.pytorch.Scalar(2)).sub(new org.bytedeco.pytorch.Scalar(1));
            Tensor f = loss.imageFeatures(x.contiguous());
            return torch.cosine_similarity(f, loss.textFeatures()).mean().item_double();
        }
    }

    @Override
    public void close() {
        vision.close();
    }
}
