#ifndef PORTCTL_CNFTABLES_SHIM_H
#define PORTCTL_CNFTABLES_SHIM_H
#include <stdbool.h>
#include <stdio.h>
#include <nftables/libnftables.h>
#endif
