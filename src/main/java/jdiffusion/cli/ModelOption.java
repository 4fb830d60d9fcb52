package jdiffusion.cli;

import picocli.CommandLine.Option;

/**
 * {@code --model}, as every command that loads one model spells it; without it the embedded tiny
 * model ({@link DefaultModel}) is used, as txt2img does. Example: {@code @Mixin ModelOption model;}
 * then {@code model.resolve()}.
 */
final class ModelOption {
    @Option(names = "--model", paramLabel = "DIR|ORG/NAME",
            description = "A diffusers folder or ORG/NAME in the Hugging Face cache (default: the embedded tiny model, "
                    + DefaultModel.FOLDER + ").")
    String model;

    /** The given model, or the embedded one (a clear error when this checkout has none). */
    String resolve() {
        return model != null ? model : DefaultModel.locate();
    }
}
