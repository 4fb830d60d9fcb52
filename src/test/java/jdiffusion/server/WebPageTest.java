package jdiffusion.server;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.BooleanSupplier;
import javax.imageio.ImageIO;
import jdiffusion.image.PngWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.interactions.Actions;

/**
 * The page of {@code jdiffusion serve}, driven through its own controls in Debian's headless
 * chromium (packages chromium and chromium-driver; nothing is downloaded). Without a browser the
 * tests are skipped with the command that installs one, except under CI=true, where that fails.
 */
class WebPageTest {
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path DRIVER = Path.of("/usr/bin/chromedriver");
    @TempDir
    static Path outputs;
    static TestServer server;
    static ChromeDriver browser;

    @BeforeAll
    static void start() {
        boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(DRIVER);
        if (!present && "true".equals(System.getenv("CI"))) {
            fail("CI=true but no browser: apt-get install -y chromium chromium-driver");
        }
        assumeTrue(present, "no headless browser: apt-get install -y chromium chromium-driver (Debian) to run the page's tests");
        server = TestServer.start(outputs, o -> o.withLimits(1024L * 1024, 1000, 16, 64L << 20));
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1400");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile()).build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() {
        if (browser != null) browser.quit();
        if (server != null) server.close();
    }

    @BeforeEach
    void open() {
        browser.get("http://127.0.0.1:" + server.server.port() + "/");
        ((JavascriptExecutor) browser).executeScript("localStorage.clear()");
        browser.navigate().refresh();
        await(() -> "true".equals(browser.findElement(By.tagName("body")).getDomAttribute("data-ready")), 30, "the page to start");
    }

    @AfterEach
    void screenshot(TestInfo info) throws IOException {
        Path dir = Path.of("target", "web-ui");
        Files.createDirectories(dir);
        Files.write(dir.resolve(info.getTestMethod().orElseThrow().getName() + ".png"),
                ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    }

    static WebElement el(String id) {
        return browser.findElement(By.id(id));
    }

    static void type(String id, String text) {
        WebElement e = el(id);
        e.clear();
        e.sendKeys(text);
    }

    static void form(String prompt, int steps, long seed) {
        type("prompt", prompt);
        type("steps", Integer.toString(steps));
        type("width", "64");
        type("height", "64");
        type("seed", Long.toString(seed));
    }

    static void await(BooleanSupplier condition, double seconds, String what) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            try {
                if (condition.getAsBoolean()) return;
            } catch (RuntimeException staleOrMissing) {
                // the page is redrawing: look again
            }
            TestServer.sleep(50);
        }
        fail("timed out waiting for " + what);
    }

    static List<WebElement> jobs() {
        return browser.findElements(By.cssSelector("#jobs li"));
    }

    @Test
    void generateWatchProgressAndPreviewThenSeeItInTheGallery() {
        int before = browser.findElements(By.cssSelector("#gallery img")).size();
        form("a red circle on a blue background", 60, 4242);
        el("prompt").sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER)); // Ctrl+Enter generates
        await(() -> !jobs().isEmpty(), 10, "the job in the queue");
        WebElement job = jobs().getFirst();
        await(() -> Double.parseDouble(job.findElement(By.tagName("progress")).getDomProperty("value")) > 0, 60, "the progress bar to move");
        await(() -> job.findElement(By.cssSelector(".state")).getText().matches("running: step \\d+ of 60.*"), 30, "step/steps");
        await(() -> Integer.parseInt(String.valueOf(job.findElement(By.cssSelector(".preview")).getDomAttribute("data-frames"))) >= 1,
                60, "a preview frame");
        await(() -> "succeeded".equals(job.getDomAttribute("data-status")), 120, "the job to finish");
        await(() -> browser.findElements(By.cssSelector("#gallery img")).size() == before + 1, 30, "the image in the gallery");
    }

    @Test
    void cancelARunningJobAndTheMiddleOfThreeQueued() {
        form("a green square", 1000, 1);
        for (int i = 0; i < 3; i++) el("generate").click();
        await(() -> jobs().size() == 3, 10, "three jobs in the queue");
        List<WebElement> li = jobs(); // newest first
        WebElement first = li.get(2);
        WebElement middle = li.get(1);
        WebElement last = li.get(0);
        await(() -> "running".equals(first.getDomAttribute("data-status")), 60, "the first to run");
        await(() -> middle.findElement(By.cssSelector(".state")).getText().startsWith("queued"), 10, "the middle to wait");
        middle.findElement(By.cssSelector(".stop")).click();
        await(() -> "cancelled".equals(middle.getDomAttribute("data-status")), 10, "the middle to be cancelled");
        first.findElement(By.cssSelector(".stop")).click();
        await(() -> "cancelled".equals(first.getDomAttribute("data-status")), 30, "the running job to stop");
        await(() -> "running".equals(last.getDomAttribute("data-status")), 30, "the last to run next");
        last.findElement(By.cssSelector(".stop")).click();
        await(() -> "cancelled".equals(last.getDomAttribute("data-status")), 30, "the last to stop");
        JsonNode m = server.get("/v1/jobs/" + middle.getDomAttribute("data-id")).json();
        assertEquals("cancelled", m.get("status").asText());
        assertTrue(m.get("started").isNull(), "the middle job never ran");
    }

    @Test
    void reuseFillsTheFormFromAGalleryImage() {
        form("a yellow triangle", 2, 777);
        el("generate").click();
        await(() -> !jobs().isEmpty() && "succeeded".equals(jobs().getFirst().getDomAttribute("data-status")), 60, "the job");
        String id = jobs().getFirst().getDomAttribute("data-id");
        type("prompt", "something else");
        type("seed", "-1");
        WebElement img = browser.findElement(By.cssSelector("#gallery img[data-job='" + id + "']"));
        img.click();
        await(() -> el("viewer").isDisplayed(), 10, "the viewer");
        await(() -> el("viewer-params").getText().contains("Seed: 777"), 10, "the image's parameters");
        el("viewer-reuse").click();
        assertEquals("a yellow triangle", el("prompt").getDomProperty("value"));
        assertEquals("777", el("seed").getDomProperty("value"));
        assertEquals("2", el("steps").getDomProperty("value"));
    }

    @Test
    void theFastPresetFillsTheFormAndTheJobRunsWithIt() {
        el("fast").click();
        assertEquals("LCM", el("sampler").getDomProperty("value"));
        assertEquals("4", el("steps").getDomProperty("value"));
        assertEquals("1", el("cfg").getDomProperty("value"));
        type("prompt", "a blue square");
        type("width", "64");
        type("height", "64");
        type("seed", "99");
        el("generate").click();
        await(() -> !jobs().isEmpty() && "succeeded".equals(jobs().getFirst().getDomAttribute("data-status")), 60, "the fast job");
        String id = jobs().getFirst().getDomAttribute("data-id");
        browser.findElement(By.cssSelector("#gallery img[data-job='" + id + "']")).click();
        await(() -> el("viewer-params").getText().contains("Steps: 4, Sampler: LCM, CFG scale: 1"), 10, "the fast job's parameters");
        el("viewer-close").click();
        el("fast").click(); // off again for the other tests' jobs
    }

    @Test
    void aPngWithA1111ParametersFillsTheForm(@TempDir Path tmp) {
        Path png = tmp.resolve("from-a1111.png");
        BufferedImage img = A1111ApiTest.square(64, java.awt.Color.BLUE, java.awt.Color.RED);
        PngWriter.write(png, img, "parameters", "a blue star\nNegative prompt: ugly\n"
                + "Steps: 7, Sampler: DDIM, CFG scale: 5.5, Seed: 31337, Size: 64x64, Model: sd15");
        el("file").sendKeys(png.toAbsolutePath().toString());
        await(() -> "a blue star".equals(el("prompt").getDomProperty("value")), 20, "the prompt from the PNG");
        assertEquals("ugly", el("negative").getDomProperty("value"));
        assertEquals("31337", el("seed").getDomProperty("value"));
        assertEquals("7", el("steps").getDomProperty("value"));
        assertEquals("5.5", el("cfg").getDomProperty("value"));
        assertEquals("DDIM", el("sampler").getDomProperty("value"));
    }

    @Test
    void aStrokeOnTheCanvasBecomesTheJobsMask(@TempDir Path tmp) throws IOException {
        Path png = tmp.resolve("init.png");
        ImageIO.write(A1111ApiTest.square(64, java.awt.Color.WHITE, java.awt.Color.BLUE), "png", png.toFile());
        el("file").sendKeys(png.toAbsolutePath().toString());
        await(() -> el("canvas-wrap").isDisplayed(), 20, "the image on the canvas");
        form("a red circle", 2, 5);
        WebElement mask = el("mask");
        // Actions' offsets are from the centre of the element's visible part: show all of it
        ((JavascriptExecutor) browser).executeScript("arguments[0].scrollIntoView({block: 'center'})", mask);
        int w = mask.getSize().getWidth();
        int h = mask.getSize().getHeight();
        // a horizontal stroke across the middle (offsets are from the element's centre)
        new Actions(browser).moveToElement(mask, -w / 4, 0).clickAndHold().moveByOffset(w / 4, 0).moveByOffset(w / 4, 0)
                .release().perform();
        el("generate").click();
        await(() -> !jobs().isEmpty() && "succeeded".equals(jobs().getFirst().getDomAttribute("data-status")), 60, "the inpainting job");
        JsonNode job = server.get("/v1/jobs/" + jobs().getFirst().getDomAttribute("data-id")).json();
        assertEquals("img2img", job.get("type").asText());
        String m = job.get("parameters").get("mask").asText();
        BufferedImage maskImage = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(m.substring(m.indexOf(',') + 1))));
        assertEquals(64, maskImage.getWidth());
        assertEquals(0xffffff, maskImage.getRGB(32, 32) & 0xffffff, "white where the stroke went");
        assertEquals(0xffffff, maskImage.getRGB(20, 32) & 0xffffff, "white where the stroke went");
        assertEquals(0, maskImage.getRGB(32, 2) & 0xffffff, "black far from it");
        assertEquals(0, maskImage.getRGB(32, 61) & 0xffffff, "black far from it");
    }

    @Test
    void aRefusedRequestShowsAReadableMessage() {
        form("a shape", 100000, 1);
        el("generate").click();
        await(() -> el("error").isDisplayed(), 10, "the error message");
        String text = el("error").getText();
        assertTrue(text.startsWith("422") && text.contains("steps"), text);
    }
}
