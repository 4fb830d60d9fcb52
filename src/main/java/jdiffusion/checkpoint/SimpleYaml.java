package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;

/**
 * The block-style YAML subset the original LDM inference configs are written in
 * (CompVis/stable-diffusion {@code configs/stable-diffusion/v1-inference.yaml}, Stability-AI/stablediffusion
 * {@code v2-inference-v.yaml}, ...): nested mappings by indentation, {@code - item} lists of scalars,
 * flow lists {@code [ 1, 2, 4 ]}, comments, quoted and plain scalars. Anything else (anchors,
 * multi-line strings, flow mappings) is refused with the line number rather than misread. A YAML
 * library would be one more dependency for the few keys {@link OriginalConfig} reads.
 */
final class SimpleYaml {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern INT = Pattern.compile("[-+]?\\d+");
    // YAML 1.1 floats as the LDM files write them: 1.0e-04, 1.e-6, 1., .5, 0.18215
    private static final Pattern FLOAT = Pattern.compile("[-+]?(\\d+\\.\\d*|\\.\\d+|\\d+)([eE][-+]?\\d+)?");

    private record Line(int number, int indent, String text) {}

    private final String source;
    private final List<Line> lines = new ArrayList<>();
    private int next;

    private SimpleYaml(String source, String text) {
        this.source = source;
        String[] raw = text.split("\r?\n", -1);
        for (int i = 0; i < raw.length; i++) {
            String s = stripComment(raw[i]);
            if (s.isBlank() || s.strip().equals("---")) continue;
            if (s.indexOf('\t') >= 0 && s.substring(0, s.length() - s.stripLeading().length()).indexOf('\t') >= 0) {
                throw error(i + 1, "indents with a tab; YAML indents with spaces");
            }
            int indent = s.length() - s.stripLeading().length();
            lines.add(new Line(i + 1, indent, s.strip()));
        }
    }

    /** Parses {@code text}; {@code source} names it in errors. An empty document is an empty mapping. */
    static JsonNode parse(String source, String text) {
        SimpleYaml yaml = new SimpleYaml(source, text);
        if (yaml.lines.isEmpty()) return NODES.objectNode();
        JsonNode root = yaml.block(yaml.lines.getFirst().indent());
        if (yaml.next < yaml.lines.size()) {
            Line l = yaml.lines.get(yaml.next);
            throw yaml.error(l.number(), "is indented less than the document start");
        }
        return root;
    }

    private JsonNode block(int indent) {
        Line first = lines.get(next);
        return first.text().startsWith("- ") || first.text().equals("-") ? list(indent) : mapping(indent);
    }

    private ObjectNode mapping(int indent) {
        ObjectNode map = NODES.objectNode();
        while (next < lines.size()) {
            Line l = lines.get(next);
            if (l.indent() < indent) break;
            if (l.indent() > indent) throw error(l.number(), "is indented more than the keys above it");
            int colon = keyColon(l);
            String key = unquote(l.text().substring(0, colon).strip(), l);
            String rest = l.text().substring(colon + 1).strip();
            next++;
            if (map.has(key)) throw error(l.number(), "repeats the key '" + key + "'");
            if (!rest.isEmpty()) {
                map.set(key, scalarOrFlow(rest, l));
            } else if (next < lines.size() && (lines.get(next).indent() > indent
                    || (lines.get(next).indent() == indent && lines.get(next).text().startsWith("-")))) {
                map.set(key, block(lines.get(next).indent()));
            } else {
                map.putNull(key);
            }
        }
        return map;
    }

    private ArrayNode list(int indent) {
        ArrayNode list = NODES.arrayNode();
        while (next < lines.size()) {
            Line l = lines.get(next);
            if (l.indent() != indent || !(l.text().startsWith("- ") || l.text().equals("-"))) break;
            String item = l.text().substring(1).strip();
            if (item.isEmpty() || (keyColonOrMinus(item) >= 0)) {
                throw error(l.number(), "holds a list item that is not a plain value; this reader takes lists of values only");
            }
            list.add(scalarOrFlow(item, l));
            next++;
        }
        return list;
    }

    private JsonNode scalarOrFlow(String text, Line l) {
        if (text.startsWith("[")) {
            if (!text.endsWith("]")) throw error(l.number(), "opens a [ list it does not close on the same line");
            ArrayNode list = NODES.arrayNode();
            String inner = text.substring(1, text.length() - 1).strip();
            if (inner.isEmpty()) return list;
            for (String part : inner.split(",", -1)) {
                String p = part.strip();
                if (p.isEmpty() || p.startsWith("[") || p.startsWith("{")) {
                    throw error(l.number(), "has a flow list this reader does not take (nested or with empty items)");
                }
                list.add(scalar(p, l));
            }
            return list;
        }
        if (text.equals("{}")) return NODES.objectNode();
        if (text.startsWith("{") || text.startsWith("&") || text.startsWith("*") || text.startsWith("|") || text.startsWith(">")) {
            throw error(l.number(), "uses YAML syntax this reader does not take (" + text.charAt(0) + ")");
        }
        return scalar(text, l);
    }

    private JsonNode scalar(String text, Line l) {
        if (text.startsWith("\"") || text.startsWith("'")) return NODES.textNode(unquote(text, l));
        switch (text) {
            case "null", "Null", "NULL", "~" -> { return NODES.nullNode(); }
            case "true", "True", "TRUE" -> { return NODES.booleanNode(true); }
            case "false", "False", "FALSE" -> { return NODES.booleanNode(false); }
            default -> { }
        }
        if (INT.matcher(text).matches()) {
            try {
                return NODES.numberNode(Long.parseLong(text));
            } catch (NumberFormatException tooLong) {
                return NODES.numberNode(new java.math.BigInteger(text));
            }
        }
        if (FLOAT.matcher(text).matches()) return NODES.numberNode(Double.parseDouble(text));
        return NODES.textNode(text);
    }

    private String unquote(String text, Line l) {
        if (text.length() >= 2 && (text.startsWith("\"") && text.endsWith("\"") || text.startsWith("'") && text.endsWith("'"))) {
            String inner = text.substring(1, text.length() - 1);
            if (text.startsWith("\"") && inner.contains("\\")) {
                throw error(l.number(), "has a double-quoted string with escapes, which this reader does not take");
            }
            return text.startsWith("'") ? inner.replace("''", "'") : inner;
        }
        if (text.startsWith("\"") || text.startsWith("'")) throw error(l.number(), "has an unterminated quoted string");
        return text;
    }

    /** The colon that ends the key of a mapping line ("key: value" or "key:"). */
    private int keyColon(Line l) {
        int colon = keyColonOrMinus(l.text());
        if (colon < 0) throw error(l.number(), "is not a 'key: value' line");
        return colon;
    }

    private static int keyColonOrMinus(String text) {
        boolean quoted = text.startsWith("\"") || text.startsWith("'");
        int from = quoted ? Math.max(text.indexOf(text.charAt(0), 1), 0) : 0;
        for (int i = from; i < text.length(); i++) {
            if (text.charAt(i) == ':' && (i + 1 == text.length() || text.charAt(i + 1) == ' ')) return i;
        }
        return -1;
    }

    /** Drops a {@code #} comment that is not inside quotes. */
    private static String stripComment(String s) {
        char quote = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#' && (i == 0 || Character.isWhitespace(s.charAt(i - 1)))) {
                return s.substring(0, i);
            }
        }
        return s;
    }

    private JDiffusionException error(int line, String problem) {
        return new JDiffusionException(source + ": line " + line + " " + problem);
    }
}
