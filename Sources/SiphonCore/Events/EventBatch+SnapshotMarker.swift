extension EventBatch {
    /// Changes the snapshot marker of the last event, a snapshot row, once
    /// the source knows its place: whether a row is the last of its table,
    /// or of the snapshot, is known only when the read that follows it finds
    /// no more rows. Reading ahead would need a copy of every row; this
    /// rewrites one event per table instead.
    ///
    /// `sourceMarker` is where the source wrote the marker's text (without
    /// its quotes) in `buffer`, inside the last event's `source`; the
    /// return value is where it is now, for a second change (the last row of
    /// a table that turns out to end the snapshot). In the CloudEvents
    /// envelope the `iodebeziumsnapshot` attribute, which `replaceInLastEvent`
    /// alone would leave as it was, changes with it.
    @discardableResult
    public mutating func changeSnapshotMarkerOfLastEvent(to marker: SnapshotMarker, sourceMarker: Range<Int>) -> Range<Int> {
        guard let line = events.last?.line else { preconditionFailure("no event to change") }
        let text = Array(marker.rawValue.utf8)
        var source = sourceMarker
        if let attribute = cloudEventsMarker(in: line, before: sourceMarker.lowerBound) {
            replaceInLastEvent(attribute, with: text)
            let moved = text.count - attribute.count
            source = (source.lowerBound + moved)..<(source.upperBound + moved)
        }
        precondition(SnapshotMarker(rawValue: String(decoding: buffer.bytes[source], as: UTF8.self)) != nil,
                     "sourceMarker does not hold a snapshot marker")
        replaceInLastEvent(source, with: text)
        return source.lowerBound..<(source.lowerBound + text.count)
    }

    /// The value of the CloudEvents `iodebeziumsnapshot` attribute of the
    /// event at `line`, or nil in Debezium's envelope. A CloudEvent has
    /// `"type"` right after its id, and its attributes before `data`; they
    /// are all Siphon's, so the first match is the attribute (a column of
    /// that name sits in `data`, further on).
    private func cloudEventsMarker(in line: Range<Int>, before limit: Int) -> Range<Int>? {
        let afterID = line.lowerBound + 41  // {"id":"<32 hex digits>",
        let type = Array("\"type\":".utf8)
        let needle = Array(",\"iodebeziumsnapshot\":\"".utf8)
        let bytes = buffer.bytes
        guard afterID + type.count <= limit, bytes[afterID..<(afterID + type.count)].elementsEqual(type) else { return nil }
        var index = afterID
        while index + needle.count <= limit {
            if bytes[index] == needle[0], bytes[index..<(index + needle.count)].elementsEqual(needle) {
                let start = index + needle.count
                guard let end = bytes[start..<limit].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                return start..<end
            }
            index += 1
        }
        return nil
    }
}
