package jdiffusion.models.dpt;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * What {@link DPTForDepthEstimation#forward} computed.
 *
 * @param predictedDepth   [B, H, W] relative inverse depth (>= 0; larger is nearer)
 * @param backboneFeatures the BiT feature maps (stage 1, 2, 3)
 * @param hiddenStates     the ViT's embeddings and every layer's output, [B, 1 + n*n, hidden] each
 */
public record DepthEstimatorOutput(Tensor predictedDepth, List<Tensor> backboneFeatures, List<Tensor> hiddenStates) {}
