package jdiffusion.models.clip;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * ftfy 6.3.1 chardata.py and badness.py: the character tables and patterns behind ftfy's mojibake
 * detection, for {@link Ftfy}.
 *
 * <p>The character categories are ftfy's, code point for code point. The patterns are built from
 * them the way ftfy builds its verbose regular expressions; three Python regex details are
 * spelled out because Java reads them differently: Python's {@code \s} (str.isspace), its
 * {@code \w} (letters, digits and '_') and its {@code .} (anything but '\n').
 */
final class FtfyData {
    private FtfyData() {
    }

    /** Python's str.isspace() set: what {@code \s} matches in a Python str pattern. */
    static final String PY_SPACE =
            "\\t\\n\\x0B\\f\\r\\x1C-\\x1F \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

    /** badness.MOJIBAKE_CATEGORIES: the few hundred characters that UTF-8 mojibake is made of. */
    private static final Map<String, String> MOJIBAKE_CATEGORIES = Map.ofEntries(
            Map.entry("common", "\u00a0\u00ad·´–—―…’"),
            Map.entry("c1", "\u0080-\u009f"),
            Map.entry("bad", "¦¤¨¬¯¸ƒˆˇ˘˛˜†‡‰⌐◊\ufffdªº"),
            Map.entry("law", "¶§"),
            Map.entry("currency", "¢£¥₧€"),
            Map.entry("start_punctuation", "¡«¿©΄΅‘‚“„•‹\uf8ff"),
            Map.entry("end_punctuation", "®»˝”›™"),
            Map.entry("numeric", "²³¹±¼½¾×µ÷⁄∂∆∏∑√∞∩∫≈≠≡≤≥№"),
            Map.entry("kaomoji", "Ò-ÖÙ-Üò-öø-üŐŌŪŲ°"),
            Map.entry("upper_accented", "À-ÑØÜÝĂĀĄĆČĎĐĘĚĒĖĞĢİĪĶĹĽŁĻŃŇŅŒŘŚŞŠŢŤŮŰŸŹŻŽҐ"),
            Map.entry("lower_accented", "ßà-ñăąāćčďđęěēėğģįīķĺľłļœŕśşšťüźżžґﬁﬂ"),
            Map.entry("upper_common", "ÞΑ-ΩΆΈΉΊΌΎΏΪΫЁ-Я"),
            Map.entry("lower_common", "α-ωάέήίΰа-џ"),
            Map.entry("box", "│┌┐┘├┤┬┼═-╬▀▄█▌▐░▒▓"));

    /** chardata.UTF8_CLUES: characters that a single-byte decoding of a UTF-8 lead or continuation byte gives. */
    private static final Map<String, String> UTF8_CLUES = Map.ofEntries(
            Map.entry("utf8_first_of_2", "ĂÂÄĀÅÃÆĆČÇĎĐÉĚÊËĖÈĒĘÐĞĢÍÎÏİÌĪĶĹĻŁŃŇŅÑÓÔÖŐÒŌØÕŘŚŠŞŢÞÚÛÜŰÙŪŲŮÝŹŽŻß×ΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫάέήίВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"),
            Map.entry("utf8_first_of_3", "áăâäàāąåãæćčçďéěêëėèēęęģíîïìīįķĺļŕźΰαβγδεζηθικλμνξοабвгдежзийклмноп"),
            Map.entry("utf8_first_of_4", "đðğóšπσру"),
            Map.entry("utf8_continuation", "\u0080-¿ ĄÆĽŁØŖŚŠŞŤŸŹŽŻŒąæƒľłøŗśšşťźžżœˆˇ˘˛˜˝΄΅ΆΈΉΊΌΎΏЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ–—―‘’‚“”„†‡•…‰‹›€№™"),
            Map.entry("utf8_continuation_strict", "\u0080-¿ĄÆĽŁØŖŚŠŞŤŸŹŽŻŒąæƒľłøŗśšşťźžżœˆˇ˘˛˜˝΄΅ΆΈΉΊΌΎΏЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ†‡‰‹›€№™"));

    /**
     * badness.BADNESS_RE, one alternative per line: unlikely juxtapositions of those characters.
     * ftfy calls text "bad" (worth re-decoding) when any of them occurs.
     */
    private static final List<String> BADNESS_ALTERNATIVES = List.of(
            "[{c1}]",
            "[{bad}{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}][{bad}]",
            "[a-zA-Z][{lower_common}{upper_common}][{bad}]",
            "[{bad}][{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}]",
            "[{lower_accented}{lower_common}{box}{end_punctuation}{currency}{numeric}][{upper_accented}]",
            "[{box}{end_punctuation}{currency}{numeric}][{lower_accented}]",
            "[{lower_accented}{box}{end_punctuation}][{currency}]",
            "[{py_space}][{upper_accented}][{currency}]",
            "[{upper_accented}{box}][{numeric}{law}]",
            "[{lower_accented}{upper_accented}{box}{currency}{end_punctuation}][{start_punctuation}][{numeric}]",
            "[{lower_accented}{upper_accented}{currency}{numeric}{box}{law}][{end_punctuation}][{start_punctuation}]",
            "[{currency}{numeric}{box}][{start_punctuation}]",
            "[a-z][{upper_accented}][{start_punctuation}{currency}]",
            "[{box}][{kaomoji}]",
            "[{lower_accented}{upper_accented}{currency}{numeric}{start_punctuation}{end_punctuation}{law}][{box}]",
            "[{box}][{end_punctuation}]",
            "[{lower_accented}{upper_accented}][{start_punctuation}{end_punctuation}][\\p{L}\\p{N}_]",
            // The ligature œ when not followed by an unaccented Latin letter
            "[Œœ][^A-Za-z]",
            // Degree signs after capital letters
            "[{upper_accented}]°",
            // Common Windows-1252 2-character mojibake that isn't covered by the cases above
            "[ÂÃÎÐ][€œŠš¢£Ÿž\\xa0\\xad®©°·»{start_punctuation}{end_punctuation}–—´]",
            "×[²³]",
            // Windows-1252 mojibake of Arabic words; four characters because it includes 'common' ones
            "[ØÙ][{common}{currency}{bad}{numeric}{start_punctuation}ŸŠ®°µ»][ØÙ][{common}{currency}{bad}{numeric}{start_punctuation}ŸŠ®°µ»]",
            // Windows-1252 mojibake that starts 3-character sequences for some South Asian alphabets
            "à[²µ¹¼½¾]",
            // MacRoman mojibake that isn't covered by the cases above
            "√[±∂†≠®™´≤≥¥µø]",
            "≈[°¢]",
            "‚Ä[ìîïòôúùû†°¢π]",
            "‚[âó][àä°ê]",
            // Windows-1251 mojibake of characters in the U+2000 range
            "вЂ",
            // Windows-1251 mojibake of Latin-1 characters and/or the Cyrillic alphabet
            "[ВГРС][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°µ][ВГРС]",
            // Windows-1251 mojibake on top of Latin-1 mojibake of Windows-1252 characters
            "ГўВЂВ[^\\n][A-Za-z ]",
            // Windows-1252 encodings of 'à' and 'á', as well as \xa0 itself
            "Ã[\\xa0¡]",
            "[a-z][{py_space}]?[ÃÂ][ ]",
            "^[ÃÂ][ ]",
            // Â encoding exactly the character after it
            "[a-z.,?!{end_punctuation}]Â[ {start_punctuation}{end_punctuation}]",
            // Windows-1253 mojibake of characters in the U+2000 range
            "β€[™\\xa0Ά\\xad®°]",
            // Windows-1253 mojibake of Latin-1 characters and/or the Greek alphabet
            "[ΒΓΞΟ][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°][ΒΓΞΟ]",
            // Windows-1257 mojibake of characters in the U+2000 range
            "ā€");

    /** badness.is_bad: the text holds at least one unlikely (mojibake-like) sequence. */
    static final Pattern BADNESS = Pattern.compile(fill(String.join("|", BADNESS_ALTERNATIVES), MOJIBAKE_CATEGORIES));

    /**
     * chardata.UTF8_DETECTOR_RE: runs of characters that look like UTF-8 read as a single-byte
     * encoding. The look-behind keeps ftfy from fixing a few characters inside a larger garble.
     */
    static final Pattern UTF8_DETECTOR = Pattern.compile(fill(
            "(?<![{utf8_continuation_strict}])("
                    + "[{utf8_first_of_2}][{utf8_continuation}]"
                    + "|[{utf8_first_of_3}][{utf8_continuation}]{2}"
                    + "|[{utf8_first_of_4}][{utf8_continuation}]{3})+",
            UTF8_CLUES));

    // The byte patterns below run on bytes seen as Latin-1 text (char i = byte i), the way ftfy
    // runs its bytes regexes.

    /** chardata.ALTERED_UTF8_RE: UTF-8 that would be valid if a space had not replaced a 0xA0 byte. */
    static final Pattern ALTERED_UTF8 = Pattern.compile(
            "[\\xc2\\xc3\\xc5\\xce\\xd0\\xd9] "
                    + "|[\\xe2\\xe3] [\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf]"
                    + "|[\\xe0-\\xe3][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf] "
                    + "|\\xf0 [\\x80-\\xbf][\\x80-\\xbf]"
                    + "|\\xf0[\\x80-\\xbf] [\\x80-\\xbf]"
                    + "|\\xf0[\\x80-\\xbf][\\x80-\\xbf] ");

    /** fixes.A_GRAVE_WORD_RE: "à" followed by a space, except where "Ã " is more likely. */
    static final Pattern A_GRAVE_WORD = Pattern.compile("\\xc3 (?! |quele|quela|quilo|s )");

    /**
     * chardata.LOSSY_UTF8_RE: UTF-8 (or CESU-8) sequences that lost continuation bytes; 0x1A stands
     * for a byte that was decoded to U+FFFD, '?' (at most once) for one that became a question mark.
     */
    static final Pattern LOSSY_UTF8 = Pattern.compile(
            "[\\xc2-\\xdf][\\x1a]"
                    + "|[\\xc2-\\xc3][?]"
                    + "|\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]"
                    + "|\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]"
                    + "|[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]"
                    + "|[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]"
                    + "|[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]"
                    + "|[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]"
                    + "|[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]"
                    + "|\\x1a");

    /**
     * A single-byte encoding as ftfy uses it. The "sloppy" Windows code pages decode their
     * unassigned bytes as Latin-1 and byte 0x1A as U+FFFD (ftfy's marker for a lost byte).
     */
    record Charmap(String name, String decoding, Map<Character, Byte> encoding) {
        static Charmap of(String name, String javaCharset, boolean sloppy) {
            Charset charset = Charset.forName(javaCharset);
            StringBuilder table = new StringBuilder(256);
            for (int b = 0; b < 256; b++) {
                String c = new String(new byte[] {(byte) b}, charset);
                // Java decodes an unassigned byte as U+FFFD, as Python's errors="replace" does.
                boolean unassigned = c.equals("\uFFFD");
                table.append(sloppy && b == 0x1A ? '\uFFFD' : sloppy && unassigned ? (char) b : c.charAt(0));
            }
            Map<Character, Byte> encoding = new HashMap<>();
            for (int b = 255; b >= 0; b--) encoding.put(table.charAt(b), (byte) b);
            return new Charmap(name, table.toString(), Map.copyOf(encoding));
        }

        /** chardata.possible_encoding: every character of the text has a byte here. */
        boolean canEncode(String text) {
            for (int i = 0; i < text.length(); i++) {
                if (!encoding.containsKey(text.charAt(i))) return false;
            }
            return true;
        }

        byte[] encode(String text) {
            byte[] out = new byte[text.length()];
            for (int i = 0; i < out.length; i++) out[i] = encoding.get(text.charAt(i));
            return out;
        }

        boolean isSloppy() {
            return name.startsWith("sloppy");
        }
    }

    /** chardata.CHARMAP_ENCODINGS, in the order ftfy tries them. */
    static final List<Charmap> CHARMAP_ENCODINGS = List.of(
            Charmap.of("latin-1", "ISO-8859-1", false),
            Charmap.of("sloppy-windows-1252", "windows-1252", true),
            Charmap.of("sloppy-windows-1251", "windows-1251", true),
            Charmap.of("sloppy-windows-1250", "windows-1250", true),
            Charmap.of("sloppy-windows-1253", "windows-1253", true),
            Charmap.of("sloppy-windows-1254", "windows-1254", true),
            Charmap.of("sloppy-windows-1257", "windows-1257", true),
            Charmap.of("iso-8859-2", "ISO-8859-2", false),
            Charmap.of("macroman", "x-MacRoman", false),
            Charmap.of("cp437", "IBM437", false));

    static final Charmap SLOPPY_WINDOWS_1252 = CHARMAP_ENCODINGS.get(1);

    /**
     * chardata.HTML_ENTITIES: Python's HTML5 entity table (names ending in ';') plus upper-cased
     * forms of the lower-case names, generated by scripts/make_ftfy_html_entities.py.
     */
    static final Map<String, String> HTML_ENTITIES = loadEntities("ftfy-html-entities.tsv");

    /** chardata.LIGATURES: Latin ligatures and legacy digraphs, split into their letters. */
    static final Map<Character, String> LIGATURES = Map.ofEntries(
            Map.entry('Ĳ', "IJ"), Map.entry('ĳ', "ij"), Map.entry('ŉ', "ʼn"),
            Map.entry('Ǳ', "DZ"), Map.entry('ǲ', "Dz"), Map.entry('ǳ', "dz"),
            Map.entry('Ǆ', "DŽ"), Map.entry('ǅ', "Dž"), Map.entry('ǆ', "dž"),
            Map.entry('Ǉ', "LJ"), Map.entry('ǈ', "Lj"), Map.entry('ǉ', "lj"),
            Map.entry('Ǌ', "NJ"), Map.entry('ǋ', "Nj"), Map.entry('ǌ', "nj"),
            Map.entry('ﬀ', "ff"), Map.entry('ﬁ', "fi"), Map.entry('ﬂ', "fl"),
            Map.entry('ﬃ', "ffi"), Map.entry('ﬄ', "ffl"), Map.entry('ﬅ', "ſt"), Map.entry('ﬆ', "st"));

    /** chardata.CONTROL_CHARS: the control characters remove_control_chars deletes. */
    static boolean isRemovedControl(char c) {
        return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
                || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
    }

    /** Replaces each {name} of the template by the category of that name ({py_space} too). */
    private static String fill(String template, Map<String, String> categories) {
        String out = template.replace("{py_space}", PY_SPACE);
        for (var e : categories.entrySet()) out = out.replace("{" + e.getKey() + "}", e.getValue());
        return out;
    }

    private static Map<String, String> loadEntities(String resource) {
        Map<String, String> entities = new HashMap<>();
        try (InputStream in = FtfyData.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("resource " + resource + " is missing from the jar");
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = reader.readLine()) != null; ) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                int tab = line.indexOf('\t');
                StringBuilder text = new StringBuilder();
                for (String hex : line.substring(tab + 1).split(" ")) text.appendCodePoint(Integer.parseInt(hex, 16));
                entities.put(line.substring(0, tab), text.toString());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.copyOf(entities);
    }
}
