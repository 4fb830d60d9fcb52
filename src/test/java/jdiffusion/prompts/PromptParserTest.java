package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;

/**
 * {@link PromptParser} against AUTOMATIC1111's prompt_parser.py: the docstring examples of
 * parse_prompt_attention, then more cases whose expected lists were printed by that function
 * (Python 3, the regexes of A1111 1.10).
 */
class PromptParserTest {
    /** Builds the expected list from alternating text and weight, as A1111's docstring writes it. */
    private static List<PromptFragment> list(Object... textWeight) {
        List<PromptFragment> out = new ArrayList<>();
        for (int i = 0; i < textWeight.length; i += 2) {
            out.add(new PromptFragment((String) textWeight[i], ((Number) textWeight[i + 1]).doubleValue()));
        }
        return out;
    }

    /** Exact comparison: weights must be the same doubles as Python's floats. */
    private static void check(String prompt, Object... expected) {
        assertEquals(list(expected), PromptParser.parseAttention(prompt), "parse_prompt_attention(" + prompt + ")");
    }

    @Test
    void docstringExamples() {
        check("normal text", "normal text", 1.0);
        check("an (important) word", "an ", 1.0, "important", 1.1, " word", 1.0);
        check("(unbalanced", "unbalanced", 1.1);
        check("\\(literal\\]", "(literal]", 1.0);
        check("(unnecessary)(parens)", "unnecessaryparens", 1.1);
        check("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                "a ", 1.0,
                "house", 1.5730000000000004,
                " ", 1.1,
                "on", 1.0,
                " a ", 1.1,
                "hill", 0.55,
                ", sun, ", 1.1,
                "sky", 1.4641000000000006,
                ".", 1.1);
    }

    @Test
    void bracketsAndWeights() {
        check("(a: 1.3 )", "a", 1.3);
        check("(a:-0.5)", "a", -0.5);
        check("(a:+.5)", "a", 0.5);
        check("(a:1.)", "a", 1.0);
        check("[a", "a", 0.9090909090909091);
        check("[[a]]", "a", 0.8264462809917354);
        check("[(a)]", "a", 1.0);
        check("(a)(b:1.1)", "ab", 1.1);
        check("a (b [c] d) e", "a ", 1.0, "b ", 1.1, "c", 1.0, " d", 1.1, " e", 1.0);
        // Python's float() reads any Unicode decimal digits.
        check("(a:\u0661.\u0665)", "a", 1.5);
    }

    @Test
    void unbalancedAndLiteralCharacters() {
        check("a)b]c", "a)b]c", 1.0);
        check("a:b", "a:b", 1.0);
        check("x:1.2)", "x:1.2)", 1.0);
        check("((a][:b:c", "a]", 1.2100000000000002, ":b:c", 1.1);
        check("", "", 1.0);
        check("()", "", 1.0);
        check("back\\\\slash", "back\\slash", 1.0);
        check("lone\\backslash", "lonebackslash", 1.0);
    }

    @Test
    void breakKeyword() {
        check("a BREAK b", "a", 1.0, "BREAK", -1.0, "b", 1.0);
        check("a\nBREAK\nb", "a", 1.0, "BREAK", -1.0, "b", 1.0);
        check("BREAK", "", 1.0, "BREAK", -1.0, "", 1.0);
        check("a BREAK BREAK b", "a", 1.0, "BREAK", -1.0, "", 1.0, "BREAK", -1.0, "b", 1.0);
        check("a, BREAK, b", "a,", 1.0, "BREAK", -1.0, ", b", 1.0);
        check("BREAKfast xBREAK _BREAK", "BREAKfast xBREAK _BREAK", 1.0);
        // Inside brackets the marker is multiplied too, so it stops being a BREAK (A1111 quirk).
        List<PromptFragment> inside = PromptParser.parseAttention("(a BREAK b)");
        assertEquals(list("a", 1.1, "BREAK", -1.1, "b", 1.1), inside);
        assertFalse(inside.get(1).isBreak());
        assertTrue(PromptParser.parseAttention("a BREAK b").get(1).isBreak());
    }

    @Test
    void aWeightPythonCannotReadIsAClearError() {
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> PromptParser.parseAttention("(a:1.2.3)"));
        assertTrue(e.getMessage().contains(":1.2.3)"), e.getMessage());
    }

    @Test
    void loraTagsAreTakenOutWithTheirMultipliers() {
        ExtraNetworks e = PromptParser.extractExtraNetworks(
                "a cat <lora:catStyle:0.8>, <lora:plain> <hypernet:old:1> (red:1.2) <lora:split:0.7:0.3> <lyco:ly:te=0.5:unet=2>");
        assertEquals("a cat ,   (red:1.2)  ", e.prompt());
        assertEquals(List.of(
                new LoraTag("catStyle", 0.8, 0.8),
                new LoraTag("plain", 1.0, 1.0),
                new LoraTag("split", 0.7, 0.3),
                new LoraTag("ly", 0.5, 2.0)), e.loras());
        assertEquals(List.of("<hypernet:old:1>"), e.otherTags());

        ExtraNetworks none = PromptParser.extractExtraNetworks("no tags: <not a tag> <lora:>");
        assertEquals("no tags: <not a tag> <lora:>", none.prompt());
        assertTrue(none.loras().isEmpty());

        JDiffusionException bad = assertThrows(JDiffusionException.class,
                () -> PromptParser.extractExtraNetworks("<lora:x:strong>"));
        assertTrue(bad.getMessage().contains("'strong'"), bad.getMessage());
    }
}
