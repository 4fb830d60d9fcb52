package jdiffusion.tools.shapes;

/** One image scored against the scene its caption asked for. */
public record ShapeScore(ShapeScene expected, Detection detected) {
    /** Whether the image got {@code attribute} right. */
    public boolean correct(Attribute attribute) {
        return switch (attribute) {
            case COLOUR -> detected.colour() == expected.colour();
            case BACKGROUND -> detected.background() == expected.background();
            case SHAPE -> detected.shape() == expected.shape();
            case POSITION -> detected.position() == expected.position();
            case SIZE -> detected.size() == expected.size();
        };
    }

    /** True when every attribute is right. */
    public boolean allCorrect() {
        for (Attribute a : Attribute.values()) {
            if (!correct(a)) return false;
        }
        return true;
    }

    @Override
    public String toString() {
        StringBuilder wrong = new StringBuilder();
        for (Attribute a : Attribute.values()) {
            if (!correct(a)) wrong.append(wrong.isEmpty() ? "" : ", ").append(a.label());
        }
        return "expected " + Captions.canonical(expected) + "; saw " + detected
                + (wrong.isEmpty() ? "" : "; wrong: " + wrong);
    }
}
