/// NATS subject filters (`a.*.c`, `a.>`) compared as sets of subjects.
enum SubjectFilter {
    /// Whether every subject `inner` matches, `outer` matches too.
    static func covers(_ outer: String, _ inner: String) -> Bool {
        covers(outer.split(separator: ".", omittingEmptySubsequences: false)[...],
               inner.split(separator: ".", omittingEmptySubsequences: false)[...])
    }

    private static func covers(_ outer: ArraySlice<Substring>, _ inner: ArraySlice<Substring>) -> Bool {
        guard let o = outer.first else { return inner.isEmpty }
        if o == ">" { return !inner.isEmpty }
        guard let i = inner.first, i != ">" else { return false }
        if o == "*" || o == i { return covers(outer.dropFirst(), inner.dropFirst()) }
        return false
    }

    /// Whether some filter of `outers` covers `inner`.
    static func anyCovers(_ outers: [String], _ inner: String) -> Bool {
        outers.contains { covers($0, inner) }
    }
}
