package jdiffusion.training.dreambooth;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers' DreamBoothDataset and collate_fn: example i pairs instance image {@code i % nInstance}
 * (captioned with the instance prompt) with class image {@code i % nClass} (the class prompt); the
 * data set is {@code max(nInstance, nClass)} long (just the instances without prior preservation)
 * and is visited in a new shuffled order each epoch, like {@code DataLoader(shuffle=True)}. A
 * batch is the instance images followed by the class images, so that one UNet call serves both
 * and the prediction splits in two with {@code chunk(2)}.
 *
 * <p>Deterministic: the order of epoch e comes from (seed, e) and each example's crop and flip
 * from (seed, its position in the stream), so step s always sees the same batch, resumed or not.
 * Unlike diffusers the stream runs on across epoch ends (no short last batch).
 */
public final class DreamBoothDataset {
    /** One micro-batch: pixels [N, 3, R, R] in [-1, 1] and token ids [N, 77], instances first. */
    public record Batch(Tensor pixels, Tensor inputIds, int instances) {}

    private final DreamBoothConfig config;
    private final List<BufferedImage> instanceImages; // resized once: only crop and flip vary per step
    private final List<Path> classFiles;
    private final int[] instanceIds;
    private final int[] classIds;

    public DreamBoothDataset(DreamBoothConfig config, CLIPTokenizer tokenizer) {
        this.config = config;
        List<BufferedImage> images = new ArrayList<>();
        for (Path p : DreamBoothConfig.imageFiles(config.instanceDir())) {
            images.add(ImageTransforms.resizeShorterSide(Images.read(p), config.resolution()));
        }
        if (images.isEmpty()) {
            throw new JDiffusionException("--instance-dir " + config.instanceDir() + " holds no images");
        }
        this.instanceImages = List.copyOf(images);
        if (config.withPriorPreservation()) {
            List<Path> files = DreamBoothConfig.imageFiles(config.classDir());
            if (files.isEmpty()) {
                throw new JDiffusionException("--class-dir " + config.classDir() + " holds no images; they are "
                        + "generated before training unless the folder is not writable");
            }
            // diffusers trains on min(existing, num_class_images) of them
            this.classFiles = List.copyOf(files.subList(0, Math.min(files.size(), config.numClassImages())));
            this.classIds = ids(tokenizer, config.classPrompt());
        } else {
            this.classFiles = List.of();
            this.classIds = null;
        }
        this.instanceIds = ids(tokenizer, config.instancePrompt());
    }

    /** Examples per epoch: max(instances, class images) with prior preservation, else the instances. */
    public int length() {
        return Math.max(instanceImages.size(), classFiles.size());
    }

    public int instanceCount() {
        return instanceImages.size();
    }

    public int classCount() {
        return classFiles.size();
    }

    /** Optimiser steps in {@code epochs} epochs (diffusers' num_update_steps_per_epoch * epochs). */
    public int stepsFor(int epochs) {
        int batches = (length() + config.trainBatchSize() - 1) / config.trainBatchSize();
        return Math.max(1, (batches + config.gradientAccumulationSteps() - 1) / config.gradientAccumulationSteps() * epochs);
    }

    /** Micro-batch {@code micro} of optimiser step {@code step}. */
    public Batch batch(int step, int micro) {
        int b = config.trainBatchSize();
        long first = ((long) step * config.gradientAccumulationSteps() + micro) * b;
        List<BufferedImage> images = new ArrayList<>(2 * b);
        List<BufferedImage> classImages = new ArrayList<>(b);
        for (int j = 0; j < b; j++) {
            long position = first + j;
            int index = indexAt(position);
            Random rng = new Random(mix(config.seed() ^ 0x5DEECE66DL, position));
            images.add(transform(instanceImages.get(index % instanceImages.size()), rng));
            if (config.withPriorPreservation()) {
                Path file = classFiles.get(index % classFiles.size());
                classImages.add(transform(ImageTransforms.resizeShorterSide(Images.read(file), config.resolution()), rng));
            }
        }
        images.addAll(classImages);
        long[] ids = new long[images.size() * CLIPTokenizer.MAX_LENGTH];
        for (int i = 0; i < images.size(); i++) {
            int[] row = i < b ? instanceIds : classIds;
            for (int t = 0; t < row.length; t++) ids[i * CLIPTokenizer.MAX_LENGTH + t] = row[t];
        }
        return new Batch(Images.toTensor(images), Tensors.fromLongs(ids, images.size(), CLIPTokenizer.MAX_LENGTH), b);
    }

    /** The example at {@code position} of the endless stream: epoch position / length, shuffled per epoch. */
    int indexAt(long position) {
        long epoch = position / length();
        List<Integer> order = new ArrayList<>(length());
        for (int i = 0; i < length(); i++) order.add(i);
        Collections.shuffle(order, new Random(mix(config.seed(), epoch)));
        return order.get((int) (position % length()));
    }

    /** Crop (centre, or random: top then left), then flip with probability 0.5, all draws from {@code rng}. */
    BufferedImage transform(BufferedImage resized, Random rng) {
        int size = config.resolution();
        BufferedImage out = config.centerCrop() ? ImageTransforms.centerCrop(resized, size)
                : ImageTransforms.randomCrop(resized, size, rng);
        if (config.randomFlip() && rng.nextDouble() < 0.5) out = ImageTransforms.flipHorizontal(out);
        return out;
    }

    private static int[] ids(CLIPTokenizer tokenizer, String prompt) {
        // tokenize_prompt: truncation, padding to model_max_length
        return tokenizer.encodePadded(prompt);
    }

    /** SplitMix64's finaliser over two longs. */
    static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
