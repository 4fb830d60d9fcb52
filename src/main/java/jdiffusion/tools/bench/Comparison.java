package jdiffusion.tools.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;

/**
 * Another implementation's figures for {@code bench --compare FILE.json}, so that a side-by-side
 * (jdiffusion against diffusers on the same machine) can be reproduced. The file:
 * <pre>{@code
 * {"name": "diffusers 0.31 bf16 autocast", "cpu": "AMD EPYC 9R45 (Zen 5)",
 *  "runs": [{"dtype": "bf16", "size": 512, "unet_step_seconds": 18.0, "vae_decode_seconds": 24.2,
 *            "peak_rss_bytes": 7.9e9}]}
 * }</pre>
 * {@code vae_decode_seconds} and {@code peak_rss_bytes} are optional; a report saved with
 * {@code bench --save-json} has the same fields, so two jdiffusion runs compare too (its name is
 * then the file name). Runs are matched by dtype and size.
 *
 * @param cpu the other run's CPU, or null: ratios across machines are printed with a warning
 */
public record Comparison(String name, String cpu, List<Point> runs) {
    /** One configuration of the other implementation (NaN where it gave no figure). */
    public record Point(String dtype, int size, double unetStepSeconds, double vaeDecodeSeconds, double peakRssBytes) {}

    /** Ours over theirs for one matched configuration: below 1 is faster (or smaller). */
    public record Ratio(String dtype, int size, double unetStep, double vaeDecode, double peakRss) {}

    public static Comparison read(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new JDiffusionException("--compare " + file + ": cannot read it as JSON ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")");
        }
        if (root == null || !root.path("runs").isArray() || root.path("runs").isEmpty()) {
            throw new JDiffusionException("--compare " + file + ": expected an object with a non-empty \"runs\" array"
                    + " of {dtype, size, unet_step_seconds[, vae_decode_seconds, peak_rss_bytes]}");
        }
        List<Point> points = new ArrayList<>();
        int i = 0;
        for (JsonNode r : root.path("runs")) {
            String where = "--compare " + file + ": runs[" + i++ + "]";
            String dtype = r.path("dtype").asText("");
            if (!dtype.equals("fp32") && !dtype.equals("bf16") && !dtype.equals("fp16")) {
                throw new JDiffusionException(where + ".dtype must be fp32, bf16 or fp16, not '" + dtype + "'");
            }
            if (!r.path("size").canConvertToInt() || r.path("size").asInt() < 8) {
                throw new JDiffusionException(where + ".size must be the image side in pixels");
            }
            double unet = r.path("unet_step_seconds").asDouble(Double.NaN);
            if (!(unet > 0) || !Double.isFinite(unet)) {
                throw new JDiffusionException(where + ".unet_step_seconds must be a positive number of seconds");
            }
            points.add(new Point(dtype, r.path("size").asInt(), unet, positiveOrNaN(r.path("vae_decode_seconds")),
                    positiveOrNaN(r.path("peak_rss_bytes"))));
        }
        // a saved jdiffusion report has no name: the file's name says which run it was
        String name = root.hasNonNull("name") ? root.path("name").asText() : file.getFileName().toString();
        String cpu = root.hasNonNull("cpu") ? root.path("cpu").asText() : null;
        return new Comparison(name, cpu, List.copyOf(points));
    }

    private static double positiveOrNaN(JsonNode n) {
        double v = n.asDouble(Double.NaN);
        return v > 0 && Double.isFinite(v) ? v : Double.NaN;
    }

    /** Ours over theirs for every run of ours that the file has a figure for. */
    public List<Ratio> ratios(List<BenchRun> ours) {
        List<Ratio> out = new ArrayList<>();
        for (BenchRun r : ours) {
            for (Point p : runs) {
                if (!p.dtype().equals(r.dtype()) || p.size() != r.size()) continue;
                out.add(new Ratio(r.dtype(), r.size(), r.unetStepSeconds() / p.unetStepSeconds(),
                        r.vaeDecodeSeconds() / p.vaeDecodeSeconds(), r.peakRssBytes() / p.peakRssBytes()));
            }
        }
        return out;
    }
}
