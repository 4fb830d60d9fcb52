package jdiffusion.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One generation job, from acceptance to its end. Written by the worker (and by cancel), read by
 * request threads: every mutable field is guarded by the job's monitor.
 */
final class Job {
    enum Status {
        QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

        String json() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        boolean finished() {
            return this == SUCCEEDED || this == FAILED || this == CANCELLED;
        }
    }

    /** Who watches a job: its JSON events and its preview frames (ComfyUI's binary layout). */
    interface Listener {
        void event(ObjectNode json);

        void preview(byte[] frame);
    }

    final String id;
    /** Its images are dropped once the job has ended (see {@link #finish}); the other fields stay. */
    volatile GenerationParams params;
    /** Journaled (job API) or not (an A1111 blocking call, whose caller is gone if the server dies). */
    final boolean durable;
    final Instant created;
    final CompletableFuture<Job> done = new CompletableFuture<>();
    final List<Listener> listeners = new CopyOnWriteArrayList<>();

    private Status status = Status.QUEUED;
    private Instant started;
    private Instant finished;
    private String error;
    private int step;
    private int steps;
    private int imageNo;
    private final List<String> images = new ArrayList<>();
    private final List<byte[]> pngs = new ArrayList<>();
    private final List<String> infotexts = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private byte[] lastPreview;
    private boolean cancelRequested;
    private boolean skipRequested;

    Job(String id, GenerationParams params, boolean durable, Instant created) {
        this.id = id;
        this.params = params;
        this.durable = durable;
        this.created = created;
        this.steps = params.steps();
    }

    synchronized Status status() { return status; }
    synchronized Instant started() { return started; }
    synchronized Instant finished() { return finished; }
    synchronized String error() { return error; }
    synchronized int step() { return step; }
    synchronized int steps() { return steps; }
    synchronized int imageNo() { return imageNo; }
    synchronized List<String> images() { return List.copyOf(images); }
    synchronized List<byte[]> pngs() { return List.copyOf(pngs); }
    synchronized List<String> infotexts() { return List.copyOf(infotexts); }
    synchronized List<String> warnings() { return List.copyOf(warnings); }
    /** The latest preview as JPEG (A1111's current_image), null before the first. */
    synchronized byte[] lastPreview() { return lastPreview; }
    synchronized boolean cancelRequested() { return cancelRequested; }

    /** True once per skip request (A1111's /skip: drop the current image, go on with the next). */
    synchronized boolean skipRequested() { return skipRequested; }

    synchronized boolean takeSkip() {
        boolean s = skipRequested;
        skipRequested = false;
        return s;
    }

    synchronized void requestCancel() { cancelRequested = true; }
    synchronized void requestSkip() { skipRequested = true; }

    synchronized void start(Instant now) {
        status = Status.RUNNING;
        started = now;
        step = 0;
        imageNo = 0;
        images.clear();
        pngs.clear();
        infotexts.clear();
        warnings.clear();
    }

    synchronized void progress(int imageIndex, int step, int steps, byte[] previewJpeg) {
        this.imageNo = imageIndex;
        this.step = step;
        this.steps = steps;
        if (previewJpeg != null) this.lastPreview = previewJpeg;
    }

    synchronized void addImage(String name, byte[] png, String infotext) {
        if (name != null) images.add(name);
        if (png != null) pngs.add(png);
        infotexts.add(infotext);
    }

    /** Drops the encoded images once a blocking A1111 call has sent them (they are not kept in memory). */
    synchronized void releasePngs() {
        pngs.clear();
        lastPreview = null;
    }

    synchronized void addWarnings(List<String> w) {
        for (String s : w) if (!warnings.contains(s)) warnings.add(s);
    }

    /** The job's end; true when this call ended it (a job ends once). */
    synchronized boolean finish(Status end, String message, Instant now) {
        if (status.finished()) return false;
        params = params.withoutImages(); // decoded uploads are not kept for the job list
        status = end;
        error = message;
        finished = now;
        return true;
    }

    /** A finished job read back from the journal. */
    synchronized void restoreFinished(Status end, String message, Instant start, Instant end2, List<String> names) {
        status = end;
        error = message;
        started = start;
        finished = end2;
        images.clear();
        images.addAll(names);
    }

    /** Seconds left, from the time spent so far and the fraction done; null before the first step. */
    synchronized Double etaSeconds(Instant now) {
        double fraction = fraction();
        if (started == null || fraction <= 0 || status != Status.RUNNING) return null;
        double elapsed = (now.toEpochMilli() - started.toEpochMilli()) / 1000.0;
        return Math.max(0, elapsed / fraction - elapsed);
    }

    /** Done fraction over all images of the job, in [0, 1]. */
    synchronized double fraction() {
        if (status == Status.SUCCEEDED) return 1;
        int total = params.imageCount();
        if (steps <= 0) return (double) imageNo / total;
        return Math.min(1, (imageNo + (double) step / steps) / total);
    }
}
