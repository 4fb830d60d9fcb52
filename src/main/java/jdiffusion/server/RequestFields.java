package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;

/**
 * Typed reads of a JSON request body. A wrong type is a 422 naming the field; numbers given as
 * strings ("20") are accepted as pydantic, and so A1111, accepts them; null means "the default".
 */
final class RequestFields {
    private final ObjectNode body;

    RequestFields(ObjectNode body) {
        this.body = body;
    }

    static RequestFields of(JsonNode node, String what) {
        if (node == null || !node.isObject()) {
            throw new ApiException(422, "invalid_body", null, what + " must be a JSON object");
        }
        return new RequestFields((ObjectNode) node);
    }

    ObjectNode body() {
        return body;
    }

    boolean has(String field) {
        JsonNode n = body.get(field);
        return n != null && !n.isNull();
    }

    JsonNode node(String field) {
        return body.get(field);
    }

    String text(String field, String fallback, int maxLength) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return fallback;
        if (!n.isTextual()) throw ApiException.invalid(field, field + " must be a string");
        String s = n.textValue();
        if (s.length() > maxLength) {
            throw ApiException.invalid(field, field + " is " + s.length() + " characters long; at most " + maxLength + " are accepted");
        }
        return s;
    }

    long integer(String field, long fallback, long min, long max) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return fallback;
        long v;
        if (n.isIntegralNumber() && n.canConvertToLong()) {
            v = n.longValue();
        } else if (n.isFloatingPointNumber() && n.doubleValue() == Math.rint(n.doubleValue()) && Math.abs(n.doubleValue()) < 1e15) {
            v = (long) n.doubleValue();
        } else if (n.isTextual() && n.textValue().trim().matches("-?\\d{1,18}")) {
            v = Long.parseLong(n.textValue().trim());
        } else {
            throw ApiException.invalid(field, field + " must be an integer");
        }
        if (v < min || v > max) throw ApiException.invalid(field, field + " must be between " + min + " and " + max + ", not " + v);
        return v;
    }

    int integer(String field, int fallback, int min, int max) {
        return (int) integer(field, (long) fallback, min, (long) max);
    }

    double number(String field, double fallback, double min, double max) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return fallback;
        double v;
        if (n.isNumber()) {
            v = n.doubleValue();
        } else if (n.isTextual()) {
            try {
                v = Double.parseDouble(n.textValue().trim());
            } catch (NumberFormatException e) {
                throw ApiException.invalid(field, field + " must be a number");
            }
        } else {
            throw ApiException.invalid(field, field + " must be a number");
        }
        if (!Double.isFinite(v) || v < min || v > max) {
            throw ApiException.invalid(field, field + " must be a number between " + fmt(min) + " and " + fmt(max) + ", not " + v);
        }
        return v;
    }

    boolean bool(String field, boolean fallback) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return fallback;
        if (n.isBoolean()) return n.booleanValue();
        // pydantic's lax bools: 0/1 and "true"/"false"
        if (n.isIntegralNumber() && (n.longValue() == 0 || n.longValue() == 1)) return n.longValue() == 1;
        if (n.isTextual()) {
            String s = n.textValue().trim().toLowerCase(Locale.ROOT);
            if (s.equals("true") || s.equals("1")) return true;
            if (s.equals("false") || s.equals("0")) return false;
        }
        throw ApiException.invalid(field, field + " must be true or false");
    }

    ObjectNode object(String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return null;
        if (!n.isObject()) throw ApiException.invalid(field, field + " must be a JSON object");
        return (ObjectNode) n;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
