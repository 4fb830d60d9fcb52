package jdiffusion.models.unet;

import java.util.List;

/**
 * The channel bookkeeping of diffusers' up-block loop in {@code UNet2DConditionModel.__init__}:
 * up block i mirrors down block n-1-i, takes the previous up block's output, and its resnets
 * also take the skip connections of that down block (the last one the output of the block below).
 *
 * @param downIndex   the mirrored down block, n-1-i
 * @param out         its block_out_channels
 * @param prev        the previous up block's output (the mid block's for i = 0)
 * @param skipLast    channels of the last skip connection consumed (from the down block below)
 * @param numLayers   layers_per_block + 1
 * @param addUpsample every up block but the last
 */
public record UpChannels(int downIndex, int out, int prev, int skipLast, int numLayers, boolean addUpsample) {
    static UpChannels of(UNet2DConditionConfig config, int index) {
        return of(config.blockOutChannels(), config.layersPerBlock(), index);
    }

    /** Up block {@code index} (0 = deepest) of a UNet with these per-down-block channels and layer counts. */
    public static UpChannels of(List<Integer> channels, List<Integer> layersPerBlock, int index) {
        int n = channels.size();
        int down = n - 1 - index;
        int prev = channels.get(index == 0 ? n - 1 : n - index);
        int skipLast = channels.get(Math.max(n - 2 - index, 0)); // diffusers' input_channel
        return new UpChannels(down, channels.get(down), prev, skipLast, layersPerBlock.get(down) + 1,
                index < n - 1);
    }

    /** Input width of resnet j: hidden (prev for the first, out after) plus its skip connection. */
    public int resnetIn(int j) {
        int hidden = j == 0 ? prev : out;
        int skip = j == numLayers - 1 ? skipLast : out;
        return hidden + skip;
    }
}
