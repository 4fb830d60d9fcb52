package jdiffusion;

/**
 * An error a user can act on: bad input, a missing file, a wrong shape. The message says what is
 * wrong and what to do; the CLI prints it as one line without a stack trace.
 */
public class JDiffusionException extends RuntimeException {
    public JDiffusionException(String message) {
        super(message);
    }

    public JDiffusionException(String message, Throwable cause) {
        super(message, cause);
    }
}
