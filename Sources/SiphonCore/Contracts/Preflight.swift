/// One line of `siphon check`: what was checked, what was found, and when
/// it failed, the exact fix (SQL or a setting).
public struct PreflightCheck: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case pass
        /// Works, but something is worth knowing (tables that will be left
        /// out, a slot that may keep WAL without limit).
        case warn
        /// The pipeline would not start, or would break.
        case fail
    }

    /// What was checked (`wal_level`, `table public.orders`).
    public var name: String
    public var outcome: Outcome
    /// What was found.
    public var detail: String
    /// What to do, when it did not pass.
    public var fix: String?

    public init(_ name: String, _ outcome: Outcome, _ detail: String, fix: String? = nil) {
        self.name = name
        self.outcome = outcome
        self.detail = detail
        self.fix = fix
    }

    public static func pass(_ name: String, _ detail: String) -> PreflightCheck { .init(name, .pass, detail) }
    public static func warn(_ name: String, _ detail: String, fix: String) -> PreflightCheck { .init(name, .warn, detail, fix: fix) }
    public static func fail(_ name: String, _ detail: String, fix: String) -> PreflightCheck { .init(name, .fail, detail, fix: fix) }
}
