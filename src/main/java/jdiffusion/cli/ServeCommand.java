package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import jdiffusion.server.JDiffusionServer;
import jdiffusion.server.ServerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion serve}: the A1111-compatible HTTP API and the job API (see docs/server.md). */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve AUTOMATIC1111's /sdapi/v1 API and a job API (/v1) with live progress, previews and a durable queue.")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR|ORG/NAME|FILE", description = "The default model (default: the embedded tiny model).")
    String model;

    @Option(names = "--models-dir", paramLabel = "DIR", description = "Diffusers folders, single-file checkpoints and Hub-cache repos found here are selectable by name.")
    Path modelsDir;

    @Option(names = "--lora-dir", paramLabel = "DIR", description = "Where <lora:NAME:w> prompt tags are looked up.")
    Path loraDir;

    @Option(names = "--embeddings-dir", paramLabel = "DIR", description = "Textual-inversion embeddings every prompt may use.")
    Path embeddingsDir;

    @Option(names = "--outputs", paramLabel = "DIR", description = "Images and the job journal (default: ${DEFAULT-VALUE}).")
    Path outputs = Path.of("outputs");

    @Option(names = "--host", description = "Address to bind (default: ${DEFAULT-VALUE}); another than loopback needs --token or --insecure.")
    String host = ServerOptions.DEFAULT_HOST;

    @Option(names = "--port", description = "TCP port (default: ${DEFAULT-VALUE}, A1111's; 0 = any free one).")
    int port = ServerOptions.DEFAULT_PORT;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Require Authorization: Bearer TOKEN on every route (default: $JDIFFUSION_TOKEN).")
    String token;

    @Option(names = "--api-auth", paramLabel = "USER:PASS", description = "Accept HTTP basic credentials, as A1111's --api-auth.")
    String apiAuth;

    @Option(names = "--insecure", description = "Allow a non-loopback --host without credentials.")
    boolean insecure;

    @Option(names = "--queue-size", description = "Jobs that may wait; more get 429 (default: ${DEFAULT-VALUE}).")
    int queueSize = 16;

    @Option(names = "--max-models", description = "Loaded models kept, least recently used closed first (default: ${DEFAULT-VALUE}).")
    int maxModels = 1;

    @Option(names = "--max-pixels", description = "Largest width x height of a request or an uploaded image (default: ${DEFAULT-VALUE}).")
    long maxPixels = 1024L * 1024;

    @Option(names = "--max-steps", description = "Largest steps (default: ${DEFAULT-VALUE}).")
    int maxSteps = 150;

    @Option(names = "--max-batch", description = "Largest batch_size x n_iter (default: ${DEFAULT-VALUE}).")
    int maxBatch = 16;

    @Option(names = "--max-body-mb", description = "Largest request body in MiB (default: ${DEFAULT-VALUE}).")
    int maxBodyMb = 64;

    @Option(names = "--preview-every", paramLabel = "N", description = "A preview every N steps; 0 = every step up to 512x512, every 4th above (default: ${DEFAULT-VALUE}).")
    int previewEvery;

    @Option(names = "--dtype", paramLabel = "fp32|bf16|auto", description = "Compute dtype of the models: auto = bf16 on a CPU "
            + "with native bf16 (AMX or AVX-512 BF16), else fp32 (default: ${DEFAULT-VALUE}).")
    String dtype = "auto";

    @Option(names = "--fast-lora", paramLabel = "FILE", description = "The LoRA of the \"fast\" preset (\"preset\": \"fast\" in a body: "
            + "LCM, 4 steps, guidance 1), e.g. lcm-lora-sdv1-5's pytorch_lora_weights.safetensors; kept merged between requests.")
    Path fastLora;

    @Override
    public Integer call() throws InterruptedException {
        String t = token != null ? token : System.getenv("JDIFFUSION_TOKEN");
        ServerOptions options = new ServerOptions(host, port, t, apiAuth, insecure,
                model != null ? model : DefaultModel.locate(), modelsDir, loraDir, embeddingsDir, outputs,
                queueSize, maxModels, maxPixels, maxSteps, maxBatch, (long) maxBodyMb << 20, previewEvery, dtype, fastLora);
        JDiffusionServer server = JDiffusionServer.start(options);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        PrintWriter out = spec.commandLine().getOut();
        out.println("jdiffusion serve: " + server.url() + (t != null || apiAuth != null ? " (credentials required)" : "")
                + "  - A1111 API at /sdapi/v1, jobs at /v1/jobs; Ctrl-C stops");
        out.flush();
        stopped.await();
        return 0;
    }
}
