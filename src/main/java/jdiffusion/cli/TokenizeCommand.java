package jdiffusion.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import jdiffusion.io.HubCache;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.clip.EncodedPrompt;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jdiffusion tokenize}: how CLIP's tokenizer reads each prompt, and where 77 tokens cut it. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Show the CLIP token ids and tokens of each prompt, as the pipeline's text encoder gets them.",
                "A prompt longer than 75 text tokens is cut (bos + 75 tokens + eos = 77), as diffusers does."})
final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    /** A pipeline folder (its tokenizer/ is used), a tokenizer folder, or a Hub id; the embedded model by default. */
    @Mixin
    ModelOption model;

    @Option(names = "--json",
            description = "Print one JSON object per prompt and line: prompt, ids (padded to 77), tokens, "
                    + "count (text tokens before truncation), truncated, removed_text.")
    boolean json;

    @Parameters(arity = "1..*", paramLabel = "PROMPT", description = "The prompts.")
    List<String> prompts;

    @Override
    public Integer call() throws JsonProcessingException {
        CLIPTokenizer tokenizer = CLIPTokenizer.load(folder(model.resolve()));
        PrintWriter out = spec.commandLine().getOut();
        for (String prompt : prompts) {
            EncodedPrompt encoded = tokenizer.encodePrompt(prompt);
            if (json) out.println(JSON.writeValueAsString(toJson(encoded)));
            else describe(out, tokenizer, encoded);
        }
        out.flush();
        return 0;
    }

    /** A folder as given, else a Hub repo id resolved in the local cache. */
    private static Path folder(String model) {
        Path p = Path.of(model);
        return !Files.isDirectory(p) && HubCache.looksLikeRepoId(model) ? ModelFolder.resolve(model).root() : p;
    }

    private static ObjectNode toJson(EncodedPrompt e) {
        ObjectNode node = JSON.createObjectNode();
        node.put("prompt", e.text());
        Arrays.stream(e.ids()).forEach(node.putArray("ids")::add);
        e.tokens().forEach(node.putArray("tokens")::add);
        node.put("count", e.tokenCount());
        node.put("truncated", e.truncated());
        node.put("removed_text", e.removedText());
        return node;
    }

    private static void describe(PrintWriter out, CLIPTokenizer tokenizer, EncodedPrompt e) throws JsonProcessingException {
        int max = e.ids().length;
        out.println(JSON.writeValueAsString(e.text()));
        if (e.truncated()) {
            out.printf("  count   %d text tokens: too many, %d fit (bos + %d + eos = %d); cut before token %d %s%n",
                    e.tokenCount(), max - 2, max - 2, max, max - 1, JSON.writeValueAsString(e.tokens().get(max - 2)));
        } else {
            out.printf("  count   %d text tokens (%d ids with bos/eos, padded to %d with %d)%n",
                    e.tokenCount(), e.tokenCount() + 2, max, tokenizer.padId());
        }
        List<String> tokens = e.tokens();
        int kept = e.keptTokenCount();
        String shown = String.join(" ", tokens.subList(0, kept));
        if (e.truncated()) shown += "  |cut|  " + String.join(" ", tokens.subList(kept, tokens.size()));
        out.println("  tokens  " + shown);
        // The padding is left out: the count line says how the ids are padded.
        out.println("  ids     " + Arrays.stream(e.ids(), 0, kept + 2).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        if (e.truncated()) out.println("  removed " + JSON.writeValueAsString(e.removedText()));
    }
}
