package jdiffusion.cli;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar on stderr: {@code [#####     ] 12/50  3.21 it/s  0:12 left  loss 0.0812}.
 * Redraws at most ten times a second; a final call to {@link #done} ends the line.
 */
public final class ProgressBar {
    private static final int WIDTH = 24;

    private final PrintStream out;
    private final String label;
    private final long total;
    private final long initial;
    private final long start;
    private long lastDraw;

    public ProgressBar(PrintStream out, String label, long total) {
        this(out, label, total, System.nanoTime());
    }

    /** {@code startNanos}: when the work began ({@link System#nanoTime}), if before this bar was made. */
    public ProgressBar(PrintStream out, String label, long total, long startNanos) {
        this(out, label, total, 0, startNanos);
    }

    /**
     * A bar that starts at {@code initial} of {@code total} (a resumed run: {@code 301/500}, as
     * diffusers' tqdm with {@code initial=global_step}); the speed counts only this run's steps.
     */
    public ProgressBar(PrintStream out, String label, long total, long initial, long startNanos) {
        this.out = out;
        this.label = label;
        this.total = total;
        this.initial = initial;
        this.start = startNanos;
    }

    public void update(long done) {
        update(done, "");
    }

    /** {@code extra} is appended to the line, e.g. the current loss. */
    public void update(long done, String extra) {
        long now = System.nanoTime();
        if (done < total && now - lastDraw < 100_000_000L) return;
        lastDraw = now;
        double seconds = (now - start) / 1e9;
        double rate = (done - initial) / Math.max(seconds, 1e-9);
        int filled = (int) Math.min(WIDTH, WIDTH * done / Math.max(1, total));
        String bar = "#".repeat(filled) + " ".repeat(WIDTH - filled);
        String left = done > initial ? clock((total - done) / rate) : "?";
        String speed = rate >= 1 ? String.format(Locale.ROOT, "%.2f it/s", rate)
                : String.format(Locale.ROOT, "%.2f s/it", 1 / Math.max(rate, 1e-9));
        out.printf(Locale.ROOT, "\r%s [%s] %d/%d  %s  %s left  %s  ", label, bar, done, total, speed, left, extra);
        out.flush();
    }

    public void done() {
        out.printf(Locale.ROOT, "%n");
        out.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
