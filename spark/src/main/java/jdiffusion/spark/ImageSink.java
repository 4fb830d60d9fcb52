package jdiffusion.spark;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Writes a task's images into the output folder of any Hadoop filesystem (local, HDFS, S3A, ...)
 * without ever showing a partial file under an image's name: the bytes go to
 * {@code output/_temporary/NAME.ATTEMPT} first and are renamed into place, and the driver removes
 * {@code _temporary} (where a killed task's leftovers stay) when the job has finished.
 */
final class ImageSink {
    static final String TEMPORARY = "_temporary";

    private final FileSystem fs;
    private final Path output;

    ImageSink(String output, Configuration conf) {
        try {
            this.output = new Path(output);
            this.fs = this.output.getFileSystem(conf);
            // the local filesystem would add a .NAME.crc file beside every image
            fs.setWriteChecksum(false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the output " + output + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code bytes} as {@code output/name} and returns the file's full URI. */
    String write(String name, byte[] bytes, long attemptId) throws IOException {
        Path tmp = new Path(new Path(output, TEMPORARY), name + "." + attemptId);
        Path target = new Path(output, name);
        try (OutputStream out = fs.create(tmp, true)) {
            out.write(bytes);
        }
        if (!fs.rename(tmp, target)) {
            // an earlier attempt of this row (a retried or speculative task) got there first; its
            // image is this one, bit for bit, but the newest attempt's replaces it so a stale
            // file of an earlier job with the same id cannot survive
            fs.delete(target, false);
            if (!fs.rename(tmp, target)) throw new IOException("cannot rename " + tmp + " to " + target);
        }
        return fs.makeQualified(target).toString();
    }

    /** Removes what killed attempts left in {@code _temporary}; the driver calls it after the job. */
    static void clean(String output, Configuration conf) throws IOException {
        Path tmp = new Path(new Path(output), TEMPORARY);
        tmp.getFileSystem(conf).delete(tmp, true);
    }

    /** The input image at {@code location} (a path or URI), read through the same filesystems. */
    static byte[] read(String location, Configuration conf) throws IOException {
        Path p = new Path(location);
        FileSystem fs = p.getFileSystem(conf);
        try (var in = fs.open(p)) {
            return in.readAllBytes();
        }
    }
}
