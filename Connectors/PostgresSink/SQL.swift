import SiphonCore

/// SQL identifier quoting: every name from the source or the configuration
/// reaches SQL only through these.
enum SQL {
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    static func quoted(_ table: TableName) -> String {
        quoted(table.schema) + "." + quoted(table.name)
    }
}
