package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;

/** One training example: the scene, the caption drawn for it, and its 64x64 rendering. */
public record Sample(ShapeScene scene, String caption, Jitter jitter, BufferedImage image) {}
