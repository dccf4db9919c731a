internal import CNftables
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which libnftables this process runs with. libnftables (1.0.6 to 1.1.x) has no version
/// function; its JSON listings state the release in `metainfo`, and the dynamic loader knows the
/// file it mapped.
public struct LibnftablesVersion: Sendable, Equatable, CustomStringConvertible {
    /// The release ("1.0.6"), from the `metainfo` of the library's own JSON listing; nil when the
    /// kernel refused the listing (it needs CAP_NET_ADMIN).
    public var release: String?
    /// The shared object the dynamic loader mapped, symlinks resolved
    /// (`/usr/lib/x86_64-linux-gnu/libnftables.so.1.1.0`); nil if the loader did not say.
    public var file: String?

    /// Both parts as given.
    public init(release: String?, file: String?) {
        self.release = release
        self.file = file
    }

    /// "1.0.6 (FILE)", or what can be said without the release.
    public var description: String {
        switch (release, file) {
        case let (release?, file?): "\(release) (\(file))"
        case let (release?, nil): release
        case let (nil, file?): "\(file) (its release is read through the kernel: run as root or with CAP_NET_ADMIN to see it)"
        case (nil, nil): "unknown"
        }
    }

    /// The release named by a JSON listing's `metainfo` (`{"nftables": [{"metainfo": {"version": "1.0.6", ...}}, ...]}`),
    /// or nil when the text holds none.
    public static func release(fromListing json: String) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]] else { return nil }
        for item in items {
            if let meta = item["metainfo"] as? [String: Any], let version = meta["version"] as? String, !version.isEmpty {
                return version
            }
        }
        return nil
    }
}

extension Nftables {
    /// The libnftables in use: its release from a JSON listing of the chains (needs
    /// CAP_NET_ADMIN; not even tried without it, as the refused listing prints to stderr) and the
    /// file the loader mapped for `nft_ctx_new`. (Not `list tables`: nft 1.0.6 fetches every set
    /// element for it, 0.85 s with a full drop record; `list chains` fetches none.)
    public func libraryVersion() -> LibnftablesVersion {
        let release = Privilege.hasNetAdmin ? (try? listJSON("list chains")).flatMap(LibnftablesVersion.release(fromListing:)) : nil
        return LibnftablesVersion(release: release, file: Self.loadedLibraryFile())
    }

    /// The resolved path of the loaded libnftables: the object that holds its `nft_ctx_new`
    /// (looked up in the library itself, as the program's own symbol could be a PLT stub).
    static func loadedLibraryFile() -> String? {
        guard let library = dlopen("libnftables.so.1", RTLD_LAZY | RTLD_NOLOAD) ?? dlopen(nil, RTLD_LAZY) else { return nil }
        defer { dlclose(library) }
        guard let symbol = dlsym(library, "nft_ctx_new") else { return nil }
        var info = portctl_dl_info()
        guard portctl_dladdr(symbol, &info) != 0, let name = info.file else { return nil }
        guard let resolved = realpath(name, nil) else { return String(cString: name) }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
