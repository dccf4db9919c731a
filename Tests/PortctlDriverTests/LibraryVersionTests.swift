import PortctlDriver
import Testing

@Test func theReleaseIsReadFromAListingsMetainfo() {
    let listing = #"{"nftables": [{"metainfo": {"version": "1.1.3", "release_name": "Commodore Bullmoose #4", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "portctl", "handle": 1}}]}"#
    #expect(LibnftablesVersion.release(fromListing: listing) == "1.1.3")
    #expect(LibnftablesVersion.release(fromListing: #"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#) == nil)
    #expect(LibnftablesVersion.release(fromListing: "not json") == nil)
}

@Test func theVersionSaysWhatItKnows() {
    #expect(LibnftablesVersion(release: "1.0.6", file: "/usr/lib/libnftables.so.1.1.0").description == "1.0.6 (/usr/lib/libnftables.so.1.1.0)")
    #expect(LibnftablesVersion(release: nil, file: "/usr/lib/libnftables.so.1.1.0").description.hasPrefix("/usr/lib/libnftables.so.1.1.0 (its release"))
    #expect(LibnftablesVersion(release: nil, file: nil).description == "unknown")
}
