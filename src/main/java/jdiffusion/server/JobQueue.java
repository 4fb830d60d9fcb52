package jdiffusion.server;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import jdiffusion.JDiffusionException;
import jdiffusion.pipelines.GenerationCancelledException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bounded queue and its single worker. On a 2-core CPU one generation at a time is the
 * fastest order, so every loaded model shares this one worker; A1111's blocking calls and the
 * job API's jobs queue behind each other here. Durable jobs are journaled before they are
 * accepted and again when they end.
 */
final class JobQueue implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobQueue.class);
    /** Finished non-durable (A1111) jobs kept for the job list, newest. */
    private static final int KEEP_EPHEMERAL = 100;

    /** What DELETE did. */
    enum CancelOutcome { CANCELLED, STOPPING, ALREADY_FINISHED, NOT_FOUND }

    private final int capacity;
    private final Journal journal;
    private final JobRunner runner;
    private final JobEvents events;
    private final Function<GenerationParams, ModelCatalog.Entry> modelOf;
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final ArrayDeque<String> ephemeralFinished = new ArrayDeque<>();
    private Job running;
    private boolean closed;
    private final Thread worker;

    JobQueue(int capacity, Journal journal, JobRunner runner, JobEvents events,
             Function<GenerationParams, ModelCatalog.Entry> modelOf) {
        this.capacity = capacity;
        this.journal = journal;
        this.runner = runner;
        this.events = events;
        this.modelOf = modelOf;
        this.worker = Thread.ofPlatform().name("jdiffusion-worker").daemon(true).unstarted(this::work);
    }

    void start() {
        worker.start();
    }

    /** Accepts a job: journaled (when durable) before this returns, so a 202 is never lost. */
    synchronized void submit(Job job) {
        if (closed) throw new ApiException(503, "shutting_down", null, "the server is shutting down");
        if (waiting.size() >= capacity) {
            throw new ApiException(429, "queue_full", null, "the queue holds " + waiting.size()
                    + " jobs (--queue-size " + capacity + "); retry later");
        }
        if (jobs.containsKey(job.id)) throw new ApiException(409, "duplicate_id", "force_task_id", "a job " + job.id + " exists already");
        if (job.durable) {
            try {
                journal.submitted(job.id, job.created, job.params.body());
            } catch (java.io.UncheckedIOException e) {
                LOG.error("the job journal cannot be written", e);
                throw new ApiException(503, "journal_unwritable", null, "the server cannot record the job on disk; it was not accepted");
            }
        }
        jobs.put(job.id, job);
        waiting.addLast(job);
        notifyAll();
    }

    /** A job read back from the journal: finished ones are listed, the others queued again. */
    synchronized void restore(Job job, Journal.Entry e) {
        jobs.put(job.id, job);
        if (e.status() != null) {
            job.restoreFinished(e.status(), e.error(), e.started(), e.finished(), e.images());
            job.done.complete(job);
        } else {
            waiting.addLast(job);
            notifyAll();
        }
    }

    synchronized Optional<Job> get(String id) {
        return Optional.ofNullable(jobs.get(id));
    }

    synchronized Job running() {
        return running;
    }

    synchronized int waitingCount() {
        return waiting.size();
    }

    /** 0 while running, 1.. while waiting, -1 once finished. */
    synchronized int position(Job job) {
        if (job == running) return 0;
        int i = 1;
        for (Job j : waiting) {
            if (j == job) return i;
            i++;
        }
        return -1;
    }

    /** Newest first, optionally of one status. */
    synchronized List<Job> list(Job.Status status, int limit, int offset) {
        List<Job> all = new ArrayList<>(jobs.values());
        List<Job> out = new ArrayList<>();
        int skipped = 0;
        for (int i = all.size() - 1; i >= 0 && out.size() < limit; i--) {
            Job j = all.get(i);
            if (status != null && j.status() != status) continue;
            if (skipped++ < offset) continue;
            out.add(j);
        }
        return out;
    }

    /** A queued job leaves the queue at once; a running one stops at its next step. */
    CancelOutcome cancel(String id) {
        Job job;
        synchronized (this) {
            job = jobs.get(id);
            if (job == null) return CancelOutcome.NOT_FOUND;
            if (job.status().finished()) return CancelOutcome.ALREADY_FINISHED;
            job.requestCancel();
            if (job != running) {
                waiting.remove(job);
                end(job, Job.Status.CANCELLED, "cancelled while queued");
                return CancelOutcome.CANCELLED;
            }
        }
        return CancelOutcome.STOPPING;
    }

    /** A1111's /interrupt: stop the running job (its finished images are kept). */
    synchronized void interruptRunning() {
        if (running != null) running.requestCancel();
    }

    synchronized void skipRunning() {
        if (running != null) running.requestSkip();
    }

    private void work() {
        while (true) {
            Job job;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) return;
                job = waiting.pollFirst();
                running = job;
                job.start(Instant.now());
            }
            events.send(job, "started");
            Job.Status end;
            String error = null;
            try {
                runner.run(job, modelOf.apply(job.params));
                end = Job.Status.SUCCEEDED;
            } catch (GenerationCancelledException e) {
                end = Job.Status.CANCELLED;
                error = "cancelled at step " + job.step() + " of " + job.steps();
            } catch (JDiffusionException | ApiException e) {
                end = Job.Status.FAILED;
                error = e.getMessage();
            } catch (Throwable e) {
                LOG.error("job {} failed", job.id, e);
                end = Job.Status.FAILED;
                error = "internal error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
            }
            synchronized (this) {
                if (closed) return; // shutting down mid-job: the journal has no end, so it runs again on restart
                running = null;
                end(job, end, error);
            }
        }
    }

    private void end(Job job, Job.Status status, String error) {
        if (!job.finish(status, error, Instant.now())) return;
        if (job.durable) journal.finished(job);
        else {
            ephemeralFinished.addLast(job.id);
            while (ephemeralFinished.size() > KEEP_EPHEMERAL) jobs.remove(ephemeralFinished.pollFirst());
        }
        events.send(job, JobEvents.terminal(status));
        job.done.complete(job);
    }

    /** Stops taking jobs; a running job is left unfinished in the journal (it runs again after a restart). */
    @Override
    public void close() {
        Job current;
        synchronized (this) {
            closed = true;
            current = running;
            notifyAll();
        }
        if (current != null) current.requestCancel();
        try {
            worker.join(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
