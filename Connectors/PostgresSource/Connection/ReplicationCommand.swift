import SiphonCore

/// The replication commands Siphon sends on a walsender connection.
///
/// Their grammar quotes differently from SQL and takes no parameters: a
/// `"name"` has no escape for `"` inside, and a `'text'` doubles `'` and
/// treats a backslash as an ordinary character whatever
/// `standard_conforming_strings` says. So names go in double quotes only
/// once they are known to be slot names (which PostgreSQL limits to
/// lower-case letters, digits and `_`), and text through `literal`.
enum ReplicationCommand {
    static func createSlot(_ slot: String, exportSnapshot: Bool) throws -> String {
        "CREATE_REPLICATION_SLOT \(try slotName(slot)) LOGICAL pgoutput \(exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT")"
    }

    static func dropSlot(_ slot: String) throws -> String {
        "DROP_REPLICATION_SLOT \(try slotName(slot))"
    }

    /// `START_REPLICATION` of a pgoutput slot with its options, given as
    /// (name, value): names are Siphon's own, values are quoted here.
    static func startReplication(slot: String, options: [(String, String)]) throws -> String {
        let list = options.map { "\($0.0) \(literal($0.1))" }.joined(separator: ", ")
        return "START_REPLICATION SLOT \(try slotName(slot)) LOGICAL 0/0 (\(list))"
    }

    /// pgoutput's `publication_names`: a list of SQL identifiers, so each
    /// name is quoted as one (`""` for `"`) before the list is quoted as text.
    static func publicationNames(_ names: [String]) -> String {
        names.map { "\"" + $0.replacingAll("\"", with: "\"\"") + "\"" }.joined(separator: ",")
    }

    static func literal(_ text: String) -> String {
        "'" + text.replacingAll("'", with: "''") + "'"
    }

    private static func slotName(_ slot: String) throws -> String {
        guard PostgresSourceConfiguration.isValidSlotName(slot) else {
            throw SiphonError(.configuration, "source.slot: must be 1 to 63 lower-case letters, digits or underscores")
        }
        return "\"\(slot)\""
    }
}
