package jdiffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;

/** docs/library.md: the coordinates are the pom's, and the example compiles with the imports it shows. */
class LibraryDocsTest {
    private static final Path DOC = Path.of("docs/library.md");

    @Test
    void theCoordinatesAreThePoms() throws Exception {
        Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile())
                .getDocumentElement();
        String doc = Files.readString(DOC);
        for (String tag : List.of("groupId", "artifactId", "version")) {
            String value = project.getElementsByTagName(tag).item(0).getTextContent().strip();
            assertTrue(doc.contains("<" + tag + ">" + value + "</" + tag + ">"), tag + " " + value + " is not in " + DOC);
        }
        assertTrue(doc.contains("./mvnw -B -ntp -DskipTests install"), "the install step");
        assertTrue(doc.contains("--enable-native-access=ALL-UNNAMED"), "the JVM flag");
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains("docs/library.md") && readme.contains("--enable-native-access"), "README points to it");
    }

    @Test
    void theExampleCompiles(@TempDir Path dir) throws Exception {
        Matcher m = Pattern.compile("```java\n(.*?public class Example.*?)```", Pattern.DOTALL).matcher(Files.readString(DOC));
        assertTrue(m.find(), "no Example class in " + DOC);
        Path source = Files.writeString(dir.resolve("Example.java"), m.group(1));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        StringWriter errors = new StringWriter();
        boolean ok = javac.getTask(errors, null, null,
                List.of("-classpath", System.getProperty("java.class.path"), "-d", dir.toString(), "-proc:none"), null,
                javac.getStandardFileManager(null, null, null).getJavaFileObjects(source.toFile())).call();
        assertTrue(ok, errors.toString());
        assertEquals(true, Files.exists(dir.resolve("Example.class")));
    }
}
