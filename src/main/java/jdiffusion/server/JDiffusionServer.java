package jdiffusion.server;

import io.javalin.Javalin;
import io.javalin.http.HttpResponseException;
import java.nio.file.Files;
import java.io.IOException;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code jdiffusion serve}: AUTOMATIC1111's {@code /sdapi/v1} API and jdiffusion's job API
 * ({@code /v1}) on Javalin (Jetty), one worker generating at a time, jobs journaled to
 * {@code <outputs>/jobs.jsonl} so an accepted job survives a crash. See docs/server.md.
 *
 * <pre>{@code
 * try (JDiffusionServer server = JDiffusionServer.start(ServerOptions.defaults("models/tiny-shapes", Path.of("outputs")))) {
 *     System.out.println(server.url()); // http://127.0.0.1:7860/
 *     server.awaitStop();
 * }
 * }</pre>
 */
public final class JDiffusionServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JDiffusionServer.class);
    public static final String JOURNAL = "jobs.jsonl";

    private final ServerOptions options;
    private final ModelCatalog catalog;
    private final Journal journal;
    private final JobQueue queue;
    private final Javalin app;

    private JDiffusionServer(ServerOptions options, ModelCatalog catalog, Journal journal, JobQueue queue, Javalin app) {
        this.options = options;
        this.catalog = catalog;
        this.journal = journal;
        this.queue = queue;
        this.app = app;
    }

    /** Opens the journal, re-queues the jobs a previous process left unfinished, and starts listening. */
    public static JDiffusionServer start(ServerOptions options) {
        try {
            Files.createDirectories(options.outputs());
        } catch (IOException e) {
            throw new jdiffusion.JDiffusionException("--outputs " + options.outputs() + " cannot be created: " + e.getMessage(), e);
        }
        ModelCatalog catalog = new ModelCatalog(options.defaultModel(), options.modelsDir(), options.embeddingsDir(), options.maxModels(),
                options.dtype());
        ServerState state = new ServerState(options, catalog);
        Journal journal = Journal.open(options.outputs().resolve(JOURNAL), state.json);
        JobQueue queue = new JobQueue(options.queueSize(), journal, new JobRunner(catalog, options, state.events),
                state.events, state::modelOf);
        state.queue = queue;
        restore(journal, queue, state);
        Guard guard = new Guard(options);
        A1111Api a1111 = new A1111Api(state);
        JobApi jobs = new JobApi(state);
        Javalin app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.concurrency.useVirtualThreads = true; // A1111 calls block until their job ends
            config.jetty.host = options.host();
            config.jetty.port = options.port();
            config.http.maxRequestSize = options.maxBodyBytes();
            config.router.ignoreTrailingSlashes = true;
            config.routes.before(ctx -> guard.check(ctx, false));
            config.routes.wsBeforeUpgrade(ctx -> guard.check(ctx, true));
            a1111.register(config.routes);
            jobs.register(config.routes);
            WebPage.register(config.routes);
            config.routes.exception(ApiException.class, (e, ctx) -> state.error(ctx, e.status, e.error, e.field, e.getMessage()));
            config.routes.exception(HttpResponseException.class, (e, ctx) -> state.error(ctx, e.getStatus(),
                    switch (e.getStatus()) {
                        case 404 -> "not_found";
                        case 405 -> "method_not_allowed";
                        case 413 -> "body_too_large";
                        default -> "http_error";
                    }, null,
                    e.getStatus() == 413 ? "the body is larger than " + options.maxBodyBytes() + " bytes (--max-body-mb)" : e.getMessage()));
            config.routes.exception(Exception.class, (e, ctx) -> {
                String ref = UUID.randomUUID().toString().substring(0, 8);
                LOG.error("request {} {} failed (ref {})", ctx.method(), ctx.path(), ref, e);
                state.error(ctx, 500, "internal_error", null, "internal error (ref " + ref + " in the server log)");
            });
            config.routes.error(404, ctx -> {
                if (ctx.result() == null || ctx.result().isEmpty()) {
                    state.error(ctx, 404, "not_found", null, "no route " + ctx.method() + " " + ctx.path());
                }
            });
            config.routes.error(405, ctx -> {
                if (ctx.result() == null || ctx.result().isEmpty()) {
                    state.error(ctx, 405, "method_not_allowed", null, ctx.method() + " is not allowed on " + ctx.path());
                }
            });
        });
        queue.start();
        try {
            app.start();
        } catch (RuntimeException e) {
            queue.close();
            journal.close();
            catalog.close();
            throw new jdiffusion.JDiffusionException("cannot listen on " + options.host() + ":" + options.port() + ": "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
        return new JDiffusionServer(options, catalog, journal, queue, app);
    }

    private static void restore(Journal journal, JobQueue queue, ServerState state) {
        for (Journal.Entry e : journal.entries()) {
            String type = e.body().path("type").asText("txt2img");
            GenerationParams p;
            try {
                p = state.parse(type, e.body());
            } catch (ApiException bad) {
                LOG.warn("journaled job {} cannot be read back ({}); it is dropped", e.id(), bad.getMessage());
                continue;
            }
            queue.restore(new Job(e.id(), p, true, e.created()), e);
        }
    }

    public int port() {
        return app.port();
    }

    /** {@code http://HOST:PORT/}, never with credentials. */
    public String url() {
        String h = options.host().contains(":") && !options.host().startsWith("[") ? "[" + options.host() + "]" : options.host();
        return "http://" + h + ":" + port() + "/";
    }

    /** Stops accepting requests; a running job is left for the next start (the journal has it). */
    @Override
    public void close() {
        app.stop();
        queue.close();
        journal.close();
        catalog.close();
    }
}
