package jdiffusion.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(name = "inspect", description = "Describe a model folder or a safetensors file.")
final class InspectCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        return 0;
    }
}
