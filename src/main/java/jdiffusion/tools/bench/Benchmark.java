package jdiffusion.tools.bench;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.pipelines.ClassifierFreeGuidance;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.prompts.PromptOptions;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The CPU speed benchmark (issue 9): loads a model folder in a compute dtype and generates one
 * image at a size, timing each phase. The loop is {@code StableDiffusionPipeline.generate}'s
 * text-to-image path written out (Euler, CFG 7.5 with one batched UNet call of batch 2), so that
 * each phase has its own clock. As the command line, which runs one image per process, it releases
 * the text encoder once the text is encoded and the UNet before the decode.
 */
public final class Benchmark {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    static final String NEGATIVE = "blurry, low quality";
    static final double GUIDANCE = 7.5;
    static final String SAMPLER = "Euler";

    private Benchmark() {}

    /** Loads {@code model} in {@code dtype} and runs one image of size x size with {@code steps} steps. */
    public static BenchRun run(String model, ScalarType dtype, int size, int steps) {
        if (steps < 3) throw new IllegalArgumentException("--steps must be at least 3 (the step time is a median)");
        NativeMemory.trim(); // what earlier runs in this process freed must not count against this one
        ProcessMemory.resetPeak();
        long loadStart = System.nanoTime();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(model, new PipelineOptions(dtype, Tensors.CPU, null))) {
            double load = seconds(loadStart);
            return generate(pipe, dtype, size, steps, load, ProcessMemory.peakResidentBytes());
        }
    }

    private static BenchRun generate(StableDiffusionPipeline pipe, ScalarType dtype, int size, int steps, double load,
                                     long peakAfterLoad) {
        int f = pipe.vaeScaleFactor();
        long h = size / f, w = size / f;
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // 1. text: [negative, prompt] -> [2, 77, C]
            long t0 = System.nanoTime();
            Tensor context = pipe.promptEncoder().encodePair(PROMPT, NEGATIVE, PromptOptions.DIFFUSERS).guidanceBatch();
            double text = seconds(t0);
            // one image per process, as the command line: each model released once the image is past it
            // (outside the timed phases, which stay comparable with earlier reports)
            pipe.components().releaseTextEncoder();

            // 2. the denoising loop, every op observed for the time breakdown
            OpTally unetOps = OpTally.timing();
            List<Double> stepTimes = new ArrayList<>();
            Tensor latents;
            try (SchedulerRun run = pipe.scheduler(SAMPLER, 0).start(steps)) {
                TorchGenerator generator = new TorchGenerator(0);
                latents = generator.randn(1, pipe.vae().config().latentChannels(), h, w)
                        .mul(new Scalar(run.initNoiseSigma()));
                for (int i = 0; i < steps; i++) {
                    long start = System.nanoTime();
                    Tensor previous = latents;
                    latents = unetOps.observe(step(pipe, run, i, latents, context, generator, scope));
                    scope.detach(previous); // frees it: only the latents of the current step stay alive
                    stepTimes.add(seconds(start));
                    if (i == 0) NativeMemory.trim(); // as the pipeline's loop: the first call's one-off buffers back
                }
            }
            double loop = stepTimes.stream().mapToDouble(Double::doubleValue).sum();
            long peakAfterLoop = ProcessMemory.peakResidentBytes();

            // 3. decode (as the pipeline: freed memory back to the OS first, inside the timed phase)
            pipe.components().releaseUNet();
            OpTally vaeOps = OpTally.timing();
            long d0 = System.nanoTime();
            NativeMemory.trim();
            Tensor scaled = latents.div(new Scalar(pipe.vae().scalingFactor()));
            // trimmed between stages, as the pipeline decodes
            Tensor image = vaeOps.observe(() -> NativeMemory.trimmingBetweenBlocks(() -> pipe.vae().decode(scaled)).to(ScalarType.Float));
            double decode = seconds(d0);
            boolean finite = finite(latents) && finite(image);

            double median = median(stepTimes.size() > 3 ? stepTimes.subList(1, stepTimes.size()) : stepTimes);
            FlopCount unetFlops = FlopCount.of(unetOps);
            FlopCount perStep = new FlopCount(unetFlops.convolution() / steps, unetFlops.linear() / steps,
                    unetFlops.attention() / steps);
            FlopCount vaeFlops = FlopCount.of(vaeOps);
            return new BenchRun(dtypeName(dtype), size, steps, load, text, stepTimes, median, decode,
                    text + loop + decode, ProcessMemory.peakResidentBytes(), peakAfterLoad, peakAfterLoop, perStep, vaeFlops,
                    perStep.total() / median / 1e9, vaeFlops.total() / decode / 1e9,
                    Breakdown.of(unetOps, loop, steps), Breakdown.of(vaeOps, decode, 1), finite);
        }
    }

    /** One CFG step as the pipeline does it; the new latents join {@code outer}, the rest is freed. */
    private static java.util.function.Supplier<Tensor> step(StableDiffusionPipeline pipe, SchedulerRun run, int i,
                                                            Tensor latents, Tensor context, TorchGenerator generator,
                                                            PointerScope outer) {
        return () -> {
            try (PointerScope step = new PointerScope()) {
                Tensor input = run.scaleModelInput(ClassifierFreeGuidance.batch(latents));
                Tensor noise = pipe.unet().forward(input, run.timestep(i), context).to(ScalarType.Float);
                Tensor guided = ClassifierFreeGuidance.combine(noise, GUIDANCE);
                Tensor next = run.step(guided, latents, generator).prevSample();
                outer.attach(next);
                return next;
            }
        };
    }

    /**
     * Native memory over a long run: one {@code generate} of {@code steps} steps at size x size
     * (batch 1, CFG on). Returns the resident size after the first step and after the last, then
     * the Java heap committed at the same two points (part of the resident size), in bytes.
     */
    public static long[] memoryOverSteps(StableDiffusionPipeline pipe, int size, int steps) {
        long[] rss = new long[4];
        pipe.generate(GenerationRequest.builder(PROMPT).negativePrompt(NEGATIVE).sampler(SAMPLER)
                .guidanceScale(GUIDANCE).steps(steps).width(size).height(size).seed(0).build(),
                (step, total, t, latents) -> {
                    // freed blocks back to the OS first: what is left is what the process holds, not
                    // what glibc keeps for reuse (which grew 90 MB over 200 steps at 256x256 in bf16)
                    if (step == 0 || step == total - 1) NativeMemory.trim();
                    if (step == 0) {
                        rss[0] = ProcessMemory.residentBytes();
                        rss[2] = Runtime.getRuntime().totalMemory();
                    }
                    if (step == total - 1) {
                        rss[1] = ProcessMemory.residentBytes();
                        rss[3] = Runtime.getRuntime().totalMemory();
                    }
                    return null;
                });
        return rss;
    }

    static String dtypeName(ScalarType dtype) {
        if (dtype.value == ScalarType.BFloat16.value) return "bf16";
        if (dtype.value == ScalarType.Half.value) return "fp16";
        return "fp32";
    }

    static boolean finite(Tensor t) {
        return torch.isfinite(t).all().item_bool();
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }
}
