// SPDX-License-Identifier: Apache-2.0
//
// The Swift runtime on Linux reads its arguments from /proc/self/cmdline, so without /proc (a
// chroot, an initramfs, a minimal container) CommandLine.arguments is empty and portctl would
// parse nothing. glibc calls every function in an executable's .init_array with argc, argv and
// envp before main (a glibc behaviour, not the ELF standard's: under musl the arguments are not
// passed, argc is 0 here, and the runtime's own /proc reading is all there is), so one such
// function hands the real argument vector to the runtime, which then never needs /proc for it.

// The Swift runtime's own entry point for a program that knows its argument vector (exported by
// libswiftCore; declared in the runtime's CommandLine.cpp). Its argv must outlive the program:
// the kernel's argument vector does.
extern void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc);

static void capture_arguments(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc > 0 && argv != 0) {
    _swift_stdlib_overrideUnsafeArgvArgc(argv, argc);
  }
}

__attribute__((section(".init_array"), used))
static void (*const portctl_capture_arguments)(int, char **, char **) = capture_arguments;
