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

    /// The descriptor a spawned process reports its start on (``reportReady(_:)``).
    public static let readyDescriptor: Int32 = 3

    /// Spawns `arguments` (the first is the executable path) in a session of its own, standard
    /// streams on /dev/null and no other descriptor of this process (they are closed in the child
    /// only: this process's descriptors and their flags are left as they are), and waits (at most
    /// `timeout` seconds) until it reports its start on descriptor ``readyDescriptor``. Returns
    /// its process id; throws when it could not start, exited, or never reported (it is then
    /// ended).
    public static func spawnAndAwaitReady(_ arguments: [String], environment: [String: String], timeout: Double = 30) throws -> Int32 {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SystemError.errno(Glibc.errno, "cannot make a pipe") }
        // Its own new descriptors only: no other child of this process may inherit them.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(ends[0]) }
        let pid: Int32
        do {
            pid = try spawn(arguments, environment: environment, readyEnd: ends[1])
        } catch {
            close(ends[1])
            throw error
        }
        close(ends[1])
        var poller = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            let ready = poll(&poller, 1, left)
            if ready < 0 && Glibc.errno == EINTR { continue }
            var byte: UInt8 = 0
            if ready > 0, read(ends[0], &byte, 1) == 1 { return pid }
            // End of file (it exited or closed the descriptor without a word), or no word in time.
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw SystemError(ready == 0 ? "\(arguments[0]) did not report its start within \(Int(timeout)) s"
                              : "\(arguments[0]) exited (or closed its descriptors) without starting a watchdog")
        }
    }

    /// Tells the process that spawned this one that it runs (``spawnAndAwaitReady(_:environment:timeout:)``).
    public static func reportReady(_ descriptor: Int32) {
        var byte: UInt8 = 10
        _ = write(descriptor, &byte, 1)
        close(descriptor)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Swift's Glibc module
    /// does not declare it): closes every descriptor from a number on in the child, including
    /// those another thread opens while the child is being made. Nil on an older C library, where
    /// the descriptors listed in /proc/self/fd are closed one by one instead.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Spawns `arguments`; returns its process id. `readyEnd`, when given, becomes the child's
    /// ``readyDescriptor``; every other descriptor above standard error is closed in the child.
    public static func spawn(_ arguments: [String], environment: [String: String], readyEnd: Int32? = nil) throws(SystemError) -> Int32 {
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
        if let readyEnd { posix_spawn_file_actions_adddup2(&actions, readyEnd, readyDescriptor) }
        // Descriptors this process holds without close-on-exec (libnftables' netlink socket, pipes
        // it inherited, whatever another thread opens meanwhile) must not leak into the child:
        // every one above the ready descriptor is closed there, in the child only (glibc 2.34+).
        let firstClosed = readyEnd == nil ? 3 : readyDescriptor + 1
        if let closeFrom = Self.addCloseFrom {
            _ = closeFrom(&actions, firstClosed)
        } else {
            let descriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init)
            for descriptor in descriptors where descriptor >= firstClosed {
                posix_spawn_file_actions_addclose(&actions, descriptor)
            }
        }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
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
