package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Graphics2D;
import java.awt.Image;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.image.PngWriter;
import jdiffusion.tensor.Tensors;
import org.junit.jupiter.api.Test;

class ShapesDatasetTest {
    private static final ShapesDataset DATA = new ShapesDataset(1234);

    @Test
    void theSplitKeepsStarsAndGreenTrianglesOutOfTraining() {
        int perShape = 10 * 9 * Position.values().length * Size.values().length;
        assertEquals(900, perShape);
        assertEquals(perShape, DATA.stars().size());
        assertTrue(DATA.stars().stream().allMatch(s -> s.shape() == Shape.STAR));
        assertTrue(DATA.train().stream().noneMatch(s -> s.shape() == Shape.STAR));
        assertTrue(DATA.heldOut().stream().noneMatch(s -> s.shape() == Shape.STAR));
        assertTrue(DATA.train().stream().noneMatch(ShapesDataset::alwaysHeldOut));

        long greenTriangles = DATA.heldOut().stream().filter(ShapesDataset::alwaysHeldOut).count();
        assertEquals(90, greenTriangles);
        int rest = 5 * perShape - 90;
        assertEquals(Math.round(rest * ShapesDataset.RANDOM_HELD_OUT), DATA.heldOut().size() - 90);

        Set<ShapeScene> train = new HashSet<>(DATA.train());
        assertEquals(DATA.train().size(), train.size());
        assertTrue(DATA.heldOut().stream().noneMatch(train::contains));
        assertEquals(5 * perShape, train.size() + DATA.heldOut().size());
    }

    @Test
    void everyAttributeValueStillAppearsInTraining() {
        Set<Shape> shapes = EnumSet.noneOf(Shape.class);
        Set<Colour> colours = EnumSet.noneOf(Colour.class);
        Set<Colour> backgrounds = EnumSet.noneOf(Colour.class);
        Set<Position> positions = EnumSet.noneOf(Position.class);
        Set<String> greenShapes = new HashSet<>();
        for (ShapeScene s : DATA.train()) {
            shapes.add(s.shape());
            colours.add(s.colour());
            backgrounds.add(s.background());
            positions.add(s.position());
            if (s.colour() == Colour.GREEN) greenShapes.add(s.shape().name());
        }
        assertEquals(EnumSet.complementOf(EnumSet.of(Shape.STAR)), shapes);
        assertEquals(EnumSet.allOf(Colour.class), colours);
        assertEquals(EnumSet.allOf(Colour.class), backgrounds);
        assertEquals(EnumSet.allOf(Position.class), positions);
        // Green and triangles are both learned, only not together.
        assertEquals(Set.of("CIRCLE", "SQUARE", "DIAMOND", "CROSS"), greenShapes);
    }

    @Test
    void theSplitIsDeterministicForASeed() {
        assertEquals(DATA.train(), new ShapesDataset(1234).train());
        assertEquals(DATA.heldOut(), new ShapesDataset(1234).heldOut());
        assertNotEquals(DATA.heldOut(), new ShapesDataset(99).heldOut());
        assertEquals(DATA.evalScenes(50), new ShapesDataset(1234).evalScenes(50));
        List<ShapeScene> eval = DATA.evalScenes(DATA.heldOut().size() + 5);
        assertTrue(new HashSet<>(DATA.heldOut()).containsAll(eval));
        assertEquals(DATA.heldOut().size(), new HashSet<>(eval).size());
        assertTrue(DATA.evalScenes(40).stream().anyMatch(ShapesDataset::alwaysHeldOut));
    }

    @Test
    void samplesAreDeterministicAndDescribedByTheirCaptions() {
        Iterator<Sample> a = DATA.samples(5);
        Iterator<Sample> b = DATA.samples(5);
        Set<ShapeScene> firstEpoch = new HashSet<>();
        int partial = 0;
        for (int i = 0; i < DATA.train().size(); i++) {
            Sample x = a.next();
            Sample y = b.next();
            assertEquals(x.scene(), y.scene());
            assertEquals(x.caption(), y.caption());
            if (i < 20) assertArrayEquals(pixels(x.image()), pixels(y.image()));
            try {
                assertTrue(CaptionParser.parse(x.caption()).describes(x.scene()), x.caption());
            } catch (JDiffusionException e) {
                partial++;   // a partial caption ("a red shape on a blue background"); CaptionsTest checks those
            }
            firstEpoch.add(x.scene());
        }
        assertEquals(new HashSet<>(DATA.train()), firstEpoch);
        double share = partial / (double) DATA.train().size();
        assertTrue(share > 0.5 * Captions.PARTIAL && share <= Captions.PARTIAL + 0.02, "partial captions: " + share);
        assertNotEquals(DATA.samples(5).next().caption() + DATA.samples(5).next().scene(),
                DATA.samples(6).next().caption() + DATA.samples(6).next().scene());
    }

    @Test
    void batchesAreImageTensorsInMinusOneToOneWithTheirCaptions() {
        Iterator<Batch> batches = DATA.batches(4, 11);
        Iterator<Sample> samples = DATA.samples(11);
        try (Batch batch = batches.next()) {
            assertArrayEquals(new long[] {4, 3, 64, 64}, Tensors.shape(batch.images()));
            float[] v = Tensors.toFloats(batch.images());
            for (float f : v) assertTrue(f >= -1 && f <= 1);
            for (int i = 0; i < 4; i++) {
                Sample s = samples.next();
                assertEquals(s.caption(), batch.captions().get(i));
                assertEquals(s.scene(), batch.scenes().get(i));
                // Pixel (0, 0) is background: its red channel in diffusers' convention.
                float expected = s.scene().background().red() / 255f * 2 - 1;
                assertEquals(expected, v[i * 3 * 64 * 64], 1e-6);
            }
        }
    }

    @Test
    void starsRenderInOneFixedStyleForDreamBooth() {
        ShapeScene star = DATA.stars().getFirst();
        assertArrayEquals(pixels(ShapeRenderer.render(star, Jitter.NONE)), pixels(ShapeRenderer.render(star, Jitter.NONE)));
        assertEquals(Shape.STAR, ShapeScorer.detect(ShapeRenderer.render(star, Jitter.NONE)).shape());
        assertFalse(Shape.STAR.inTraining());
    }

    /** Writes a contact sheet and a few captioned samples to target/shapes-samples for eyeballing. */
    @Test
    void writeSamplesForEyeballing() throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "shapes-samples"));
        int cols = 8;
        int rows = 6;
        int scale = 3;
        BufferedImage sheet = new BufferedImage(cols * 64 * scale, rows * 64 * scale, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = sheet.createGraphics();
        Iterator<Sample> it = DATA.samples(2024);
        List<String> captions = new ArrayList<>();
        for (int i = 0; i < cols * rows; i++) {
            // The last row shows held-out scenes: green triangles and stars, drawn but never trained on.
            Sample s = i < cols * (rows - 1) ? it.next()
                    : ShapesDataset.sample(i % 2 == 0 ? DATA.heldOut().get(i) : DATA.stars().get(i * 17), i);
            g.drawImage(s.image().getScaledInstance(64 * scale, 64 * scale, Image.SCALE_FAST),
                    (i % cols) * 64 * scale, (i / cols) * 64 * scale, null);
            captions.add((i / cols) + "," + (i % cols) + ": " + s.caption());
            if (i < 4) PngWriter.write(dir.resolve("sample-" + i + ".png"), s.image(), "parameters", s.caption());
        }
        g.dispose();
        PngWriter.write(dir.resolve("sheet.png"), sheet, "parameters", String.join("\n", captions));
        Files.write(dir.resolve("sheet.txt"), captions);
        assertEquals(64, Images.read(dir.resolve("sample-0.png")).getWidth());
    }

    private static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }
}
