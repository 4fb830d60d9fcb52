package jdiffusion.server;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;

/**
 * How {@code jdiffusion serve} runs. Validated on construction; messages name the CLI option.
 *
 * <pre>{@code
 * ServerOptions o = ServerOptions.defaults("models/tiny-shapes", Path.of("outputs")).withPort(0);
 * try (JDiffusionServer s = JDiffusionServer.start(o)) { ... s.port() ... }
 * }</pre>
 *
 * @param host          address to bind; loopback by default, anything else needs a token or {@code insecure}
 * @param port          TCP port (A1111's 7860 by default; 0 picks a free one)
 * @param token         bearer token every route requires (null: none)
 * @param apiAuth       A1111's {@code --api-auth user:pass}: HTTP basic credentials every route accepts (null: none)
 * @param insecure      allow a non-loopback bind without credentials
 * @param defaultModel  the model used when a request names none (a folder, a Hub id or a single file)
 * @param modelsDir     folder whose diffusers folders and single-file checkpoints are selectable (null: none)
 * @param loraDir       where {@code <lora:NAME:w>} tags are looked up (null: none)
 * @param embeddingsDir textual-inversion embeddings every prompt may use (null: none)
 * @param outputs       where images and the job journal are written
 * @param queueSize     jobs that may wait (the running one not counted); more get 429
 * @param maxModels     loaded pipelines kept (least recently used is closed first)
 * @param maxPixels     largest width x height of a request and of an uploaded image
 * @param maxSteps      largest {@code steps}
 * @param maxBatch      largest {@code batch_size * n_iter}
 * @param maxBodyBytes  largest request body
 * @param previewEvery  a preview every N steps; 0 = automatic (every step up to 512x512, then every 4th)
 * @param dtype         compute dtype of loaded models: fp32, bf16 or auto (bf16 where the CPU has native bf16; the default)
 * @param fastLora      the LoRA of the "fast" preset (an LCM-LoRA file, or a name in {@code loraDir}); null: the preset
 *                      uses LCM without it (right for LCM-distilled models)
 */
public record ServerOptions(String host, int port, String token, String apiAuth, boolean insecure,
                            String defaultModel, Path modelsDir, Path loraDir, Path embeddingsDir, Path outputs,
                            int queueSize, int maxModels, long maxPixels, int maxSteps, int maxBatch,
                            long maxBodyBytes, int previewEvery, String dtype, Path fastLora) {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 7860;

    public ServerOptions {
        if (host == null || host.isBlank()) host = DEFAULT_HOST;
        if (port < 0 || port > 65535) throw new JDiffusionException("--port must be between 0 and 65535, not " + port);
        if (token != null && token.isBlank()) token = null;
        if (apiAuth != null && apiAuth.isBlank()) apiAuth = null;
        if (apiAuth != null && apiAuth.indexOf(':') < 1) {
            throw new JDiffusionException("--api-auth must be user:password");
        }
        if (defaultModel == null) throw new JDiffusionException("no default model: pass --model DIR");
        if (outputs == null) outputs = Path.of("outputs");
        if (queueSize < 1 || queueSize > 10_000) throw new JDiffusionException("--queue-size must be between 1 and 10000, not " + queueSize);
        if (maxModels < 1 || maxModels > 64) throw new JDiffusionException("--max-models must be between 1 and 64, not " + maxModels);
        if (maxPixels < 64 || maxPixels > 8192L * 8192) throw new JDiffusionException("--max-pixels must be between 64 and 67108864, not " + maxPixels);
        if (maxSteps < 1 || maxSteps > 1000) throw new JDiffusionException("--max-steps must be between 1 and 1000, not " + maxSteps);
        if (maxBatch < 1 || maxBatch > 64) throw new JDiffusionException("--max-batch must be between 1 and 64, not " + maxBatch);
        if (maxBodyBytes < 1024) throw new JDiffusionException("--max-body must be at least 1024 bytes");
        if (dtype == null || dtype.isBlank()) dtype = "auto";
        if (!dtype.matches("fp32|bf16|auto")) throw new JDiffusionException("--dtype must be fp32, bf16 or auto, not " + dtype);
        if (fastLora != null && !java.nio.file.Files.isRegularFile(fastLora)) {
            throw new JDiffusionException("--fast-lora " + fastLora + " is not a file");
        }
        if (previewEvery < 0) throw new JDiffusionException("--preview-every must be >= 0 (0 = automatic)");
        if (!isLoopback(host) && token == null && apiAuth == null && !insecure) {
            throw new JDiffusionException("--host " + host + " is reachable from other machines: pass --token TOKEN"
                    + " (or --api-auth user:pass), or --insecure to serve without credentials");
        }
    }

    /** Loopback by default, A1111's port, the limits of a 2-core CPU machine. */
    public static ServerOptions defaults(String defaultModel, Path outputs) {
        return new ServerOptions(DEFAULT_HOST, DEFAULT_PORT, null, null, false, defaultModel, null, null, null, outputs,
                16, 1, 1024L * 1024, 150, 16, 64L << 20, 0, "auto", null);
    }

    public ServerOptions withPort(int p) {
        return new ServerOptions(host, p, token, apiAuth, insecure, defaultModel, modelsDir, loraDir, embeddingsDir,
                outputs, queueSize, maxModels, maxPixels, maxSteps, maxBatch, maxBodyBytes, previewEvery, dtype, fastLora);
    }

    public ServerOptions withToken(String t, String basic) {
        return new ServerOptions(host, port, t, basic, insecure, defaultModel, modelsDir, loraDir, embeddingsDir,
                outputs, queueSize, maxModels, maxPixels, maxSteps, maxBatch, maxBodyBytes, previewEvery, dtype, fastLora);
    }

    public ServerOptions withQueueSize(int n) {
        return new ServerOptions(host, port, token, apiAuth, insecure, defaultModel, modelsDir, loraDir, embeddingsDir,
                outputs, n, maxModels, maxPixels, maxSteps, maxBatch, maxBodyBytes, previewEvery, dtype, fastLora);
    }

    public ServerOptions withDirs(Path models, Path loras, Path embeddings) {
        return new ServerOptions(host, port, token, apiAuth, insecure, defaultModel, models, loras, embeddings,
                outputs, queueSize, maxModels, maxPixels, maxSteps, maxBatch, maxBodyBytes, previewEvery, dtype, fastLora);
    }

    public ServerOptions withSpeed(String d, Path lora) {
        return new ServerOptions(host, port, token, apiAuth, insecure, defaultModel, modelsDir, loraDir, embeddingsDir,
                outputs, queueSize, maxModels, maxPixels, maxSteps, maxBatch, maxBodyBytes, previewEvery, d, lora);
    }

    public ServerOptions withLimits(long pixels, int steps, int batch, long bodyBytes) {
        return new ServerOptions(host, port, token, apiAuth, insecure, defaultModel, modelsDir, loraDir, embeddingsDir,
                outputs, queueSize, maxModels, pixels, steps, batch, bodyBytes, previewEvery, dtype, fastLora);
    }

    /** True for 127.0.0.0/8, ::1 and "localhost"; a name is not resolved (binding decides, not DNS). */
    static boolean isLoopback(String host) {
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (h.equalsIgnoreCase("localhost")) return true;
        if (!h.matches("[0-9.]+|[0-9a-fA-F:]+")) return false;
        try {
            return InetAddress.getByName(h).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
