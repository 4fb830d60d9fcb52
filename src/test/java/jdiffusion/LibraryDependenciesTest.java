package jdiffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** A library user's build gets libtorch, Jackson and the SLF4J API from jdiffusion, not the command line's picocli or a logging backend. */
class LibraryDependenciesTest {
    @Test
    void theCommandLinesDependenciesAreOptional() throws Exception {
        Document pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile());
        NodeList dependencies = pom.getElementsByTagName("dependency");
        int checked = 0;
        for (int i = 0; i < dependencies.getLength(); i++) {
            Element d = (Element) dependencies.item(i);
            String artifact = text(d, "artifactId");
            if (artifact.equals("picocli") || artifact.equals("slf4j-simple")) {
                assertEquals("true", text(d, "optional"), artifact + " must be <optional>true</optional>");
                checked++;
            }
            if (artifact.equals("slf4j-api")) assertEquals("", text(d, "optional"), "the library logs through the SLF4J API");
        }
        assertEquals(2, checked);
    }

    @Test
    void onlyTheCommandLineUsesPicocli() throws IOException {
        Path main = Path.of("src/main/java/jdiffusion");
        List<Path> offenders;
        try (Stream<Path> files = Files.walk(main)) {
            offenders = files.filter(p -> p.toString().endsWith(".java") && !p.startsWith(main.resolve("cli")))
                    .filter(p -> read(p).contains("import picocli.") || read(p).contains("org.slf4j.simple")).toList();
        }
        assertTrue(offenders.isEmpty(), "library code needs picocli or the SLF4J backend: " + offenders);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static String text(Element parent, String tag) {
        NodeList n = parent.getElementsByTagName(tag);
        return n.getLength() == 0 ? "" : n.item(0).getTextContent().strip();
    }
}
