package jdiffusion.models.clip;

/**
 * What the encoder layers shared by CLIP's text and vision towers need from either config
 * ({@code CLIPTextConfig} / {@code CLIPVisionConfig} have the same keys for them); the text tower's
 * self-attention is causal, the vision tower's is not.
 */
record CLIPEncoderShape(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                        CLIPTextConfig.HiddenAct hiddenAct, double layerNormEps, boolean causal) {
    static CLIPEncoderShape of(CLIPTextConfig c) {
        return new CLIPEncoderShape(c.hiddenSize(), c.intermediateSize(), c.numHiddenLayers(), c.numAttentionHeads(),
                c.hiddenAct(), c.layerNormEps(), true);
    }

    int headDim() {
        return hiddenSize / numAttentionHeads;
    }
}
