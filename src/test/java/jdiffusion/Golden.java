package jdiffusion;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * The reference outputs in {@code ../shared/golden}. Tests that use them are skipped with a clear
 * message when the folder is absent (a user's clone); under {@code CI=true} a missing folder fails
 * them instead, so that a CI run without the reference data cannot pass by skipping.
 */
public final class Golden implements AutoCloseable {
    // The oracle wrote Python's -Infinity/NaN into some case.json files.
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS);

    public final String name;
    public final Path dir;
    public final JsonNode json;
    private final SafetensorsFile tensors;

    private Golden(String name, Path dir, JsonNode json, SafetensorsFile tensors) {
        this.name = name;
        this.dir = dir;
        this.json = json;
        this.tensors = tensors;
    }

    /** {@code ../shared} next to the repository (or $JDIFFUSION_SHARED); skips the test when absent. */
    public static Path shared() {
        String env = System.getenv("JDIFFUSION_SHARED");
        Path p = env != null ? Path.of(env) : Path.of("..", "shared").toAbsolutePath().normalize();
        boolean present = Files.isDirectory(p.resolve("golden"));
        if (!present && "true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("the reference data folder " + p + "/golden is absent, and CI=true requires it");
        }
        assumeTrue(present, "skipped: the reference data folder " + p + "/golden is absent (it ships with CI, not with a clone)");
        return p;
    }

    public static Path root() {
        return shared().resolve("golden");
    }

    public static Path model(String name) {
        return root().resolve("models").resolve(name);
    }

    public static Golden open(String caseName) {
        Path dir = root().resolve(caseName);
        try {
            JsonNode json = JSON.readTree(dir.resolve("case.json").toFile());
            Path st = dir.resolve("tensors.safetensors");
            return new Golden(caseName, dir, json, Files.exists(st) ? SafetensorsFile.open(st) : null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public boolean has(String tensor) {
        return tensors != null && tensors.contains(tensor);
    }

    /** A tensor of the case, copied out of the file (so it outlives {@link #close}). */
    public Tensor tensor(String tensor) {
        return tensors.load(tensor);
    }

    /**
     * Asserts max|actual - expected| <= rtol * max|expected| + atol, prints the measured ratio, and
     * returns max|actual - expected| / max(max|expected|, tiny).
     */
    public static double assertClose(String what, Tensor actual, Tensor expected, double rtol, double atol) {
        long[] a = Tensors.shape(actual);
        long[] e = Tensors.shape(expected);
        assertTrue(java.util.Arrays.equals(a, e),
                what + ": shape " + Tensors.shapeString(a) + " != expected " + Tensors.shapeString(e));
        double diff = Tensors.maxAbsDiff(actual, expected);
        double ref = Tensors.maxAbs(expected);
        double ratio = diff / Math.max(ref, 1e-30);
        System.out.printf("%-50s max|diff| = %.3e, max|ref| = %.3e, ratio = %.3e%n", what, diff, ref, ratio);
        assertTrue(diff <= rtol * ref + atol, String.format(
                "%s: max|diff| %.3e exceeds %.1e * %.3e + %.1e", what, diff, rtol, ref, atol));
        return ratio;
    }

    @Override
    public void close() {
        if (tensors != null) tensors.close();
    }
}
