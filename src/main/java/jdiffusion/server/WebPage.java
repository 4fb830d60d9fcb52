package jdiffusion.server;

import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * The page at {@code /}: plain HTML, CSS and a JavaScript module from the jar (no build step, no
 * CDN, works offline), a client of the job API. Its three files hold no data, so they load without
 * credentials; every call the page makes carries the token (asked for once, kept in the session).
 */
final class WebPage {
    /** Path -> (resource, content type). */
    static final Map<String, String[]> FILES = Map.of(
            "/", new String[] {"index.html", "text/html; charset=utf-8"},
            "/app.js", new String[] {"app.js", "text/javascript; charset=utf-8"},
            "/app.css", new String[] {"app.css", "text/css; charset=utf-8"});

    private WebPage() {}

    static void register(RoutesConfig r) {
        FILES.forEach((path, file) -> r.get(path, ctx -> serve(ctx, file[0], file[1])));
    }

    static boolean isPageFile(String path) {
        return FILES.containsKey(path);
    }

    private static void serve(Context ctx, String name, String type) {
        try (InputStream in = WebPage.class.getResourceAsStream("web/" + name)) {
            if (in == null) throw ApiException.notFound("the page is not in this build");
            ctx.status(200).contentType(type).header("Cache-Control", "no-cache").result(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
