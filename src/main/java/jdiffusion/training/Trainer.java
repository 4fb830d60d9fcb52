package jdiffusion.training;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The training loop every recipe shares (the tiny text-to-image model, DreamBooth): AdamW with a
 * warm-up learning-rate schedule, gradient accumulation, global-norm clipping, an optional EMA of
 * the weights, optional bf16 autocast on the CPU, and atomic checkpoints that resume exactly.
 *
 * <p>What is trained is a map of named float32 parameters (the names are the checkpoint's keys,
 * e.g. {@code unet.conv_in.weight}); what is minimised is an {@link Objective}. Every random draw
 * of step s comes from generators seeded by (seed, s, micro-batch), so no RNG state needs saving:
 * a run stopped after step k and resumed computes exactly what an uninterrupted run computes.
 *
 * <p>The micro-batches of a step can run at once on several threads ({@link #useWorkers}), for
 * models too small to keep every core busy with one batch's kernels. Their gradients are added in
 * micro-batch order, as a sequential run adds them, so the result does not depend on the number of
 * workers.
 *
 * <p>Build the models and this trainer outside any PointerScope; each step runs in its own.
 */
public final class Trainer implements AutoCloseable {
    /** The loss of one micro-batch: a scalar float32 tensor with a graph to the parameters. */
    @FunctionalInterface
    public interface Objective {
        Tensor loss(int step, int microBatch, TorchGenerator rng);
    }

    /**
     * An objective that runs its own backward pass, for when the graph is not kept whole
     * (gradient checkpointing recomputes each block during the backward): it adds
     * d(loss * gradScale)/d(parameter) into the parameters' gradients and returns the loss value.
     */
    @FunctionalInterface
    public interface BackwardObjective {
        double lossAndBackward(int step, int microBatch, TorchGenerator rng, double gradScale);
    }

    /** Told after each optimiser step (0-based {@code step}) and when a checkpoint is written. */
    public interface Listener {
        void onStep(int step, int totalSteps, double loss, double learningRate);

        default void onCheckpoint(int stepsDone, Path file) {}

        Listener NONE = (step, total, loss, lr) -> {};
    }

    private static final String STEP_KEY = "jdiffusion.step";
    private static final String LOSS_KEY = "jdiffusion.loss";

    private final TrainingConfig config;
    private final Map<String, Tensor> parameters;
    private final AdamW optimizer;
    private final Map<String, Tensor> ema = new LinkedHashMap<>();
    private final Path checkpoint;
    private final TensorVector parameterVector;
    private ExecutorService workers;
    private int workerCount = 1;
    private int stepsDone;
    private double lastLoss = Double.NaN;

    /**
     * @param parameters the trainable tensors by name; gradients are turned on for them
     * @param checkpoint the checkpoint file (written every {@code checkpointEvery} steps and at the
     *                   end), or null for none
     */
    public Trainer(TrainingConfig config, Map<String, Tensor> parameters, Path checkpoint) {
        this.config = config;
        this.parameters = new LinkedHashMap<>(parameters);
        this.checkpoint = checkpoint;
        for (var e : parameters.entrySet()) {
            if (Tensors.dtype(e.getValue()).value != ScalarType.Float.value) {
                throw new JDiffusionException("training needs float32 parameters; " + e.getKey() + " is "
                        + Tensors.dtype(e.getValue()));
            }
            e.getValue().requires_grad_(true);
        }
        this.optimizer = new AdamW(this.parameters, config.weightDecay());
        this.parameterVector = new TensorVector(this.parameters.values().toArray(new Tensor[0]));
        if (config.emaDecay() > 0) {
            try (NoGradGuard noGrad = new NoGradGuard()) {
                parameters.forEach((k, p) -> ema.put(k, p.detach().clone()));
            }
        }
    }

    /**
     * Runs up to {@code count} micro-batches of a step at once, each on its own thread with its own
     * autograd graph (data parallelism within one process). Each worker runs libtorch's kernels
     * with the intra-op threads its thread starts with: set them to cores / workers first. Applies
     * to {@link Objective}s; a {@link BackwardObjective} accumulates gradients itself and runs
     * its micro-batches one after another.
     */
    public void useWorkers(int count) {
        if (count < 1) throw new JDiffusionException("training: workers must be at least 1, got " + count);
        if (workers != null) {
            workers.shutdown();
            workers = null;
        }
        workerCount = count;
        if (count > 1) {
            workers = Executors.newFixedThreadPool(count, task -> {
                Thread t = new Thread(task, "jdiffusion-trainer-worker");
                t.setDaemon(true);
                return t;
            });
        }
    }

    /** Optimiser steps completed (after {@link #resume}, those of the checkpoint). */
    public int stepsDone() {
        return stepsDone;
    }

    /** The loss of the last step run, NaN before any. */
    public double lastLoss() {
        return lastLoss;
    }

    /** The EMA weights by parameter name (live tensors), empty when EMA is off. */
    public Map<String, Tensor> emaWeights() {
        return ema;
    }

    /**
     * Loads parameters, optimiser moments, EMA and the step count from the checkpoint if it
     * exists; returns whether it did.
     */
    public boolean resume() {
        if (checkpoint == null || !Files.isRegularFile(checkpoint)) return false;
        try (SafetensorsFile file = SafetensorsFile.open(checkpoint);
             PointerScope scope = new PointerScope();
             NoGradGuard noGrad = new NoGradGuard()) {
            for (var e : stateTensors().entrySet()) {
                if (!file.contains(e.getKey())) {
                    throw new JDiffusionException(checkpoint + " lacks " + e.getKey()
                            + "; it was written by a different model or training setup");
                }
                e.getValue().copy_(file.load(e.getKey(), ScalarType.Float));
            }
            String step = file.metadata().get(STEP_KEY);
            if (step == null) throw new JDiffusionException(checkpoint + " has no " + STEP_KEY + " metadata");
            stepsDone = Integer.parseInt(step);
            lastLoss = Double.parseDouble(file.metadata().getOrDefault(LOSS_KEY, "NaN"));
        }
        return true;
    }

    /** Runs the steps from {@link #stepsDone} to {@code config.steps()}; returns the last step's loss. */
    public double run(Objective objective, Listener listener) {
        return runUntil(config.steps(), objective, listener);
    }

    /** As {@link #run} for an objective that runs its own backward pass. */
    public double run(BackwardObjective objective, Listener listener) {
        return runUntil(config.steps(), objective, listener);
    }

    /** As {@link #run}, stopping after step {@code stopAt} (exclusive), e.g. to test resuming. */
    public double runUntil(int stopAt, Objective objective, Listener listener) {
        if (workerCount > 1 && config.gradientAccumulation() > 1) {
            return runSteps(stopAt, step -> parallelGradients(step, objective), listener);
        }
        return runUntil(stopAt, (BackwardObjective) (step, micro, rng, gradScale) -> {
            Tensor l = objective.loss(step, micro, rng).to(ScalarType.Float);
            Tensor scaled = gradScale == 1 ? l : l.mul(new Scalar(gradScale));
            boolean autocast = torch.is_autocast_enabled(DeviceType.CPU);
            torch.set_autocast_enabled(DeviceType.CPU, false); // autocast is for forwards only
            try {
                scaled.backward();
            } finally {
                torch.set_autocast_enabled(DeviceType.CPU, autocast);
            }
            return l.item_double();
        }, listener);
    }

    /** As {@link #runUntil(int, Objective, Listener)} for an objective that runs its own backward pass. */
    public double runUntil(int stopAt, BackwardObjective objective, Listener listener) {
        return runSteps(stopAt, step -> sequentialGradients(step, objective), listener);
    }

    /** What one step's micro-batches do: add their gradients into the parameters', return the mean loss. */
    @FunctionalInterface
    private interface StepGradients {
        double accumulate(int step);
    }

    private double runSteps(int stopAt, StepGradients gradients, Listener listener) {
        int end = Math.min(stopAt, config.steps());
        while (stepsDone < end) {
            int step = stepsDone;
            double lr = config.learningRate(step);
            double loss;
            try (PointerScope scope = new PointerScope()) {
                loss = gradients.accumulate(step);
                if (!Double.isFinite(loss)) {
                    throw new JDiffusionException("the loss became " + loss + " at step " + step
                            + "; lower the learning rate or enable gradient clipping");
                }
                if (config.maxGradNorm() > 0) clipGradNorm(config.maxGradNorm());
                optimizer.step(lr, step + 1L);
                zeroGrad();
                if (!ema.isEmpty()) updateEma(step);
            }
            stepsDone = step + 1;
            lastLoss = loss;
            listener.onStep(step, config.steps(), loss, lr);
            boolean due = config.checkpointEvery() > 0 && stepsDone % config.checkpointEvery() == 0;
            if (checkpoint != null && (due || stepsDone == config.steps())) {
                save();
                listener.onCheckpoint(stepsDone, checkpoint);
            }
        }
        return lastLoss;
    }

    private double sequentialGradients(int step, BackwardObjective objective) {
        double loss = 0;
        for (int micro = 0; micro < config.gradientAccumulation(); micro++) {
            TorchGenerator rng = new TorchGenerator(mix(config.seed(), step, micro));
            if (config.bf16()) enterAutocast();
            double l;
            try {
                // a BackwardObjective that recomputes blocks needs autocast on; it turns it off for backward() itself
                l = objective.lossAndBackward(step, micro, rng, 1.0 / config.gradientAccumulation());
            } finally {
                if (config.bf16()) torch.set_autocast_enabled(DeviceType.CPU, false);
            }
            loss += l / config.gradientAccumulation();
        }
        return loss;
    }

    /**
     * The micro-batches of {@code step} on the workers, each to its own gradients
     * (torch.autograd.grad, not backward(), so that no two threads add into a parameter's .grad);
     * added into the parameters' gradients in micro-batch order, which is what sequential
     * backward() calls compute, bit for bit.
     */
    private double parallelGradients(int step, Objective objective) {
        int n = config.gradientAccumulation();
        List<Future<MicroGradients>> pending = new ArrayList<>(n);
        for (int micro = 0; micro < n; micro++) {
            int m = micro;
            pending.add(workers.submit(() -> microGradients(step, m, objective)));
        }
        double loss = 0;
        List<Tensor> params = new ArrayList<>(parameters.values());
        int micro = 0;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            for (; micro < n; micro++) {
                try (MicroGradients g = await(pending.get(micro))) {
                    for (int i = 0; i < params.size(); i++) {
                        if (g.grads[i] == null) continue;
                        Tensor grad = params.get(i).grad();
                        if (grad.defined()) grad.add_(g.grads[i]);
                        else params.get(i).mutable_grad().put(g.grads[i].clone());
                    }
                    loss += g.loss / n;
                }
            }
        } catch (RuntimeException | Error e) {
            // let the other micro-batches finish, and free what they computed
            for (int i = micro + 1; i < n; i++) {
                try {
                    pending.get(i).get().close();
                } catch (Exception ignored) {
                    // the first failure is the one reported
                }
            }
            throw e;
        }
        return loss;
    }

    /** One micro-batch's loss and gradients (null where a parameter took no part), owned by no scope. */
    private record MicroGradients(double loss, Tensor[] grads) implements AutoCloseable {
        @Override
        public void close() {
            for (Tensor g : grads) {
                if (g != null) g.close();
            }
        }
    }

    /** Runs on a worker thread: autocast and grad mode are per thread in libtorch. */
    private MicroGradients microGradients(int step, int micro, Objective objective) {
        try (PointerScope scope = new PointerScope()) {
            TorchGenerator rng = new TorchGenerator(mix(config.seed(), step, micro));
            Tensor l;
            if (config.bf16()) enterAutocast();
            try {
                l = objective.loss(step, micro, rng).to(ScalarType.Float);
            } finally {
                if (config.bf16()) torch.set_autocast_enabled(DeviceType.CPU, false);
            }
            double scale = 1.0 / config.gradientAccumulation();
            Tensor scaled = scale == 1 ? l : l.mul(new Scalar(scale));
            TensorVector grads = torch.grad(new TensorVector(scaled), parameterVector, new TensorVector(),
                    new BoolOptional(), false, true);
            Tensor[] out = new Tensor[(int) grads.size()];
            for (int i = 0; i < out.length; i++) {
                if (!grads.get(i).defined()) continue;
                out[i] = new Tensor(grads.get(i)); // get() is a view into the vector, which the scope frees
                out[i].retainReference();         // so that closing the scope leaves it alive
            }
            return new MicroGradients(l.item_double(), out);
        }
    }

    private static MicroGradients await(Future<MicroGradients> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JDiffusionException("training was interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new JDiffusionException("a training worker failed: " + e.getCause(), e.getCause());
        }
    }

    private static void enterAutocast() {
        torch.set_autocast_enabled(DeviceType.CPU, true);
        torch.set_autocast_dtype(DeviceType.CPU, ScalarType.BFloat16);
        torch.set_autocast_cache_enabled(false); // the weights change every step
    }

    /** Writes the checkpoint now (atomically: the previous one stays until the new one is complete). */
    public void save() {
        if (checkpoint == null) throw new JDiffusionException("this trainer has no checkpoint file");
        try (PointerScope scope = new PointerScope()) {
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("format", "pt");
            meta.put(STEP_KEY, Integer.toString(stepsDone));
            meta.put(LOSS_KEY, Double.toString(lastLoss));
            meta.put("jdiffusion.training_config", config.toString());
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            stateTensors().forEach((k, t) -> tensors.put(k, t.detach()));
            SafetensorsWriter.write(checkpoint, tensors, meta);
        }
    }

    /** Everything a checkpoint holds: {@code param/}, {@code exp_avg/}, {@code exp_avg_sq/}, {@code ema/}. */
    private Map<String, Tensor> stateTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        parameters.forEach((k, t) -> out.put("param/" + k, t));
        out.putAll(optimizer.state());
        ema.forEach((k, t) -> out.put("ema/" + k, t));
        return out;
    }

    /** torch.nn.utils.clip_grad_norm_: scales all gradients so that their global L2 norm is at most {@code max}. */
    private void clipGradNorm(double max) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            double sumSq = 0;
            List<Tensor> grads = parameters.values().stream().map(Tensor::grad).filter(Tensor::defined).toList();
            for (Tensor g : grads) sumSq += g.square().sum().item_double();
            double norm = Math.sqrt(sumSq);
            double coef = max / (norm + 1e-6);
            if (coef < 1) {
                for (Tensor g : grads) g.mul_(new Scalar(coef));
            }
        }
    }

    private void zeroGrad() {
        for (Tensor p : parameters.values()) {
            Tensor g = p.grad();
            if (g.defined()) g.zero_();
        }
    }

    /** diffusers' EMAModel with warm-up: decay = min(emaDecay, (1 + step) / (10 + step)). */
    private void updateEma(int step) {
        double decay = Math.min(config.emaDecay(), (1.0 + step) / (10.0 + step));
        try (NoGradGuard noGrad = new NoGradGuard()) {
            for (var e : parameters.entrySet()) ema.get(e.getKey()).lerp_(e.getValue(), new Scalar(1 - decay));
        }
    }

    /** SplitMix64 over (seed, step, micro-batch): independent generator seeds per step. */
    static long mix(long seed, long step, long micro) {
        long z = seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + micro + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (z ^ (z >>> 31)) & Long.MAX_VALUE;
    }

    @Override
    public void close() {
        if (workers != null) workers.shutdown();
        parameterVector.close();
        optimizer.close();
        ema.values().forEach(Tensor::close);
    }
}
