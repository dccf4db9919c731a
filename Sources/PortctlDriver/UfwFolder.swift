import Foundation
public import PortPolicy

/// Reads a ufw configuration for `UfwImport`: the folder ufw keeps its rules in (`/etc/ufw`)
/// and its settings file (`/etc/default/ufw`).
///
/// Every file is read through ``TrustedFiles``, as the policy file is: the policy made from them
/// is what root applies, so a file that users other than root could have written is refused.
public enum UfwFolder {
    /// ufw's folder when none is named.
    public static let defaultFolder = "/etc/ufw"
    /// ufw's settings file, for the default folder.
    public static let defaultSettings = "/etc/default/ufw"
    /// Where the ufw package keeps the shipped copies of its built-in rule files.
    public static let packagedFolder = "/usr/share/ufw"
    /// ufw's built-in rule files and start-up scripts: compared with the shipped copies, since
    /// the import does not read them.
    public static let builtInFiles = ["before.rules", "before6.rules", "after.rules", "after6.rules", "before.init", "after.init"]
    /// The largest file read: a ufw rule file with 100,000 rules is about 15 MB.
    public static let maximumFileSize = 32 << 20

    /// A folder or file named on the command line that holds no ufw configuration.
    public struct NotFound: Error, Sendable, CustomStringConvertible {
        /// The one-line message.
        public let description: String
    }

    /// The settings file to read: `settings` when given, else `/etc/default/ufw` for
    /// `/etc/ufw`, else `FOLDER/../default/ufw` (a copy of `/etc` keeps them side by side).
    public static func settingsPath(folder: String, settings: String?) -> String {
        if let settings { return settings }
        let standard = URL(fileURLWithPath: folder).standardizedFileURL.path
        if standard == defaultFolder { return defaultSettings }
        return URL(fileURLWithPath: standard).deletingLastPathComponent().appendingPathComponent("default/ufw").path
    }

    /// Reads `user.rules` (which must exist), `user6.rules`, `ufw.conf`, the profiles of
    /// `applications.d` and the settings file (which must exist when `settings` names it), and
    /// notes which built-in rule files differ from the shipped copies in `packaged`.
    public static func read(folder: String, settings: String? = nil, packaged: String = packagedFolder) throws -> UfwImport.Configuration {
        func data(_ path: String) throws -> Data? {
            try TrustedFiles.read(path, what: "ufw file", maximumSize: maximumFileSize)
        }
        func file(_ path: String) throws -> String? {
            try data(path).map { String(decoding: $0, as: UTF8.self) }
        }
        let base = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        guard let userRules = try file(base + "/user.rules") else {
            throw NotFound(description: "no ufw rules in \(quoted(folder)): \(base)/user.rules does not exist; give --rules the folder that holds ufw's user.rules (default \(defaultFolder); ufw writes it when it is first enabled)")
        }
        let settingsFile = settingsPath(folder: base, settings: settings)
        let settingsText = try file(settingsFile)
        if settings != nil && settingsText == nil {
            throw NotFound(description: "no ufw settings file at \(quoted(settingsFile)): give --defaults the file that holds DEFAULT_INPUT_POLICY (default \(defaultSettings))")
        }
        var applications: [String: String] = [:]
        let profiles = base + "/applications.d"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: profiles)) ?? [] where isProfileFile(name) {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: profiles + "/" + name, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            applications[name] = try file(profiles + "/" + name)
        }
        var edited: [String] = []
        for name in builtInFiles {
            guard let ours = try data(base + "/" + name),
                  let shipped = try? TrustedFiles.read(packaged + "/" + name, what: "ufw's shipped file", maximumSize: maximumFileSize)
            else { continue }
            if ours != shipped { edited.append(name) }
        }
        return UfwImport.Configuration(userRules: userRules, user6Rules: try file(base + "/user6.rules"), ufwConf: try file(base + "/ufw.conf"),
                                       defaults: settingsText, applications: applications, editedFiles: edited)
    }

    /// Whether ufw reads a file of `applications.d`: not hidden, not a package manager's or an
    /// editor's leftover.
    static func isProfileFile(_ name: String) -> Bool {
        !name.hasPrefix(".") && ![".dpkg-new", ".dpkg-old", ".dpkg-dist", ".rpmnew", ".rpmsave", "~"].contains { name.hasSuffix($0) }
    }
}
