package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Durability in one JVM: a server stopped with a job running and others queued (and a journal
 * line cut short, as a crash leaves it) is started again on the same outputs: the finished job
 * stays listed with its image, the others run, each with the image it would have had. The real
 * crash (kill -9 of a child JVM) is {@link KillNineTest}.
 */
class JournalRestartTest {
    static ObjectNode job(long seed, int steps) {
        return JSON.createObjectNode().put("type", "txt2img").put("prompt", "a yellow triangle").put("seed", seed)
                .put("steps", steps).put("width", 64).put("height", 64);
    }

    @Test
    void unfinishedJobsRunAgainAfterARestartWithTheSameImages(@TempDir Path out, @TempDir Path reference) throws Exception {
        String finished;
        List<String> pending = new ArrayList<>();
        try (TestServer first = TestServer.start(out, o -> o.withLimits(1024L * 1024, 1000, 16, 64L << 20))) {
            finished = first.post("/v1/jobs", job(500, 2)).json().get("id").asText();
            assertEquals("succeeded", first.awaitJob(finished, 60).get("status").asText());
            String running = first.post("/v1/jobs", job(501, 40)).json().get("id").asText();
            first.awaitStep(running, 60);
            pending.add(running);
            pending.add(first.post("/v1/jobs", job(502, 3)).json().get("id").asText());
            pending.add(first.post("/v1/jobs", job(503, 3).put("batch_size", 2)).json().get("id").asText());
        } // stopped mid-job: the journal has no end for the running one
        Path journal = out.resolve(JDiffusionServer.JOURNAL);
        Files.writeString(journal, "{\"op\":\"submitted\",\"id\":\"torn", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(out.resolve(finished + "-0.png"));
        assertTrue(mode.contains(PosixFilePermission.OWNER_READ));

        try (TestServer second = TestServer.start(out, o -> o.withLimits(1024L * 1024, 1000, 16, 64L << 20))) {
            JsonNode old = second.get("/v1/jobs/" + finished).json();
            assertEquals("succeeded", old.get("status").asText(), "finished jobs stay listed");
            assertEquals(200, second.get(old.get("images").get(0).asText()).status(), "and their images served");
            for (String id : pending) {
                JsonNode j = second.awaitJob(id, 120);
                assertEquals("succeeded", j.get("status").asText(), j.toString());
            }
        }
        try (TestServer ref = TestServer.start(reference, o -> o.withLimits(1024L * 1024, 1000, 16, 64L << 20))) {
            long[] seeds = {501, 502, 503};
            int[] steps = {40, 3, 3};
            for (int i = 0; i < 3; i++) {
                ObjectNode body = job(seeds[i], steps[i]);
                if (i == 2) body.put("batch_size", 2);
                String id = ref.post("/v1/jobs", body).json().get("id").asText();
                JsonNode r = ref.awaitJob(id, 120);
                for (int k = 0; k < r.get("images").size(); k++) {
                    assertArrayEquals(pixels(reference.resolve(id + "-" + k + ".png")), pixels(out.resolve(pending.get(i) + "-" + k + ".png")),
                            "job " + i + " image " + k + " is the image it would have had");
                }
            }
        }
    }

    static int[] pixels(Path png) throws java.io.IOException {
        return A1111ApiTest.pixels(ImageIO.read(new ByteArrayInputStream(Files.readAllBytes(png))));
    }
}
