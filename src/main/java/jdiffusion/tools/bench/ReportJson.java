package jdiffusion.tools.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.util.Locale;

/**
 * The one JSON form of the benchmarks' reports and runs (snake_case keys, indented), written by
 * a report or a child JVM and read back by the parent; plus the load-average text the tables print.
 */
final class ReportJson {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    private ReportJson() {}

    /** {@code value} as JSON; {@code what} names it if it cannot be serialised (a programming error). */
    static String write(Object value, String what) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(what + " does not serialise", e);
        }
    }

    static <T> T read(String json, Class<T> type) throws JsonProcessingException {
        return JSON.readValue(json, type);
    }

    /** "0.52 1.04 1.26", or "unknown" where the system gives no load averages. */
    static String loadAverage(double[] l) {
        return l.length == 3 ? String.format(Locale.ROOT, "%.2f %.2f %.2f", l[0], l[1], l[2]) : "unknown";
    }
}
