package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ftfy 6.3.1 fix_text examples (mostly ftfy's own documentation examples); every expected value
 * was produced by ftfy 6.3.1 on Python 3.11. The golden tokenizer prompts cover the rest.
 */
class FtfyTest {
    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', textBlock = """
            uÌˆnicode                                      | ünicode
            Broken text&hellip; it&#x2019;s ﬂubberiﬁc!     | Broken text… it's flubberific!
            <em>HTML entities &lt;3</em>                   | <em>HTML entities &lt;3</em>
            HTML entities &lt;3                            | HTML entities <3
            &amp;lt;                                       | <
            &#59; &NTILDE; &#65abc;                        | &#59; Ñ &#65abc;
            This â€” should be an em dash                  | This — should be an em dash
            Ãºnico                                         | único
            This text is fine already :þ                   | This text is fine already :þ
            not such a fan of Charlotte Brontë…”           | not such a fan of Charlotte Brontë…"
            AHÅ™, the new sofa from IKEA®                   | AHÅ™, the new sofa from IKEA®
            Ã  la carte                                    | à la carte
            ＡＢＣ　１２３                                     | `ABC 123`
            """)
    void fixesLikeFtfy(String text, String expected) {
        assertEquals(expected, Ftfy.fixText(text));
    }

    @org.junit.jupiter.api.Test
    void controlCharactersEscapesAndLineBreaks() {
        assertEquals("I'm blue", Ftfy.fixText("\u0001\u001b[36;44mI&#x92;m blue\u001b[0m"));
        assertEquals("Party like\nit's 1999!", Ftfy.fixText("\ufeffParty like\r\nit&rsquo;s 1999!"));
        assertEquals("This text was never UTF-8 at all…", Ftfy.fixText("This text was never UTF-8 at all\u0085"));
        assertEquals("ಠ_ಠ", Ftfy.fixText("\u00c3\u00a0\u00c2\u00b2\u00c2\u00a0_\u00c3\u00a0\u00c2\u00b2\u00c2\u00a0"));
        assertEquals("café \"quotes\"", Ftfy.fixText("caf\u00c3\u00a9 \u00e2\u20ac\u0153quotes\u00e2\u20ac\u009d"));
    }
}
