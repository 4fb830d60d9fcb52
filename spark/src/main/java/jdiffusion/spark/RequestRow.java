package jdiffusion.spark;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;
import jdiffusion.lora.LoRASpec;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

/**
 * One row of the request table, read leniently: CSV gives every column as text, JSON and Parquet
 * give numbers, and both are accepted. A value that cannot be used is a {@link JDiffusionException}
 * naming the column, which becomes that row's {@code error}.
 *
 * <p>Columns (all but {@code id} and {@code prompt} optional; a missing or null value takes the
 * library's default): {@code id}, {@code prompt}, {@code negative_prompt}, {@code seed},
 * {@code sampler}, {@code steps}, {@code cfg_scale}, {@code width}, {@code height}, {@code loras}
 * ({@code FILE_OR_NAME[:SCALE]} entries separated by commas, or an array of them),
 * {@code init_image} (a path or Hadoop URI: img2img) and {@code strength}.
 */
record RequestRow(String id, String prompt, String negativePrompt, Long seed, String sampler, Integer steps,
        Double cfgScale, Integer width, Integer height, List<LoRASpec> loras, String initImage, Double strength) {

    static final Set<String> COLUMNS = Set.of("id", "prompt", "negative_prompt", "seed", "sampler", "steps",
            "cfg_scale", "width", "height", "loras", "init_image", "strength");

    /** The id is the image's file name, so it must be one on every filesystem. */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,199}");

    /** The row's seed: its own, else one derived from the job seed and the id. */
    long effectiveSeed(long jobSeed) {
        return seed != null ? seed : derivedSeed(jobSeed, id);
    }

    /**
     * SHA-256 of "jobSeed/id", its first 4 bytes as an unsigned 32-bit number: the same on every
     * machine, attempt and partitioning, and in AUTOMATIC1111's seed range so the PNG's
     * parameters can be regenerated there too.
     */
    static long derivedSeed(long jobSeed, String id) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((jobSeed + "/" + id).getBytes(StandardCharsets.UTF_8));
            return ((h[0] & 0xffL) << 24) | ((h[1] & 0xffL) << 16) | ((h[2] & 0xffL) << 8) | (h[3] & 0xffL);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** The id alone (for the result row of a row whose other columns are bad); null when absent. */
    static String idOf(Row row) {
        Object v = value(row, "id");
        return v == null ? null : v.toString();
    }

    static RequestRow read(Row row) {
        String id = text(row, "id");
        if (id == null) throw new JDiffusionException("id: missing (every row needs one; it names the image)");
        if (!ID.matcher(id).matches()) {
            throw new JDiffusionException("id: '" + id + "' is not usable as a file name (letters, digits, '.', '_', '-'; at most 200)");
        }
        String prompt = text(row, "prompt");
        if (prompt == null) throw new JDiffusionException("prompt: missing");
        return new RequestRow(id, prompt, text(row, "negative_prompt"), whole(row, "seed"), text(row, "sampler"),
                small(row, "steps"), number(row, "cfg_scale"), small(row, "width"), small(row, "height"),
                loras(row), text(row, "init_image"), number(row, "strength"));
    }

    /** The columns of {@code schema} this job does not read (a typo such as {@code cfg} for {@code cfg_scale}). */
    static List<String> unknownColumns(StructType schema) {
        List<String> unknown = new ArrayList<>();
        for (String name : schema.fieldNames()) if (!COLUMNS.contains(name)) unknown.add(name);
        return unknown;
    }

    private static Object value(Row row, String column) {
        StructType schema = row.schema();
        if (schema == null || !List.of(schema.fieldNames()).contains(column)) return null;
        return row.get(row.fieldIndex(column));
    }

    private static String text(Row row, String column) {
        Object v = value(row, column);
        if (v == null) return null;
        String s = v.toString();
        return s.isEmpty() && !column.equals("prompt") ? null : s;
    }

    private static Long whole(Row row, String column) {
        Object v = value(row, column);
        if (v == null || v.toString().isBlank()) return null;
        if (v instanceof Long || v instanceof Integer || v instanceof Short) return ((Number) v).longValue();
        String s = v.toString().trim();
        try {
            if (v instanceof Double || v instanceof Float || s.contains(".") || s.contains("e") || s.contains("E")) {
                double d = Double.parseDouble(s);
                if (d == Math.rint(d) && Math.abs(d) < 0x1p53) return (long) d;
                throw new NumberFormatException();
            }
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new JDiffusionException(column + ": '" + s + "' is not a whole number");
        }
    }

    private static Integer small(Row row, String column) {
        Long v = whole(row, column);
        if (v == null) return null;
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) throw new JDiffusionException(column + ": " + v + " is out of range");
        return v.intValue();
    }

    private static Double number(Row row, String column) {
        Object v = value(row, column);
        if (v == null || v.toString().isBlank()) return null;
        if (v instanceof Number n) return n.doubleValue();
        try {
            double d = Double.parseDouble(v.toString().trim());
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new JDiffusionException(column + ": '" + v + "' is not a number");
        }
    }

    private static List<LoRASpec> loras(Row row) {
        Object v = value(row, "loras");
        List<String> entries = new ArrayList<>();
        if (v instanceof scala.collection.Seq<?> seq) {
            seq.foreach(e -> entries.add(String.valueOf(e)));
        } else if (v instanceof java.util.List<?> list) {
            list.forEach(e -> entries.add(String.valueOf(e)));
        } else if (v != null) {
            for (String e : v.toString().split(",")) entries.add(e);
        }
        List<LoRASpec> specs = new ArrayList<>();
        for (String e : entries) {
            if (!e.isBlank()) specs.add(lora(e.trim()));
        }
        return specs;
    }

    /** {@code FILE_OR_NAME[:SCALE]}: a name (no slash, no LoRA file extension) is looked up in the LoRA folder. */
    private static LoRASpec lora(String entry) {
        String target = entry;
        double scale = 1.0;
        int colon = entry.lastIndexOf(':');
        if (colon > 0 && colon < entry.length() - 1) {
            try {
                scale = Double.parseDouble(entry.substring(colon + 1));
                target = entry.substring(0, colon);
            } catch (NumberFormatException notAScale) {
                // a path with a colon in it: the whole entry is the file
            }
        }
        if (!Double.isFinite(scale)) throw new JDiffusionException("loras: the scale of '" + entry + "' must be a finite number");
        String lower = target.toLowerCase(Locale.ROOT);
        boolean file = target.contains("/") || lower.endsWith(".safetensors") || lower.endsWith(".pt")
                || lower.endsWith(".ckpt") || lower.endsWith(".bin");
        return file ? LoRASpec.file(java.nio.file.Path.of(target), scale) : LoRASpec.named(target, scale);
    }
}
