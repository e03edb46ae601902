import CYaml

/// Bounds on the tree a YAML text may make the parser build, checked on libyaml's event
/// stream before anything is composed.
///
/// Both limits guard against files that are small on disk but not in memory:
/// - Aliases (`*name`) are copies of an anchored value (`&name`). Yams shares the copies, but
///   every later step (conversion to ``ConfigNode``, `${VAR}` expansion, the readers) walks
///   them one by one, so nine levels of nine aliases, 324 bytes, became 387 million values,
///   minutes of work and gigabytes of memory. Anchors stay allowed for the odd repeated value
///   (`publication: *slot`), within ``maxAliasedNodes`` values in all.
/// - Every step is recursive, so 5,000 nested `[` overflowed the stack. A pipeline file needs
///   four levels; ``maxDepth`` allows far more than that and far less than a stack holds.
///
/// The scan costs one extra pass of libyaml over a file of a few hundred bytes. Malformed YAML
/// is left to the composer, which reports it with line and column.
enum YAMLLimits {
    /// Collections (lists and mappings) nested inside one another, aliases counted as expanded.
    static let maxDepth = 64
    /// Values (scalars and collections) that aliases may add to the document, in all.
    static let maxAliasedNodes = 1_000

    /// The first limit `yaml` goes beyond, as a one-line message; nil when within the limits
    /// or when libyaml stops at a syntax error first.
    static func violation(in yaml: String) -> String? {
        var bytes = Array(yaml.utf8)
        if bytes.isEmpty { return nil }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var scan = Scan()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return nil }
                if let message = scan.take(event) { return message }
            }
        }
    }

    /// The running state of one scan: the open collections and the size of every anchored value.
    private struct Scan {
        /// An open list or mapping: how many values it holds so far, counting itself and
        /// aliases as expanded, and how many collection levels the deepest of them adds.
        struct Open {
            var anchor: String?
            var nodes = 1
            var height = 0
        }

        var open: [Open] = []
        var anchors: [String: (nodes: Int, height: Int)] = [:]
        var aliasedNodes = 0

        mutating func take(_ event: yaml_event_t) -> String? {
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard open.count < YAMLLimits.maxDepth else { return Self.tooDeep(line: line) }
                let anchor = event.type == YAML_SEQUENCE_START_EVENT
                    ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
                open.append(Open(anchor: Self.name(anchor)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let closed = open.popLast() else { return nil }
                add(nodes: closed.nodes, height: closed.height + 1, anchor: closed.anchor)
            case YAML_SCALAR_EVENT:
                add(nodes: 1, height: 0, anchor: Self.name(event.data.scalar.anchor))
            case YAML_ALIAS_EVENT:
                // An undefined alias is the composer's to report; count it as one value.
                let target = Self.name(event.data.alias.anchor).flatMap { anchors[$0] } ?? (nodes: 1, height: 0)
                aliasedNodes += target.nodes
                guard aliasedNodes <= YAMLLimits.maxAliasedNodes else {
                    return "YAML aliases (*name) repeat more than \(YAMLLimits.maxAliasedNodes) values in all (at line \(line)); write the values out instead of repeating anchors"
                }
                guard open.count + target.height <= YAMLLimits.maxDepth else { return Self.tooDeep(line: line) }
                add(nodes: target.nodes, height: target.height, anchor: nil)
            default:
                break
            }
            return nil
        }

        /// Counts a finished value into the collection holding it and remembers its anchor.
        private mutating func add(nodes: Int, height: Int, anchor: String?) {
            if let anchor { anchors[anchor] = (nodes, height) }
            guard !open.isEmpty else { return }
            open[open.count - 1].nodes += nodes
            open[open.count - 1].height = max(open[open.count - 1].height, height)
        }

        private static func tooDeep(line: Int) -> String {
            "YAML nested more than \(YAMLLimits.maxDepth) levels deep at line \(line); a pipeline file needs only a few levels of lists and mappings"
        }

        private static func name(_ pointer: UnsafeMutablePointer<UInt8>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
