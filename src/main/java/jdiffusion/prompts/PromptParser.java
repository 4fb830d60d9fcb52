package jdiffusion.prompts;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;

/**
 * AUTOMATIC1111's prompt syntax
 * (<a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/prompt_parser.py">prompt_parser.py</a>
 * {@code parse_prompt_attention} and
 * <a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/extra_networks.py">extra_networks.py</a>
 * {@code parse_prompt}): attention brackets, escapes, {@code BREAK} and extra-network tags.
 *
 * <ul>
 *   <li>{@code (abc)} multiplies the attention to abc by 1.1, {@code (abc:3.12)} by 3.12, {@code [abc]} divides it by 1.1;
 *   <li>{@code \( \) \[ \] \\} are the literal characters; a backslash before anything else is dropped;
 *   <li>unbalanced brackets: a {@code )} or {@code ]} without an opener is text, an opener never closed
 *       applies its multiplier to everything after it;
 *   <li>{@code BREAK} (a whole word, upper case) becomes {@link PromptFragment#BREAK};
 *   <li>adjacent fragments with exactly equal weights are merged.
 * </ul>
 *
 * <p>Weights are Python floats computed in the same order, so they equal A1111's bit for bit
 * ({@code 1.5730000000000004} for {@code (((house:1.3))}). Stateless.
 */
public final class PromptParser {
    /** Python's {@code \s} for str patterns (str.isspace), which Java's {@code \s} does not match exactly. */
    private static final String SPACE = "[\\t\\n\\x0B\\f\\r\\x1C-\\x1F \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";
    /** Python's {@code \w}: letters, numbers and the underscore. */
    private static final String WORD_CHAR = "[\\p{L}\\p{N}_]";

    /**
     * re_attention, alternatives in A1111's order (the first that matches wins): the escapes, a lone
     * backslash, the openers, a weight closing a round bracket, the closers, plain text, a lone colon.
     */
    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:" + SPACE + "*([+-]?[.\\p{Nd}]+)" + SPACE + "*\\)"
                    + "|\\)|]|[^\\\\()\\[\\]:]+|:");
    /** re_break: BREAK as a whole word, with the whitespace around it. */
    private static final Pattern BREAK = Pattern.compile(
            SPACE + "*(?<!" + WORD_CHAR + ")BREAK(?!" + WORD_CHAR + ")" + SPACE + "*");
    /** re_extra_net: {@code <kind:args>}. */
    private static final Pattern EXTRA_NETWORK = Pattern.compile("<(" + WORD_CHAR + "+):([^>]+)>");

    private static final double ROUND_BRACKET_MULTIPLIER = 1.1;
    private static final double SQUARE_BRACKET_MULTIPLIER = 1 / 1.1;

    private PromptParser() {}

    /**
     * {@code parse_prompt_attention(text)}: the text cut into runs of equal attention weight. Never
     * empty: a prompt without text gives {@code [("", 1.0)]}.
     *
     * @throws JDiffusionException for a weight Python's float() rejects, such as {@code (a:1.2.3)}
     *     (A1111 fails on it as well)
     */
    public static List<PromptFragment> parseAttention(String text) {
        List<String> texts = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        List<Integer> roundBrackets = new ArrayList<>();
        List<Integer> squareBrackets = new ArrayList<>();

        Matcher m = ATTENTION.matcher(text);
        while (m.find()) {
            String token = m.group();
            String weight = m.group(1);
            if (token.startsWith("\\")) {
                texts.add(token.substring(1));
                weights.add(1.0);
            } else if (token.equals("(")) {
                roundBrackets.add(texts.size());
            } else if (token.equals("[")) {
                squareBrackets.add(texts.size());
            } else if (weight != null && !roundBrackets.isEmpty()) {
                multiplyRange(weights, roundBrackets.removeLast(), pythonFloat(weight, token));
            } else if (token.equals(")") && !roundBrackets.isEmpty()) {
                multiplyRange(weights, roundBrackets.removeLast(), ROUND_BRACKET_MULTIPLIER);
            } else if (token.equals("]") && !squareBrackets.isEmpty()) {
                multiplyRange(weights, squareBrackets.removeLast(), SQUARE_BRACKET_MULTIPLIER);
            } else {
                // Plain text (or an unmatched closer, or ":1.2)" with no opener): split at BREAK.
                String[] parts = BREAK.split(token, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        texts.add(PromptFragment.BREAK.text());
                        weights.add(PromptFragment.BREAK.weight());
                    }
                    texts.add(parts[i]);
                    weights.add(1.0);
                }
            }
        }
        // Openers never closed apply to the end: round ones first, each in the order they were opened.
        for (int position : roundBrackets) multiplyRange(weights, position, ROUND_BRACKET_MULTIPLIER);
        for (int position : squareBrackets) multiplyRange(weights, position, SQUARE_BRACKET_MULTIPLIER);

        if (texts.isEmpty()) {
            texts.add("");
            weights.add(1.0);
        }
        // Merge runs of identical weights (exact float equality, as A1111 compares them).
        List<PromptFragment> merged = new ArrayList<>();
        StringBuilder run = new StringBuilder(texts.getFirst());
        double runWeight = weights.getFirst();
        for (int i = 1; i < texts.size(); i++) {
            if (weights.get(i) == runWeight) {
                run.append(texts.get(i));
            } else {
                merged.add(new PromptFragment(run.toString(), runWeight));
                run.setLength(0);
                run.append(texts.get(i));
                runWeight = weights.get(i);
            }
        }
        merged.add(new PromptFragment(run.toString(), runWeight));
        return List.copyOf(merged);
    }

    /**
     * Takes every {@code <kind:arg:arg...>} tag out of the prompt, as A1111 does before encoding,
     * and returns the LoRA ones ({@code lora}, and its alias {@code lyco}) with their multipliers.
     *
     * @throws JDiffusionException for a LoRA tag whose multiplier is not a number
     */
    public static ExtraNetworks extractExtraNetworks(String prompt) {
        List<LoraTag> loras = new ArrayList<>();
        List<String> others = new ArrayList<>();
        Matcher m = EXTRA_NETWORK.matcher(prompt);
        StringBuilder rest = new StringBuilder();
        while (m.find()) {
            String kind = m.group(1);
            if (kind.equals("lora") || kind.equals("lyco")) loras.add(loraTag(m.group(), m.group(2)));
            else others.add(m.group());
            m.appendReplacement(rest, "");
        }
        m.appendTail(rest);
        return new ExtraNetworks(rest.toString(), loras, others);
    }

    /**
     * ExtraNetworkParams + ExtraNetworkLora.activate: args split at ':'; an arg with exactly one '='
     * is named. te = positional[1] (default 1.0), overridden by te=; unet = positional[2] (default te),
     * overridden by unet=. Other args (A1111's dyn= dimension) are ignored.
     */
    private static LoraTag loraTag(String tag, String args) {
        List<String> positional = new ArrayList<>();
        Map<String, String> named = new HashMap<>();
        for (String item : args.split(":", -1)) {
            String[] parts = item.split("=", 3);
            if (parts.length == 2) named.put(parts[0], parts[1]);
            else positional.add(item);
        }
        if (positional.isEmpty()) throw new JDiffusionException("the tag " + tag + " names no LoRA: write <lora:NAME:0.8>");
        double te = positional.size() > 1 ? multiplier(positional.get(1), tag) : 1.0;
        if (named.containsKey("te")) te = multiplier(named.get("te"), tag);
        double unet = positional.size() > 2 ? multiplier(positional.get(2), tag) : te;
        if (named.containsKey("unet")) unet = multiplier(named.get("unet"), tag);
        return new LoraTag(positional.getFirst(), te, unet);
    }

    private static double multiplier(String value, String tag) {
        try {
            double d = Double.parseDouble(value.strip());
            if (Double.isFinite(d)) return d;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new JDiffusionException("the multiplier '" + value + "' in " + tag
                + " is not a number: write <lora:NAME>, <lora:NAME:0.8> or <lora:NAME:0.8:0.5>");
    }

    private static void multiplyRange(List<Double> weights, int start, double multiplier) {
        for (int p = start; p < weights.size(); p++) weights.set(p, weights.get(p) * multiplier);
    }

    /** Python's float() of a {@code [+-]?[.\d]+} match: any Unicode decimal digits, at most one dot. */
    private static double pythonFloat(String number, String token) {
        StringBuilder ascii = new StringBuilder(number.length());
        number.codePoints().forEach(cp -> ascii.append(Character.isDigit(cp) ? (char) ('0' + Character.digit(cp, 10)) : (char) cp));
        try {
            return Double.parseDouble(ascii.toString());
        } catch (NumberFormatException e) {
            throw new JDiffusionException("the attention weight in '" + token + "' is not a number;"
                    + " write (text:1.2), or escape the brackets as \\( and \\)");
        }
    }
}
