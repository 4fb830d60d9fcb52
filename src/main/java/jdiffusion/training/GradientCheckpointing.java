package jdiffusion.training;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import jdiffusion.models.unet.DownBlock;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.unet.UpBlock;
import jdiffusion.tensor.Scopes;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Gradient checkpointing for the UNet (diffusers' {@code enable_gradient_checkpointing}): the
 * forward keeps only each block's inputs, and the backward recomputes one block at a time with
 * its graph, so activation memory is that of one block instead of the whole network.
 *
 * <p>torch.utils.checkpoint does not exist in libtorch's C++ API, and bytedeco cannot define a
 * custom autograd Function, so the chain rule between blocks is done here by hand, following
 * {@link UNet2DConditionModel#forward}: a forward without gradients that saves every block's
 * inputs (the skip connections, and the hidden state entering each up block), then, from the
 * output back, each block recomputed from its saved inputs made leaves and backpropagated with
 * the gradient of its outputs ({@code torch.autograd.backward(outputs, grad_outputs)}). That
 * accumulates the block's parameter gradients and yields its inputs' gradients for the block
 * before. Granularity is diffusers' block (diffusers checkpoints each resnet and transformer
 * block inside; a block here is up to three of those pairs).
 *
 * <p>Recomputation runs under the caller's autocast state (on in a bf16 {@link Trainer} run),
 * so each block computes what the first forward computed; every {@code backward} runs with
 * autocast off, as Trainer's ordinary path does.
 */
public final class GradientCheckpointing {
    private GradientCheckpointing() {}

    /**
     * Computes {@code loss = lossOf(unet.forward(sample, timesteps, context))} and adds
     * d(loss * gradScale)/d(p) into the gradient of every tensor p that requires grad and that the
     * loss depends on: the UNet's parameters (or adapters), and, through {@code context}'s own
     * graph, the text encoder's. Gradients equal those of an ordinary backward up to float
     * rounding. Returns the loss value.
     */
    public static double forwardBackward(UNet2DConditionModel unet, Tensor sample, Tensor timesteps, Tensor context,
                                         Function<Tensor, Tensor> lossOf, double gradScale) {
        unet.checkInputs(sample, timesteps, context);
        if (!GradMode.is_enabled()) {
            throw new IllegalStateException("GradientCheckpointing.forwardBackward needs gradients on (it runs under a NoGradGuard)");
        }
        try (PointerScope scope = new PointerScope()) {
            // in the model's dtype, with grad: the caller's graph (a trained text encoder) continues here
            Tensor ctx = unet.prepareContext(context);
            Saved saved;
            try (NoGradGuard noGrad = new NoGradGuard()) {
                saved = forward(unet, sample, timesteps, ctx);
            }
            return backward(unet, sample, timesteps, ctx, saved, lossOf, gradScale, scope);
        }
    }

    /**
     * What the forward without gradients keeps: the time embedding, every skip connection (conv_in's
     * output first; down block i's input is the skip before its first), and per up block its input
     * hidden state, its skip connections' range and its upsampling size.
     */
    private record Saved(Tensor temb, List<Tensor> residuals, int[] downStart, Tensor midIn, Tensor[] upIn,
                         int[] upSkipStart, long[][] upsampleSize, Tensor upOut) {}

    /** 1. The forward of {@link UNet2DConditionModel#forward} without gradients, keeping the blocks' inputs. */
    private static Saved forward(UNet2DConditionModel unet, Tensor sample, Tensor timesteps, Tensor ctx) {
        List<DownBlock> downs = unet.downBlocks();
        List<UpBlock> ups = unet.upBlocks();
        long height = sample.size(2), width = sample.size(3);
        Tensor temb = Scopes.keep(() -> unet.embedTime(timesteps, sample.size(0)));
        Tensor h = Scopes.keep(() -> unet.preProcess(sample));
        List<Tensor> residuals = new ArrayList<>(List.of(h));
        int[] downStart = new int[downs.size()];
        for (int i = 0; i < downs.size(); i++) {
            downStart[i] = residuals.size();
            residuals.addAll(keepAll(downs.get(i), residuals.getLast(), temb, ctx)); // its output is the last of them
        }
        Tensor midIn = residuals.getLast();
        h = Scopes.keep(() -> unet.midBlock().forward(midIn, temb, ctx));
        Tensor[] upIn = new Tensor[ups.size()];
        int[] upSkipStart = new int[ups.size()];
        long[][] upsampleSize = new long[ups.size()][];
        int remaining = residuals.size();
        for (int i = 0; i < ups.size(); i++) {
            upIn[i] = h;
            upSkipStart[i] = remaining - ups.get(i).numResnets();
            remaining = upSkipStart[i];
            upsampleSize[i] = unet.upsampleSize(i, height, width, remaining > 0 ? residuals.get(remaining - 1) : null);
            UpBlock block = ups.get(i);
            Tensor in = h;
            List<Tensor> skips = residuals.subList(remaining, remaining + block.numResnets());
            long[] size = upsampleSize[i];
            h = Scopes.keep(() -> block.forward(in, skips, temb, ctx, size));
        }
        return new Saved(temb, residuals, downStart, midIn, upIn, upSkipStart, upsampleSize, h);
    }

    /**
     * A down block's skip connections, held by the caller's scope (one reference each, so that
     * they can be released one by one); the block's temporaries go when it returns.
     */
    private static List<Tensor> keepAll(DownBlock block, Tensor hidden, Tensor temb, Tensor ctx) {
        PointerScope outer = PointerScope.getInnerScope();
        try (PointerScope inner = new PointerScope()) {
            List<Tensor> residuals = block.forward(hidden, temb, ctx).residuals();
            residuals.forEach(outer::attach);
            return residuals;
        }
    }

    /** 2. From the loss back to the inputs, one block at a time; returns the loss value. */
    private static double backward(UNet2DConditionModel unet, Tensor sample, Tensor timesteps, Tensor ctx, Saved s,
                                   Function<Tensor, Tensor> lossOf, double gradScale, PointerScope outer) {
        List<DownBlock> downs = unet.downBlocks();
        List<UpBlock> ups = unet.upBlocks();
        Grads g = new Grads(s.residuals().size(), outer);
        double loss;

        // 2a. post-process and loss, from the last up block's output
        try (PointerScope segment = new PointerScope()) {
            Tensor x = leaf(s.upOut());
            Tensor l = lossOf.apply(unet.postProcess(x));
            loss = l.item_double();
            backward(List.of(gradScale == 1 ? l : l.mul(new Scalar(gradScale))), null);
            g.hidden = g.keep(gradOf(x));
        }
        outer.detach(s.upOut());

        // 2b. up blocks, last first: the hidden state entering each, its skips, temb and context
        for (int i = ups.size() - 1; i >= 0; i--) {
            UpBlock block = ups.get(i);
            int start = s.upSkipStart()[i];
            try (PointerScope segment = new PointerScope()) {
                Tensor x = leaf(s.upIn()[i]);
                List<Tensor> skips = new ArrayList<>();
                for (int k = start; k < start + block.numResnets(); k++) skips.add(leaf(s.residuals().get(k)));
                Tensor t = leaf(s.temb());
                Tensor c = leaf(ctx);
                backward(List.of(block.forward(x, skips, t, c, s.upsampleSize()[i])), List.of(g.hidden));
                g.replaceHidden(gradOf(x));
                for (int k = 0; k < skips.size(); k++) g.addResidual(start + k, gradOf(skips.get(k)));
                g.addShared(gradOf(t), gradOf(c));
            }
            outer.detach(s.upIn()[i]); // the mid block's or an up block's output: read by nothing else now
        }

        // 2c. mid block: its input is the last skip connection
        int last = s.residuals().size() - 1;
        try (PointerScope segment = new PointerScope()) {
            Tensor x = leaf(s.midIn());
            Tensor t = leaf(s.temb());
            Tensor c = leaf(ctx);
            backward(List.of(unet.midBlock().forward(x, t, c)), List.of(g.hidden));
            g.addResidual(last, gradOf(x));
            g.addShared(gradOf(t), gradOf(c));
        }

        // 2d. down blocks, last first: outputs are its skip connections (its hidden state the last of them),
        // whose gradients came from the up blocks and from the block above
        for (int i = downs.size() - 1; i >= 0; i--) {
            int start = s.downStart()[i];
            int end = i + 1 < downs.size() ? s.downStart()[i + 1] : s.residuals().size();
            try (PointerScope segment = new PointerScope()) {
                Tensor x = leaf(s.residuals().get(start - 1));
                Tensor t = leaf(s.temb());
                Tensor c = leaf(ctx);
                List<Tensor> outputs = downs.get(i).forward(x, t, c).residuals();
                backward(outputs, g.residuals.subList(start, end));
                g.addResidual(start - 1, gradOf(x));
                g.addShared(gradOf(t), gradOf(c));
            }
            g.release(s.residuals(), start, end); // read by no block still to come
        }

        // 2e. conv_in, from the first skip connection's gradient
        try (PointerScope segment = new PointerScope()) {
            Tensor h = unet.preProcess(sample);
            if (h.requires_grad() && g.residuals.getFirst() != null) backward(List.of(h), List.of(g.residuals.getFirst()));
        }
        g.release(s.residuals(), 0, 1);

        // 2f. the time embedding's linears, and the caller's graph behind the context
        try (PointerScope segment = new PointerScope()) {
            Tensor temb = unet.embedTime(timesteps, sample.size(0));
            if (temb.requires_grad() && g.temb != null) backward(List.of(temb), List.of(g.temb.to(temb.scalar_type())));
            if (ctx.requires_grad() && g.context != null) backward(List.of(ctx), List.of(g.context.to(ctx.scalar_type())));
        }
        return loss;
    }

    /**
     * The gradients flowing between blocks, held by {@code outer}: of the hidden state, of each
     * skip connection (from its up block and, for a block's input, from the block it feeds), and
     * float32 sums for temb and the context, which every block reads.
     */
    private static final class Grads {
        final PointerScope outer;
        final List<Tensor> residuals;
        Tensor hidden;
        Tensor temb;
        Tensor context;

        Grads(int numResiduals, PointerScope outer) {
            this.outer = outer;
            this.residuals = new ArrayList<>(java.util.Collections.nCopies(numResiduals, (Tensor) null));
        }

        /** {@code grad} (made in a segment's scope) held by {@code outer}; null stays null (no path to the loss). */
        Tensor keep(Tensor grad) {
            if (grad == null) return null;
            outer.attach(grad);
            return grad;
        }

        void replaceHidden(Tensor grad) {
            Tensor old = hidden;
            hidden = keep(grad);
            if (old != null) outer.detach(old);
        }

        void addResidual(int k, Tensor grad) {
            residuals.set(k, sum(residuals.get(k), grad, false));
        }

        /** Frees skip connections [from, to) and their gradients (each held once by {@code outer}). */
        void release(List<Tensor> saved, int from, int to) {
            for (int k = from; k < to; k++) {
                outer.detach(saved.get(k));
                if (residuals.get(k) != null) outer.detach(residuals.get(k));
                residuals.set(k, null);
            }
        }

        void addShared(Tensor tembGrad, Tensor contextGrad) {
            temb = sum(temb, tembGrad, true);
            context = sum(context, contextGrad, true);
        }

        /** acc + grad out of place (a leaf's gradient may be a buffer autograd handed over), held by {@code outer}. */
        private Tensor sum(Tensor acc, Tensor grad, boolean float32) {
            if (grad == null) return acc;
            Tensor g = float32 ? grad.to(ScalarType.Float) : grad;
            Tensor out = acc == null ? g : acc.add(g);
            outer.attach(out);
            if (acc != null) outer.detach(acc);
            return out;
        }
    }

    /**
     * The gradient a leaf received, as a tensor of its own (libtorch hands out a reference into the
     * leaf, which dies with the segment's scope), or null when it received none.
     */
    private static Tensor gradOf(Tensor leaf) {
        Tensor g = leaf.grad();
        return g.defined() ? new Tensor(g) : null;
    }

    /** A saved activation as a new leaf that requires grad (shares its storage; nothing writes to it in place). */
    private static Tensor leaf(Tensor saved) {
        return saved.detach().requires_grad_(true);
    }

    /**
     * torch.autograd.backward(outputs, grads) (grads null: scalar outputs) with autocast off:
     * autocast is for forwards, and the backward of an op recorded under it casts by itself. Pairs
     * whose gradient is null (no path to the loss) are left out.
     */
    private static void backward(List<Tensor> outputs, List<Tensor> grads) {
        TensorVector outs = new TensorVector();
        TensorVector gs = new TensorVector();
        for (int k = 0; k < outputs.size(); k++) {
            if (grads != null && grads.get(k) == null) continue;
            outs.push_back(outputs.get(k));
            if (grads != null) gs.push_back(grads.get(k));
        }
        if (outs.empty()) return;
        boolean autocast = torch.is_autocast_enabled(DeviceType.CPU);
        torch.set_autocast_enabled(DeviceType.CPU, false);
        try {
            torch.backward(outs, gs, new BoolOptional(), false, new TensorVector());
        } finally {
            torch.set_autocast_enabled(DeviceType.CPU, autocast);
        }
    }
}
