package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/**
 * The job journal: one JSON object per line, appended and fsync'd before the server answers.
 * {@code submitted} (the id and the body, seed made concrete) is written before a 202 is sent;
 * {@code finished} when the job ends. On start the server reads it back: a job without its
 * {@code finished} line (queued, or running when the process died) runs again from the start,
 * with the same seed and so the same image. A line cut short by a crash is ignored. The file is
 * rewritten compactly (one pair of lines per job) on every start.
 *
 * <p>An append-only file rather than SQLite: two record kinds, written by one thread in order,
 * read once at start - what a database would add (queries, concurrent writers) is not needed, and
 * it keeps a native library out of the server's dependencies.
 */
final class Journal implements AutoCloseable {
    /** One job as the journal knows it; {@code status} null while it has not finished. */
    record Entry(String id, Instant created, ObjectNode body, Job.Status status, String error, Instant started,
                 Instant finished, List<String> images) {}

    private final ObjectMapper json;
    private final Path file;
    private final List<Entry> entries;
    private final FileChannel channel;

    private Journal(ObjectMapper json, Path file, List<Entry> entries, FileChannel channel) {
        this.json = json;
        this.file = file;
        this.entries = entries;
        this.channel = channel;
    }

    static Journal open(Path file, ObjectMapper json) {
        Map<String, Entry> byId = new LinkedHashMap<>();
        try {
            if (Files.exists(file)) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) continue;
                    JsonNode rec;
                    try {
                        rec = json.readTree(line);
                    } catch (IOException torn) {
                        continue; // the last line of a process killed mid-write
                    }
                    try {
                        read(rec, byId);
                    } catch (RuntimeException unreadable) {
                        // a record edited by hand or from another version: skipped, the rest is read
                    }
                }
            }
            List<Entry> entries = List.copyOf(byId.values());
            StringBuilder compact = new StringBuilder();
            for (Entry e : entries) {
                compact.append(json.writeValueAsString(submittedRecord(json, e.id(), e.created(), e.body()))).append('\n');
                if (e.status() != null) {
                    compact.append(json.writeValueAsString(finishedRecord(json, e.id(), e.status(), e.error(), e.started(),
                            e.finished(), e.images()))).append('\n');
                }
            }
            AtomicFiles.write(file, tmp -> {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    ch.write(ByteBuffer.wrap(compact.toString().getBytes(StandardCharsets.UTF_8)));
                    ch.force(true);
                }
            });
            FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            return new Journal(json, file, entries, channel);
        } catch (IOException | RuntimeException e) {
            throw new JDiffusionException("cannot open the job journal " + file + ": " + e.getMessage(), e);
        }
    }

    private static void read(JsonNode rec, Map<String, Entry> byId) {
        String id = rec.path("id").asText(null);
        if (id == null) return;
        switch (rec.path("op").asText()) {
            case "submitted" -> {
                if (rec.get("body") instanceof ObjectNode body) {
                    byId.put(id, new Entry(id, instant(rec.get("created")), body, null, null, null, null, List.of()));
                }
            }
            case "finished" -> {
                Entry e = byId.get(id);
                if (e == null) return;
                List<String> images = new ArrayList<>();
                rec.path("images").forEach(n -> images.add(n.asText()));
                Job.Status s;
                try {
                    s = Job.Status.valueOf(rec.path("status").asText().toUpperCase(java.util.Locale.ROOT));
                } catch (IllegalArgumentException bad) {
                    return;
                }
                byId.put(id, new Entry(id, e.created(), e.body(), s, rec.path("error").asText(null),
                        instant(rec.get("started")), instant(rec.get("finished")), images));
            }
            default -> { }
        }
    }

    private static Instant instant(JsonNode n) {
        return n == null || n.isNull() ? null : Instant.parse(n.asText());
    }

    /** The jobs read at start, oldest first. */
    List<Entry> entries() {
        return entries;
    }

    Path file() {
        return file;
    }

    synchronized void submitted(String id, Instant created, ObjectNode body) {
        append(submittedRecord(json, id, created, body));
    }

    synchronized void finished(Job job) {
        append(finishedRecord(json, job.id, job.status(), job.error(), job.started(), job.finished(), job.images()));
    }

    private static ObjectNode submittedRecord(ObjectMapper json, String id, Instant created, ObjectNode body) {
        ObjectNode r = json.createObjectNode().put("op", "submitted").put("id", id).put("created", created.toString());
        r.set("body", body);
        return r;
    }

    private static ObjectNode finishedRecord(ObjectMapper json, String id, Job.Status status, String error, Instant started,
                                             Instant finished, List<String> images) {
        ObjectNode r = json.createObjectNode().put("op", "finished").put("id", id).put("status", status.json());
        r.put("error", error);
        r.put("started", started == null ? null : started.toString());
        r.put("finished", finished == null ? null : finished.toString());
        ArrayNode a = r.putArray("images");
        images.forEach(a::add);
        return r;
    }

    private void append(ObjectNode record) {
        try {
            byte[] line = (json.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8);
            ByteBuffer buf = ByteBuffer.wrap(line);
            while (buf.hasRemaining()) channel.write(buf);
            channel.force(false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the job journal " + file, e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing at shutdown: the records were forced to disk when written
        }
    }
}
