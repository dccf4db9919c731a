#ifndef PORTCTL_CNFTABLES_SHIM_H
#define PORTCTL_CNFTABLES_SHIM_H
#include <stdbool.h>
#include <stdio.h>
#include <nftables/libnftables.h>

/* glibc's dladdr, which <dlfcn.h> declares only under _GNU_SOURCE (not in Swift's Glibc module),
   under a name of its own: which shared object holds an address (portctl --version --verbose
   names the libnftables file it loaded). The fields are Dl_info's, in its order. */
struct portctl_dl_info {
  const char *file;
  void *base;
  const char *symbol;
  void *address;
};
int portctl_dladdr(const void *address, struct portctl_dl_info *info) __asm__("dladdr");
#endif
