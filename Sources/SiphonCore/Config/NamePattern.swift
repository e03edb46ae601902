/// `*` wildcards over whole names: `*` matches any run of characters, every
/// other character itself (`public.*`, `audit_*`).
public enum NamePattern {
    public static func matches(_ pattern: some StringProtocol, _ text: some StringProtocol) -> Bool {
        glob(Array(pattern.utf8)[...], Array(text.utf8)[...])
    }

    private static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == UInt8(ascii: "*") {
            let rest = pattern.dropFirst()
            var candidate = text
            while true {
                if glob(rest, candidate) { return true }
                guard !candidate.isEmpty else { return false }
                candidate = candidate.dropFirst()
            }
        }
        guard let head = text.first, head == first else { return false }
        return glob(pattern.dropFirst(), text.dropFirst())
    }
}
