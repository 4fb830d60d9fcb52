package jdiffusion.server;

import io.javalin.http.Context;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Locale;

/**
 * Checks every request (and every WebSocket upgrade) before its route runs:
 * <ol>
 * <li>credentials, when the server has any (the page's three static files excepted: they hold no
 *     data, and a browser cannot send a header when it opens a page): {@code Authorization: Bearer TOKEN}, or A1111's
 *     {@code --api-auth} basic form; a WebSocket upgrade may carry {@code ?token=} instead, since
 *     browsers cannot set headers on one. Compared in constant time; never echoed;</li>
 * <li>a foreign {@code Origin} is refused while the {@code Host} is loopback (ComfyUI's guard: a web
 *     page elsewhere must not drive the local server);</li>
 * <li>without credentials, on a loopback bind, the {@code Host} must be a loopback name, so a DNS
 *     rebinding page (whose Host is its own domain) gets nothing.</li>
 * </ol>
 */
final class Guard {
    private final ServerOptions options;
    private final byte[] bearer;
    private final byte[] basic;

    Guard(ServerOptions options) {
        this.options = options;
        this.bearer = options.token() == null ? null : ("Bearer " + options.token()).getBytes(StandardCharsets.UTF_8);
        this.basic = options.apiAuth() == null ? null
                : ("Basic " + Base64.getEncoder().encodeToString(options.apiAuth().getBytes(StandardCharsets.UTF_8)))
                .getBytes(StandardCharsets.UTF_8);
    }

    void check(Context ctx, boolean upgrade) {
        String host = ctx.header("Host");
        boolean loopbackHost = host != null && ServerOptions.isLoopback(hostName(host));
        boolean credentials = bearer != null || basic != null;
        if (!credentials && ServerOptions.isLoopback(options.host()) && !loopbackHost) {
            throw new ApiException(403, "forbidden_host", null, "the Host header is not a loopback name; this server"
                    + " answers requests for 127.0.0.1 and localhost only");
        }
        String origin = ctx.header("Origin");
        if (origin != null && loopbackHost && !sameAuthority(origin, host)) {
            throw new ApiException(403, "forbidden_origin", null, "requests from another site's page are refused");
        }
        if (!credentials || (!upgrade && WebPage.isPageFile(ctx.path()) && ctx.method().name().equals("GET"))) return;
        String auth = ctx.header("Authorization");
        if (auth == null && upgrade && ctx.queryParam("token") != null && bearer != null) auth = "Bearer " + ctx.queryParam("token");
        if (auth == null || !(matches(auth, bearer) || matches(auth, basic))) {
            ctx.header("WWW-Authenticate", bearer != null ? "Bearer" : "Basic realm=\"jdiffusion\"");
            throw new ApiException(401, "unauthorized", null, bearer != null
                    ? "send Authorization: Bearer <token> (the --token of jdiffusion serve)"
                    : "send HTTP basic credentials (the --api-auth of jdiffusion serve)");
        }
    }

    private static boolean matches(String given, byte[] expected) {
        return expected != null && MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected);
    }

    /** The host part of a Host header ({@code name:port}, {@code [v6]:port}). */
    static String hostName(String host) {
        String h = host.trim();
        if (h.startsWith("[")) {
            int end = h.indexOf(']');
            return end < 0 ? h : h.substring(0, end + 1);
        }
        int colon = h.lastIndexOf(':');
        return colon >= 0 && h.indexOf(':') == colon ? h.substring(0, colon) : h;
    }

    private static boolean sameAuthority(String origin, String host) {
        try {
            URI u = URI.create(origin);
            if (u.getHost() == null) return false;
            int port = u.getPort() != -1 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
            String h = host.trim().toLowerCase(Locale.ROOT);
            String name = hostName(h);
            int hostPort = h.length() > name.length() + 1 ? Integer.parseInt(h.substring(name.length() + 1)) : 80;
            String originHost = u.getHost().toLowerCase(Locale.ROOT);
            if (originHost.contains(":") && !originHost.startsWith("[")) originHost = "[" + originHost + "]";
            return originHost.equals(name) && port == hostPort;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
