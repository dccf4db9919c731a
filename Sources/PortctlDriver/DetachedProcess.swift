import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a process that outlives this one and its terminal: a new session (no controlling
/// terminal, so no SIGHUP when the SSH connection closes), standard streams on /dev/null.
public enum DetachedProcess {
    /// Whether process `pid` runs and has `argument` among its arguments (so a reused process
    /// id of some other program does not count).
    public static func isRunning(_ pid: Int32, withArgument argument: String) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || Glibc.errno == EPERM,
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return data.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument }
    }

    /// Spawns `arguments` (the first is the executable path); returns its process id.
    public static func spawn(_ arguments: [String], environment: [String: String]) throws(SystemError) -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26 and later) is only declared under _GNU_SOURCE: its value is 0x80.
        posix_spawnattr_setflags(&attributes, 0x80)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor in Int32(0)...2 {
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // Descriptors this process holds without close-on-exec (libnftables' netlink socket,
        // pipes it inherited) would leak into the child: mark them close-on-exec first.
        let descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init)
        for descriptor in descriptors where descriptor > 2 {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard code == 0 else { throw .errno(code, "cannot start \(arguments[0])") }
        return pid
    }

    /// Closes every descriptor above standard error that the process inherited (pipes of the
    /// shell or test that started the command, sockets without close-on-exec), so that a detached
    /// process keeps nobody waiting for end-of-file.
    public static func closeInheritedDescriptors() {
        let descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init)
        for descriptor in descriptors where descriptor > 2 { close(descriptor) }
    }

    /// This executable's path.
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
