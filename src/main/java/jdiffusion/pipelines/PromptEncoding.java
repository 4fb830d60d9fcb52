package jdiffusion.pipelines;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.clip.EncodedPrompt;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A prompt and its negative as text-encoder states, the way diffusers' {@code encode_prompt} makes
 * them: clip skip applies to the prompt only (the negative uses the last layer, Pitfall 19), and a
 * prompt longer than 77 tokens is cut with a warning. With {@link GenerationRequest.LongPrompts#CHUNK}
 * each prompt is instead encoded in 75-token chunks that are concatenated (AUTOMATIC1111), the
 * shorter one padded with empty chunks so that both have the same length.
 */
final class PromptEncoding {
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;

    PromptEncoding(CLIPTokenizer tokenizer, CLIPTextModel textEncoder) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
    }

    /** {@code negative} null: no guidance, so no unconditional states. */
    StableDiffusionPipeline.PromptPair encode(String prompt, String negative, int clipSkip,
                                              GenerationRequest.LongPrompts mode, List<String> warnings) {
        if (mode == GenerationRequest.LongPrompts.CHUNK) {
            List<int[]> cond = tokenizer.chunks75(prompt);
            List<int[]> uncond = negative == null ? List.of() : new ArrayList<>(tokenizer.chunks75(negative));
            List<int[]> condChunks = new ArrayList<>(cond);
            int n = Math.max(condChunks.size(), uncond.size());
            int[] empty = tokenizer.chunks75("").getFirst();
            while (condChunks.size() < n) condChunks.add(empty);
            while (negative != null && uncond.size() < n) uncond.add(empty);
            if (cond.size() > 1) {
                warnings.add("the prompt has " + tokenizer.textIds(prompt).length + " tokens: encoded in "
                        + cond.size() + " chunks of 75 (AUTOMATIC1111 style)");
            }
            return new StableDiffusionPipeline.PromptPair(encodeChunks(condChunks, clipSkip),
                    negative == null ? null : encodeChunks(uncond, 0), "chunked");
        }
        EncodedPrompt p = tokenizer.encodePrompt(prompt);
        if (p.truncated()) warnings.add(p.truncationWarning());
        Tensor cond = textEncoder.encode(ids(p.ids()), clipSkip);
        Tensor uncond = negative == null ? null : textEncoder.encode(ids(tokenizer.encodePrompt(negative).ids()));
        return new StableDiffusionPipeline.PromptPair(cond, uncond, "truncated");
    }

    private Tensor encodeChunks(List<int[]> chunks, int clipSkip) {
        TensorVector parts = new TensorVector();
        for (int[] c : chunks) parts.push_back(textEncoder.encode(ids(c), clipSkip));
        return torch.cat(parts, 1);
    }

    private static Tensor ids(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return Tensors.fromLongs(l, 1, l.length);
    }
}
