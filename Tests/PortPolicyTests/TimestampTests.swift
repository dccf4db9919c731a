import Foundation
import Testing
@testable import PortPolicy

/// Timestamps are written and read without ICU; Foundation's formatter is the reference.
@Suite struct TimestampTests {
    @Test func agreesWithFoundationOverCenturies() {
        let reference = ISO8601DateFormatter()
        reference.timeZone = TimeZone(identifier: "UTC")
        var seconds: Int64 = -2_208_988_800  // 1900-01-01
        while seconds < 13_569_465_600 {  // 2400-01-01
            let date = Date(timeIntervalSince1970: Double(seconds))
            let text = Timestamp.format(date)
            #expect(text == reference.string(from: date))
            #expect(Timestamp.parse(text) == date)
            seconds += 86_400 * 37 + 3_607  // steps through every month, weekday and hour
        }
    }

    @Test func readsZonesAndFractions() {
        let instant = Date(timeIntervalSince1970: 1_795_928_400)  // 2026-11-29T05:00:00Z
        #expect(Timestamp.parse("2026-11-29T05:00:00Z") == instant)
        #expect(Timestamp.parse("2026-11-29T06:30:00+01:30") == instant)
        #expect(Timestamp.parse("2026-11-28T23:00:00-06:00") == instant)
        #expect(Timestamp.parse("2026-11-29T05:00:00.250Z") == instant.addingTimeInterval(0.25))
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil)
    }

    @Test(arguments: ["2026-11-29T05:00:00", "2026-11-29", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                      "2026-11-29T24:00:00Z", "2026-11-29T05:00:00+1:00", "2026-11-29T05:00:00Zjunk", "",
                      "２０２６-11-29T05:00:00Z", "2026-11-29T05:00:00.Z"])
    func refusesOthers(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}
