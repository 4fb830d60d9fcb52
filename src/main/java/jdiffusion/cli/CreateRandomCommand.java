package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jdiffusion.io.DType;
import jdiffusion.tools.bench.RandomModel;
import jdiffusion.tools.bench.RandomPipelineFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jdiffusion create-random}: a full-size SD folder with seeded random weights. */
@Command(name = "create-random", mixinStandardHelpOptions = true,
        description = "Write a diffusers Stable Diffusion folder with a published model's real shapes and seeded "
                + "random weights (for benchmarks and memory checks without a checkpoint). It loads like a real "
                + "model; its images are noise.",
        footer = {"%nExamples:",
                "  jdiffusion create-random --config sd15 --dtype fp16 /tmp/sd15-random",
                "  jdiffusion create-random --config sd21 --tokenizer SD_DIR/tokenizer /tmp/sd21-random"})
final class CreateRandomCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", required = true, paramLabel = "sd15|sd21|sd2-inpaint|sd2-depth|tiny|tiny-depth",
            description = "The architecture: SD 1.5, SD 2.1 (768, v-prediction), SD 2 inpainting, SD 2 depth (with a "
                    + "DPT-Hybrid depth estimator), or a tiny model with SD 1.5's structure (seconds, for tests; tiny-depth "
                    + "with a 5-channel UNet and a tiny DPT).")
    String config;

    @Parameters(index = "0", paramLabel = "DIR", description = "The folder to create (must not exist or be empty).")
    Path dir;

    @Option(names = "--dtype", paramLabel = "fp32|fp16|bf16", defaultValue = "fp32",
            description = "How the weights are stored on disk (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the weights (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "A CLIP tokenizer folder to copy (vocab.json, merges.txt). Without it a byte-level "
                    + "vocabulary is written: prompts tokenize one token per byte.")
    Path tokenizer;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        RandomModel model = RandomModel.parse(config);
        DType storage = DType.parseFloat(dtype);
        out.printf("Writing a random %s model (seed %d, %s weights) to %s%n", model.cliName(), seed,
                dtype, dir);
        out.flush();
        RandomPipelineFolder.create(model, dir, storage.scalarType(), seed, tokenizer, line -> {
            out.println("  " + line);
            out.flush();
        });
        out.println("Done: " + dir);
        out.flush();
        return 0;
    }
}
