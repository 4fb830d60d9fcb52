package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;
import jdiffusion.Golden;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class TokenizeCommandTest {
    private record Run(int exitCode, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static int[] ints(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    @Test
    void jsonIdsAreTheGoldenOnesForAPipelineFolder() throws Exception {
        JsonNode prompts = Golden.open("tokenizer").json.get("prompts");
        for (String pipeline : List.of("sd1", "sd2")) {
            List<String> args = new ArrayList<>(List.of("tokenize", "--json", "--model",
                    Golden.model(pipeline + "-tiny-pipeline").toString()));
            prompts.forEach(p -> args.add(p.get("text").asText()));
            Run run = run(args.toArray(String[]::new));
            assertEquals(0, run.exitCode(), run.err());
            String[] lines = run.out().split("\n");
            assertEquals(prompts.size(), lines.length);
            ObjectMapper json = new ObjectMapper();
            for (int i = 0; i < lines.length; i++) {
                JsonNode line = json.readTree(lines[i]);
                JsonNode golden = prompts.get(i);
                assertEquals(golden.get("text").asText(), line.get("prompt").asText());
                assertArrayEquals(ints(golden.get(pipeline)), ints(line.get("ids")), pipeline + " " + golden.get("text"));
                if (pipeline.equals("sd1")) {
                    assertEquals(golden.get("bpe_tokens_sd1"), line.get("tokens"));
                    assertEquals(golden.get("unpadded_length_sd1").asInt() - 2, line.get("count").asInt());
                    assertEquals(golden.get("truncated").asBoolean(), line.get("truncated").asBoolean());
                }
            }
        }
    }

    @Test
    void textOutputSaysWhereA77TokenPromptIsCut() {
        JsonNode c = Golden.open("pipe_txt2img_long_prompt").json;
        String model = Golden.model("sd1-tiny-pipeline").resolve("tokenizer").toString();
        Run run = run("tokenize", "--model", model, "a photo of a cat", c.get("call_kwargs").get("prompt").asText());
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("  count   5 text tokens (7 ids with bos/eos, padded to 77 with 49407)"), run.out());
        assertTrue(run.out().contains("  ids     49406 320 1125 539 320 2368 49407\n"), run.out());
        assertTrue(run.out().contains("  count   98 text tokens: too many, 75 fit (bos + 75 + eos = 77); cut before token 76 \",</w>\""),
                run.out());
        assertTrue(run.out().contains("  removed \"" + c.get("removed_text").get(0).asText() + "\""), run.out());
    }

    @Test
    void aMissingFolderIsAOneLineError() {
        Run run = run("tokenize", "--model", "/no/such/folder", "a cat");
        assertNotEquals(0, run.exitCode());
        assertEquals("", run.out());
        String err = run.err().strip();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("error: ") && err.contains("/no/such/folder") && err.contains("--model"), err);
    }

    @Test
    void aPromptStartingWithAtIsAPromptNotAnArgumentFile() {
        Run run = run("tokenize", "--json", "--model", Golden.model("sd1-tiny-pipeline").toString(), "@artist style");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("\"prompt\":\"@artist style\""), run.out());
    }
}
