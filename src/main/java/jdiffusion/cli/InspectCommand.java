package jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.SafetensorsFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code jdiffusion inspect}: what a model folder, component folder or safetensors file holds. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List the components of a model folder (or one safetensors file): tensors, dtypes, "
                + "parameter counts and the key config values.")
final class InspectCommand implements Callable<Integer> {
    /** Config keys worth showing, in this order, for whichever component has them. */
    private static final List<String> KEY_CONFIG = List.of(
            "in_channels", "out_channels", "sample_size", "block_out_channels", "layers_per_block",
            "cross_attention_dim", "attention_head_dim", "num_attention_heads", "use_linear_projection",
            "upcast_attention", "latent_channels", "scaling_factor", "hidden_size", "intermediate_size",
            "num_hidden_layers", "hidden_act", "vocab_size", "projection_dim", "prediction_type",
            "beta_schedule", "beta_start", "beta_end", "timestep_spacing", "steps_offset", "num_train_timesteps");

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR|FILE|REPO_ID",
            description = "A diffusers model folder, one component folder, a .safetensors file, or a Hub repo id in the local cache.")
    String target;

    @Option(names = "--variant", description = "Weights variant to inspect, e.g. fp16.")
    String variant;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Path path = ModelFolder.locate(target);
        if (Files.isRegularFile(path)) {
            if (!path.getFileName().toString().endsWith(".safetensors")) {
                throw new JDiffusionException(path + " is not a .safetensors file; inspect reads safetensors files and model folders");
            }
            describeFile(out, path);
        } else if (Files.isRegularFile(path.resolve("model_index.json"))) {
            ModelFolder model = ModelFolder.open(path);
            out.printf("%s: %s (diffusers %s)%n", path, model.pipelineClass(),
                    model.index().path("_diffusers_version").asText("?"));
            for (ModelFolder.Component c : model.components().values()) {
                out.printf("%n%s: %s (%s)%n", c.name(), c.className(), c.library());
                describeComponent(out, model.component(c.name()));
            }
        } else if (Files.isDirectory(path) && firstExisting(path, "config.json", "scheduler_config.json",
                "tokenizer_config.json") == null && !componentFolders(path).isEmpty()) {
            // component folders without a model_index.json (e.g. an upscaler's unet/, vae/, low_res_scheduler/)
            out.printf("%s%n", path);
            for (Path component : componentFolders(path)) {
                out.printf("%n%s:%n", component.getFileName());
                describeComponent(out, component);
            }
        } else if (Files.isDirectory(path)) {
            out.printf("%s%n", path);
            describeComponent(out, path);
        } else {
            throw new JDiffusionException(path + " does not exist");
        }
        out.flush();
        return 0;
    }

    /** The subfolders that hold a component's config, sorted. */
    private static java.util.List<Path> componentFolders(Path dir) {
        try (var children = Files.list(dir)) {
            return children.filter(Files::isDirectory)
                    .filter(d -> firstExisting(d, "config.json", "scheduler_config.json", "tokenizer_config.json") != null)
                    .sorted().toList();
        } catch (java.io.IOException e) {
            throw new JDiffusionException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private void describeComponent(PrintWriter out, Path dir) {
        Path config = firstExisting(dir, "config.json", "scheduler_config.json", "tokenizer_config.json");
        if (config != null) {
            JsonNode json = ModelFolder.readJson(config);
            StringBuilder sb = new StringBuilder();
            for (String key : KEY_CONFIG) {
                if (json.has(key) && !json.get(key).isNull()) {
                    sb.append(sb.isEmpty() ? "" : ", ").append(key).append('=').append(json.get(key));
                }
            }
            if (config.getFileName().toString().equals("tokenizer_config.json")) {
                sb.append("pad_token=").append(json.path("pad_token").isObject()
                        ? json.path("pad_token").path("content") : json.path("pad_token"));
                sb.append(", model_max_length=").append(json.path("model_max_length"));
            }
            if (!json.path("_class_name").isMissingNode() && config.getFileName().toString().startsWith("scheduler")) {
                sb.insert(0, "class=" + json.get("_class_name").asText() + (sb.isEmpty() ? "" : ", "));
            }
            if (!sb.isEmpty()) out.printf("  config: %s%n", sb);
        }
        boolean hasWeights;
        try (var files = Files.list(dir)) {
            hasWeights = files.anyMatch(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".safetensors") || n.endsWith(".bin") || n.endsWith(".ckpt");
            });
        } catch (java.io.IOException e) {
            throw new JDiffusionException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (!hasWeights) return;
        List<Path> weights = ModelFolder.weightFiles(dir, variant);
        Totals totals = new Totals();
        for (Path w : weights) {
            try (SafetensorsFile f = SafetensorsFile.open(w)) {
                totals.add(f);
            }
        }
        out.printf("  weights: %s%n", weights.size() == 1 ? weights.getFirst().getFileName() : weights.size() + " shards");
        totals.print(out);
    }

    private void describeFile(PrintWriter out, Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            out.printf("%s: safetensors, %,d bytes%n", file, sizeOf(file));
            Totals totals = new Totals();
            totals.add(f);
            totals.print(out);
            Map<String, Integer> prefixes = new TreeMap<>();
            for (String name : f.names()) {
                int dot = name.indexOf('.');
                prefixes.merge(dot < 0 ? name : name.substring(0, dot), 1, Integer::sum);
            }
            out.printf("  top-level names: %s%n", prefixes);
            if (!f.metadata().isEmpty()) out.printf("  metadata: %s%n", f.metadata());
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }

    private static Path firstExisting(Path dir, String... names) {
        for (String n : names) {
            if (Files.isRegularFile(dir.resolve(n))) return dir.resolve(n);
        }
        return null;
    }

    /** Tensor, dtype and parameter counts over one or more files. */
    private static final class Totals {
        long tensors;
        long parameters;
        long bytes;
        final Map<DType, Integer> dtypes = new TreeMap<>();

        void add(SafetensorsFile f) {
            for (SafetensorsFile.TensorInfo info : f.infos().values()) {
                tensors++;
                parameters += info.numel();
                bytes += info.byteSize();
                dtypes.merge(info.dtype(), 1, Integer::sum);
            }
        }

        void print(PrintWriter out) {
            out.printf("  tensors: %,d   parameters: %,d   data: %,.1f MB   dtypes: %s%n",
                    tensors, parameters, bytes / 1e6, dtypes);
        }
    }
}
