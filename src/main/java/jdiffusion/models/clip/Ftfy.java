package jdiffusion.models.clip;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.models.clip.FtfyData.Charmap;

/**
 * ftfy 6.3.1 {@code fix_text} with its default {@code TextFixerConfig}: what transformers'
 * CLIPTokenizer runs on every prompt when ftfy is installed (as it was for the goldens).
 *
 * <p>Each pass unescapes HTML entities (unless the text has a '&lt;'), repairs mojibake (UTF-8
 * read as a single-byte encoding), turns C1 controls into their Windows-1252 characters, splits
 * Latin ligatures, folds full- and half-width forms, straightens curly quotes, unifies line
 * breaks, drops lone surrogates, terminal escapes and control characters, and NFC-normalises;
 * passes repeat until nothing changes. ftfy's 1,000,000-character segment limit is left out:
 * prompts never come near it.
 */
final class Ftfy {
    private Ftfy() {
    }

    private static final Pattern HTML_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
    private static final Pattern DECIMAL_CHARREF = Pattern.compile("&#([0-9]+);");
    private static final Pattern HEX_CHARREF = Pattern.compile("&#[xX]([0-9a-fA-F]+);");
    // Python's \d in a str pattern is any decimal digit, not only ASCII.
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\\x1b\\[[\\p{Nd};]*[a-zA-Z]");
    private static final Pattern C1_CONTROL = Pattern.compile("[\\x80-\\x9f]");

    /** fix_text: fixes the text line by line (each line keeps its '\n'). */
    static String fixText(String text) {
        StringBuilder out = new StringBuilder(text.length());
        // unescape_html="auto": once a line contains '<' the text may be HTML, and from then on
        // entities are left alone.
        boolean unescapeHtml = true;
        int pos = 0;
        while (pos < text.length()) {
            int end = text.indexOf('\n', pos) + 1;
            if (end == 0) end = text.length();
            String segment = text.substring(pos, end);
            if (unescapeHtml && segment.indexOf('<') >= 0) unescapeHtml = false;
            out.append(fixSegment(segment, unescapeHtml));
            pos = end;
        }
        return out.toString();
    }

    /** fix_and_explain: applies every fixer, in ftfy's order, until the text stops changing. */
    private static String fixSegment(String text, boolean unescapeHtml) {
        while (true) {
            String original = text;
            if (unescapeHtml) text = unescapeHtml(text);
            text = fixEncoding(text);
            text = fixC1Controls(text);
            text = translate(text, FtfyData.LIGATURES::get);
            text = translate(text, Ftfy::fullWidthToNormal);
            text = uncurlQuotes(text);
            text = fixLineBreaks(text);
            text = fixSurrogates(text);
            text = ANSI_ESCAPE.matcher(text).replaceAll("");
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(original)) return text;
        }
    }

    /** fix_encoding: undoes mojibake one layer at a time until nothing changes. */
    static String fixEncoding(String text) {
        while (true) {
            String fixed = fixEncodingOneStep(text);
            if (fixed.equals(text)) return text;
            text = fixed;
        }
    }

    static boolean isBad(String text) {
        return FtfyData.BADNESS.matcher(text).find();
    }

    /** _fix_encoding_one_step_and_explain. */
    private static String fixEncodingOneStep(String text) {
        if (text.isEmpty() || isAscii(text) || !isBad(text)) return text;

        // UTF-8 that was decoded with a single-byte encoding: encode it back and decode as UTF-8.
        List<String> possible = new ArrayList<>();
        for (Charmap charmap : FtfyData.CHARMAP_ENCODINGS) {
            if (!charmap.canEncode(text)) continue;
            possible.add(charmap.name());
            byte[] bytes = charmap.encode(text);
            String view = latin1(bytes);
            if (!charmap.name().equals("macroman") && FtfyData.ALTERED_UTF8.matcher(view).find()) {
                view = restoreByteA0(view);
            }
            if (charmap.isSloppy()) {
                view = FtfyData.LOSSY_UTF8.matcher(view).replaceAll("\u00ef\u00bf\u00bd"); // UTF-8 of U+FFFD
            }
            boolean variants = view.indexOf('\u00ed') >= 0 || view.indexOf('\u00c0') >= 0;
            String fixed = variants ? decodeUtf8Variants(view.getBytes(StandardCharsets.ISO_8859_1))
                    : decodeUtf8(view.getBytes(StandardCharsets.ISO_8859_1));
            if (fixed != null) return fixed;
        }

        // Mojibake embedded in otherwise good text: fix the suspicious runs on their own.
        if (FtfyData.UTF8_DETECTOR.matcher(text).find()) {
            String fixed = decodeInconsistentUtf8(text);
            if (!fixed.equals(text)) return fixed;
        }

        // Latin-1 that was meant as Windows-1252. ftfy looks for "windows-1252" among the possible
        // encodings, which only ever holds "sloppy-windows-1252", so whenever Latin-1 fits it tries
        // a strict Windows-1252 decode (that fails on 0x81, 0x8D, 0x8F, 0x90 and 0x9D).
        if (possible.contains("latin-1")) {
            String fixed = decodeStrict(text.getBytes(StandardCharsets.ISO_8859_1), Charset.forName("windows-1252"));
            if (fixed != null && !fixed.equals(text)) return fixed;
        }

        if (C1_CONTROL.matcher(text).find()) return fixC1Controls(text);
        return text;
    }

    /** fixes.decode_inconsistent_utf8: fixes each UTF-8-looking run that is bad by itself. */
    private static String decodeInconsistentUtf8(String text) {
        Matcher m = FtfyData.UTF8_DETECTOR.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String run = m.group();
            String replacement = run.length() < text.length() && isBad(run) ? fixEncoding(run) : run;
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** fixes.restore_byte_a0 on the Latin-1 view of the bytes: puts 0xA0 back where a space replaced it. */
    private static String restoreByteA0(String view) {
        view = FtfyData.A_GRAVE_WORD.matcher(view).replaceAll("\u00c3\u00a0 ");
        return FtfyData.ALTERED_UTF8.matcher(view).replaceAll(m -> Matcher.quoteReplacement(m.group().replace(' ', '\u00a0')));
    }

    /** fixes.unescape_html: named entities from ftfy's table, numeric ones as Python's html.unescape. */
    static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) return text;
        return HTML_ENTITY.matcher(text).replaceAll(m -> Matcher.quoteReplacement(unescapeEntity(m.group())));
    }

    private static String unescapeEntity(String entity) {
        String named = FtfyData.HTML_ENTITIES.get(entity);
        if (named != null) return named;
        if (!entity.startsWith("&#")) return entity;
        // html.unescape replaces only a leading character reference; ftfy keeps the original
        // whenever the result still holds a ';' (a partial reference, or "&#59;" itself).
        Matcher dec = DECIMAL_CHARREF.matcher(entity);
        Matcher hex = HEX_CHARREF.matcher(entity);
        String result;
        if (dec.matches()) {
            result = charref(dec.group(1), 10);
        } else if (hex.matches()) {
            result = charref(hex.group(1), 16);
        } else {
            return entity;
        }
        return result.indexOf(';') >= 0 ? entity : result;
    }

    /** html._replace_charref for a numeric reference. */
    private static String charref(String digits, int radix) {
        String trimmed = digits.replaceFirst("^0+(?=.)", "");
        long num = trimmed.length() > 8 ? Long.MAX_VALUE : Long.parseLong(trimmed, radix);
        if (num == 0x00) return "\uFFFD";
        if (num == 0x0D) return "\r";
        // html._invalid_charrefs: 0x80-0x9F are read as Windows-1252 (unassigned ones stay).
        if (num >= 0x80 && num <= 0x9F) return String.valueOf(FtfyData.SLOPPY_WINDOWS_1252.decoding().charAt((int) num));
        if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return "\uFFFD";
        // html._invalid_codepoints become nothing.
        if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F)
                || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
            return "";
        }
        return Character.toString((int) num);
    }

    /** fixes.fix_c1_controls: each C1 control becomes its (sloppy) Windows-1252 character. */
    private static String fixC1Controls(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= 0x80 && c <= 0x9F) {
                if (out == null) out = new StringBuilder(text.substring(0, i));
                out.append(FtfyData.SLOPPY_WINDOWS_1252.decoding().charAt(c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    /** chardata.WIDTH_MAP: full- and half-width forms (U+FF01-U+FFEF) as their NFKC forms; U+3000 as a space. */
    private static String fullWidthToNormal(char c) {
        if (c == '\u3000') return " ";
        if (c < '\uFF01' || c > '\uFFEF') return null;
        String normal = Normalizer.normalize(String.valueOf(c), Normalizer.Form.NFKC);
        return normal.equals(String.valueOf(c)) ? null : normal;
    }

    /** fixes.uncurl_quotes (with chardata's quote sets, which include U+02BC). */
    private static String uncurlQuotes(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\u02bc' || (c >= '\u2018' && c <= '\u201b')) out.append('\'');
            else if (c >= '\u201c' && c <= '\u201f') out.append('"');
            else out.append(c);
        }
        return out.toString();
    }

    private static String fixLineBreaks(String text) {
        return text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n')
                .replace('\u2029', '\n').replace('\u0085', '\n');
    }

    /** fixes.fix_surrogates: a surrogate without its partner becomes U+FFFD (pairs are already one code point in Java). */
    private static String fixSurrogates(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean pair = Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1));
            if (pair) {
                if (out != null) out.append(c).append(text.charAt(i + 1));
                i++;
            } else if (Character.isSurrogate(c)) {
                if (out == null) out = new StringBuilder(text.substring(0, i));
                out.append('\uFFFD');
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    private static String removeControlChars(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!FtfyData.isRemovedControl(c)) out.append(c);
        }
        return out.length() == text.length() ? text : out.toString();
    }

    /** str.translate with a table of BMP characters (null = keep the character). */
    private static String translate(String text, java.util.function.Function<Character, String> table) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String replacement = table.apply(c);
            if (replacement != null && out == null) out = new StringBuilder(text.substring(0, i));
            if (out != null) {
                if (replacement != null) out.append(replacement);
                else out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    private static boolean isAscii(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) >= 0x80) return false;
        }
        return true;
    }

    private static String latin1(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    /** Strict UTF-8 (Python's bytes.decode("utf-8")); null where Python raises UnicodeDecodeError. */
    private static String decodeUtf8(byte[] bytes) {
        return decodeStrict(bytes, StandardCharsets.UTF_8);
    }

    private static String decodeStrict(byte[] bytes, Charset charset) {
        try {
            return charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /**
     * ftfy's "utf-8-variants" codec: strict UTF-8 that also accepts Java's modified UTF-8 null
     * (C0 80) and CESU-8 surrogate pairs (ED A0-AF xx ED B0-BF xx); null where it raises.
     */
    private static String decodeUtf8Variants(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        int start = 0;
        int i = 0;
        while (i < bytes.length) {
            int b = bytes[i] & 0xFF;
            int special = 0;
            int codePoint = 0;
            if (b == 0xC0 && i + 1 < bytes.length && (bytes[i + 1] & 0xFF) == 0x80) {
                special = 2;
            } else if (b == 0xED && i + 5 < bytes.length && isCesu8Pair(bytes, i)) {
                special = 6;
                codePoint = 0x10000 + ((bytes[i + 1] & 0x0F) << 16) + ((bytes[i + 2] & 0x3F) << 10)
                        + ((bytes[i + 4] & 0x0F) << 6) + (bytes[i + 5] & 0x3F);
            }
            if (special == 0) {
                i++;
                continue;
            }
            String before = decodeUtf8(java.util.Arrays.copyOfRange(bytes, start, i));
            if (before == null) return null;
            out.append(before).appendCodePoint(codePoint);
            i += special;
            start = i;
        }
        String rest = decodeUtf8(java.util.Arrays.copyOfRange(bytes, start, bytes.length));
        return rest == null ? null : out.append(rest).toString();
    }

    private static boolean isCesu8Pair(byte[] b, int i) {
        return in(b[i + 1], 0xA0, 0xAF) && in(b[i + 2], 0x80, 0xBF) && (b[i + 3] & 0xFF) == 0xED
                && in(b[i + 4], 0xB0, 0xBF) && in(b[i + 5], 0x80, 0xBF);
    }

    private static boolean in(byte b, int lo, int hi) {
        int v = b & 0xFF;
        return v >= lo && v <= hi;
    }
}
