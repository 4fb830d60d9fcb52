package jdiffusion.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import jdiffusion.io.HubCache;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;

/**
 * The models a request may name: the default model, plus every diffusers folder, single-file
 * checkpoint and Hub-cache repository ({@code models--org--name}) in {@code --models-dir}. A
 * request names a model by its title only, never by a path, so it cannot make the server open an
 * arbitrary file. Loaded pipelines are kept up to {@code maxModels}, least recently used closed first.
 */
final class ModelCatalog implements AutoCloseable {
    /** One selectable model: the title requests use, and where it is (a folder, a file or a Hub id). */
    record Entry(String title, String location, String kind) {}

    private final Entry defaultEntry;
    private final Path modelsDir;
    private final List<Path> embeddings;
    private final int maxModels;
    private volatile List<Entry> entries;
    private final LinkedHashMap<String, StableDiffusionPipeline> loaded = new LinkedHashMap<>(4, 0.75f, true);

    private final PipelineOptions loadOptions;

    ModelCatalog(String defaultModel, Path modelsDir, Path embeddingsDir, int maxModels) {
        this(defaultModel, modelsDir, embeddingsDir, maxModels, "fp32");
    }

    /** @param dtype fp32, bf16 or auto ({@link PipelineOptions#of}): how every model is loaded */
    ModelCatalog(String defaultModel, Path modelsDir, Path embeddingsDir, int maxModels, String dtype) {
        this.loadOptions = PipelineOptions.of(dtype, "cpu", null);
        Path p = Path.of(defaultModel);
        String title = p.getFileName() == null ? defaultModel
                : Files.exists(p) ? p.getFileName().toString() : defaultModel;
        this.defaultEntry = new Entry(title, defaultModel, Files.isRegularFile(p) ? "file" : "diffusers");
        this.modelsDir = modelsDir;
        this.embeddings = embeddingsDir == null ? List.of() : listEmbeddings(embeddingsDir);
        this.maxModels = maxModels;
        refresh();
    }

    Entry defaultEntry() {
        return defaultEntry;
    }

    List<Entry> entries() {
        return entries;
    }

    List<Path> embeddings() {
        return embeddings;
    }

    /** Re-reads {@code --models-dir} (A1111's refresh-checkpoints). */
    void refresh() {
        List<Entry> out = new ArrayList<>();
        out.add(defaultEntry);
        if (modelsDir != null && Files.isDirectory(modelsDir)) {
            try (Stream<Path> list = Files.list(modelsDir)) {
                for (Path p : list.sorted().toList()) {
                    String name = p.getFileName().toString();
                    String lower = name.toLowerCase(Locale.ROOT);
                    if (Files.isRegularFile(p.resolve("model_index.json"))) {
                        out.add(new Entry(name, p.toString(), "diffusers"));
                    } else if (Files.isRegularFile(p) && (lower.endsWith(".safetensors") || lower.endsWith(".ckpt"))) {
                        out.add(new Entry(name, p.toString(), "file"));
                    } else if (Files.isDirectory(p) && name.startsWith("models--")) {
                        String id = name.substring("models--".length()).replace("--", "/");
                        try {
                            out.add(new Entry(id, new HubCache(modelsDir).resolve(id).toString(), "hub"));
                        } catch (RuntimeException incomplete) {
                            // a partial download: not selectable until it has a snapshot
                        }
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        entries = List.copyOf(out.stream().collect(java.util.stream.Collectors.toMap(Entry::title, e -> e,
                (a, b) -> a, LinkedHashMap::new)).values());
    }

    /** A model by its title, A1111's "title [hash]" form, or the name without extension. */
    Optional<Entry> find(String name) {
        String n = name.replaceAll("\\s*\\[[0-9a-fA-F]+]$", "").trim();
        for (Entry e : entries) {
            if (e.title().equals(n) || stem(e.title()).equals(n)) return Optional.of(e);
        }
        return Optional.empty();
    }

    static String stem(String title) {
        int dot = title.lastIndexOf('.');
        return dot > 0 && !title.contains("/") ? title.substring(0, dot) : title;
    }

    /** The loaded pipeline of {@code entry}, loading it (and closing the least recently used) when needed. */
    synchronized StableDiffusionPipeline pipeline(Entry entry) {
        StableDiffusionPipeline p = loaded.get(entry.title());
        if (p != null) return p;
        while (loaded.size() >= maxModels) {
            Iterator<Map.Entry<String, StableDiffusionPipeline>> it = loaded.entrySet().iterator();
            StableDiffusionPipeline oldest = it.next().getValue();
            it.remove();
            oldest.close();
        }
        p = StableDiffusionPipeline.load(entry.location(), null, loadOptions.withEmbeddings(embeddings));
        // consecutive requests with the same LoRAs (the fast preset's LCM-LoRA) skip the merge and the restore
        p.components().loras().keepMerged(true);
        loaded.put(entry.title(), p);
        return p;
    }

    synchronized List<String> loadedTitles() {
        return List.copyOf(loaded.keySet());
    }

    private static List<Path> listEmbeddings(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> list = Files.list(dir)) {
            return list.filter(p -> {
                String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return Files.isRegularFile(p) && (n.endsWith(".safetensors") || n.endsWith(".pt") || n.endsWith(".bin"));
            }).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void close() {
        loaded.values().forEach(StableDiffusionPipeline::close);
        loaded.clear();
    }
}
