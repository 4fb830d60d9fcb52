package jdiffusion.spark;

import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.ReentrantLock;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.NativeThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pipelines of this executor JVM, loaded on first use and kept for the life of the process.
 *
 * <p>Why process-wide state: a pipeline's weights live in native memory and cannot be serialised
 * with a task, and loading them per task would cost more than most generations (SD 1.5: seconds
 * and gigabytes). Spark runs every task of an application on the same long-lived executor JVMs,
 * so the first task that needs a model loads it and every later task of that JVM reuses it. This
 * is the only mutable static state of the module, and it holds nothing but immutable pipelines.
 */
final class ExecutorPipelines {
    private static final Logger log = LoggerFactory.getLogger(ExecutorPipelines.class);

    /** What makes two jobs' pipelines the same: the model and everything that changes its weights. */
    record Key(String model, String tokenizer, String dtype, String variant, String vae) {}

    /** A loaded pipeline; {@code generating} lets one generation at a time use the executor's cores. */
    record Loaded(StableDiffusionPipeline pipeline, ReentrantLock generating) {}

    private static final ConcurrentMap<Key, Loaded> LOADED = new ConcurrentHashMap<>();

    private ExecutorPipelines() {}

    static Key key(SparkGenerationOptions o) {
        return new Key(o.model(), o.tokenizer(), o.dtype(), o.variant(), o.vae());
    }

    /**
     * The pipeline for {@code key}, loading it (once per JVM, other tasks waiting) with
     * {@code threads} libtorch threads; {@code onLoad} receives the load time in milliseconds
     * when this call did the loading.
     */
    static Loaded get(Key key, int threads, java.util.function.LongConsumer onLoad) {
        Loaded present = LOADED.get(key);
        if (present != null) return present;
        synchronized (LOADED) {
            present = LOADED.get(key);
            if (present != null) return present;
            long start = System.nanoTime();
            // libtorch's pool is process-wide: as many threads as Spark gives each task (spark.task.cpus)
            NativeThreads.setComputeThreads(threads);
            PipelineOptions options = PipelineOptions.of(key.dtype(), null, key.variant())
                    .withVae(key.vae() == null ? null : Path.of(key.vae()));
            StableDiffusionPipeline pipe = StableDiffusionPipeline.load(key.model(),
                    key.tokenizer() == null ? null : Path.of(key.tokenizer()), options);
            long ms = (System.nanoTime() - start) / 1_000_000;
            log.info("loaded {} ({}) in {} ms with {} libtorch threads", key.model(), key.dtype(), ms, threads);
            Loaded loaded = new Loaded(pipe, new ReentrantLock(true));
            LOADED.put(key, loaded);
            onLoad.accept(ms);
            return loaded;
        }
    }
}
