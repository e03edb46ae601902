/// Conversions between PostgreSQL timestamps (microseconds since
/// 2000-01-01 00:00:00 UTC) and Unix milliseconds.
enum PostgresTime {
    /// Milliseconds from the Unix epoch to the PostgreSQL epoch.
    static let epochOffsetMillis: Int64 = 946_684_800_000

    /// Rounds toward negative infinity, so times before 2000 stay consistent.
    static func unixMillis(fromPostgresMicros micros: Int64) -> Int64 {
        let (quotient, remainder) = micros.quotientAndRemainder(dividingBy: 1000)
        let millis = remainder < 0 ? quotient - 1 : quotient
        return millis + epochOffsetMillis
    }

    /// Microseconds since the Unix epoch.
    static func unixMicros(fromPostgresMicros micros: Int64) -> Int64 {
        micros &+ epochOffsetMillis * 1000
    }

    /// Saturates at `Int64.min` / `Int64.max` instead of overflowing.
    static func postgresMicros(fromUnixMillis millis: Int64) -> Int64 {
        let (shifted, o1) = millis.subtractingReportingOverflow(epochOffsetMillis)
        if o1 { return Int64.min }
        let (micros, o2) = shifted.multipliedReportingOverflow(by: 1000)
        if o2 { return shifted < 0 ? Int64.min : Int64.max }
        return micros
    }
}
