/// Counts for people: `1 packet`, `2 packets`, `0 bytes`.
public enum Counted {
    /// `count` and the noun, singular for exactly one (`plural` defaults to the noun plus `s`).
    public static func text(_ count: Int, _ noun: String, plural: String? = nil) -> String {
        "\(count) " + (count == 1 ? noun : plural ?? noun + "s")
    }

    /// `1 packet, 60 bytes`: a counter's packets and bytes.
    public static func traffic(packets: Int, bytes: Int) -> String {
        text(packets, "packet") + ", " + text(bytes, "byte")
    }
}
