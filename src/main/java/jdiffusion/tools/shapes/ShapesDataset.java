package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.Set;
import jdiffusion.image.Images;

/**
 * The procedural captioned image set and its split. Every combination of shape, colour,
 * background, position and size is a scene; the split keeps every green triangle and a seeded 5 %
 * of the other scenes out of training (for the evaluation), and keeps the star family out
 * entirely (for DreamBooth). Images are rendered on the fly with a seeded jitter and caption, so
 * the same seeds always give the same samples.
 */
public final class ShapesDataset {
    /** Share of the remaining scenes held out at random, besides the green triangles. */
    public static final double RANDOM_HELD_OUT = 0.05;

    private final long seed;
    private final List<ShapeScene> train;
    private final List<ShapeScene> heldOut;
    private final List<ShapeScene> stars;

    /** The split for {@code seed}. */
    public ShapesDataset(long seed) {
        this.seed = seed;
        List<ShapeScene> rest = new ArrayList<>();
        List<ShapeScene> held = new ArrayList<>();
        List<ShapeScene> star = new ArrayList<>();
        for (Shape shape : Shape.values()) {
            for (ShapeScene s : scenes(shape)) {
                if (!shape.inTraining()) star.add(s);
                else if (alwaysHeldOut(s)) held.add(s);
                else rest.add(s);
            }
        }
        List<ShapeScene> shuffled = new ArrayList<>(rest);
        Collections.shuffle(shuffled, new Random(seed));
        int n = (int) Math.round(rest.size() * RANDOM_HELD_OUT);
        Set<ShapeScene> randomlyHeld = new HashSet<>(shuffled.subList(0, n));
        held.addAll(shuffled.subList(0, n));
        rest.removeIf(randomlyHeld::contains);
        this.train = List.copyOf(rest);
        this.heldOut = List.copyOf(held);
        this.stars = List.copyOf(star);
    }

    /** The combinations held out whatever the seed: every green triangle (the example). */
    public static boolean alwaysHeldOut(ShapeScene s) {
        return s.shape() == Shape.TRIANGLE && s.colour() == Colour.GREEN;
    }

    /** Every scene of one shape family, in enum order (colour, background, position, size). */
    public static List<ShapeScene> scenes(Shape shape) {
        List<ShapeScene> out = new ArrayList<>();
        for (Colour colour : Colour.values()) {
            for (Colour background : Colour.values()) {
                if (background == colour) continue;
                for (Position position : Position.values()) {
                    for (Size size : Size.values()) out.add(new ShapeScene(shape, colour, background, position, size));
                }
            }
        }
        return out;
    }

    public long seed() {
        return seed;
    }

    /** The scenes a model may train on, in enumeration order. */
    public List<ShapeScene> train() {
        return train;
    }

    /** Scenes of the training families never shown in training: the green triangles first, then the random ones. */
    public List<ShapeScene> heldOut() {
        return heldOut;
    }

    /** Every star scene: never in training. */
    public List<ShapeScene> stars() {
        return stars;
    }

    /**
     * {@code n} held-out scenes for the evaluation, in a seeded order that mixes the green
     * triangles with the random ones; past the end of the held-out list it starts again.
     */
    public List<ShapeScene> evalScenes(int n) {
        List<ShapeScene> order = new ArrayList<>(heldOut);
        Collections.shuffle(order, new Random(mix(seed, -1)));
        List<ShapeScene> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(order.get(i % order.size()));
        return out;
    }

    /** {@code scene} rendered with the jitter and caption drawn from {@code sampleSeed}. */
    public static Sample sample(ShapeScene scene, long sampleSeed) {
        Random rng = new Random(sampleSeed);
        Jitter jitter = Jitter.random(rng);
        String caption = Captions.training(scene, rng);
        return new Sample(scene, caption, jitter, ShapeRenderer.render(scene, jitter));
    }

    /**
     * An endless stream of training samples: each epoch visits every training scene once, in an
     * order reshuffled per epoch, each with its own jitter and caption. Same seed, same stream.
     */
    public Iterator<Sample> samples(long streamSeed) {
        return new Iterator<>() {
            private long epoch = -1;
            private int next;
            private List<ShapeScene> order = List.of();

            @Override
            public boolean hasNext() {
                return !train.isEmpty();
            }

            @Override
            public Sample next() {
                if (train.isEmpty()) throw new NoSuchElementException("the training split is empty");
                if (next == order.size()) {
                    epoch++;
                    next = 0;
                    List<ShapeScene> o = new ArrayList<>(train);
                    Collections.shuffle(o, new Random(mix(streamSeed, epoch)));
                    order = o;
                }
                int i = next++;
                return sample(order.get(i), mix(mix(streamSeed, epoch), i));
            }
        };
    }

    /** An endless stream of batches of {@code batchSize} consecutive samples of {@link #samples}. */
    public Iterator<Batch> batches(int batchSize, long streamSeed) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        Iterator<Sample> samples = samples(streamSeed);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return samples.hasNext();
            }

            @Override
            public Batch next() {
                List<BufferedImage> images = new ArrayList<>(batchSize);
                List<String> captions = new ArrayList<>(batchSize);
                List<ShapeScene> scenes = new ArrayList<>(batchSize);
                for (int i = 0; i < batchSize; i++) {
                    Sample s = samples.next();
                    images.add(s.image());
                    captions.add(s.caption());
                    scenes.add(s.scene());
                }
                return new Batch(Images.toTensor(images), captions, scenes);
            }
        };
    }

    /** SplitMix64's finaliser over two longs: independent, well-spread seeds for epochs and samples. */
    static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
